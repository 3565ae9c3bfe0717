"""Simulated operators for the demo and tests: Local channels that answer, logged in with QueueAdd.

Real operators log in the same way (dynamic members), so "nobody logged in" and "all paused" are
real states of real queues. One interface per queue and seat, so seats do not block each other.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from ivr.ami.client import AmiClient

log = structlog.get_logger("ivr.ami")


SIM_CONTEXT = "siaga-sim-operator"
# app_queue rings a member with a higher penalty only when nobody with a lower one can take the
# call: a person logged in at the console (penalty 0) gets the call before any simulated seat.
SIM_PENALTY = 5


def sim_interface(queue: str, seat: int) -> str:
    return f"Local/op-{queue}-{seat}@{SIM_CONTEXT}/n"


def is_simulated(interface: str) -> bool:
    return f"@{SIM_CONTEXT}/" in interface


async def login_sim_operators(client: AmiClient, queues: Iterable[str], seats: int) -> int:
    added = 0
    for queue in queues:
        for seat in range(1, seats + 1):
            reply = await client.action(
                {
                    "Action": "QueueAdd",
                    "Queue": queue,
                    "Interface": sim_interface(queue, seat),
                    "MemberName": f"Simulasi {queue} {seat}",
                    "Paused": "false",
                    "Penalty": str(SIM_PENALTY),
                }
            )
            added += str(reply.get("Response", "")) == "Success"
    log.info("sim_operators_logged_in", seats=seats, added=added)
    return added


async def logout_sim_operators(client: AmiClient, queue: str, seats: int) -> None:
    for seat in range(1, seats + 1):
        await client.action({"Action": "QueueRemove", "Queue": queue, "Interface": sim_interface(queue, seat)})
