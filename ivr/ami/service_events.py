"""The AMI events `ivr serve`'s own account receives: rendered into manager.conf, enforced by its client.

No import beyond the standard library: ivr/asterisk/render.py renders the account's filter from here.
"""

from __future__ import annotations

# Every event `ivr serve`'s own account is sent, and the only ones: manager.conf's eventfilter lines for
# that account are rendered from this (ivr/asterisk/render.py), and the service's client refuses a
# listener for any other (``only_events``). Its classes (system, agent, dtmf, user) hold far more: each
# key pressed is four DTMF events (begin and end, on both halves of the caller's channel) where the
# service reads one, the end its caller's channel received. At a surge those were parsed on the event
# loop that also carries every call's menu and route, at the very moment of the callers' keys.
# What ivr.ami.live reads: who is in which queue, ready or on a call, and who waits there.
LIVE_QUEUE_EVENTS = (
    "QueueMemberAdded",
    "QueueMemberStatus",
    "QueueMemberPause",
    "QueueMemberRemoved",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueCallerAbandon",
    "AgentConnect",
    "AgentComplete",
    "AgentDump",
)
SERVICE_EVENTS = (
    "FullyBooted",
    "Shutdown",
    *LIVE_QUEUE_EVENTS,
    "AgentCalled",
    "AgentRingNoAnswer",
    "UserEvent",
    "DTMFEnd",
)
# Of the DTMF events, the key as the caller's channel received it (ivr/ami/dtmf.py reads no other).
SERVICE_DTMF_DIRECTION = "Received"
# Of the UserEvents, our dialplan's word on a call (ivr/operators/floor.py reads no other): not, say, the
# transfer dialplan's SiagaTransfer, nor another dialplan's or a test bench's, each parsed for nothing.
SERVICE_USER_EVENT = "SiagaRoute"
