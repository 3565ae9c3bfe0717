"""Rendering (no Asterisk) of what keeps a citizen when the operator's phone dies mid-call: the browser
phones' RTP timeouts, Queue's continue option on every queue a citizen waits in, and the one place
that tells a hang-up from a lost phone ([siaga-operator-left]). tests/e2e/test_dead_phone.py proves
the behaviour on the real Asterisk."""

from __future__ import annotations

import re
from pathlib import Path

from ivr.asterisk.phones import BROWSER_RTP_TIMEOUT, PHONES_FILE
from ivr.asterisk.render import ANSWERED_AND_LEFT, LEG_CAUSE_POLLS, MAX_REQUEUES, OPERATOR_LEG_CONTEXT
from ivr.config import load_config
from ivr.operators.states import PHONE_LOST_REASON
from ivr.routing.decide import fallback_priority
from tests.unit.conftest import REPO
from tests.unit.test_phones import BUDI, SARI, etc, given_rendered, section
from tests.unit.test_render_rights import rendered

REQUEUE_STEP = "?siaga-operator-left,s,1)"


def context(text: str, name: str) -> list[str]:
    """The dialplan lines of ``[name]`` without comments."""
    body = text.split(f"\n[{name}]\n", 1)[1].split("\n[", 1)[0]
    return [line for line in body.splitlines() if line.strip() and not line.lstrip().startswith(";")]


def test_browser_phones_end_a_leg_without_audio_and_desk_phones_keep_theirs(tmp_path: Path) -> None:
    """op-<id> ends a call after BROWSER_RTP_TIMEOUT s without RTP, held or not; desk phones (which may
    send nothing while holding) get no timeout."""
    text = (etc(given_rendered(tmp_path, BUDI, SARI)) / PHONES_FILE).read_text()
    for operator in ("op-budi", "op-sari"):
        endpoint = section(text, operator, "endpoint")
        assert endpoint["rtp_timeout"] == endpoint["rtp_timeout_hold"] == str(BROWSER_RTP_TIMEOUT)
    assert "rtp_timeout" not in section(text, "desk-sari", "endpoint")


def by_extension(lines: list[str]) -> list[tuple[str, list[str]]]:
    """(extension, its lines) in order: an extension runs from its ``exten =>`` to the next."""
    found: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("exten => "):
            found.append((line.split("=> ", 1)[1].split(",", 1)[0], []))
        found[-1][1].append(line)
    return found


def test_every_queue_a_citizen_waits_in_continues_to_the_decision(tmp_path: Path) -> None:
    """[siaga-112]'s, [siaga-central]'s and each xfer-<queue>'s Queue() has option c and, answered, goes
    to [siaga-operator-left]; a consultation (an operator's own call, not the citizen) ends with its Queue()."""
    etc_dir = rendered(tmp_path)
    extensions = (etc_dir / "extensions.conf").read_text()
    transfers = (etc_dir / "extensions_transfer.conf").read_text()
    waits = by_extension(context(extensions, "siaga-112") + context(extensions, "siaga-central"))
    waits += by_extension(context(transfers, "siaga-transfer"))
    queued = []
    for name, lines in waits:
        for number, line in enumerate(lines):
            if ",Queue(" not in line:
                continue
            queued.append(name)
            options = line.split(",Queue(", 1)[1].rstrip(")").split(",")[1:2]
            if name.startswith("consult-"):
                assert options == [""] and lines[number + 1] == " same => n,Hangup()", line
            else:
                assert options == ["c"], line
                assert lines[number + 1].endswith(f"GotoIf({ANSWERED_AND_LEFT}{REQUEUE_STEP}"), lines[number + 1]
    queues = sorted(load_config(REPO).sop.queues)
    assert sorted(queued) == sorted(["112", "s"] + [f"xfer-{q}" for q in queues] + [f"consult-{q}" for q in queues])


def test_transfer_back_to_the_operator_continues_to_the_decision(tmp_path: Path) -> None:
    """The failed transfer's call back to the operator (Dial, option g) decides the same way once answered."""
    transfers = (rendered(tmp_path) / "extensions_transfer.conf").read_text()
    back = context(transfers, "siaga-transfer-back")
    dial = next(number for number, line in enumerate(back) if ",Dial(" in line)
    assert back[dial].endswith(f",Dial(${{SIAGA_XFER_FROM}},30,gU({OPERATOR_LEG_CONTEXT}))")
    assert back[dial + 2] == ' same => n,GotoIf($["${DIALSTATUS}" = "ANSWER"]' + REQUEUE_STEP


