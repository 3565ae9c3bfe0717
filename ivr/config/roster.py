"""The operator roster (``operators:`` in sop/*.yaml): who takes calls, in which role, for which queues.

No secrets here: the file is reviewed in git. Passwords are set with ``ivr passwd`` and kept hashed
under ``var/``; SIP credentials for the browser are issued per console session.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("operator", "supervisor", "admin")


@dataclass(frozen=True)
class Operator:
    id: str
    name: str
    role: str
    agency: str
    queues: tuple[str, ...]
    # A desk phone or softphone over UDP with the same identity, besides the browser's WebRTC phone.
    desk_phone: bool = False

    @property
    def sip_user(self) -> str:
        """The operator's PJSIP endpoint, AOR and auth user; queue members are ``PJSIP/<sip_user>``."""
        return f"op-{self.id}"

    @property
    def interface(self) -> str:
        return f"PJSIP/{self.sip_user}"
