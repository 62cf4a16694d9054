"""Typed settings: the one validator for every value a setting can get.

A value reaches a setting from a service default, a profile, an answers file, ``--set`` or the TUI's
form; all of them go through :func:`check`, so a port is a port and a path is absolute wherever it was
typed. Values are typed from YAML (``5000``) or from text (``--set keystone_port=5000``); text is read as
the setting's type. A refused value is a ``ValueError`` with a short reason; the caller names the file,
line and key (``plan``, ``schema``) or shows it beside the field (the TUI).

Types narrow what can reach a recipe: an address cannot hold ``;``, a path cannot hold a newline. Making
substitution itself inert for the shell is the templates' job, not this module's.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace
from typing import Any

from .model import EndpointSpec, SettingDef
from .yamlsrc import error, join, type_name

#: every type a setting may declare (docs/SERVICE-FORMAT.md, "Settings")
TYPES = ("string", "integer", "number", "port", "boolean", "ip", "hostname", "host", "cidr", "path", "choice")
TRUE = ("true", "yes", "on", "1")
FALSE = ("false", "no", "off", "0")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME_RE = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})*\Z")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
#: a path holds no space and nothing a shell reads as syntax
PATH_RE = re.compile(r"/[A-Za-z0-9._/+@:,=~-]*\Z")
#: what each type means, for error messages and the TUI
EXPECTED = {
    "string": "a line of text", "integer": "an integer", "number": "a number",
    "port": "a port number (1-65535)", "boolean": "a boolean (true or false)", "ip": "an IP address",
    "hostname": "a host name (letters, digits, '-' and '.')", "host": "an IP address or a host name",
    "cidr": "a network in CIDR notation (10.0.0.0/24)",
    "path": "an absolute path of letters, digits and ._-+@:,=~/",
    "choice": "one of the choices",
}
#: the type of each built-in setting (``hostfacts.builtin_settings``)
BUILTIN_TYPES = {"installer_python": "path", "host_name": "hostname", "host_ip": "ip"}
BUILTIN_DESCRIPTIONS = {
    "installer_python": "the Python that runs the installer's step-side helpers",
    "host_name": "this host's name (nova's and neutron's host)",
    "host_ip": "this host's address: where its services listen and are reached",
}


def infer(default: Any) -> str:
    """The type of an untyped ``name: default``: from the default's YAML type (string when null)."""
    if isinstance(default, bool):
        return "boolean"
    if isinstance(default, int):
        return "integer"
    if isinstance(default, float):
        return "number"
    return "string"


def untyped(name: str, default: Any) -> SettingDef:
    """A setting declared as ``name: default`` (or introduced by a profile's value)."""
    return SettingDef(name=name, default=default, type=infer(default))


def builtin(name: str, value: Any) -> SettingDef:
    """A built-in host fact as a typed setting."""
    return SettingDef(name=name, default=value, type=BUILTIN_TYPES.get(name, "string"),
                      description=BUILTIN_DESCRIPTIONS.get(name, ""), advanced=name == "installer_python")


def is_template(value: Any) -> bool:
    """A value that follows another setting (``"{{ host_ip }}"``): checked once it is filled in."""
    return isinstance(value, str) and "{{" in value


def check(setting: SettingDef, value: Any) -> Any:
    """``value`` typed as ``setting`` declares, or ``ValueError`` saying what was expected.

    ``None`` stays ``None`` (a required setting not given yet: ``plan`` reports it where it is needed);
    a string holding ``{{ other }}`` is kept as written, and checked again once filled in.
    """
    if value is None or is_template(value):
        return value
    kind = setting.type
    typed = _CHECKS[kind](setting, value)
    if typed is _BAD:
        raise ValueError(f"expected {_expected(setting)}")
    return typed


def _expected(setting: SettingDef) -> str:
    if setting.type == "choice":
        return "one of: " + ", ".join(setting.choices)
    if setting.type == "string" and setting.pattern:
        return f"text matching {setting.pattern}"
    bounds = [f">= {setting.min:g}"] if setting.min is not None else []
    bounds += [f"<= {setting.max:g}"] if setting.max is not None else []
    return EXPECTED[setting.type] + (f" ({', '.join(bounds)})" if bounds else "")


_BAD: Any = object()


def _text(value: Any) -> Any:
    """A one-line string (numbers written unquoted in YAML are read as their text), else ``_BAD``."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return _BAD
    text = str(value)
    return _BAD if CONTROL_RE.search(text) else text


def _string(setting: SettingDef, value: Any) -> Any:
    text = _text(value)
    if text is _BAD or (setting.pattern and not re.fullmatch(setting.pattern, text)):
        return _BAD
    return text


def _integer(setting: SettingDef, value: Any, low: float | None = None, high: float | None = None) -> Any:
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            return _BAD
    if isinstance(value, bool) or not isinstance(value, int):
        return _BAD
    return _bounded(setting, value, low, high)


def _number(setting: SettingDef, value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return _BAD
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _BAD
    return _bounded(setting, value, None, None)


def _bounded(setting: SettingDef, value: float, low: float | None, high: float | None) -> Any:
    low = setting.min if setting.min is not None else low
    high = setting.max if setting.max is not None else high
    if (low is not None and value < low) or (high is not None and value > high):
        return _BAD
    return value


def _port(setting: SettingDef, value: Any) -> Any:
    return _integer(setting, value, 1, 65535)


def _boolean(setting: SettingDef, value: Any) -> Any:
    if isinstance(value, bool):
        return value
    low = value.strip().lower() if isinstance(value, str) else None
    return True if low in TRUE else False if low in FALSE else _BAD


def _ip(setting: SettingDef, value: Any) -> Any:
    text = _text(value)
    try:
        return str(ipaddress.ip_address(text)) if isinstance(text, str) else _BAD
    except ValueError:
        return _BAD


def _hostname(setting: SettingDef, value: Any) -> Any:
    text = _text(value)
    if text is _BAD or not HOSTNAME_RE.match(text) or text.replace(".", "").isdigit():
        return _BAD
    return text


def _host(setting: SettingDef, value: Any) -> Any:
    address = _ip(setting, value)
    return address if address is not _BAD else _hostname(setting, value)


def _cidr(setting: SettingDef, value: Any) -> Any:
    text = _text(value)
    if text is _BAD or "/" not in text:
        return _BAD
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError:
        return _BAD


def _path(setting: SettingDef, value: Any) -> Any:
    text = _text(value)
    return text if isinstance(text, str) and PATH_RE.match(text) else _BAD


def _choice(setting: SettingDef, value: Any) -> Any:
    text = _text(value)
    return text if text in setting.choices else _BAD


_CHECKS = {"string": _string, "integer": _integer, "number": _number, "port": _port, "boolean": _boolean,
           "ip": _ip, "hostname": _hostname, "host": _host, "cidr": _cidr, "path": _path, "choice": _choice}
assert set(_CHECKS) == set(TYPES), "every type has its check"


def render(value: Any) -> str:
    """How a value is written back as text (a form field, ``--set``): booleans lower-case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