def test_a_hang_up_ends_the_call_and_a_lost_phone_requeues_it_at_most_twice(tmp_path: Path) -> None:
    """The ended leg's own cause (SIAGA_LEG_CAUSE, waited for at most LEG_CAUSE_POLLS x 50 ms) decides:
    16 (the operator's BYE) ends the call; any other, or none, puts the citizen in the central queue at
    the emergency priority with a SiagaRoute requeue event, at most MAX_REQUEUES times, each time first
    pausing the lost phone's seat in every queue (PHONE_LOST_REASON), and the event says whether it did;
    only the leg's cause, our own counters and the length of app_queue's MEMBERINTERFACE (an empty one
    would make PauseQueueMember hang the citizen up) enter $[...]; each requeue is written to queue_log."""
    lines = context((rendered(tmp_path) / "extensions.conf").read_text(), "siaga-operator-left")
    assert lines[:6] == [
        "exten => s,1,Set(IVR_LEG_WAIT=0)",
        " same => n(cause),Set(IVR_LEG_CAUSE=${SHARED(SIAGA_LEG_CAUSE)})",
        f" same => n,GotoIf($[${{LEN(${{IVR_LEG_CAUSE}})}} > 0 | ${{IVR_LEG_WAIT}} >= {LEG_CAUSE_POLLS}]?decide)",
        " same => n,Set(IVR_LEG_WAIT=$[${IVR_LEG_WAIT} + 1])",
        " same => n,Wait(0.05)",
        " same => n,Goto(cause)",
    ]
    assert lines[6] == ' same => n(decide),GotoIf($["${IVR_LEG_CAUSE}" = "16"]?ended)'
    assert lines[7:12] == [
        " same => n,Set(IVR_REQUEUES=$[0${IVR_REQUEUES} + 1])",
        f" same => n,GotoIf($[${{IVR_REQUEUES}} > {MAX_REQUEUES}]?ended)",
        " same => n,Set(PQMSTATUS=)",
        " same => n,GotoIf($[${LEN(${MEMBERINTERFACE})} = 0]?requeue)",
        f" same => n,PauseQueueMember(,${{MEMBERINTERFACE}},,{PHONE_LOST_REASON})",
    ]
    # queue_log keeps it for the call's record; QueueLog hangs the citizen up on an empty argument, so
    # each one it requires is a constant or the call's own id.
    assert lines[12] == (
        f" same => n(requeue),QueueLog({load_config(REPO).sop.central_queue.name},${{UNIQUEID}},NONE,REQUEUE,"
        "${IVR_LEG_CAUSE}|${IVR_REQUEUES}|${PQMSTATUS}|${MEMBERINTERFACE})"
    )
    assert lines[13].startswith(" same => n,UserEvent(SiagaRoute,Action: requeue,")
    assert "Status: ${IVR_LEG_CAUSE}," in lines[13] and lines[13].endswith(",Paused: ${PQMSTATUS})")
    assert lines[14:] == [
        f" same => n,Set(QUEUE_PRIO={fallback_priority(load_config(REPO).sop)})",
        " same => n,Goto(siaga-central,s,1)",
        " same => n(ended),Hangup()",
    ]
    expressions = re.findall(r"\$\[[^\]]*\]", "\n".join(lines))
    member_length = "${LEN(${MEMBERINTERFACE})}"
    assert sum(expression.count(member_length) for expression in expressions) == 1
    others = [expression.replace(member_length, "") for expression in expressions]
    assert {name for expression in others for name in re.findall(r"\$\{(\w+)", expression)} == {
        "LEN",
        "IVR_LEG_CAUSE",
        "IVR_LEG_WAIT",
        "IVR_REQUEUES",
    }


def test_every_operator_leg_hands_its_own_cause_to_its_citizen(tmp_path: Path) -> None:
    """Every queue runs OPERATOR_LEG_CONTEXT on an answering member's leg; the citizen names itself for
    those legs (inherited SIAGA_CITIZEN); the leg claims the citizen (SIAGA_LEG, its cause cleared) and
    its hangup handler writes its own HANGUPCAUSE to the citizen only while it is still the citizen's leg;
    only channel names and the leg's own cause are compared, and a leg with no citizen writes nothing."""
    etc_dir = rendered(tmp_path)
    queues = (etc_dir / "queues.conf").read_text()
    sections = queues.count("\n[") - queues.count("\n[general]")
    assert queues.count(f"\nmembergosub = {OPERATOR_LEG_CONTEXT}\n") == sections == len(load_config(REPO).sop.queues)
    extensions = (etc_dir / "extensions.conf").read_text()
    assert " same => n,Set(__SIAGA_CITIZEN=${CHANNEL})" in context(extensions, "siaga-112")
    assert context(extensions, OPERATOR_LEG_CONTEXT) == [
        f"exten => s,1,Set(CHANNEL(hangup_handler_push)={OPERATOR_LEG_CONTEXT},ended,1)",
        " same => n,GotoIf($[${LEN(${SIAGA_CITIZEN})} = 0]?done)",
        " same => n,Set(SHARED(SIAGA_LEG_CAUSE,${SIAGA_CITIZEN})=)",
        " same => n,Set(SHARED(SIAGA_LEG,${SIAGA_CITIZEN})=${CHANNEL})",
        " same => n(done),Return()",
        "exten => ended,1,GotoIf($[${LEN(${SIAGA_CITIZEN})} = 0]?done)",
        ' same => n,GotoIf($["${SHARED(SIAGA_LEG,${SIAGA_CITIZEN})}" != "${CHANNEL}"]?done)',
        " same => n,Set(SHARED(SIAGA_LEG_CAUSE,${SIAGA_CITIZEN})=${HANGUPCAUSE})",
        " same => n(done),Return()",
    ]
