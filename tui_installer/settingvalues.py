"""Which value each setting has: typed definitions, the layers (built-ins < service defaults < profile <
answers file < ``--set``), values that follow other settings, and required settings left empty.

Every value is checked by ``settingtypes.check`` where it was given, so an error names that file, line
and key. ``plan`` keeps the settings of the plan's services; the preview API shows the merged values and
where each came from (the TUI's settings form).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from . import hostfacts, schema, settingtypes, yamlsrc
from .errors import UserError
from .model import Answers, Profile, ServiceSpec, SettingDef

Catalog = Mapping[str, ServiceSpec]


def definitions(catalog: Catalog, profile: Profile) -> dict[str, SettingDef]:
    """Every setting any service declares, typed; built-ins first.

    A profile may introduce settings of its own (for its inline services): typed by their value.
    """
    defs = {name: settingtypes.builtin(name, value) for name, value in hostfacts.builtin_settings().items()}
    for spec in catalog.values():
        for name, setting in spec.setting_defs.items():
            defs.setdefault(name, setting)
    for name, value in profile.settings.items():
        defs.setdefault(name, settingtypes.untyped(name, value))
    return defs


Origins = dict[str, tuple[str, str]]  # setting -> (file, key) where its value was given


def _layer(values: dict[str, Any], origins: Origins, given: Mapping[str, Any], defs: Mapping[str, SettingDef],
           source: str) -> None:
    """Values from a profile or an answers file, each checked against its setting's type where it was
    written (a string that reads as the type, "5000" for a port, is taken)."""
    for name, value in given.items():
        if name not in defs:
            raise yamlsrc.error(source, f"settings.{name}", f"unknown setting {name!r}",
                                "no service declares it")
        try:
            values[name] = settingtypes.check(defs[name], value)
        except ValueError as exc:
            raise yamlsrc.error(source, f"settings.{name}", f"{exc}, got {value!r}") from None
        origins[name] = (source, f"settings.{name}")


def apply_overrides(values: dict[str, Any], origins: Origins, overrides: Mapping[str, str],
                    defs: Mapping[str, SettingDef]) -> None:
    """``--set name=text`` (the CLI's and the TUI's): text read as the setting's type, or a ``UserError``."""
    for name, text in overrides.items():
        if name not in defs:
            hint = difflib.get_close_matches(name, list(defs), n=3)
            raise UserError(f"unknown setting {name!r}", key="--set",
                            hint=("did you mean " + ", ".join(hint) + "?") if hint else None)
        try:
            values[name] = settingtypes.check(defs[name], text)
        except ValueError as exc:
            raise UserError(f"{name}={text}: {exc}", key="--set") from None
        origins[name] = ("", f"--set {name}")


def _origin_error(origins: Origins, name: str, message: str, hint: str | None = None) -> UserError:
    source, key = origins[name]
    return yamlsrc.error(source, key, message, hint) if source else UserError(message, key=key, hint=hint)


def _expand(values: Mapping[str, Any], origins: Origins, defs: Mapping[str, SettingDef]) -> dict[str, Any]:
    """Settings whose value holds ``{{ other }}`` (``controller_host: "{{ host_ip }}"``) get it filled in,
    and the result is checked against the setting's type."""
    done: dict[str, Any] = {}

    def get(name: str, stack: tuple[str, ...]) -> Any:
        if name in done:
            return done[name]
        if name in stack:
            cycle = " -> ".join(stack + (name,))
            raise _origin_error(origins, name, "settings refer to each other: " + cycle)
        value = values[name]
        if isinstance(value, str) and "{{" in value:
            def one(match: Any) -> str:
                ref = match.group(1).strip()
                if ref not in values:
                    raise _origin_error(origins, name, f"unknown setting {{{{ {ref} }}}} in template")
                return hostfacts.render(get(ref, stack + (name,)))
            value = _checked(name, schema.TEMPLATE_RE.sub(one, value), origins, defs)
        done[name] = value
        return value

    return {name: get(name, ()) for name in values}


def _checked(name: str, value: str, origins: Origins, defs: Mapping[str, SettingDef]) -> Any:
    try:
        return settingtypes.check(defs[name], value) if name in defs else value
    except ValueError as exc:
        raise _origin_error(origins, name, f"{exc}, got {value!r} once filled in") from None


def merge_settings(profile: Profile, answers: Answers | None, overrides: Mapping[str, str] | None,
                   catalog: Catalog) -> tuple[dict[str, Any], Origins, dict[str, SettingDef]]:
    """Every setting's value, each checked, before ``{{ other }}`` is filled in: built-ins < service
    defaults < profile < answers file < ``--set``; with where each value was given and the definitions.
    The TUI's settings form shows this (a value following another setting reads as written)."""
    defs = definitions(catalog, profile)
    values = {name: setting.default for name, setting in defs.items()}
    origins: Origins = {}
    for spec in catalog.values():
        for name in spec.settings:
            origins.setdefault(name, (spec.source, schema.service_key(spec, f"settings.{name}")))
    _layer(values, origins, profile.settings, defs, profile.source)
    if answers is not None:
        _layer(values, origins, answers.settings, defs, answers.source)
    apply_overrides(values, origins, overrides or {}, defs)
    return values, origins, defs


def used_settings(profile: Profile, order: Sequence[str], catalog: Catalog) -> list[str]:
    """The settings a plan of ``order`` keeps: built-ins, the profile's, the services' (in order)."""
    used = list(hostfacts.builtin_settings()) + list(profile.settings)
    used += [name for service in order for name in catalog[service].settings]
    return list(dict.fromkeys(used))


def resolve_settings(profile: Profile, answers: Answers | None, overrides: Mapping[str, str] | None,
                     order: Sequence[str], catalog: Catalog) -> dict[str, Any]:
    """Service defaults < profile < answers file < ``--set``; only the plan's own settings are kept.

    A setting left null (a service's required setting, or one a profile sets to null to demand it) is
    an error naming where it was declared.
    """
    values, origins, defs = merge_settings(profile, answers, overrides, catalog)
    values = _expand(values, origins, defs)
    for name in order:
        for setting in catalog[name].settings:
            if values.get(setting) is None:
                raise _origin_error(origins, setting, f"missing required setting {setting!r}",
                                    f"needed by {name}: give it with --set {setting}=VALUE, "
                                    "in the profile or an answers file")
    return {name: values[name] for name in used_settings(profile, order, catalog)}
