"""Settings: every setting of the selected services, validated as you type.

Only values that differ from the profile's go into the answers file, so a replay on another host
still picks that host's own defaults (its address, its name).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.validation import Function, Validator
from textual.widgets import Input, Label, Select
from tui_installer.screens import hostinfo
from tui_installer.screens.flow import FlowScreen

from tui_installer import settings as setting_types

CHOICES = {"virt_driver": ("libvirt", "fake"), "ovs_datapath": ("system", "netdev")}
HIDDEN = ("installer_python",)
HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


def base_values(session: Any) -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    """(defaults + profile values, declared defaults, required names) for the selected services."""
    catalog = session.services()
    order, _ = session.resolved()
    declared: dict[str, Any] = dict(setting_types.builtin_settings())
    required: set[str] = set()
    for name in order:
        declared.update({k: v for k, v in catalog[name].settings.items() if k not in declared})
        required.update(catalog[name].required_settings)
    base = dict(declared)
    base.update({k: v for k, v in session.profile.settings.items() if k in declared})
    return base, declared, required


def is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return bool(HOST_RE.match(text)) and not text.replace(".", "").isdigit()


def validators(name: str, default: Any, required: bool) -> list[Validator]:
    found: list[Validator] = []
    if required:
        found.append(Function(lambda v: bool(v.strip()), "a value is required"))
    if not isinstance(default, str) and default is not None:
        found.append(Function(lambda v: _fits(v, default), f"expected {type(default).__name__}"))
    if name.endswith("_port"):
        found.append(Function(lambda v: v.isdigit() and 0 < int(v) < 65536, "a port is 1-65535"))
    if name.endswith(("_ip", "_host", "_address")):
        found.append(Function(lambda v: not v or "{{" in v or is_address(v), "an IP address or host name"))
    return found


def _fits(text: str, default: Any) -> bool:
    try:
        setting_types.coerce(text, default)
    except ValueError:
        return False
    return True


class SettingsScreen(FlowScreen):
    NAME = "settings"

    def body(self) -> ComposeResult:
        self.base, self.declared, self.required = base_values(self.session)
        values = {**self.base, **self.session.settings}
        yield Label("Tab moves between fields; errors show as you type.", classes="hint")
        with VerticalScroll(classes="form", id="settings-form"):
            for name in sorted(self.declared):
                if name in HIDDEN:
                    continue
                with Horizontal():
                    yield Label(name + (" *" if name in self.required else ""), classes="setting-label")
                    yield self.field(name, values.get(name))
                yield Label("", id=f"err-{name}", classes="setting-error")

    def field(self, name: str, value: Any) -> Input | Select[str]:
        text = setting_types.render(value)
        options: tuple[str, ...] = ()
        if name == "host_ip":
            options = tuple(dict.fromkeys([text, *hostinfo.host_addresses()]))
        elif name in CHOICES:
            options = tuple(dict.fromkeys([*CHOICES[name], text]))
        elif isinstance(self.declared.get(name), bool):
            options = ("true", "false")
        if options:
            return Select([(o, o) for o in options if o], value=text or options[0], allow_blank=False,
                          id=f"set-{name}", compact=True)
        return Input(text, id=f"set-{name}", compact=True,
                     validators=validators(name, self.declared.get(name), name in self.required))

    def on_input_changed(self, event: Input.Changed) -> None:
        name = (event.input.id or "").removeprefix("set-")
        result = event.validation_result
        message = "; ".join(result.failure_descriptions) if result and not result.is_valid else ""
        label = self.query_one(f"#err-{name}", Label)
        label.update(message)
        label.set_class(bool(message), "-visible")

    def collect(self) -> tuple[dict[str, Any], list[str]]:
        values: dict[str, Any] = {}
        bad: list[str] = []
        for widget in self.query("#settings-form Input, #settings-form Select"):
            name = (widget.id or "").removeprefix("set-")
            if isinstance(widget, Input):
                result = widget.validate(widget.value)
                if result is not None and not result.is_valid:
                    bad.append(name)
                    continue
                text = widget.value
            else:
                text = str(widget.value)
            values[name] = setting_types.coerce(text, self.declared.get(name)) if text else None
        return values, bad

    def leave(self) -> bool:
        values, bad = self.collect()
        if bad:
            self.query_one(f"#set-{bad[0]}").focus()
            self.notify(f"Fix: {', '.join(bad)}", severity="error")
            return False
        self.session.settings = {k: v for k, v in values.items() if v != self.base.get(k) and v is not None}
        self.session.plan = None
        return True

    def on_mount(self) -> None:
        fields = self.query("#settings-form Input, #settings-form Select")
        if fields:
            fields.first().focus()
