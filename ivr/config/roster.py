"""The operator roster (``operators:`` in sop/*.yaml): who takes calls, in which role, for which queues.

No secrets here: the file is reviewed in git. Passwords are set with ``ivr passwd`` and kept hashed
under ``var/``; SIP credentials for the browser are issued per console session. A key that looks like a
credential (``password``, ``secret``, ``pin``...) is refused with a message pointing at ``ivr passwd``.

Which queues an operator may list is the regency's rule of who answers for whom: staff of an agency
answer only their own agency's queues (a Damkar officer, even a supervisor, does not take a police
report for Polresta); only the central 112 call-takers (Diskominfo) may be on any queue, since every
call falls back to them anyway and their supervisor watches all queues.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ivr.config.nodes import Node
from ivr.config.spec import NAME, PLAIN_NAMES, Boolean, Choice, Field, Found, Key, ListOf, MapOf, Obj, Ref, Text

if TYPE_CHECKING:
    from ivr.config.sop import Sop

ROLES = ("operator", "supervisor", "admin")
# Credential-like keys: "pass" (password, passwd, sip_pass), "sandi" (kata sandi), pin/pwd as a word.
# A person's name: printable, one line, no '|' (queue_log's separator) and within AMI's line.
PERSON_NAME = re.compile(r"[^\x00-\x1f\x7f|]{1,80}")
SECRET_KEY = re.compile(
    r"(?i).*(?:pass|secret|sandi|token|hash|credential).*|(?:.*[_-])?(?:pin|pwd)(?:[_-].*)?",
)
SECRETS = Key(
    SECRET_KEY,
    "no passwords or secrets in sop/ (it is reviewed in git): delete this key and set the password with "
    "`ivr passwd <operator id>`, which stores it hashed under var/",
)
OPERATOR = Obj(
    (
        Field(
            "name",
            Text(PERSON_NAME, "expected a name on one line, without '|' (it travels into AMI and queue_log)"),
            "the operator's full name, shown on the console and in the audit log",
            required=True,
        ),
        Field(
            "role",
            Choice(ROLES),
            "operator: takes calls; supervisor: also watches the queues; admin: also manages the center",
            default="operator",
        ),
        Field("agency", Ref(NAME), "the agency they work for (a name under 'agencies:')", required=True),
        Field(
            "queues",
            ListOf(Ref(NAME)),
            "the queues they answer, their agency's own (the central agency's staff: any)",
            default=(),
        ),
        Field(
            "desk_phone",
            Boolean(),
            "also a desk phone or softphone over UDP with the same identity, besides the browser",
            default=False,
        ),
    ),
    refuse=SECRETS,
)
OPERATORS = MapOf(
    OPERATOR,
    Key(NAME, f"operator ids are {PLAIN_NAMES}, at most 40 characters (the id becomes SIP user 'op-<id>')"),
)


@dataclass(frozen=True)
class Operator:
    id: str
    name: str
    role: str
    agency: str
    queues: tuple[str, ...]
    # A desk phone or softphone over UDP with the same identity, besides the browser's WebRTC phone.
    desk_phone: bool = OPERATOR.default("desk_phone")

    @property
    def sip_user(self) -> str:
        """The operator's PJSIP endpoint, AOR and auth user; queue members are ``PJSIP/<sip_user>``."""
        return f"op-{self.id}"

    @property
    def interface(self) -> str:
        return f"PJSIP/{self.sip_user}"


@dataclass
class RosterParts:
    """The operators read so far (across sop/ files) and where each was written, for the cross-checks."""

    operators: dict[str, Operator] = field(default_factory=dict)
    found: dict[str, Found] = field(default_factory=dict)

    def read(self, section: dict[str, Found]) -> None:
        for operator_id, found in section.items():
            first = self.found.get(operator_id)
            if first is not None:
                found.at.error(
                    f"duplicate operator id '{operator_id}' (first at {first.at.file}:{first.at.line}:{first.at.col}):"
                    " ids are unique across sop/ files; give one of them another id"
                )
                continue
            self.found[operator_id] = found
            if found.complete:  # a missing name or agency was reported
                self.operators[operator_id] = Operator(
                    operator_id, found["name"], found["role"], found["agency"], found["queues"], found["desk_phone"]
                )


def check_roster(sop: Sop, roster: RosterParts) -> None:
    """Report, where written, what needs the whole SOP: unknown agencies and queues, queues of another agency."""
    agencies, queues = sop.agencies, sop.queues
    for operator in sop.operators.values():
        found = roster.found[operator.id]
        agency = agencies.get(operator.agency)
        if agencies and agency is None:
            found.node("agency").error(f"unknown agency '{operator.agency}' (known: {', '.join(sorted(agencies))})")
        own = [queue.name for queue in agency.queues] if agency is not None else []
        if operator.role == "operator" and not operator.queues:
            where = found.node("queues") if "queues" in found else found.at
            example = f"queues: [{own[0]}]" if own else "queues: [<queue>]"
            where.error(f"an operator takes calls: list at least one queue ({example})")
        seen: set[str] = set()
        for item, name in zip(
            found.node("queues").elements() if "queues" in found else [], operator.queues, strict=True
        ):
            if not name:
                continue  # not text: reported as such
            if queues and name not in queues:
                item.error(f"unknown queue '{name}' (known: {', '.join(sorted(queues))})")
            elif name in seen:
                item.error(f"queue '{name}' is listed twice")
            elif agency is not None and not agency.central and name not in own:
                _foreign_queue(item, sop, operator, name, own)
            seen.add(name)


def _foreign_queue(item: Node, sop: Sop, operator: Operator, queue: str, own: list[str]) -> None:
    owner = sop.agency_of(queue)
    central = next((agency.name for agency in sop.agencies.values() if agency.central), "the central agency")
    item.error(
        f"queue '{queue}' belongs to agency '{owner.name if owner else '?'}': staff of '{operator.agency}' answer "
        f"only its queues ({', '.join(own) or 'none'}); only the central agency '{central}' may list any queue"
    )
