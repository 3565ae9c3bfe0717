"""What one 112 call does in our service: run its flow, decide its route, hand the route back.

The route goes back to the dialplan as channel variables; IVR_ACTION is set last, so a session that
dies half way leaves it empty and the dialplan queues the caller centrally on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import structlog

from ivr.agi.channel import AgiChannel
from ivr.agi.server import AgiSession
from ivr.config import Config
from ivr.flow.engine import FlowEngine
from ivr.routing.decide import decide

log = structlog.get_logger("ivr.service")


class CallService:
    def __init__(self, config: Callable[[], Config], sounds_dir: Path) -> None:
        self._config = config
        self.sounds_dir = sounds_dir

    async def handle(self, session: AgiSession) -> None:
        config = self._config()  # one snapshot for the whole call, even if a reload happens
        script = session.env.script
        flow = config.flow_for(script)
        if flow is None:
            log.warning("agi_unknown_script", known=sorted(config.flows))
            session.summary["route"] = "none (unknown script): dialplan falls back"
            return
        channel = AgiChannel(session, self.sounds_dir, flow.default_language)
        result = await FlowEngine(flow).run(channel)
        decision = decide(result.category, config.sop)
        session.summary.update(
            flow=flow.name, keys=result.keys, nodes=result.nodes, language=result.language,
            exit=result.exit, flags=result.flags, category=decision.category,
            queue=decision.target, priority=decision.priority, reason=decision.reason,
            failed_prompts=channel.failed_prompts,
        )
        await channel.set_variable("IVR_TARGET", decision.target)
        await channel.set_variable("IVR_PRIORITY", str(decision.priority))
        await channel.set_variable("IVR_CATEGORY", decision.category)
        await channel.set_variable("IVR_FLAGS", " ".join(result.flags))
        await channel.set_variable("IVR_ACTION", decision.action)
