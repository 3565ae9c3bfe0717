"""The pieces of the load model's real-Asterisk engine that need no Asterisk: the time compression both
engines share, the bench SOP's compressed wrap-up, the callers' key schedule, the operators' SIP digest."""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import replace
from pathlib import Path

from bench.loadmodel.model import load_model
from bench.loadmodel.phone import digest_authorization
from bench.loadmodel.point import Window, compress_categories, compressed, presses, window_callers
from ivr.config import load_config
from ivr.config.flow import MenuNode
from ivr.prompts.build import estimate

REPO = Path(__file__).resolve().parents[2]


def test_compression_speeds_arrivals_and_shortens_what_occupies_an_operator() -> None:
    """k=10: ten times the calls in a tenth of the time; talk, answer delay and redial delay a tenth; patience as is."""
    model = replace(load_model(), warmup_days=0)
    fast = compressed(model, 10)
    assert fast.peak_hour_rate == 10 * model.peak_hour_rate
    for name, kind in model.kinds.items():
        assert fast.kinds[name].talk.mean == kind.talk.mean / 10
        assert fast.kinds[name].redial.delay.mean == kind.redial.delay.mean / 10
        assert fast.kinds[name].patience == kind.patience
    assert fast.answer_delay.minimum == model.answer_delay.minimum / 10
    hour = Window(model.scenarios["surge20"], 19, 3600.0)
    tenth = Window(fast.scenarios["surge20"], 19, 360.0)
    slow_count = len(window_callers(model, hour, 1)[1])
    fast_count = len(window_callers(fast, tenth, 1)[1])
    assert abs(fast_count - slow_count) < 4 * slow_count**0.5, (fast_count, slow_count)


def test_the_bench_sop_gives_every_category_the_compressed_wrap_up(tmp_path: Path) -> None:
    """The bench copy of sop/categories.yaml: every category loads with the given wrap-up, nothing else changes."""
    for part in ("dialplan", "sop"):
        shutil.copytree(REPO / part, tmp_path / part)
    compress_categories(tmp_path / "sop" / "categories.yaml", 3)
    shipped, bench = load_config(REPO).sop, load_config(tmp_path).sop
    assert set(bench.categories) == set(shipped.categories)
    for name, category in bench.categories.items():
        assert category.wrapup_seconds == 3, name
        assert category.max_wait == shipped.categories[name].max_wait


def test_a_caller_presses_when_the_simpy_caller_does() -> None:
    """Key 1 then 2: each pressed when its prompt has announced it, plus the flow's reaction time."""
    config = load_config(REPO)
    flow, timings = config.flows["112"], estimate(config.prompts)
    first = flow.nodes[flow.start]
    assert isinstance(first, MenuNode)
    pressed = presses(flow, timings, "12")
    language = flow.default_language
    announced = timings[(first.prompt, language)].key_offsets["1"]
    assert [key for _at, key in pressed] == ["1", "2"]
    assert pressed[0][0] == announced + flow.reaction_time
    assert pressed[1][0] > pressed[0][0]
    assert presses(flow, timings, "") == []


def test_the_digest_answers_the_registrars_challenge() -> None:
    """RFC 2617 qop=auth: the response is MD5(HA1:nonce:nc:cnonce:auth:HA2) over the header's own cnonce."""
    challenge = 'Digest realm="asterisk",nonce="abc123",qop="auth",algorithm=MD5'
    header = digest_authorization(challenge, "op-budi", "s3cret", "REGISTER", "sip:127.0.0.1:5060")
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header.removeprefix("Digest ")))

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1, ha2 = md5("op-budi:asterisk:s3cret"), md5("REGISTER:sip:127.0.0.1:5060")
    assert fields["response"] == md5(f"{ha1}:abc123:{fields['nc']}:{fields['cnonce']}:auth:{ha2}")
    assert fields["username"] == "op-budi" and fields["qop"] == "auth"
