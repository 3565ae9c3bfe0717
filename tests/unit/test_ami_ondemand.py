"""The warm transfers' AMI account is logged in only around its actions (ivr/ami/ondemand.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ivr.ami.client import AmiError, AmiTimeout
from ivr.ami.ondemand import OnDemandAmi


class FakeSession:
    def __init__(self, log: list[str], refuse_login: bool = False, slow: str = "") -> None:
        self.log = log
        self.refuse_login = refuse_login
        self.slow = slow  # this action takes 0.3 s
        self.closed = False

    async def connect(self, timeout: float = 15.0) -> None:
        self.log.append("login")
        await asyncio.sleep(0.01)
        if self.refuse_login:
            raise AmiTimeout("AMI not ready (FullyBooted) within 5s")

    async def action(self, fields: dict[str, Any], timeout: float = 5.0, as_list: bool = False) -> Any:
        assert not self.closed, "an action on a closed session"
        self.log.append(fields["Action"])
        await asyncio.sleep(0.3 if fields["Action"] == self.slow else 0.0)
        return {"Response": "Success"}

    async def close(self) -> None:
        self.closed = True
        self.log.append("logoff")


def on_demand(log: list[str], idle: float = 0.05, **session: Any) -> tuple[OnDemandAmi, list[FakeSession]]:
    made: list[FakeSession] = []

    def connect() -> FakeSession:
        made.append(FakeSession(log, **session))
        return made[-1]

    return OnDemandAmi(connect, idle_seconds=idle), made


async def test_nothing_is_logged_in_until_the_first_action() -> None:
    log: list[str] = []
    ami, made = on_demand(log)
    await asyncio.sleep(0.1)
    assert (made, ami.logged_in) == ([], False)
    reply = await ami.action({"Action": "Bridge"})
    assert reply == {"Response": "Success"}
    assert log == ["login", "Bridge"] and ami.logged_in
    await ami.close()


async def test_one_transfers_actions_share_a_login_that_ends_when_idle() -> None:
    log: list[str] = []
    ami, made = on_demand(log, idle=0.2)
    for _ in range(4):
        await ami.action({"Action": "Setvar"})
    await ami.action({"Action": "Bridge"})
    assert log == ["login", "Setvar", "Setvar", "Setvar", "Setvar", "Bridge"]
    await asyncio.sleep(0.4)
    assert log[-1] == "logoff" and not ami.logged_in and made[0].closed
    # The next transfer logs in again.
    await ami.action({"Action": "Bridge"})
    assert log[-2:] == ["login", "Bridge"] and len(made) == 2
    await ami.close()
    assert made[1].closed


async def test_concurrent_actions_log_in_once() -> None:
    log: list[str] = []
    ami, made = on_demand(log)
    await asyncio.gather(*(ami.action({"Action": "Setvar"}) for _ in range(5)))
    assert len(made) == 1 and log.count("login") == 1 and log.count("Setvar") == 5
    await ami.close()


async def test_a_slow_action_is_not_cut_off_by_the_idle_log_off() -> None:
    log: list[str] = []
    ami, made = on_demand(log, idle=0.05, slow="Setvar")
    first = asyncio.ensure_future(ami.action({"Action": "Setvar"}))
    await asyncio.sleep(0.01)
    await ami.action({"Action": "Bridge"})  # ends while the first is still running
    await first
    assert "logoff" not in log and ami.logged_in and not made[0].closed
    await asyncio.sleep(0.2)
    assert log[-1] == "logoff"
    await ami.close()


async def test_a_refused_login_raises_and_the_next_action_tries_again() -> None:
    log: list[str] = []
    ami, made = on_demand(log, refuse_login=True)
    with pytest.raises(AmiError, match="FullyBooted"):
        await ami.action({"Action": "Bridge"})
    assert made[0].closed and not ami.logged_in  # nothing left reconnecting behind our back
    made.clear()
    with pytest.raises(AmiError):
        await ami.action({"Action": "Bridge"})
    assert len(made) == 1
    await ami.close()


async def test_no_login_after_close() -> None:
    log: list[str] = []
    ami, made = on_demand(log)
    await ami.action({"Action": "Bridge"})
    await ami.close()
    assert log[-1] == "logoff"
    with pytest.raises(AmiError, match="stopping"):
        await ami.action({"Action": "Bridge"})
    assert len(made) == 1
