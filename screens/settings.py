"""Settings: the plan's settings as a form generated from their declarations (the preview API).

Each field shows its service's group, its description under it, a selector for choices and booleans,
and folds advanced settings away. Every keystroke is checked by the engine's one validator
(``preview.check_field``), so the form refuses exactly what ``install`` would. Only values that differ
from the profile's go into the answers file, so a replay on another host still picks that host's own
defaults (its address, its name).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Collapsible, Input, Label, Select
from tui_installer.screens import hostinfo
from tui_installer.screens.flow import FlowScreen

from tui_installer import preview
from tui_installer.preview import Field

LABEL_MAX = 32  # a longer name is cut: the field keeps at least 40 columns at 80


class FieldValidator(Validator):
    """A field checked by the engine's validator; its reason is shown under the field."""

    def __init__(self, field: Field) -> None:
        super().__init__()
        self.field = field

    def validate(self, value: str) -> ValidationResult:
        try:
            preview.check_field(self.field, value)
        except ValueError as exc:
            return self.failure(str(exc))
        return self.success()


def hint_text(fields: Iterable[Field]) -> str:
    hint = "Tab moves between fields; * marks a required one; Enter opens a folded group."
    refs = [m.group(1).strip() for f in fields if isinstance(f.value, str)
            for m in preview.TEMPLATE_RE.finditer(f.value)]
    if refs:
        hint += f"\nA value with {{{{ {refs[0]} }}}} follows setting {refs[0]} when you change it."
    return hint


class SettingsScreen(FlowScreen):
    NAME = "settings"

    def body(self) -> ComposeResult:
        self.fields = {f.name: f for f in self.session.form()}
        yield Label(hint_text(self.fields.values()), classes="hint", markup=False)
        labels = {f.name: f.name + (" *" if f.required else "") for f in self.fields.values()}
        self.width = min(max((len(t) for t in labels.values()), default=0) + 2, LABEL_MAX)
        with VerticalScroll(classes="form", id="settings-form"):
            for service, fields in preview.groups(list(self.fields.values())).items():
                yield Label(service, classes="setting-group", markup=False)
                for field in (f for f in fields if not f.advanced or f.required):
                    yield from self.row(field, labels[field.name])
                advanced = [f for f in fields if f.advanced and not f.required]
                if advanced:
                    with Collapsible(title=f"advanced ({len(advanced)})", collapsed=True,
                                     id=f"adv-{service}", classes="advanced"):
                        for field in advanced:
                            yield from self.row(field, labels[field.name])

    def row(self, field: Field, label: str) -> Iterable[Widget]:
        text = label if len(label) < self.width else label[:self.width - 2] + "…"
        with Horizontal(classes="setting-row"):
            yield Label(text, classes="setting-label", markup=False).set_styles(f"width: {self.width};")
            yield self.widget(field)
        if field.description:
            yield Label(field.description, classes="setting-desc", markup=False).set_styles(
                f"padding-left: {self.width};")
        yield Label("", id=f"err-{field.name}", classes="setting-error").set_styles(f"padding-left: {self.width};")

    def widget(self, field: Field) -> Input | Select[str]:
        text = preview.render(field.value)
        options: tuple[str, ...] = ()
        if field.name == "host_ip":
            options = tuple(dict.fromkeys([text, *hostinfo.host_addresses()]))
        elif field.choices:
            options = tuple(dict.fromkeys([*field.choices, text]))
        elif field.type == "boolean":
            options = ("true", "false")
        if options:
            return Select([(o, o) for o in options if o], value=text or options[0], allow_blank=False,
                          id=f"set-{field.name}", compact=True)
        return Input(text, id=f"set-{field.name}", compact=True, placeholder="required" if field.required else "",
                     validators=[FieldValidator(field)])

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
            text = widget.value if isinstance(widget, Input) else str(getattr(widget, "value", ""))
            try:
                values[name] = preview.check_field(self.fields[name], text)
            except ValueError as exc:
                bad.append(name)
                self.show_error(name, str(exc))
        return values, bad

    def leave(self) -> bool:
        values, bad = self.collect()
        if bad:
            self.reveal(bad[0])
            self.notify(f"Fix: {', '.join(bad)}", severity="error")
            return False
        self.session.settings = {k: v for k, v in values.items()
                                 if v is not None and v != self.fields[k].base}
        self.session.plan = None
        return True

    def reveal(self, name: str) -> None:
        """Focus a field, unfolding its group when it is an advanced one."""
        widget = self.query_one(f"#set-{name}")
        for ancestor in widget.ancestors:
            if isinstance(ancestor, Collapsible):
                ancestor.collapsed = False
        widget.focus()

    def on_mount(self) -> None:
        fields = self.query("#settings-form Input, #settings-form Select")
        if fields:
            fields.first().focus()
