"""Grow or shrink the running cloud from the Summary: "Add a compute host" and "Remove a compute host".

Both only ask; the engine does the work (``tui_installer.nodes`` through the preview API, the same as
``tui-installer node add|remove``).
Adding tests the host through the inventory (reachable, sudo, clock against the controller's) and puts it
under ``[compute]`` in a worker, then the dialog returns the answers file whose install adds it: the app
starts it as any install (Progress follows it). Removing returns the host chosen; the Summary asks to
confirm, and the app starts ``node remove`` detached.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList
from textual.widgets.option_list import Option

from tui_installer.errors import UserError
from tui_installer.preview import HostSpec, prepare_node_add


class AddNodeScreen(ModalScreen[Path | None]):
    """Name, address, user, port and key of the new compute host; Enter tests and adds it."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    @dataclass
    class Prepared(Message):
        """From the worker: the answers file of the install that adds the host, or why not."""

        answers: Path | None
        error: str = ""

    def __init__(self, state_dir: Path, inventory: str) -> None:
        super().__init__()
        self.state_dir, self.inventory = state_dir, inventory
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -info", id="add-node"):
            yield Label("Add a compute host to the running cloud", classes="title")
            yield Label(f"It joins [compute] in {self.inventory}; then only its steps and the controller's "
                        "check of the compute hosts run.", classes="hint", markup=False)
            with Horizontal(classes="host-row"):
                yield Input(placeholder="name (node3)", id="n-name", compact=True)
                yield Input(placeholder="address", id="n-address", compact=True)
                yield Input("root", placeholder="user", id="n-user", compact=True)
                yield Input("22", placeholder="port", id="n-port", compact=True, type="integer")
            with Horizontal(classes="host-row"):
                yield Input(placeholder="SSH private key file (empty: the inventory's)", id="n-key", compact=True)
            yield Label("", id="node-error", classes="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Test and add (Enter)", id="n-add", variant="primary", compact=True)
                yield Button("Cancel (Esc)", id="n-cancel", compact=True)

    def on_mount(self) -> None:
        for field in self.query("#n-name").results(Input):
            field.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "n-add":
            self.add()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.add()

    def action_cancel(self) -> None:
        if not self.busy:
            self.dismiss(None)

    def add(self) -> None:
        if self.busy:
            return
        value = {name: self.query_one(f"#n-{name}", Input).value.strip()
                 for name in ("name", "address", "user", "port", "key")}
        if not value["name"] or not value["address"]:
            self.show_error("Give the host's name and address.")
            self.query_one("#n-name" if not value["name"] else "#n-address", Input).focus()
            return
        spec = HostSpec(name=value["name"], address=value["address"], user=value["user"] or "root",
                        key=value["key"], port=int(value["port"] or 22), role="compute")
        self.busy = True
        self.show_error("")
        self.query_one("#node-error", Label).update(f"Testing {spec.name} over SSH...")
        self.prepare(spec)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def prepare(self, spec: HostSpec) -> None:
        """The engine's own preparation (``nodes.prepare_add``): off the UI thread (an Ansible run)."""
        try:
            with tempfile.TemporaryDirectory(prefix="tui-node-add-") as work_dir:
                answers = prepare_node_add(self.state_dir, spec, Path(work_dir))
        except UserError as exc:
            self.post_message(self.Prepared(None, exc.message + (f" ({exc.hint})" if exc.hint else "")))
            return
        except Exception as exc:  # an unexpected failure is shown, never a crash of the TUI
            self.post_message(self.Prepared(None, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.Prepared(answers))

    def on_add_node_screen_prepared(self, message: Prepared) -> None:
        self.busy = False
        if message.answers is None:
            self.show_error(message.error)
            return
        self.dismiss(message.answers)

    def show_error(self, text: str) -> None:
        label = self.query_one("#node-error", Label)
        label.update(text)
        label.set_class(bool(text), "-visible")


class RemoveNodeScreen(ModalScreen[str | None]):
    """The compute hosts; Enter picks the one to remove (the Summary asks to confirm)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, computes: list[str]) -> None:
        super().__init__()
        self.computes = computes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -info", id="remove-node"):
            yield Label("Remove a compute host from the cloud", classes="title")
            yield Label("Its servers must be gone first; its services are deleted at the controller, its "
                        "agents removed, the host cleaned and taken out of the inventory.", classes="hint")
            yield OptionList(*(Option(name, id=name) for name in self.computes), id="node-list", compact=True)
            with Horizontal(classes="buttons"):
                yield Button("Remove (Enter)", id="r-remove", variant="error", compact=True)
                yield Button("Cancel (Esc)", id="r-cancel", compact=True)

    def on_mount(self) -> None:
        for listing in self.query("#node-list").results(OptionList):
            listing.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(str(event.option.id))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        listing = self.query_one("#node-list", OptionList)
        if event.button.id == "r-remove" and listing.highlighted is not None:
            self.dismiss(self.computes[listing.highlighted])
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