# -- declarations in a service file ------------------------------------------------------------------
DECL_KEYS = ("type", "default", "description", "advanced", "choices", "min", "max", "pattern")
ENDPOINT_KEYS = ("name", "port", "path", "host")
SETTING_RE = re.compile(r"[a-z_][a-z0-9_]*\Z")


def parse_settings(value: Any, source: str, key: str) -> dict[str, SettingDef]:
    """A service's ``settings``: each ``name: default`` or ``name: {type, default, description, ...}``."""
    if not isinstance(value, dict):
        raise error(source, key, f"wrong type: expected a mapping, got {type_name(value)}")
    found: dict[str, SettingDef] = {}
    for name, decl in value.items():
        at = join(key, name)
        if not SETTING_RE.match(name):
            raise error(source, at, f"invalid setting name {name!r}", hint=f"must match {SETTING_RE.pattern[:-2]}")
        if isinstance(decl, list):
            raise error(source, at, "wrong type: expected a default (string, number, boolean, null) or a "
                                    "mapping with type, default, description, ...")
        found[name] = _declared(name, decl, source, at) if isinstance(decl, dict) else untyped(name, decl)
    return found


def _declared(name: str, decl: dict[str, Any], source: str, at: str) -> SettingDef:
    for k in decl:
        if k not in DECL_KEYS:
            raise error(source, join(at, k), "unknown key", hint="expected one of: " + ", ".join(DECL_KEYS))
    default = decl.get("default")
    kind = decl.get("type", "choice" if "choices" in decl else infer(default))
    if kind not in TYPES:
        raise error(source, join(at, "type"), f"unknown type {kind!r}", hint="expected one of: " + ", ".join(TYPES))
    setting = SettingDef(name=name, default=default, type=kind, choices=_choices(decl, kind, source, at),
                         **_options(decl, source, at))
    try:
        return replace(setting, default=check(setting, default))
    except ValueError as exc:
        raise error(source, join(at, "default"), f"the default does not fit: {exc}, got {default!r}") from None


def _options(decl: dict[str, Any], source: str, at: str) -> dict[str, Any]:
    """description, advanced, pattern, min and max, each of its own type."""
    found: dict[str, Any] = {}
    for k, want in (("description", (str,)), ("advanced", (bool,)), ("pattern", (str,)), ("min", (int, float)),
                    ("max", (int, float))):
        if k not in decl:
            continue
        if not isinstance(decl[k], want) or (bool not in want and isinstance(decl[k], bool)):
            expected = "a number" if k in ("min", "max") else f"a {type_name(want[0]())}"
            raise error(source, join(at, k), f"wrong type: expected {expected}, got {type_name(decl[k])}")
        found[k] = decl[k]
    if "pattern" in found:
        try:
            re.compile(found["pattern"])
        except re.error as exc:
            raise error(source, join(at, "pattern"), f"invalid regular expression: {exc}") from None
    return found


def _choices(decl: dict[str, Any], kind: str, source: str, at: str) -> tuple[str, ...]:
    choices = decl.get("choices")
    if kind != "choice":
        if choices is not None:
            raise error(source, join(at, "choices"), "choices need type: choice")
        return ()
    if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
        raise error(source, join(at, "choices"), "type choice needs choices: a list of strings")
    return tuple(choices)


def parse_endpoints(value: Any, source: str, key: str) -> tuple[EndpointSpec, ...]:
    """A service's ``endpoints``: the APIs it serves, from settings (checked with the catalog)."""
    if not isinstance(value, list):
        raise error(source, key, f"wrong type: expected a list, got {type_name(value)}")
    found = []
    for i, item in enumerate(value):
        at = join(key, i)
        if not isinstance(item, dict) or "port" not in item or "name" not in item:
            raise error(source, at, "an endpoint is a mapping with name, port (a setting), path, host")
        for k, v in item.items():
            if k not in ENDPOINT_KEYS:
                raise error(source, join(at, k), "unknown key", hint="expected one of: " + ", ".join(ENDPOINT_KEYS))
            if not isinstance(v, str):
                raise error(source, join(at, k), f"wrong type: expected a string, got {type_name(v)}")
        if not item.get("path", "/").startswith("/"):
            raise error(source, join(at, "path"), "a path starts with /")
        found.append(EndpointSpec(**item))
    return tuple(found)
