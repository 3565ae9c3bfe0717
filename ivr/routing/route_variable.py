"""The route as the dialplan reads it: ONE channel variable, IVR_ROUTE, split there by
``Set(ARRAY(IVR_ACTION,...)=${IVR_ROUTE})``. Shared by our FastAGI service (``ivr.service``) and the
last line, the classic AGI script (``ivr.agi.lastline``): both hand a route back the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

from ivr.routing.decide import Decision

# The route reaches the dialplan as ONE variable, split there by
# Set(ARRAY(IVR_ACTION,...)=${IVR_ROUTE}): one round trip, and it is set whole or not at all.
ROUTE_VARIABLE = "IVR_ROUTE"
# Where the dialplan keeps the route that failed while the overflow session chooses the next one.
FAILED_ROUTE_VARIABLE = "IVR_FROM_ROUTE"
ROUTE_FIELDS = ("IVR_ACTION", "IVR_TARGET", "IVR_PRIORITY", "IVR_CATEGORY", "IVR_TIMEOUT", "IVR_TRIED", "IVR_FLAGS")
# ARRAY() splits with ast_app_separate_args: ',' separates, '"' quotes, brackets and parentheses
# nest, '\\' escapes; CR/LF/NUL would end or cut the AGI line; '|' separates the last menu's routes
# (CUT() in [siaga-last-menu]). SOP names never hold any of them.
_SPLIT_CHARS = frozenset(',\r\n\0"\\()[]{}|')


class RouteError(ValueError):
    """A route token would not survive the dialplan's split: a bug in the SOP validation, not input."""


def _token(value: str, what: str) -> str:
    bad = sorted({*value} & (_SPLIT_CHARS | {" ", "\t"}))
    if bad:
        raise RouteError(f"route {what} {value!r} contains {bad!r}: it would not survive ARRAY's split")
    return value


def _tokens(values: Iterable[str], what: str) -> str:
    return " ".join(_token(value, what) for value in values)


def route_value(decision: Decision, flags: Iterable[str]) -> str:
    """``action,target,priority,category,timeout,tried,flags``; tried and flags space-separated."""
    return ",".join(
        (
            _token(decision.action, "action"),
            _token(decision.target, "target"),
            str(decision.priority),
            _token(decision.category, "category"),
            str(decision.timeout) if decision.timeout else "",
            _tokens(decision.tried, "tried queue"),
            _tokens(flags, "flag"),
        )
    )


def split_route(value: str) -> dict[str, str]:
    """What Set(ARRAY(<ROUTE_FIELDS>)=value) leaves in each variable: missing fields are empty."""
    parts = value.split(",")
    return {name: parts[index] if index < len(parts) else "" for index, name in enumerate(ROUTE_FIELDS)}


def route_variables(decision: Decision, flags: Iterable[str]) -> list[tuple[str, str]]:
    """The channel variables that carry a route to the dialplan: one, set in one round trip."""
    return [(ROUTE_VARIABLE, route_value(decision, flags))]
