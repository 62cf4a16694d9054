"""Validation of service files, profiles and answers files into ``model`` dataclasses.

Each check fails with exactly one ``UserError`` naming file, line and key (``key`` is the dotted path
inside the file, e.g. ``phases.start[0].prompts[0].secret``), so a user can go straight to the mistake.
Checks that need more than one file (unknown services, cycles, templates) live in
``catalog.check_catalog``; they still find the lines through the side tables kept here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from . import recipes, settingtypes, yamlsrc
from .errors import UserError
from .model import ALL_PHASES, ROLES, Answers, Profile, Prompt, ServiceSpec, StepSpec
from .yamlsrc import error, join, type_name

SERVICE_KEYS = ("description", "role", "requires", "secrets", "settings", "endpoints", "packages", "uses", "phases")
STEP_KEYS = ("name", "run", "env", "cwd", "timeout", "idle_timeout", "retries", "retry_delay",
             "creates", "unless", "prompts", "description", "after", "locks", "role")
PROFILE_KEYS = ("name", "description", "services", "settings", "service_definitions")
ANSWERS_KEYS = ("profile", "add_services", "remove_services", "settings", "inventory")

NAME_RE = re.compile(r"[a-z][a-z0-9_-]*\Z")
#: a step id in ``after``: ``service.phase.name``
STEP_ID_RE = re.compile(r"[a-z][a-z0-9_-]*\.[a-z]+\.[a-z][a-z0-9_-]*\Z")
#: a shared resource in ``locks``: ``dpkg`` (apt/dpkg's one lock), ``venv`` (one installer into it)
LOCK_RE = re.compile(r"[a-z][a-z0-9_.:-]*\Z")
SECRET_RE = re.compile(r"[a-z][a-z0-9_]*\Z")
SETTING_RE = re.compile(r"[a-z_][a-z0-9_]*\Z")
#: a Debian package name, optionally with :arch and =version
PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?\Z")
TEMPLATE_RE = re.compile(r"\{\{(.*?)\}\}")
#: settings every template may use without declaring them (see DESIGN.md, "Templating")
BUILTIN_SETTINGS = ("installer_python", "host_name", "host_ip")


class _At:
    """Where we are while validating: file and key path, for the error message."""

    def __init__(self, source: str, key: str = "") -> None:
        self.source, self.key = source, key

    def __truediv__(self, part: str | int) -> _At:
        return _At(self.source, join(self.key, part))

    def fail(self, message: str, hint: str | None = None) -> UserError:
        return error(self.source, self.key, message, hint)


def _mapping(value: Any, at: _At, allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise at.fail(f"wrong type: expected a mapping, got {type_name(value)}")
    for key in value:
        if allowed is not None and key not in allowed:
            raise (at / key).fail("unknown key", hint="expected one of: " + ", ".join(allowed))
    return value


def _string(value: Any, at: _At, *, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
    if not isinstance(value, str):
        raise at.fail(f"wrong type: expected a string, got {type_name(value)}")
    if pattern is not None and not pattern.match(value):
        raise at.fail(f"invalid {what or 'name'} {value!r}", hint=f"must match {pattern.pattern[:-2]}")
    return value


def _strings(value: Any, at: _At, **kw: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise at.fail(f"wrong type: expected a list of strings, got {type_name(value)}")
    items = tuple(_string(item, at / i, **kw) for i, item in enumerate(value))
    for i, item in enumerate(items):
        if item in items[:i]:
            raise (at / i).fail(f"duplicate entry {item!r}")
    return items


def _number(value: Any, at: _At, *, integer: bool = False) -> float:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok:
        raise at.fail(f"wrong type: expected {'an integer' if integer else 'a number'}, "
                      f"got {type_name(value)}")
    if value < 0:
        raise at.fail(f"must not be negative, got {value}")
    number: float = value
    return number


def _settings(value: Any, at: _At) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, default in _mapping(value, at).items():
        _string(name, at / name, pattern=SETTING_RE, what="setting name")
        if isinstance(default, (dict, list)):
            raise (at / name).fail(f"wrong type: expected a string, number, boolean or null, "
                                   f"got {type_name(default)}")
        result[name] = default
    return result


def _templated(value: Any, at: _At, refs: list[tuple[str, _At]]) -> str:
    """A string that may hold ``{{ setting }}``; references are collected for ``catalog.check_catalog``."""
    text = _string(value, at)
    for match in TEMPLATE_RE.finditer(text):
        name = match.group(1).strip()
        if not SETTING_RE.match(name):
            raise at.fail(f"malformed template {match.group(0)!r}", hint="use {{ setting_name }}")
        refs.append((name, at))
    return text


def _prompt(value: Any, at: _At, refs: list[tuple[str, _At]]) -> Prompt:
    data = _mapping(value, at, ("expect", "answer", "secret"))
    if "expect" not in data:
        raise at.fail("missing key 'expect'")
    expect = _string(data["expect"], at / "expect")
    try:
        re.compile(expect)
    except re.error as exc:
        raise (at / "expect").fail(f"invalid regular expression: {exc}") from None
    if ("answer" in data) == ("secret" in data):
        raise at.fail("a prompt needs exactly one of 'answer' or 'secret'")
    if "secret" in data:
        return Prompt(expect, secret=_string(data["secret"], at / "secret", pattern=SECRET_RE,
                                             what="secret name"))
    answer = data["answer"]
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = str(answer)
    return Prompt(expect, answer=_templated(answer, at / "answer", refs))


def _env(value: Any, at: _At, refs: list[tuple[str, _At]]) -> tuple[dict[str, str], dict[str, str]]:
    plain: dict[str, str] = {}
    secret: dict[str, str] = {}
    for var, val in _mapping(value, at).items():
        here = at / var
        if not re.match(r"[A-Za-z_][A-Za-z0-9_]*\Z", var):
            raise here.fail(f"invalid environment variable name {var!r}")
        if isinstance(val, dict):
            data = _mapping(val, here, ("secret",))
            if "secret" not in data:
                raise here.fail("missing key 'secret'")
            secret[var] = _string(data["secret"], here / "secret", pattern=SECRET_RE, what="secret name")
        elif isinstance(val, (int, float)) and not isinstance(val, bool):
            plain[var] = str(val)
        else:
            plain[var] = _templated(val, here, refs)
    return plain, secret


def _run(value: Any, at: _At, refs: list[tuple[str, _At]]) -> tuple[str, ...] | str:
    if isinstance(value, list):
        if not value:
            raise at.fail("an argv list must not be empty")
        return tuple(_templated(item, at / i, refs) for i, item in enumerate(value))
    if isinstance(value, str) and value.strip():
        return _templated(value, at, refs)
    raise at.fail(f"wrong type: expected an argv list or a shell string, got {type_name(value)}")


def _step(value: Any, at: _At, refs: list[tuple[str, _At]]) -> StepSpec:
    data = _mapping(value, at, STEP_KEYS)
    for key in ("name", "run"):
        if key not in data:
            raise at.fail(f"missing key {key!r}")
    kw: dict[str, Any] = {"name": _string(data["name"], at / "name", pattern=NAME_RE, what="step name"),
                          "run": _run(data["run"], at / "run", refs)}
    if "env" in data:
        kw["env"], kw["secret_env"] = _env(data["env"], at / "env", refs)
    for key in ("cwd", "creates", "unless"):
        if key in data:
            kw[key] = _templated(data[key], at / key, refs)
    for key in ("cwd", "creates"):
        if key in kw and not kw[key].startswith(("/", "{{")):
            raise (at / key).fail(f"must be an absolute path, got {kw[key]!r}")
    for key in ("timeout", "idle_timeout", "retry_delay"):
        if key in data:
            kw[key] = float(_number(data[key], at / key))
            if key != "retry_delay" and not kw[key]:
                raise (at / key).fail("must be more than 0 seconds (leave it out for no limit)")
    if "retries" in data:
        kw["retries"] = int(_number(data["retries"], at / "retries", integer=True))
    if "prompts" in data:
        if not isinstance(data["prompts"], list):
            raise (at / "prompts").fail(f"wrong type: expected a list, got {type_name(data['prompts'])}")
        kw["prompts"] = tuple(_prompt(p, at / "prompts" / i, refs) for i, p in enumerate(data["prompts"]))
    if "description" in data:
        kw["description"] = _string(data["description"], at / "description")
    if "after" in data:
        kw["after"] = _strings(data["after"], at / "after", pattern=STEP_ID_RE, what="step id")
    if "locks" in data:
        kw["locks"] = _strings(data["locks"], at / "locks", pattern=LOCK_RE, what="lock name")
    if "role" in data:
        kw["role"] = _role(data["role"], at / "role")
    return StepSpec(**kw)


def _phases(value: Any, at: _At, refs: list[tuple[str, _At]]) -> dict[str, tuple[StepSpec, ...]]:
    phases: dict[str, tuple[StepSpec, ...]] = {}
    for phase, steps in _mapping(value, at).items():
        here = at / phase
        if phase not in ALL_PHASES:
            raise here.fail(f"unknown phase {phase!r}", hint="expected one of: " + ", ".join(ALL_PHASES))
        if not isinstance(steps, list):
            raise here.fail(f"wrong type: expected a list of steps, got {type_name(steps)}")
        parsed = tuple(_step(s, here / i, refs) for i, s in enumerate(steps))
        seen: dict[str, int] = {}
        for i, step in enumerate(parsed):
            if step.name in seen:
                first = yamlsrc.line_of(at.source, (here / seen[step.name]).key)
                raise (here / i / "name").fail(f"duplicate step name {step.name!r}"
                                               + (f" (first at line {first})" if first else ""))
            seen[step.name] = i
        phases[phase] = parsed
    return phases


def _check_secrets(spec: ServiceSpec, at: _At) -> None:
    """Every secret a step uses must be declared in the service's ``secrets``."""
    for phase, steps in spec.phases.items():
        for i, step in enumerate(steps):
            here = at / "phases" / phase / i
            for var, name in step.secret_env.items():
                if name not in spec.secrets:
                    raise (here / "env" / var / "secret").fail(
                        f"secret {name!r} is not declared", hint=f"add it to {spec.name}'s secrets")
            for j, prompt in enumerate(step.prompts):
                if prompt.secret and prompt.secret not in spec.secrets:
                    raise (here / "prompts" / j / "secret").fail(
                        f"secret {prompt.secret!r} is not declared", hint=f"add it to {spec.name}'s secrets")


