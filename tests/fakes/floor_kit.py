"""The operators' floor assembled for unit tests: the shipped SOP with a roster, the fake app_queue, real stores.

The roster is put into the shipped configuration with ``dataclasses.replace`` (not read from a roster
file), so these tests depend only on ``ivr.config.roster.Operator`` and ``Sop.operators``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from ivr.ami.agents import Agents
from ivr.ami.live import LiveQueues
from ivr.config import Config, load_config
from ivr.config.roster import Operator
from ivr.operators.floor import Floor
from ivr.store.calls import CallStore, IvrRecord
from ivr.store.console import ConsoleStore
from ivr.store.db import Target
from tests.fakes.app_queue import FakeAppQueue, until

REPO = Path(__file__).resolve().parents[2]

BUDI = Operator("budi", "Budi Santoso", "operator", "c112", ("q112",))
ANI = Operator("ani", "Ani Lestari", "operator", "c112", ("q112",))
DEWI = Operator("dewi", "Dewi Kartika", "operator", "damkar", ("q-damkar", "q112"))
SARI = Operator("sari", "Sari Wulandari", "supervisor", "c112", ("q112",))
ROSTER = {operator.id: operator for operator in (BUDI, ANI, DEWI, SARI)}


@functools.cache
def _shipped() -> Config:
    return load_config(REPO)


def shipped_config(operators: Mapping[str, Operator] = ROSTER) -> Config:
    """The shipped dialplan/ and sop/, with ``operators`` as the roster."""
    config = _shipped()
    return replace(config, sop=replace(config.sop, operators=dict(operators)))


def given_call(
    calls: CallStore,
    uniqueid: str,
    caller: str = "081234567890",
    *,
    category: str = "kebakaran",
    keys: str = "11",
    queue: str = "q-damkar",
    started_at: str = "2026-12-02T03:00:00+00:00",
    caller_name: str = "",
    reason: str = "office hours: q-damkar",
    reason_id: str = "",
    disposition: str = "",
) -> IvrRecord:
    """A call our service routed (its record in the store), optionally already given an outcome."""
    record = IvrRecord(
        uniqueid=uniqueid,
        started_at=started_at,
        caller=caller,
        caller_name=caller_name,
        flow="112",
        keys=keys,
        language="id",
        exit="selected",
        category=category,
        queue=queue,
        priority=10,
        outcome="routed",
        ivr_seconds=8.0,
        reason=reason,
        reason_id=reason_id,
        caller_raw=caller,
        caller_name_raw=caller_name,
    )
    calls.write(record)
    if disposition:
        calls.set_disposition(uniqueid, disposition)
    return record


@dataclass
class FloorKit:
    fake: FakeAppQueue
    live: LiveQueues
    agents: Agents
    floor: Floor
    calls: CallStore
    console: ConsoleStore
    config: Config

    async def close(self) -> None:
        await self.floor.close()
        await self.agents.close()
        await self.live.close()
        self.calls.close()
        self.console.close()
        assert self.fake.listener_errors == [], "a listener raised on an AMI event"


async def open_floor(
    tmp_path: Path,
    *,
    events_first: bool = True,
    recent: Callable[[str], IvrRecord | None] = lambda _uniqueid: None,
    config: Config | None = None,
    store: Target | None = None,
) -> FloorKit:
    """Everything the console stands on, against a fake app_queue with the shipped queues; synced.
    ``store``: a database shared with another kit (two services on one PostgreSQL); default: files in ``tmp_path``."""
    config = config or shipped_config()
    fake = FakeAppQueue(config.sop.queues, events_first=events_first)
    live = LiveQueues(fake)  # type: ignore[arg-type]  # the fake has AmiClient's surface
    console = ConsoleStore(store or tmp_path / "console.sqlite3")
    agents = Agents(fake, live, lambda: config.sop.operators, console)  # type: ignore[arg-type]
    calls = CallStore(store or tmp_path / "calls.sqlite3")
    floor = Floor(agents, live, lambda: config, calls, recent, console, transfers=fake)  # type: ignore[arg-type]
    await until(lambda: live.synced, what="LiveQueues' first QueueStatus resync")
    return FloorKit(fake, live, agents, floor, calls, console, config)
