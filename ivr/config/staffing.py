"""Whether every queue has someone in the roster who can log in to it: a warning of ``ivr check``, never an error.

A queue nobody can join is skipped at once by routing (no member logged in), so its calls go on to
the next step of their chain; the SOP still works, but an admin who added a queue and forgot to staff
it should hear about it before the first caller does. Pure: the roster and queues come in, warnings out.
"""

from __future__ import annotations

from ivr.config.calendar import ConfigWarning
from ivr.config.sop import Sop, queue_position

_UNKNOWN = ("sop", 1, 1)


def staffing_warnings(sop: Sop) -> list[ConfigWarning]:
    """One warning per queue no operator lists; one for the whole SOP when there is no roster at all."""
    if not sop.agencies:
        return []
    if not sop.operators:
        return [
            ConfigWarning(
                *_UNKNOWN,
                "operators",
                "no operator roster: nobody can log in to take calls; add an 'operators:' section "
                "(see the shipped sop/operators.yaml)",
            )
        ]
    staffed = {queue for operator in sop.operators.values() for queue in operator.queues}
    try:
        central = sop.central_queue.name
    except LookupError:
        central = ""
    warnings = []
    for agency in sop.agencies.values():
        for queue in agency.queues:
            if queue.name in staffed:
                continue
            if queue.name == central:
                consequence = "every call ends here and nobody can log in to answer it"
            else:
                consequence = "nobody can log in to it, so its calls go straight on to their next queue"
            warnings.append(
                ConfigWarning(
                    *sop.positions.get(queue_position(queue.name), _UNKNOWN),
                    f"agencies.{agency.name}.queues.{queue.name}",
                    f"no operator in the roster lists queue '{queue.name}': {consequence}; add it to the "
                    f"'queues' of an operator of '{agency.name}' under 'operators:'",
                )
            )
    return warnings