#: template references of every parsed service: (source, service) -> [(setting, location)]
_REFS: dict[tuple[str, str], list[tuple[str, _At]]] = {}
#: key path of each parsed service inside its file ("" for a service file)
_BASE: dict[tuple[str, str], str] = {}


def _opt(data: dict[str, Any], key: str, default: Any) -> Any:
    """``data[key]``, with a missing key or an explicit null meaning ``default``."""
    value = data.get(key)
    return default if value is None else value


def _with_templates(data: dict[str, Any], at: _At, refs: list[tuple[str, _At]]) -> dict[str, tuple[StepSpec, ...]]:
    """The service's own phases with the steps of the recipe templates it ``uses`` (``recipes``): those
    come after its own steps of a phase (``first: true``: before); their mistakes are named at ``uses[i]``."""
    own = _phases(_opt(data, "phases", {}), at / "phases", refs)
    first: dict[str, list[StepSpec]] = {}
    last: dict[str, list[StepSpec]] = {}
    for item in recipes.expand(data.get("uses"), at.source, join(at.key, "uses")):
        here = _At(at.source, item.key)
        step = _step(item.step, here, refs)
        names = [s.name for s in first.get(item.phase, []) + list(own.get(item.phase, ()))
                 + last.get(item.phase, [])]
        if step.name in names:
            raise here.fail(f"duplicate step name {step.name!r} in phase {item.phase} (from this template)",
                            hint="rename the service's own step")
        (first if item.first else last).setdefault(item.phase, []).append(step)
    order = list(own) + [p for p in ALL_PHASES if p not in own and (p in first or p in last)]
    return {p: tuple(first.get(p, []) + list(own.get(p, ())) + last.get(p, [])) for p in order}


