"""The Textual app: a thin shell that moves between screens and starts the engine detached.

The install itself never runs here (docs/DESIGN.md): the app writes an answers file, starts
``tui-installer install -a FILE --on-failure ask`` in its own session, and follows its events.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from tui_installer.screens import flow, messages
from tui_installer.screens.dialogs import ConfirmScreen, HelpScreen, PassphraseScreen
from tui_installer.screens.progress import STALL_SECONDS, ProgressScreen
from tui_installer.screens.session import Session, answers_file_for_run

from tui_installer import client, preview
from tui_installer.errors import UserError
from tui_installer.statedir import PASSPHRASE_ENV, StateDir


def _css_path() -> Path:
    import tui_installer.screens as screens_pkg

    return Path(screens_pkg.__file__).resolve().parent / "installer.tcss"


def ascii_only() -> bool:
    """Terminals whose fonts lack box drawing (the Linux console: diamonds), or when asked to."""
    term = os.environ.get("TERM", "")
    return term in ("linux", "vt100", "vt102", "vt220") or os.environ.get("TUI_INSTALLER_ASCII") == "1"


class InstallerApp(App[int]):
    TITLE = "tui-installer"
    CSS_PATH = str(_css_path())
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("f1,question_mark", "help", "Help"),
                Binding("ctrl+q", "request_quit", "Quit", priority=True),
                Binding("ctrl+c", "request_quit", "Quit", show=False, priority=True)]

    def __init__(self, session: Session, *, mode: str = "flow", run: str | None = None) -> None:
        super().__init__()
        self.session, self.mode, self.run_id = session, mode, run
        self.stall_seconds = float(os.environ.get("TUI_INSTALLER_STALL_SECONDS", STALL_SECONDS))
        self.flow_index = 0
        #: the answers file the engine was last started on (written per run once the run is known)
        self.launch_answers: Path | None = None
        self.launch_verb: list[str] | None = None
        #: the passphrase in use was typed at our prompt (a wrong one is asked again)
        self.asked_passphrase = False

    def on_mount(self) -> None:
        if ascii_only():
            self.add_class("ascii")
        if self.mode == "attach":
            self.attach()
        elif self.mode == "start":
            self.start_replay()
        elif self.mode == "review":
            self.goto("review")
        else:
            self.reopen_failed_run()
            self.goto("host")
            self.offer_unfinished()

    # -- the flow ----------------------------------------------------------------------------------
    def goto(self, name: str) -> None:
        self.flow_index = flow.ORDER.index(name)
        screen = flow.make(name, self.session)
        if len(self.screen_stack) > 1:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def next_screen(self) -> None:
        steps = flow.order(self.session)
        later = [n for n in flow.ORDER[self.flow_index + 1:] if n in steps]
        if later:
            self.goto(later[0])

    def prev_screen(self) -> None:
        steps = flow.order(self.session)
        earlier = [n for n in flow.ORDER[:self.flow_index] if n in steps]
        if earlier:
            self.goto(earlier[-1])

    def on_show_hosts(self, _: messages.ShowHosts) -> None:
        """Review's "several hosts": the Hosts screen joins the flow (before Review)."""
        self.session.multi_host = True
        self.goto("hosts")

    def on_flow_next(self, message: messages.FlowNext) -> None:
        if message.screen == flow.ORDER[self.flow_index]:
            self.next_screen()

    def on_flow_back(self, message: messages.FlowBack) -> None:
        if message.screen == flow.ORDER[self.flow_index]:
            self.prev_screen()

    def reopen_failed_run(self) -> None:
        """Run again after a failure: the flow starts on the failed run's profile and settings, not on
        the default profile (the operator came back to fix that run; Profile still offers the others)."""
        state = StateDir(self.session.state_dir)
        files = state.last_run()
        journal = files.read_journal() if files else None
        if self.session.profile is not None or files is None or journal is None:
            return
        if journal.kind != "install" or journal.state not in ("failed", "aborted"):
            return
        answers = self.answers_of(files.id)
        try:
            if answers is not None:
                self.session.load_answers(str(answers))
        except (UserError, OSError, ValueError):
            return
        self.notify(f"Run {files.id} of {journal.profile} {journal.state}: its profile and settings are "
                    "loaded (Profile offers the others).", timeout=10)

    def offer_unfinished(self) -> None:
        """A run left unfinished (engine gone) is offered for resume; a live one for attach."""
        state_dir = self.session.state_dir
        files = StateDir(state_dir).last_run()
        journal = files.read_journal() if files else None
        if files is None or journal is None or journal.state != "running":
            return
        run = files.id
        if client.engine_alive(state_dir):
            self.push_screen(ConfirmScreen(f"An install is running (run {run}).", "Watch it now?"),
                             lambda yes: self.show_run(run) if yes else None)
        else:
            self.push_screen(ConfirmScreen(f"Run {run} of {journal.profile} did not finish.",
                                           "Its engine is gone. Resume it from the journal?"),
                             lambda yes: self.resume_install(run) if yes else None)

    # -- installs ----------------------------------------------------------------------------------
    def start_install(self, answers: Path | None = None, verb: list[str] | None = None) -> None:
        """Start the engine detached on ``answers`` (default: the session's, written now) and show its
        progress; the keyring passphrase is asked first if nothing else provides it. ``verb``: another
        engine command (``node remove HOST --yes``: it installs the smaller cloud after, with the keyring)."""
        s = self.session
        has_passphrase = s.passphrase or s.passphrase_file or os.environ.get(PASSPHRASE_ENV)
        if not has_passphrase and (verb or needs_keyring(s, answers)):
            def answered(passphrase: str | None) -> None:
                if passphrase:
                    s.passphrase, self.asked_passphrase = passphrase, True
                    self.start_install(answers, verb)
                elif self.mode == "start" and len(self.screen_stack) == 1:
                    self.exit(1, message="No keyring passphrase given: nothing started.")

            self.push_screen(PassphraseScreen(str(StateDir(s.state_dir).keyring_file)), answered)
            return
        if answers is None and not verb:
            answers = s.save_answers()
        launch = client.start_engine(answers or Path(os.devnull), s.state_dir, passphrase=s.passphrase,
                                     passphrase_file=s.passphrase_file, verb=verb)
        self.launch_answers, self.launch_verb = answers, verb
        self._show(ProgressScreen(s.state_dir, launch=launch, stall_seconds=self.stall_seconds,
                                  can_edit_settings=self.can_edit_settings))

    def on_engine_start_failed(self, message: messages.EngineStartFailed) -> None:
        """A wrong passphrase typed at the prompt is not a dead end: ask again, saying why."""
        if not (self.asked_passphrase and "passphrase" in message.error):
            return
        self.session.passphrase, self.asked_passphrase = None, False
        answers, verb = self.launch_answers, self.launch_verb

        def answered(passphrase: str | None) -> None:
            if passphrase:
                self.session.passphrase, self.asked_passphrase = passphrase, True
                self.start_install(answers, verb)

        keyring = str(StateDir(self.session.state_dir).keyring_file)
        self.push_screen(PassphraseScreen(keyring, error=message.error.split(": ", 1)[-1]), answered)

    def on_start_install(self, message: messages.StartInstall) -> None:
        self.start_install(message.answers)

    def on_remove_node(self, message: messages.RemoveNode) -> None:
        self.start_install(None, verb=["node", "remove", message.host, "--yes"])

    def start_replay(self) -> None:
        """``-a ANSWERS --start``: straight to Progress, on the answers file as given."""
        self.start_install(Path(self.session.answers_source) if self.session.answers_source else None)

    def on_run_started(self, message: messages.RunStarted) -> None:
        """Remember which answers file a run was started from, so a later client can resume it."""
        self.run_id = message.run
        if self.launch_answers is not None:
            state = StateDir(self.session.state_dir)
            state.remember_answers(state.run(message.run), self.launch_answers)

    def answers_of(self, run: str | None) -> Path | None:
        """The answers file a run was started from; for a run started elsewhere, one rebuilt from its
        plan.json (same settings, so resume skips what is done)."""
        if not run:
            return None
        state = StateDir(self.session.state_dir)
        recorded = state.answers_file_of(state.run(run))
        if recorded is not None:
            return recorded
        try:
            return answers_file_for_run(self.session.state_dir, run)
        except (OSError, ValueError, KeyError, TypeError, UserError):
            return None

    def resume_install(self, run: str | None) -> None:
        answers = self.answers_of(run)
        if answers is None and self.session.profile is not None:
            answers = self.session.save_answers()
        if answers is None:
            self.notify("No answers file is known for this run: resume it with `tui-installer install -a "
                        "ANSWERS --yes`.", severity="error", timeout=15)
            return
        self.start_install(answers)

    def on_resume_install(self, message: messages.ResumeInstall) -> None:
        self.resume_install(message.run)

    def can_edit_settings(self) -> bool:
        return self.session.profile is not None or self.answers_of(self.run_id) is not None

    def on_edit_settings_and_retry(self, _: messages.EditSettingsAndRetry) -> None:
        self.edit_settings_and_retry()

    def edit_settings_and_retry(self) -> None:
        """After the aborted run: back to Settings; the next start resumes at the failed step."""
        if self.session.profile is None:
            answers = self.answers_of(self.run_id)
            if answers is None:
                return
            self.session.load_answers(str(answers))
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.goto("settings")

    def attach(self) -> None:
        run = client.last_run(self.session.state_dir)
        if run is None:
            self.exit(1, message=f"No install has run yet in {self.session.state_dir}.")
            return
        self.show_run(run)

    def show_run(self, run: str) -> None:
        self.run_id = run
        self._show(ProgressScreen(self.session.state_dir, run=run, stall_seconds=self.stall_seconds,
                                  can_edit_settings=self.can_edit_settings))

    def _show(self, screen: Screen[Any]) -> None:
        if len(self.screen_stack) > 1:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    # -- keys --------------------------------------------------------------------------------------
    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_request_quit(self) -> None:
        progress = next((s for s in self.screen_stack if isinstance(s, ProgressScreen)), None)
        if progress is None or not progress.install_running:
            self.exit(0)
            return
        detail = (f"The install goes on in the background (run {progress.state.run}).\n"
                  "Watch it again with `tui-installer attach`.")
        self.push_screen(ConfirmScreen("Quit the TUI?", detail), lambda yes: self.exit(0) if yes else None)


