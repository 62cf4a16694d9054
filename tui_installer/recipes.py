"""Recipe templates: the steps every OpenStack service repeats, written once and parameterised.

A service lists them under ``uses``::

    uses:
      - template: uwsgi-api
        with: {name: placement, port: "{{ placement_port }}", module: placement.wsgi.api:application}

Each template (``tui_installer/services/templates/NAME.yaml``) declares ``params`` (name → default,
``null`` = required) and ``phases`` of ordinary steps. Expansion is a macro step done when the service
is loaded, before validation: a ``{{ param }}`` in the template's text is replaced by the text the service
wrote (which may itself hold ``{{ setting }}``), so the expanded steps are validated, quoted
(``shellsafe``) and fingerprinted exactly like steps written by hand, and every plan format shows them.
A parameter is recipe text, written by the recipe's author like the rest of the step; settings stay data.

Template steps of a phase come after the service's own steps of that phase, in the order of ``uses``;
a template step with ``first: true`` comes before them (a database before its ``db sync``).
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from . import yamlsrc
from .errors import UserError
from .model import ALL_PHASES

USES_KEYS = ("template", "with")
_NAME = re.compile(r"[a-z][a-z0-9_-]*\Z")
_PARAM = re.compile(r"[a-z][a-z0-9_]*\Z")
_HOLE = re.compile(r"( ?)\{\{\s*([a-z][a-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    params: dict[str, str | None]
    phases: dict[str, list[dict[str, Any]]]
    source: str


def _folder() -> Path:
    try:
        return Path(str(resources.files("tui_installer.services"))) / "templates"
    except ModuleNotFoundError:  # pragma: no cover - the package is always importable here
        return Path(__file__).resolve().parent / "services" / "templates"


def _fail(source: str, key: str, message: str, hint: str | None = None) -> UserError:
    return yamlsrc.error(source, key, message, hint)


def _scalar_text(value: Any, source: str, key: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise _fail(source, key, f"wrong type: expected a string or a number, got {type(value).__name__}")


def _check_phases(value: Any, source: str) -> dict[str, list[dict[str, Any]]]:
    if not isinstance(value, dict):
        raise _fail(source, "phases", "wrong type: expected a mapping of phase -> list of steps")
    for phase, steps in value.items():
        if phase not in ALL_PHASES:
            raise _fail(source, f"phases.{phase}", f"unknown phase {phase!r}",
                        "expected one of: " + ", ".join(ALL_PHASES))
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            raise _fail(source, f"phases.{phase}", "wrong type: expected a list of steps")
    return value


@functools.cache
def load(name: str) -> Template:
    """A template by name, its own structure checked (its steps are checked once expanded)."""
    path = _folder() / f"{name}.yaml"
    if not _NAME.match(name) or not path.is_file():
        known = ", ".join(sorted(p.stem for p in _folder().glob("*.yaml")))
        raise UserError(f"unknown recipe template {name!r}", hint=f"known: {known}")
    source = str(path)
    data = yamlsrc.load_text(path.read_text(encoding="utf-8"), source)
    if not isinstance(data, dict) or set(data) - {"description", "params", "phases"}:
        raise _fail(source, "", "a template has the keys description, params and phases")
    params = {}
    for param, default in (data.get("params") or {}).items():
        if not _PARAM.match(str(param)):
            raise _fail(source, f"params.{param}", f"invalid parameter name {param!r}")
        params[str(param)] = _scalar_text(default, source, f"params.{param}")
    return Template(name, str(data.get("description", "")), params, _check_phases(data.get("phases"), source),
                    source)


def _one(match: re.Match[str], params: Mapping[str, str]) -> str:
    """An empty parameter takes the space before it away: ``a {{ extra }} b`` reads ``a b``."""
    name = match.group(2)
    if name not in params:
        return match.group(0)
    return match.group(1) + params[name] if params[name] else ""


def _fill(value: Any, params: Mapping[str, str]) -> Any:
    """Every string inside ``value`` with ``{{ param }}`` replaced (other placeholders are settings)."""
    if isinstance(value, str):
        return _HOLE.sub(lambda m: _one(m, params), value)
    if isinstance(value, list):
        return [_fill(v, params) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, params) for k, v in value.items()}
    return value


def _arguments(use: Any, template: Template, source: str, key: str) -> dict[str, str]:
    given = use.get("with") or {}
    if not isinstance(given, dict):
        raise _fail(source, f"{key}.with", "wrong type: expected a mapping of parameter -> value")
    for param in given:
        if param not in template.params:
            raise _fail(source, f"{key}.with.{param}", f"unknown parameter {param!r} of template "
                        f"{template.name!r}", "expected one of: " + ", ".join(template.params))
    values = {p: _scalar_text(v, source, f"{key}.with.{p}") for p, v in given.items()}
    merged = {**template.params, **values}
    missing = [p for p, v in merged.items() if v is None]
    if missing:
        raise _fail(source, key, f"template {template.name!r} needs " + ", ".join(missing),
                    "give it under with:")
    return {p: str(v) for p, v in merged.items()}


def _template_of(use: Any, source: str, key: str) -> Template:
    if not isinstance(use, dict) or set(use) - set(USES_KEYS) or "template" not in use:
        raise _fail(source, key, "expected {template: NAME, with: {param: value}}")
    try:
        return load(str(use["template"]))
    except UserError as exc:
        if exc.file:
            raise
        raise _fail(source, f"{key}.template", exc.message, exc.hint) from None


@dataclass(frozen=True)
class Expanded:
    """One template step, filled in: its phase, whether it goes before the service's own, where it came from."""

    phase: str
    first: bool
    step: dict[str, Any]
    key: str  # the ``uses[i]`` entry that brought it, for error messages


def expand(uses: Any, source: str, key: str) -> list[Expanded]:
    """The steps of every template the service ``uses``, in order, parameters filled in."""
    if not uses:
        return []
    if not isinstance(uses, list):
        raise _fail(source, key, "wrong type: expected a list of {template: NAME, with: {...}}")
    result = []
    for i, use in enumerate(uses):
        template = _template_of(use, source, f"{key}[{i}]")
        args = _arguments(use, template, source, f"{key}[{i}]")
        for phase, steps in template.phases.items():
            for step in _fill(copy.deepcopy(steps), args):
                result.append(Expanded(phase, bool(step.pop("first", False)), step, f"{key}[{i}]"))
    return result
