"""JSON Schema (draft 2020-12) of the YAML files, exported by ``ivr schema`` for editors.

Generated from the same tables of fields the loaders read through (``FLOW_FILE``, ``PROMPTS_FILE``,
``SOP_FILE`` and the tables they nest), so keys, ranges, choices, patterns and defaults cannot drift
apart. Cross-file rules (a category that must exist, a safe flow, a loop) stay with ``ivr check``.
"""

from __future__ import annotations

from typing import Any

from ivr.config.flow import FLOW_FILE
from ivr.config.prompts import PROMPTS_FILE
from ivr.config.sop import SOP_FILE
from ivr.config.spec import document

SCHEMAS: dict[str, dict[str, Any]] = {
    "flow": document(FLOW_FILE, FLOW_FILE.title),
    "prompts": document(PROMPTS_FILE, PROMPTS_FILE.title),
    "sop": document(SOP_FILE, SOP_FILE.title),
}
