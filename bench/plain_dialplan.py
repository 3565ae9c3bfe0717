"""The same menu in plain Asterisk dialplan (Background/WaitExten, no AGI), for the surge benchmark.

Rendered from the same ``dialplan/`` flow and ``sop/`` categories as our IVR, into contexts of its
own (``bench-plain`` and ``bp-*``) appended to the benchmark's copy of extensions.conf, so one
Asterisk runs both menus. Bench-side only: never shipped.

What it keeps of our flow: prompts (the same files), keys, multi-key options (exten ``55``, with the
menu's inter_digit_timeout as Asterisk's digit timeout), timeouts, replays on silence and on a wrong
key, language switches, and per category its queue, priority, max_wait and overflow chain ending at
the shipped ``siaga-central``. What it leaves out, because a static dialplan cannot know it: live
queue state (skip_busy, empty queues), opening hours, caller history (triage, prank warning), and the
call record our service writes. The entry does what [siaga-112] does around the menu (Answer, the CDR
mark, the recording, the language) but not its caller ID containment (about 15 Set()s).
"""

from __future__ import annotations

from pathlib import Path

from ivr.config.flow import Flow, MenuNode, PlayNode, Target
from ivr.config.sop import Sop

ENTRY = "bench-plain"


def _context(node: str, language: str) -> str:
    return f"bp-{node}-{language}"


def _category_context(category: str) -> str:
    return f"bp-cat-{category}"


def _prompt(sounds_dir: Path, default_language: str, prompt: str, language: str) -> str:
    """As ivr.agi.channel.AgiChannel.prompt_path: the language's file, else the default language's."""
    for candidate in (language, default_language):
        base = sounds_dir / candidate / prompt
        if base.with_suffix(".wav").exists():
            return str(base)
    raise FileNotFoundError(f"no prompt {prompt} ({language}) under {sounds_dir}: run `ivr prompts`")


def _goto(target: Target, language: str) -> tuple[list[str], tuple[str, str] | None]:
    """Dialplan lines that go to ``target``, and the (node, language) it enters, if a node."""
    lines = [f"Set(CHANNEL(language)={target.language})"] if target.language else []
    language = target.language or language
    if target.category:
        return [*lines, f"Goto({_category_context(target.category)},s,1)"], None
    return [*lines, f"Goto({_context(target.node, language)},s,1)"], (target.node, language)


def _exten(name: str, lines: list[str]) -> list[str]:
    return [f"exten => {name},1,{lines[0]}", *(f" same => n,{line}" for line in lines[1:])]


def _menu(flow: Flow, node: MenuNode, language: str, sounds_dir: Path) -> tuple[list[str], list[tuple[str, str]]]:
    prompt = _prompt(sounds_dir, flow.default_language, node.prompt, language)
    text = [
        f"[{_context(node.name, language)}]",
        "exten => s,1,Set(BP_SILENCES=0)",
        " same => n,Set(BP_INVALIDS=0)",
        f" same => n,Set(TIMEOUT(digit)={node.inter_digit_timeout:g})",
        f" same => n(play),Background({prompt})",
        f" same => n,WaitExten({node.timeout:g})",
    ]
    entered: list[tuple[str, str]] = []
    for key, target in sorted(node.options.items()):
        lines, enters = _goto(target, language)
        text += _exten(key, lines)
        entered += [enters] if enters else []
    for name, counter, replays, target in (
        ("t", "BP_SILENCES", node.replay_on_silence, node.on_silence),
        ("i", "BP_INVALIDS", node.replay_on_invalid, node.on_invalid),
    ):
        lines, enters = _goto(target, language)
        replay = [f"Set({counter}=$[${{{counter}}} + 1])", f"GotoIf($[${{{counter}}} <= {replays}]?s,play)"]
        text += _exten(name, [*(replay if replays else []), *lines])
        entered += [enters] if enters else []
    return text, entered


def _play(flow: Flow, node: PlayNode, language: str, sounds_dir: Path) -> tuple[list[str], list[tuple[str, str]]]:
    prompt = _prompt(sounds_dir, flow.default_language, node.prompt, language)
    lines, enters = _goto(node.next, language)
    return [f"[{_context(node.name, language)}]", *_exten("s", [f"Playback({prompt})", *lines])], [
        enters
    ] if enters else []


def _category(sop: Sop, name: str) -> list[str]:
    category = sop.categories[name]
    steps = [f"Set(QUEUE_PRIO={category.priority})"]
    # As the shipped dialplan: the first queue for max_wait (0: until answered), each overflow queue
    # for the same, then the central call-takers until answered.
    for queue in (category.queue, *category.overflow):
        if queue == sop.central_queue.name:
            break
        steps.append(f"Queue({queue},,,,{category.max_wait})" if category.max_wait else f"Queue({queue})")
        steps.append('GotoIf($["${QUEUESTATUS}" = ""]?done)')
    steps.append("Goto(siaga-central,s,1)")
    return [f"[{_category_context(name)}]", *_exten("s", steps), " same => n(done),Hangup()"]


def render_plain(flow: Flow, sop: Sop, sounds_dir: Path) -> str:
    """The contexts; a call enters at ``112@bench-plain``."""
    text = [
        "; Bench only (bench/plain_dialplan.py): the same menu as plain dialplan, no AGI.",
        f"[{ENTRY}]",
        *_exten(
            "112",
            [
                "Answer()",
                "Set(CDR(userfield)=siaga112)",
                "MixMonitor(${UNIQUEID}.wav,b)",
                f"Set(CHANNEL(language)={flow.default_language})",
                f"Goto({_context(flow.start, flow.default_language)},s,1)",
            ],
        ),
    ]
    todo, done = [(flow.start, flow.default_language)], set()
    while todo:
        name, language = todo.pop()
        if (name, language) in done:
            continue
        done.add((name, language))
        node = flow.nodes[name]
        block, entered = (
            _menu(flow, node, language, sounds_dir)
            if isinstance(node, MenuNode)
            else _play(flow, node, language, sounds_dir)
        )
        text += ["", *block]
        todo += entered
    for category in sorted(sop.categories):
        text += ["", *_category(sop, category)]
    return "\n".join(text) + "\n"
