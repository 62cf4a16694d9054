"""The failure dialog: what failed, why, where the log is, and what to do — from the keyboard.

It returns the operator's choice (retry, skip, abort, edit) with ``dismiss``; the Progress screen turns
that into a decision file. "Open a shell" is handled here and keeps the dialog open: the TUI is
suspended, a shell runs in the step's environment, and the same dialog is back when it exits.
"""

from __future__ import annotations

import os
import subprocess
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, RichLog, Static
from tui_installer.screens.runstate import Failure, host_of

from tui_installer.errors import UserError
from tui_installer.preview import Step, shell_on_host
from tui_installer.statedir import RunFiles

#: columns for the log path inside the dialog (78 wide, a border and padding each side)
LOG_WIDTH = 72
CHOICES = (("retry", "Retry", "r"), ("skip", "Skip", "s"), ("shell", "Shell", "o"),
           ("edit", "Edit settings", "e"), ("abort", "Abort", "a"))


class FailureScreen(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        *(Binding(key, f"choose('{choice}')", label) for choice, label, key in CHOICES),
        Binding("escape", "dismiss_none", "Hide")]

    def __init__(self, failure: Failure, run: RunFiles, *, can_edit: bool = True) -> None:
        super().__init__()
        self.failure, self.run, self.can_edit = failure, run, can_edit
        #: the inventory host the step failed on (None: this machine)
        self.host: str | None = str(failure.event.get("host") or host_of(failure.step) or "") or None

    def compose(self) -> ComposeResult:
        e = self.failure.event
        how = f"exit code {e.get('exit_code')}"
        if e.get("signal"):
            how = f"signal {e['signal']}"
        if e.get("timed_out"):
            how = f"timed out ({e['timed_out']})"
        with Vertical(classes="dialog", id="failure"):
            if self.host:
                yield Label(f"Step failed on host {self.host}: {self.failure.step.partition('@')[0]} "
                            f"(attempt {self.failure.attempt}, {how})", classes="title")
            else:
                yield Label(f"Step failed: {self.failure.step} (attempt {self.failure.attempt}, {how})",
                            classes="title")
            cause = e.get("cause") or "not recognised - see the output below"
            yield Static(f"Cause: {cause}", id="fail-cause")
            yield Static(wrap_path("Log: ", str(e.get("log", "?")), LOG_WIDTH), id="fail-log", classes="hint",
                         markup=False)
            tail = RichLog(id="fail-tail", max_lines=200, wrap=False, markup=False)
            yield tail
            with Horizontal(id="fail-keys", classes="buttons"):
                for choice, label, key in CHOICES:
                    label = f"{label} on host" if self.host and choice == "shell" else label
                    button = Button(f"{label} ({key})", id=f"choice-{choice}", compact=True)
                    button.disabled = choice == "edit" and not self.can_edit
                    yield button
            if self.host:
                yield Label(f"Retry runs it again on {self.host} alone; the shell is ssh to {self.host}. Esc "
                            "hides this (f shows it); the install waits.", classes="hint", id="fail-host")
            else:
                yield Label("Esc hides this dialog (f shows it again); the install waits for an answer.",
                            classes="hint")
        yield Footer()

    def on_mount(self) -> None:
        tails, retry = self.query("#fail-tail").results(RichLog), self.query("#choice-retry").results(Button)
        # none when answered (a key typed ahead) between the push and this Mount: the widgets are gone
        for tail in tails:
            for line in self.failure.event.get("tail", [])[-20:]:
                tail.write(str(line))
        for button in retry:
            button.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_choose((event.button.id or "").removeprefix("choice-"))

    def action_choose(self, choice: str) -> None:
        if choice == "shell":
            self.open_shell()
        elif choice == "edit" and not self.can_edit:
            self.notify("No answers file to edit for this run.", severity="warning")
        else:
            self.dismiss(choice)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    def open_shell(self) -> None:
        """Suspend the TUI into ``$SHELL`` in the failed step's environment (``ssh`` to the step's host,
        connected as Ansible connects to it); back to this dialog after."""
        if self.host:
            self.open_host_shell(self.host)
            return
        env, cwd = step_environment(self.run, self.failure.step)
        shell = os.environ.get("SHELL") or "/bin/bash"
        banner = (f"\n[tui-installer] shell for step {self.failure.step}; log: "
                  f"{self.failure.event.get('log', '?')}\n[tui-installer] type `exit` to return.\n")
        try:
            with self.app.suspend():
                print(banner, flush=True)
                subprocess.run([shell], env=env, cwd=cwd, check=False)
        except Exception as exc:  # SuspendNotSupported (headless tests) and friends
            self.notify(f"Cannot open a shell here: {exc}", severity="error")
        self.app.refresh()


    def open_host_shell(self, host: str) -> None:
        try:
            inventory = self.run.plan().inventory
            if not inventory:
                raise UserError(f"run {self.run.id} has no inventory: host {host} is not known")
            argv = shell_on_host(inventory, host)
        except (UserError, OSError, ValueError, KeyError) as exc:
            self.notify(f"Cannot open a shell on {host}: {exc}", severity="error", timeout=10)
            return
        banner = (f"\n[tui-installer] shell on host {host} for step {self.failure.step}, over ssh as Ansible "
                  f"connects:\n[tui-installer] {' '.join(argv)}\n[tui-installer] type `exit` (or Ctrl+D) to "
                  "return to the installer; the install waits for your answer.\n")
        try:
            with self.app.suspend():
                print(banner, flush=True)
                done = subprocess.run(argv, check=False)
                if done.returncode == 255:
                    print(f"[tui-installer] ssh to {host} failed (exit 255). Press Enter to return.", flush=True)
                    input()
        except Exception as exc:  # SuspendNotSupported (headless tests) and friends
            self.notify(f"Cannot open a shell here: {exc}", severity="error")
        self.app.refresh()


def wrap_path(prefix: str, path: str, width: int) -> str:
    """``prefix + path`` in lines of at most ``width``, broken only after a ``/``: a file name is never
    cut in two (a terminal would break it anywhere, and the copied path would be wrong)."""
    lines, line = [], prefix
    for part in path.split("/")[1:] if path.startswith("/") else path.split("/"):
        piece = ("/" if path.startswith("/") or line != prefix else "") + part
        if len(line) + len(piece) > width and line.strip() != prefix.strip():
            lines.append(line)
            line = " " * len(prefix)
        line += piece
    return "\n".join([*lines, line])


def step_environment(run: RunFiles, step_id: str) -> tuple[dict[str, str], str | None]:
    """The step's environment (ours + its ``env``, never its secrets) and working directory."""
    step = find_step(run, step_id)
    env = dict(os.environ)
    env.update(step.env if step else {})
    env["TUI_INSTALLER_STEP"] = step_id
    env["TUI_INSTALLER_RUN_DIR"] = str(run.root)
    cwd = step.cwd if step else None
    if not cwd or not os.path.isdir(cwd):
        cwd = str(run.logs) if run.logs.is_dir() else None
    return env, cwd


def find_step(run: RunFiles, step_id: str) -> Step | None:
    """The step ``step_id`` of the plan ``run`` ran; None if the plan cannot be read or lacks it."""
    try:
        steps = run.plan().steps()
    except (OSError, ValueError, KeyError, TypeError, UserError):
        return None
    return next((step for step in steps if step.id == step_id), None)