def run_tui(args: argparse.Namespace) -> int:
    """Entry point for ``cli``.

    ``args`` has answers, start, profile, state_dir, keyring_passphrase_file and attach.
    """
    state = StateDir.open(getattr(args, "state_dir", None))
    state.check_contents()
    session = Session(state_dir=state.root)
    session.passphrase_file = getattr(args, "keyring_passphrase_file", None)
    mode = "flow"
    if getattr(args, "attach", False):
        mode = "attach"
    elif getattr(args, "answers", None):
        session.load_answers(args.answers)
        mode = "start" if getattr(args, "start", False) else "review"
    elif getattr(args, "profile", None):
        session.choose_profile(args.profile)
    if getattr(args, "set", None) and session.profile is not None:
        apply_sets(session, args.set)
    if getattr(args, "inventory", None):  # the hosts to install on: shown (and tested) on the Hosts screen
        session.use_inventory(args.inventory)
    app = InstallerApp(session, mode=mode)
    result = app.run()
    return int(result or 0)


def needs_keyring(session: Session, answers: Path | None) -> bool:
    """Whether the selection to be installed has secrets (then the engine needs the keyring's passphrase).
    When that cannot be told, ask: a passphrase too many is better than an engine that cannot start."""
    try:
        if answers is None:
            return session.needs_secrets()
        given = preview.load_answers(answers)
        return preview.needs_secrets(preview.load_profile(str(given.profile)), given)
    except (UserError, ValueError, OSError):
        return True


def apply_sets(session: Session, items: list[str]) -> None:
    """``--set k=v`` on the TUI's command line: typed by the plan's own rule, as ``install`` does."""
    assert session.profile is not None
    session.settings.update(preview.parse_sets(session.profile, items))
