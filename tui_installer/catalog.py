"""The built-in services and preset profiles shipped inside the package, and user profile files.

Built-ins are package data (``tui_installer/services/*.yaml``, ``tui_installer.profiles``), read through
``importlib.resources`` so that a wheel install works the same as a checkout.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from . import schema, settingtypes, shellsafe, yamlsrc
from .errors import UserError
from .model import Profile, ServiceSpec


@dataclass(frozen=True)
class ProfileInfo:
    """A preset as listed by ``tui-installer profiles`` and the TUI's profile screen."""

    name: str
    description: str
    source: str


def _package_dir(package: str, fallback: str) -> Traversable:
    """A data package; in a source checkout not installed, ``profiles/`` is found beside the package."""
    try:
        return resources.files(package)
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / fallback


def _yaml_files(folder: Traversable) -> list[Traversable]:
    return sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)


@functools.lru_cache(maxsize=1)
def _builtin_services() -> dict[str, ServiceSpec]:
    services = {}
    for file in _yaml_files(_package_dir("tui_installer.services", "tui_installer/services")):
        source = str(file)
        services[file.name[:-5]] = schema.parse_service(
            file.name[:-5], yamlsrc.load_text(file.read_text(encoding="utf-8"), source), source)
    check_catalog(services)
    return services


def load_services() -> dict[str, ServiceSpec]:
    """The built-in services by name (validated; a fresh dict each call)."""
    return dict(_builtin_services())


def _presets() -> dict[str, Traversable]:
    return {f.name[:-5]: f for f in _yaml_files(_package_dir("tui_installer.profiles", "profiles"))}


def list_profiles() -> list[ProfileInfo]:
    """The preset profiles with their descriptions, by name."""
    infos = []
    for file in _presets().values():
        profile = _load_preset(file)
        infos.append(ProfileInfo(profile.name, profile.description, str(file)))
    return infos


def _load_preset(file: Traversable) -> Profile:
    source = str(file)
    return schema.parse_profile(yamlsrc.load_text(file.read_text(encoding="utf-8"), source), source)


def is_path(name_or_path: str) -> bool:
    """A profile argument is a path when it has a slash or a YAML suffix; otherwise a preset name."""
    return "/" in name_or_path or name_or_path.endswith((".yaml", ".yml"))


def load_profile(name_or_path: str) -> Profile:
    """A preset by name, or a profile file by path (its ``service_definitions`` checked too)."""
    if is_path(name_or_path):
        profile = schema.load_profile_file(name_or_path)
    else:
        presets = _presets()
        if name_or_path not in presets:
            raise UserError(f"unknown profile {name_or_path!r}",
                            hint="presets: " + ", ".join(presets) + "; or give a path to a YAML file")
        profile = _load_preset(presets[name_or_path])
    services_for(profile)
    return profile


def services_for(profile: Profile,
                 catalog: Mapping[str, ServiceSpec] | None = None) -> dict[str, ServiceSpec]:
    """The services a profile can use: the catalog with the profile's own definitions added or overriding.

    The merged set is checked as a whole (unknown requires, cycles, templates); templates may also use
    the settings the profile itself introduces.
    """
    services = dict(load_services() if catalog is None else catalog)
    services.update(profile.service_definitions)
    check_catalog(services, extra_settings=list(profile.settings))
    return services


def check_catalog(services: Mapping[str, ServiceSpec], extra_settings: Iterable[str] = ()) -> None:
    """Cross-file checks: known required services, no cycle, every template names a known setting."""
    for spec in services.values():
        for i, dep in enumerate(spec.requires):
            if dep not in services:
                raise schema.service_error(spec, f"requires[{i}]", f"unknown service {dep!r}")
    _check_cycles(services)
    _check_defaults(services)
    _check_shell(services)
    extra = set(extra_settings)
    everything = set(schema.BUILTIN_SETTINGS).union(extra, *(s.settings for s in services.values()))
    for spec in services.values():
        for name, default in spec.settings.items():
            for match in schema.TEMPLATE_RE.finditer(default if isinstance(default, str) else ""):
                if match.group(1).strip() not in everything:
                    raise schema.service_error(spec, f"settings.{name}",
                                        f"unknown setting {match.group(0)} in template")
        known = set(schema.BUILTIN_SETTINGS) | set(spec.settings) | extra
        for dep in closure([spec.name], services.__getitem__):
            known |= set(services[dep].settings)
        for setting, at in schema.template_refs(spec):
            if setting not in known:
                raise at.fail(f"unknown setting {{{{ {setting} }}}} in template",
                              hint=f"declare it in {spec.name}'s settings")
        _check_endpoints(spec, known, services)


