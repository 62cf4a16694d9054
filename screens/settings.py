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
from tui_installer.screens.session import Session

from tui_installer import hostfacts as setting_types
from tui_installer import plan as planning
from tui_installer.schema import TEMPLATE_RE

CHOICES = {"virt_driver": ("libvirt", "fake"), "ovs_datapath": ("system", "netdev")}
HIDDEN = ("installer_python",)
LABEL_MAX = 32  # a longer name is cut: the field keeps at least 40 columns at 80
HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


def base_values(session: Session) -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    """(shown values, types, required names) of every setting of the plan an operator may set.

    Which settings a plan has and which must be given is the plan's own rule
    (``plan.resolve_settings``: built-ins, the profile's settings, the selected services'); a setting
    is required when it is left null, by its service (schema: ``required_settings``) or by the profile
    (compute-only's ``controller_host: null``). A value that holds ``{{ other }}`` is shown as written,
    so it reads as following ``other``.
    """
    profile, catalog = session.profile, session.services()
    assert profile is not None  # services() holds the same: Settings comes after a profile is chosen
    order, _ = session.resolved()
    required = {k for k, v in profile.settings.items() if v is None}
    required.update(k for name in order for k in catalog[name].required_settings if k not in profile.settings)
    resolved = planning.resolve_settings(profile, None, dict.fromkeys(required, ""), order, catalog)
    raw = {**{k: v for name in reversed(order) for k, v in catalog[name].settings.items()}, **profile.settings}
    shown = {k: raw[k] if isinstance(raw.get(k), str) and "{{" in raw[k] else v for k, v in resolved.items()}
    for name in required:
        shown[name] = None
    types = {k: None if k in required else v for k, v in resolved.items()}
    return shown, types, required


def hint_text(values: dict[str, Any]) -> str:
    hint = "Tab moves between fields; * marks a required one; errors show as you type."
    refs = [m.group(1).strip() for v in values.values() if isinstance(v, str) for m in TEMPLATE_RE.finditer(v)]
    if refs:
        hint += f"\nA value with {{{{ {refs[0]} }}}} follows setting {refs[0]} when you change it."
    return hint


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
        yield Label(hint_text(values), classes="hint", markup=False)
        names = [n for n in sorted(self.declared, key=lambda n: (n not in self.required, n)) if n not in HIDDEN]
        labels = {n: n + (" *" if n in self.required else "") for n in names}
        width = min(max((len(t) for t in labels.values()), default=0) + 2, LABEL_MAX)
        with VerticalScroll(classes="form", id="settings-form"):
            for name in names:  # required first
                text = labels[name] if len(labels[name]) < width else labels[name][:width - 2] + "…"
                with Horizontal():
                    yield Label(text, classes="setting-label", markup=False).set_styles(f"width: {width};")
                    yield self.field(name, values.get(name))
                yield Label("", id=f"err-{name}", classes="setting-error").set_styles(f"padding-left: {width};")

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
        required = name in self.required
        return Input(text, id=f"set-{name}", compact=True, placeholder="required" if required else "",
                     validators=validators(name, self.declared.get(name), required))

    def on_input_changed(self, event: Input.Changed) -> None:
        name = (event.input.id or "").removeprefix("set-")
        result = event.validation_result
        self.show_error(name, "; ".join(result.failure_descriptions) if result and not result.is_valid else "")

    def show_error(self, name: str, message: str) -> None:
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
                    self.show_error(name, "; ".join(result.failure_descriptions))
                    continue
                text = widget.value
            elif isinstance(widget, Select):
                text = str(widget.value)
            else:
                continue
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
