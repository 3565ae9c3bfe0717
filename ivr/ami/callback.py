"""An operator calls a citizen back: Asterisk rings the operator's own phone first and, once they
answer, dials the citizen (context ``siaga-callback``, rendered with the trunk's dial string).

The number is the caller's data: it reaches Asterisk only as a channel variable, and only after
``ivr.incidents.callbacks.dialable`` accepted it (digits only); the dialplan puts it into Dial's
target, where digits can mean nothing else.
"""

from __future__ import annotations

import structlog

from ivr.ami.client import AmiClient, AmiError
from ivr.config.roster import Operator
from ivr.incidents.callbacks import dialable

log = structlog.get_logger("ivr.ami")

CALLBACK_CONTEXT = "siaga-callback"
# How long the operator's phone rings before the attempt is given up (they clicked it themselves).
RING_OPERATOR_MS = 30_000


class CallbackRefused(Exception):
    code = "callback_refused"


async def call_back(client: AmiClient, operator: Operator, number: str) -> None:
    if not dialable(number):
        raise CallbackRefused("this number cannot be dialled (withheld or not a phone number)")
    try:
        reply = await client.action(
            {
                "Action": "Originate",
                "Channel": operator.interface,
                "Context": CALLBACK_CONTEXT,
                "Exten": "s",
                "Priority": "1",
                "CallerID": f"Panggilan balik 112 <{number}>",
                "Variable": f"SIAGA_CALLBACK_NUMBER={number}",
                "Timeout": str(RING_OPERATOR_MS),
                "Async": "true",
            }
        )
    except AmiError as error:
        raise CallbackRefused(f"Asterisk did not take it: {error}") from error
    if str(reply.get("Response", "")) != "Success":
        raise CallbackRefused(f"Asterisk refused: {reply.get('Message', '')}")
    log.info("callback_originated", operator=operator.id)
