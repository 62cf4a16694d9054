"""The published JSON Schema of service files, profiles and answers files (``tui_installer/schemas/``).

Editors validate and complete a profile with it as the operator types (yaml-language-server:
``# yaml-language-server: $schema=.../profile.schema.json``). It is built from the validator's own
names (keys, phases, name patterns, setting types), and tests/test_formatschema.py checks that the
shipped files equal what this module builds and that every shipped service and profile passes it.
Our validator stays the judge: it also checks what a schema cannot (templates, cycles, a setting's
value against its type). Regenerate with ``python -m tui_installer.formatschema tui_installer/schemas``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from . import schema, settingtypes
from .model import ALL_PHASES, ROLES

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCALAR = {"type": ["string", "number", "boolean", "null"]}
FILES = {"service": "service.schema.json", "profile": "profile.schema.json", "answers": "answers.schema.json"}


def _pattern(regex: re.Pattern[str]) -> str:
    """A Python ``...\\Z`` pattern as an anchored JSON Schema (ECMA 262) one."""
    return "^" + regex.pattern.removesuffix(r"\Z") + "$"


def _names(regex: re.Pattern[str]) -> dict[str, Any]:
    return {"type": ["array", "null"], "items": {"type": "string", "pattern": _pattern(regex)}, "uniqueItems": True}


def _optional(kind: str, **more: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **more}


def _setting() -> dict[str, Any]:
    declaration = {
        "type": "object", "additionalProperties": False,
        "properties": {
            "type": {"enum": list(settingtypes.TYPES)}, "default": SCALAR,
            "description": {"type": "string"}, "advanced": {"type": "boolean"},
            "choices": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "min": {"type": "number"}, "max": {"type": "number"}, "pattern": {"type": "string"},
        },
        "if": {"properties": {"type": {"const": "choice"}}, "required": ["type"]},
        "then": {"required": ["choices"]},
    }
    return {"description": "`name: default`, or a declaration {type, default, description, advanced, ...}",
            "anyOf": [SCALAR, declaration]}


def _step() -> dict[str, Any]:
    absolute = {"type": "string", "pattern": r"^(/|\{\{)"}
    seconds = {"type": "number", "exclusiveMinimum": 0}
    secret_name = {"type": "string", "pattern": _pattern(schema.SECRET_RE)}
    secret = {"type": "object", "additionalProperties": False, "required": ["secret"],
              "properties": {"secret": secret_name}}
    prompt = {"type": "object", "additionalProperties": False, "required": ["expect"],
              "properties": {"expect": {"type": "string"}, "answer": {"type": ["string", "number"]},
                             "secret": secret_name},
              "oneOf": [{"required": ["answer"]}, {"required": ["secret"]}]}
    return {
        "type": "object", "additionalProperties": False, "required": ["name", "run"],
        "properties": {
            "name": {"type": "string", "pattern": _pattern(schema.NAME_RE)},
            "run": {"oneOf": [{"type": "string", "pattern": r"\S"},
                              {"type": "array", "minItems": 1, "items": {"type": "string"}}]},
            "env": {"type": "object", "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                    "additionalProperties": {"anyOf": [{"type": ["string", "number"]}, secret]}},
            "cwd": absolute, "creates": absolute, "unless": {"type": "string"},
            "timeout": seconds, "idle_timeout": seconds,
            "retries": {"type": "integer", "minimum": 0}, "retry_delay": {"type": "number", "minimum": 0},
            "prompts": {"type": "array", "items": prompt}, "description": {"type": "string"},
            "after": {"type": "array", "uniqueItems": True,
                      "items": {"type": "string", "pattern": _pattern(schema.STEP_ID_RE)}},
            "locks": {"type": "array", "uniqueItems": True,
                      "items": {"type": "string", "pattern": _pattern(schema.LOCK_RE)}},
            "role": {"type": "string", "enum": list(ROLES)},
        },
    }


def _use() -> dict[str, Any]:
    """A recipe template a service uses (``recipes``): its name and its parameters' text."""
    return {"type": "object", "additionalProperties": False, "required": ["template"],
            "properties": {"template": {"type": "string", "pattern": "^[a-z][a-z0-9_-]*$"},
                           "with": {"type": ["object", "null"],
                                    "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
                                    "additionalProperties": {"type": ["string", "number", "boolean"]}}}}


def _service() -> dict[str, Any]:
    endpoint = {"type": "object", "additionalProperties": False, "required": ["name", "port"],
                "properties": {"name": {"type": "string"}, "port": {"type": "string"},
                               "path": {"type": "string", "pattern": "^/"}, "host": {"type": "string"}}}
    properties = {
        "description": _optional("string"),
        "role": {"type": ["string", "null"], "enum": [*ROLES, None]},
        "requires": _names(schema.NAME_RE),
        "secrets": _names(schema.SECRET_RE),
        "settings": _optional("object", propertyNames={"pattern": _pattern(schema.SETTING_RE)},
                              additionalProperties={"$ref": "#/$defs/setting"}),
        "endpoints": _optional("array", items=endpoint),
        "packages": _names(schema.PACKAGE_RE),
        "uses": _optional("array", items=_use()),
        "phases": _optional("object", propertyNames={"enum": list(ALL_PHASES)},
                            additionalProperties={"type": ["array", "null"], "items": {"$ref": "#/$defs/step"}}),
    }
    assert tuple(properties) == schema.SERVICE_KEYS, "the schema knows every key the validator knows"
    return {"type": ["object", "null"], "additionalProperties": False, "properties": properties}


def _defs() -> dict[str, Any]:
    return {"setting": _setting(), "step": _step(), "service": _service()}


def _document(title: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": DRAFT, "$id": f"urn:tui-installer:{title}", "title": f"tui-installer {title} file",
            **body, "$defs": _defs()}


def service_schema() -> dict[str, Any]:
    return _document("service", {"$ref": "#/$defs/service"})


def profile_schema() -> dict[str, Any]:
    values = _optional("object", propertyNames={"pattern": _pattern(schema.SETTING_RE)}, additionalProperties=SCALAR)
    properties = {
        "name": {"type": "string", "pattern": _pattern(schema.NAME_RE)},
        "description": _optional("string"),
        "services": _names(schema.NAME_RE),
        "settings": values,
        "service_definitions": _optional("object", propertyNames={"pattern": _pattern(schema.NAME_RE)},
                                         additionalProperties={"$ref": "#/$defs/service"}),
    }
    assert tuple(properties) == schema.PROFILE_KEYS
    return _document("profile", {"type": "object", "additionalProperties": False, "required": ["name"],
                                 "properties": properties})


def answers_schema() -> dict[str, Any]:
    properties = {
        "profile": _optional("string"),
        "add_services": _names(schema.NAME_RE),
        "remove_services": _names(schema.NAME_RE),
        "settings": _optional("object", propertyNames={"pattern": _pattern(schema.SETTING_RE)},
                              additionalProperties=SCALAR),
        "inventory": _optional("string"),
    }
    assert tuple(properties) == schema.ANSWERS_KEYS
    return _document("answers", {"type": "object", "additionalProperties": False, "properties": properties})


def documents() -> dict[str, dict[str, Any]]:
    """File name -> schema, as shipped in ``tui_installer/schemas``."""
    return {FILES["service"]: service_schema(), FILES["profile"]: profile_schema(),
            FILES["answers"]: answers_schema()}


def text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tui_installer.formatschema DIRECTORY", file=sys.stderr)
        return 2
    for name, document in documents().items():
        (Path(args[0]) / name).write_text(text(document))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
