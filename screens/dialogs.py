"""Small modal dialogs: the key help, and a yes/no confirmation (quit during an install)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

HELP = """\
Everywhere
  F1, ?          this help
  Ctrl+Q         quit (asks first while an install runs)
  Tab, Shift+Tab next / previous field; Enter activates
Flow screens
  Ctrl+N, Ctrl+B next / previous screen (Escape: back)
  Space          toggle a service (Services)
  Ctrl+G         generate a password (Passwords)
  Ctrl+S, Ctrl+E save the answers file / a shell script (Review)
  Ctrl+R         start the install (Review)
Progress
  Up, Down, PgUp scroll the output
  Tab, Up/Down   a step of the step list and its output; l: back to live
  f / R / u      failure dialog again / resume a dead engine / summary
Failure dialog
  r retry  s skip  o shell in the step's environment
  e edit settings and retry  a abort  Escape hide
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -info"):
            yield Label("Keys", classes="title")
            yield Static(HELP)
            yield Label("Escape closes this help.", classes="hint")


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question answered by y/n/Escape or the buttons; No is focused, so Enter declines.

    The detail scrolls inside the dialog and the buttons are one line each: at 80x24 the question,
    both labels and their keys are always on screen."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str, detail: str = "", *, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question, self.detail, self.yes, self.no = question, detail, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -info"):
            yield Label(self.question, classes="title")
            if self.detail:
                with VerticalScroll(classes="confirm-detail"):
                    yield Static(self.detail, classes="hint", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error", compact=True)
                yield Button(f"{self.no} (n, Esc)", id="no", variant="primary", compact=True)

    def on_mount(self) -> None:
        for button in self.query("#no").results(Button):  # none if answered before this Mount (typed ahead)
            button.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()  # answered here: the press must not reach whatever opened the dialog
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class PassphraseScreen(ModalScreen[str | None]):
    """Ask the keyring's master passphrase (masked) before starting an install from ``-a --start``."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, keyring: str, error: str = "") -> None:
        """``error``: why the last passphrase was refused (shown above the field, this attempt's only)."""
        super().__init__()
        self.keyring, self.error = keyring, error

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -info"):
            yield Label("Keyring passphrase", classes="title")
            if self.error:
                yield Static(self.error, id="passphrase-error", classes="error", markup=False)
            yield Static(f"The install reads its secrets from {self.keyring}.", classes="hint")
            yield Input(password=True, placeholder="master passphrase", id="passphrase")
            yield Label("Enter starts the install; Escape quits.", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value
        event.input.value = ""
        self.dismiss(value or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
