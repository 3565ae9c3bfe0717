"""JSON Schema (draft 2020-12) of the YAML files, exported by ``ivr schema`` for editors.

It mirrors the loaders in this package (same keys, ranges and choices); a test validates the
shipped files against it, so the two cannot drift apart silently. Cross-file rules (a category
that must exist, a safe flow) stay with ``ivr check``.
"""

from __future__ import annotations

from typing import Any

from ivr.config.sop import ROUTES, STRATEGIES

_KEYS = "^[0-9*#]{1,4}$"
_NAME = "^[a-z0-9][a-z0-9_-]{0,39}$"
_DRAFT = "https://json-schema.org/draft/2020-12/schema"

_TARGET: dict[str, Any] = {
    "description": "A node name, {category: NAME}, or {language: LANG, next: NODE}.",
    "oneOf": [
        {"type": "string", "pattern": _NAME},
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "category": {"type": "string"},
                "next": {"type": "string", "pattern": _NAME},
                "node": {"type": "string", "pattern": _NAME},
                "language": {"type": "string"},
                "flag": {"type": "string"},
            },
            "oneOf": [{"required": ["category"]}, {"required": ["next"]}, {"required": ["node"]}],
        },
    ],
}

FLOW: dict[str, Any] = {
    "$schema": _DRAFT,
    "title": "Siaga 112 call flow (dialplan/<script>.yaml)",
    "type": "object",
    "additionalProperties": False,
    "required": ["flow", "start", "nodes"],
    "properties": {
        "flow": {"type": "string"},
        "languages": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "emergency_budget": {"type": "number", "minimum": 1, "maximum": 120},
        "reaction_time": {"type": "number", "minimum": 0, "maximum": 5},
        "start": {"type": "string", "pattern": _NAME},
        "nodes": {
            "type": "object",
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": {
                "oneOf": [
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["type", "prompt", "options", "on_silence", "on_invalid"],
                        "properties": {
                            "type": {"const": "menu"},
                            "prompt": {"type": "string"},
                            "options": {
                                "type": "object",
                                "propertyNames": {"pattern": _KEYS},
                                "additionalProperties": _TARGET,
                            },
                            "on_silence": _TARGET,
                            "on_invalid": _TARGET,
                            "timeout": {"type": "number", "minimum": 0.5, "maximum": 30},
                            "replay_on_silence": {"type": "integer", "minimum": 0, "maximum": 3},
                            "replay_on_invalid": {"type": "integer", "minimum": 0, "maximum": 5},
                            "inter_digit_timeout": {"type": "number", "minimum": 0.5, "maximum": 10},
                        },
                    },
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["type", "prompt", "next"],
                        "properties": {
                            "type": {"const": "play"},
                            "prompt": {"type": "string"},
                            "next": _TARGET,
                            "barge_in": {"type": "boolean"},
                        },
                    },
                ]
            },
        },
    },
}

_SEGMENT: dict[str, Any] = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["text"],
            "properties": {"text": {"type": "string", "minLength": 1},
                           "key": {"type": "string", "pattern": _KEYS}},
        },
    ]
}

PROMPTS: dict[str, Any] = {
    "$schema": _DRAFT,
    "title": "Siaga 112 prompt texts (dialplan/prompts.yaml)",
    "type": "object",
    "additionalProperties": False,
    "required": ["prompts"],
    "properties": {
        "prompts": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "description": "language → text, or a list of segments",
                "additionalProperties": {
                    "oneOf": [{"type": "string", "minLength": 1},
                              {"type": "array", "items": _SEGMENT, "minItems": 1}]
                },
            },
        }
    },
}

_QUEUE_REF = {"type": "string", "pattern": _NAME}
_DIAL = {"type": "string", "pattern": r"^(PJSIP|Local|IAX2|DAHDI)/[A-Za-z0-9@._+-]{1,80}$"}
_HOURS = {"type": "string", "pattern": r"^(24/7|[a-z]{3}(-[a-z]{3})?(,[a-z]{3}(-[a-z]{3})?)* \d\d:\d\d-\d\d:\d\d)$"}

AGENCY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "queues"],
    "properties": {
        "name": {"type": "string"},
        "central": {"type": "boolean"},
        "hours": {"oneOf": [_HOURS, {"type": "array", "items": _HOURS, "minItems": 1}]},
        "after_hours": _QUEUE_REF,
        "bridge": {
            "type": "object", "additionalProperties": False, "required": ["target"],
            "properties": {"target": _DIAL, "ring_seconds": {"type": "integer", "minimum": 5, "maximum": 120}},
        },
        "queues": {
            "type": "object",
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": {
                "type": ["object", "null"],
                "additionalProperties": False,
                "properties": {
                    "strategy": {"enum": list(STRATEGIES)},
                    "ring_seconds": {"type": "integer", "minimum": 5, "maximum": 120},
                },
            },
        },
    },
}

CATEGORY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["label", "emergency", "priority", "queue"],
    "properties": {
        "label": {"type": "string"},
        "emergency": {"type": "boolean"},
        "priority": {"type": "integer", "minimum": 0, "maximum": 100},
        "queue": _QUEUE_REF,
        "route": {"enum": list(ROUTES)},
        "max_wait": {"type": "integer", "minimum": 0, "maximum": 3600},
        "overflow": {"type": "array", "items": _QUEUE_REF},
        "checklist": {"type": "array", "items": {"type": "string"}},
    },
}

SOP: dict[str, Any] = {
    "$schema": _DRAFT,
    "title": "Siaga 112 SOP file (sop/*.yaml): any of these sections, in any file",
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "timezone": {"type": "string"},
        "agencies": {"type": "object", "additionalProperties": AGENCY},
        "categories": {"type": "object", "additionalProperties": CATEGORY},
        "holidays": {
            "type": "object",
            "propertyNames": {"pattern": r"^\d{4}-\d\d-\d\d$"},
            "additionalProperties": {"type": "string"},
        },
        "prank": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "window_days": {"type": "integer", "minimum": 1, "maximum": 365},
                "prank_threshold": {"type": "integer", "minimum": 1, "maximum": 100},
                "silent_threshold": {"type": "integer", "minimum": 1, "maximum": 100},
                "flag_hours": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 8760}},
                "priority": {"type": "integer", "minimum": 0, "maximum": 100},
                "warning_prompt": {"type": "string"},
                "whitelist": {"type": "array", "items": {"type": "string"}},
            },
        },
        "neighbours": {
            "type": "object",
            "additionalProperties": {
                "type": "object", "additionalProperties": False, "required": ["name", "target"],
                "properties": {"name": {"type": "string"}, "target": _DIAL},
            },
        },
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "flow": FLOW,
    "prompts": PROMPTS,
    "sop": SOP,
}