def _role(value: Any, at: _At) -> str:
    role = _string(value, at)
    if role not in ROLES:
        raise at.fail(f"role must be one of {', '.join(ROLES)}, not {role!r}",
                      hint="controller: on the inventory's controller; compute: on every compute host; "
                           "all: on every host")
    return role


def parse_service(name: str, value: Any, source: str, key: str = "") -> ServiceSpec:
    """Validate one service definition (a service file's content, or a profile's inline one)."""
    at = _At(source, key)
    data = _mapping(value if value is not None else {}, at, SERVICE_KEYS)
    _string(name, at, pattern=NAME_RE, what="service name")
    refs: list[tuple[str, _At]] = []
    defs = settingtypes.parse_settings(_opt(data, "settings", {}), source, (at / "settings").key)
    settings = {n: d.default for n, d in defs.items()}
    spec = ServiceSpec(
        name=name,
        description=_string(_opt(data, "description", ""), at / "description"),
        role=_role(_opt(data, "role", "controller"), at / "role"),
        requires=_strings(_opt(data, "requires", []), at / "requires", pattern=NAME_RE, what="service name"),
        secrets=_strings(_opt(data, "secrets", []), at / "secrets", pattern=SECRET_RE, what="secret name"),
        settings=settings,
        required_settings=tuple(k for k, v in settings.items() if v is None),
        packages=_strings(_opt(data, "packages", []), at / "packages", pattern=PACKAGE_RE,
                          what="package name"),
        phases=_with_templates(data, at, refs),
        source=source,
        setting_defs=defs,
        endpoints=settingtypes.parse_endpoints(_opt(data, "endpoints", []), source, (at / "endpoints").key),
    )
    _check_secrets(spec, at)
    _REFS[(source, name)] = refs
    _BASE[(source, name)] = key
    return spec


