"""Passwords: every secret the plan needs, typed twice (masked) or generated, into the keyring.

Nothing typed here is ever shown (masked inputs, cleared once stored), logged, or put in a message.
The master passphrase stays in memory only, to be handed to the engine through a pipe.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label
from tui_installer.screens.flow import FlowScreen

from tui_installer.errors import UserError
from tui_installer.preview import MIN_LENGTH, SecretStore
from tui_installer.preview import check_secret as check_value
from tui_installer.statedir import PASSPHRASE_ENV, StateDir


class PasswordsScreen(FlowScreen):
    NAME = "passwords"
    BINDINGS = [Binding("ctrl+g", "generate", "Generate")]

    @dataclass
    class Unlocked(Message):
        """From the unlock worker: the opened store, or None and why not."""

        store: SecretStore | None
        error: str = ""

    def body(self) -> ComposeResult:
        self.store: SecretStore | None = None
        self.stored: set[str] = set()
        self.secrets: tuple[str, ...] = ()
        self.plan_error = ""
        try:
            self.secrets = (self.session.plan or self.session.build_plan()).secrets
        except UserError as exc:
            self.plan_error = f"No plan yet: {exc}"
        if not self.secrets and not self.plan_error:
            yield Label("This plan needs no secrets: there is no keyring to unlock. Next goes on to Review.",
                        id="no-secrets")
            yield Label("", id="pw-error", classes="error")
            return
        yield from self.keyring_rows()

    def keyring_rows(self) -> ComposeResult:
        path = StateDir(self.session.state_dir).keyring_file
        self.new_keyring = not (path.exists() and path.stat().st_size > 0)
        state = "new keyring, choose its master passphrase (twice)" if self.new_keyring else "locked"
        yield Label(f"Keyring: encrypted file (keyrings.cryptfile) at {path}", id="backend")
        yield Label(f"Status: {state}", id="keyring-status")
        with Horizontal(id="unlock-row"):
            yield Input(password=True, placeholder="master passphrase", id="pp1", compact=True)
            if self.new_keyring:
                yield Input(password=True, placeholder="again", id="pp2", compact=True)
            yield Button("Unlock", id="unlock", compact=True)
        yield Label("", id="pw-error", classes="error")
        yield Label("Type each twice; leave both empty to keep a stored one or generate it (Ctrl+G).",
                    classes="hint")
        with VerticalScroll(classes="form", id="secret-form"):
            pass

    def on_mount(self) -> None:
        self.error(self.plan_error)
        if not self.secrets:
            return
        form = self.query_one("#secret-form", VerticalScroll)
        for name in self.secrets:
            form.mount(Horizontal(
                Label(name, classes="setting-label"),
                Input(password=True, placeholder="password", id=f"pw1-{name}", compact=True),
                Input(password=True, placeholder="again", id=f"pw2-{name}", compact=True),
                Label("", id=f"st-{name}", classes="pw-status")))
        if self.session.passphrase or self.session.passphrase_file or os.environ.get(PASSPHRASE_ENV):
            self.unlock(self.session.passphrase)
        else:
            self.query_one("#pp1", Input).focus()

    # -- unlocking (argon2 takes ~0.5 s: off the UI thread) ----------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "unlock":
            event.stop()
            self.try_unlock()
        # Back and Next: Textual also calls FlowScreen's handler (every class in the MRO has its turn)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id in ("pp1", "pp2"):
            self.try_unlock()

    def try_unlock(self) -> None:
        first = self.query_one("#pp1", Input).value
        if self.new_keyring and first != self.query_one("#pp2", Input).value:
            self.error("The two passphrases differ.")
            return
        self.query_one("#keyring-status", Label).update("Status: unlocking...")
        self.unlock(first)

    @work(thread=True, exclusive=True, exit_on_error=False, group="keyring")
    def unlock(self, passphrase: str | None) -> None:
        try:
            store = SecretStore.open(self.session.state_dir, passphrase=passphrase or None,
                                     passphrase_file=self.session.passphrase_file if not passphrase else None)
        except UserError as exc:
            self.post_message(self.Unlocked(None, str(exc)))
            return
        if passphrase:
            self.session.passphrase = passphrase
        self.post_message(self.Unlocked(store))

    def on_passwords_screen_unlocked(self, message: Unlocked) -> None:
        for widget_id in ("#pp1", "#pp2"):
            for widget in self.query(widget_id).results(Input):
                widget.value = ""
        if message.store is None:
            self.query_one("#keyring-status", Label).update("Status: locked")
            self.error(message.error)
            return
        self.store = message.store
        self.stored = set(message.store.names())
        self.query_one("#unlock-row").display = False
        self.query_one("#keyring-status", Label).update("Status: unlocked")
        self.error("")
        self.show_stored()
        if self.secrets:
            self.query_one(f"#pw1-{self.secrets[0]}", Input).focus()

    def show_stored(self, names: tuple[str, ...] | None = None) -> None:
        for name in self.secrets if names is None else names:
            first, second = (self.query_one(f"#pw{i}-{name}", Input).value for i in (1, 2))
            self.query_one(f"#st-{name}", Label).update(typed_status(name, first, second, name in self.stored))

    def on_input_changed(self, event: Input.Changed) -> None:
        """The status column follows the typing: what Next will do with this secret."""
        kind, _, name = (event.input.id or "").partition("-")
        if kind in ("pw1", "pw2") and name in self.secrets:
            self.show_stored((name,))

    # -- storing -----------------------------------------------------------------------------------
    def action_generate(self) -> None:
        """Generate the focused secret (or every one not stored); the value is never shown."""
        if self.store is None:
            self.error("Unlock the keyring first.")
            return
        focused = self.focused.id if self.focused else ""
        name = (focused or "").split("-", 1)[-1]
        names = [name] if name in self.secrets else [n for n in self.secrets if n not in self.store.names()]
        for n in names:
            self.store.generate(n)
            self.stored.add(n)
            self.query_one(f"#st-{n}", Label).update("generated and stored")

    def leave(self) -> bool:
        if not self.secrets and not self.plan_error:
            return True
        if self.store is None:
            return self.error("Unlock the keyring first.")
        typed: dict[str, str] = {}
        for name in self.secrets:
            first, second = (self.query_one(f"#pw{i}-{name}", Input) for i in (1, 2))
            if not first.value and not second.value:
                continue
            if first.value != second.value:
                return self.error(f"{name}: the two entries differ.")
            try:
                typed[name] = check_value(name, first.value)
            except UserError as exc:
                return self.error(exc.message)
        for name, value in typed.items():
            self.store.set(name, value)
            for i in (1, 2):
                self.query_one(f"#pw{i}-{name}", Input).value = ""
        generated = self.store.ensure(self.secrets)
        if generated:
            listed = ", ".join(generated) if len(generated) <= 3 else f"{len(generated)} secrets"
            self.notify(f"Generated and stored {listed}.")
        return True

    def error(self, text: str) -> bool:
        self.query_one("#pw-error", Label).update(text)
        return False


def typed_status(name: str, first: str, second: str, stored: bool) -> str:
    """What Next will do with one secret, from the two (masked) entries: never the value itself."""
    if not first and not second:
        return "stored" if stored else "generated on Next"
    if not second:
        return "type it again"
    if first != second:
        return "entries differ"
    try:
        check_value(name, first)
    except UserError:
        return "too short" if len(first) < MIN_LENGTH else "not one line"
    return "ready: stored on Next"