def _check_endpoints(spec: ServiceSpec, known: set[str], services: Mapping[str, ServiceSpec]) -> None:
    """An endpoint names a port setting and a host setting the service can see."""
    types = {n: d.type for s in services.values() for n, d in s.setting_defs.items()}
    types.update(settingtypes.BUILTIN_TYPES)
    for i, endpoint in enumerate(spec.endpoints):
        for key, setting, want in (("port", endpoint.port, ("port",)),
                                   ("host", endpoint.host, ("ip", "host", "hostname"))):
            if setting not in known:
                raise schema.service_error(spec, f"endpoints[{i}].{key}", f"unknown setting {setting!r}",
                                           hint=f"declare it in {spec.name}'s settings")
            if types.get(setting) not in want:
                raise schema.service_error(spec, f"endpoints[{i}].{key}",
                                           f"setting {setting!r} is not of type {' or '.join(want)}")


def _shell_strings(spec: ServiceSpec) -> Iterable[tuple[str, str]]:
    for phase, steps in spec.phases.items():
        for i, step in enumerate(steps):
            if isinstance(step.run, str):
                yield f"phases.{phase}[{i}].run", step.run
            if step.unless is not None:
                yield f"phases.{phase}[{i}].unless", step.unless


def _check_shell(services: Mapping[str, ServiceSpec]) -> None:
    """Every bash template can be followed by the quoting lexer, and what stands where no quoting makes
    a value inert (heredoc, comment, arithmetic...) is a number or a boolean by its declared type."""
    types = {name: default for spec in services.values() for name, default in spec.settings.items()}
    for spec in services.values():
        for key, text in _shell_strings(spec):
            try:
                slots = shellsafe.slots(text)
            except shellsafe.ShellSyntaxError as exc:
                raise schema.service_error(spec, key, f"cannot follow the shell quoting: {exc}") from None
            for slot in slots:
                if slot.context == "unsafe" and not isinstance(types.get(slot.name), (bool, int, float)):
                    raise schema.service_error(
                        spec, key, f"{{{{ {slot.name} }}}} is in {slot.why}, where a value could run as "
                        "shell", "pass it in env: (VAR: \"{{ name }}\") and use \"$VAR\" in the command")


def _check_defaults(services: Mapping[str, ServiceSpec]) -> None:
    """Settings are one namespace: two services declaring one setting must agree on its default."""
    first: dict[str, ServiceSpec] = {}
    for spec in services.values():
        for name, default in spec.settings.items():
            if name in schema.BUILTIN_SETTINGS:
                raise schema.service_error(spec, f"settings.{name}", f"{name!r} is a built-in setting",
                                    "use it without declaring it")
            other = first.setdefault(name, spec)
            theirs = other.settings[name]
            if theirs != default or type(theirs) is not type(default):
                raise schema.service_error(spec, f"settings.{name}",
                                    f"default {default!r} differs from {theirs!r} in {other.name}",
                                    "settings are shared: declare the same default, or declare it in one "
                                    "service and require that service")
            mine, their_def = spec.setting_defs.get(name), other.setting_defs.get(name)
            if mine and their_def and (mine.type, mine.choices) != (their_def.type, their_def.choices):
                raise schema.service_error(spec, f"settings.{name}",
                                           f"type {mine.type} differs from {their_def.type} in {other.name}",
                                           "settings are shared: declare the same type")


def closure(names: list[str], get: Callable[[str], ServiceSpec]) -> list[str]:
    """The services ``names`` need, dependencies first (DFS post-order keeps the given order)."""
    done: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        for dep in get(name).requires:
            visit(dep)
        done.append(name)

    for name in names:
        visit(name)
    return done


def _check_cycles(services: Mapping[str, ServiceSpec]) -> None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for i, dep in enumerate(services[name].requires):
            if state.get(dep) == 1:
                chain = path + [name]
                cycle = chain[chain.index(dep):] + [dep]
                raise schema.service_error(services[name], f"requires[{i}]",
                                    "dependency cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, path + [name])
        state[name] = 2

    for name in services:
        if name not in state:
            visit(name, [])
