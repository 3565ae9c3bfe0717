"""Rendering (no Asterisk) of what keeps a citizen when the operator's phone dies mid-call: the browser
phones' RTP timeouts, Queue's continue option on every queue a citizen waits in, and the one place
that tells a hang-up from a lost phone ([siaga-operator-left]). tests/e2e/test_dead_phone.py proves
the behaviour on the real Asterisk."""

from __future__ import annotations

import re
from pathlib import Path

from ivr.asterisk.phones import BROWSER_RTP_TIMEOUT, PHONES_FILE
from ivr.asterisk.render import ANSWERED_AND_LEFT, MAX_REQUEUES
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
    assert back[dial].endswith(",Dial(${SIAGA_XFER_FROM},30,g)")
    assert back[dial + 2] == ' same => n,GotoIf($["${DIALSTATUS}" = "ANSWER"]' + REQUEUE_STEP


def test_a_hang_up_ends_the_call_and_a_lost_phone_requeues_it_at_most_twice(tmp_path: Path) -> None:
    """Cause 16 (the operator's BYE) ends the call; any other puts the citizen in the central queue at the
    emergency priority with a SiagaRoute requeue event, at most MAX_REQUEUES times; the first requeue
    first pauses the lost phone's seat in every queue (PHONE_LOST_REASON), and the event says whether it
    did; only Asterisk's cause, our own counter and the length of app_queue's MEMBERINTERFACE (an empty
    one would make PauseQueueMember hang the citizen up) enter $[...]; each requeue is written to
    queue_log."""
    lines = context((rendered(tmp_path) / "extensions.conf").read_text(), "siaga-operator-left")
    assert lines[0] == 'exten => s,1,GotoIf($["${HANGUPCAUSE}" = "16"]?ended)'
    assert lines[1:6] == [
        " same => n,Set(IVR_REQUEUES=$[0${IVR_REQUEUES} + 1])",
        f" same => n,GotoIf($[${{IVR_REQUEUES}} > {MAX_REQUEUES}]?ended)",
        " same => n,Set(PQMSTATUS=)",
        " same => n,GotoIf($[${IVR_REQUEUES} > 1 | ${LEN(${MEMBERINTERFACE})} = 0]?requeue)",
        f" same => n,PauseQueueMember(,${{MEMBERINTERFACE}},,{PHONE_LOST_REASON})",
    ]
    # queue_log keeps it for the call's record; QueueLog hangs the citizen up on an empty argument, so
    # each one it requires is a constant or the call's own id.
    assert lines[6] == (
        f" same => n(requeue),QueueLog({load_config(REPO).sop.central_queue.name},${{UNIQUEID}},NONE,REQUEUE,"
        "${HANGUPCAUSE}|${IVR_REQUEUES}|${PQMSTATUS}|${MEMBERINTERFACE})"
    )
    assert lines[7].startswith(" same => n,UserEvent(SiagaRoute,Action: requeue,")
    assert lines[7].endswith(",Paused: ${PQMSTATUS})")
    assert lines[8:] == [
        f" same => n,Set(QUEUE_PRIO={fallback_priority(load_config(REPO).sop)})",
        " same => n,Goto(siaga-central,s,1)",
        " same => n(ended),Hangup()",
    ]
    expressions = re.findall(r"\$\[[^\]]*\]", "\n".join(lines))
    member_length = "${LEN(${MEMBERINTERFACE})}"
    assert sum(expression.count(member_length) for expression in expressions) == 1
    others = [expression.replace(member_length, "") for expression in expressions]
    assert {name for expression in others for name in re.findall(r"\$\{(\w+)", expression)} == {
        "HANGUPCAUSE",
        "IVR_REQUEUES",
    }