def load_service_file(path: str | Path) -> ServiceSpec:
    """A service file: its name is the file name without ``.yaml``."""
    return parse_service(Path(path).stem, yamlsrc.load_file(path), str(path))


def parse_profile(value: Any, source: str) -> Profile:
    at = _At(source)
    data = _mapping(value, at, PROFILE_KEYS)
    if "name" not in data:
        raise at.fail("missing key 'name'")
    defs = _mapping(_opt(data, "service_definitions", {}), at / "service_definitions")
    return Profile(
        name=_string(data["name"], at / "name", pattern=NAME_RE, what="profile name"),
        description=_string(_opt(data, "description", ""), at / "description"),
        services=_strings(_opt(data, "services", []), at / "services", pattern=NAME_RE, what="service name"),
        settings=_settings(_opt(data, "settings", {}), at / "settings"),
        service_definitions={n: parse_service(n, d, source, (at / "service_definitions" / n).key)
                             for n, d in defs.items()},
        source=source,
    )


def load_profile_file(path: str | Path) -> Profile:
    return parse_profile(yamlsrc.load_file(path), str(path))


def load_answers(path: str | Path) -> Answers:
    """An answers file; a ``profile`` that looks like a path is made absolute (relative to the file)."""
    source = str(path)
    at = _At(source)
    data = _mapping(yamlsrc.load_file(path), at, ANSWERS_KEYS)
    profile = data.get("profile")
    if profile is not None:
        profile = _string(profile, at / "profile")
        if "/" in profile or profile.endswith((".yaml", ".yml")):
            profile = str((Path(path).parent / profile).resolve())
    kw = {"pattern": NAME_RE, "what": "service name"}
    return Answers(
        profile=profile,
        add_services=_strings(_opt(data, "add_services", []), at / "add_services", **kw),
        remove_services=_strings(_opt(data, "remove_services", []), at / "remove_services", **kw),
        settings=_settings(_opt(data, "settings", {}), at / "settings"),
        source=source,
        inventory=_inventory_path(data, at, path),
    )


def _inventory_path(data: dict[str, Any], at: _At, path: str | Path) -> str | None:
    """``inventory``: an Ansible inventory file (hosts.py), relative to the answers file."""
    value = data.get("inventory")
    if value is None:
        return None
    return str((Path(path).parent / _string(value, at / "inventory")).resolve())


def service_key(spec: ServiceSpec, key: str) -> str:
    """The key path of ``key`` within a service's file (the service may be inline in a profile)."""
    return join(_BASE.get((spec.source, spec.name), ""), key)


def service_error(spec: ServiceSpec, key: str, message: str, hint: str | None = None) -> UserError:
    return _At(spec.source, service_key(spec, key)).fail(message, hint)


def template_refs(spec: ServiceSpec) -> list[tuple[str, _At]]:
    """The ``{{ setting }}`` references of a parsed service, each with where it was written."""
    return list(_REFS.get((spec.source, spec.name), []))


def dump_answers(answers: Answers) -> str:
    """An answers file for ``-a FILE`` (the TUI's "save answers"); ``load_answers`` reads it back."""
    import yaml

    data: dict[str, Any] = {}
    if answers.profile is not None:
        data["profile"] = answers.profile
    for key in ("add_services", "remove_services"):
        if getattr(answers, key):
            data[key] = list(getattr(answers, key))
    if answers.settings:
        data["settings"] = dict(answers.settings)
    if answers.inventory:
        data["inventory"] = answers.inventory
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
