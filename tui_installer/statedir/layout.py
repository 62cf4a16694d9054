"""The state directory's layout: every name in it, and typed access to what each file holds.

The state directory is the protocol between the engine and its clients (docs/DESIGN.md, "The state
directory"): the engine writes it, the headless commands and the TUI read it. This module is the only
place that spells a name in it; everything else asks a :class:`StateDir` or a :class:`RunFiles`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_installer import events, planformat
from tui_installer import journal as journals
from tui_installer.errors import UserError
from tui_installer.model import Plan
from tui_installer.statedir import lock, safety
from tui_installer.statedir.published import CloudNetworks, read_networks

DEFAULT_STATE_DIR = "/var/lib/tui-installer"
STATE_DIR_ENV = "TUI_INSTALLER_STATE_DIR"
#: the keyring's master passphrase, for automation; never passed on to a step
PASSPHRASE_ENV = "TUI_INSTALLER_KEYRING_PASSPHRASE"

RUNS, LAST_RUN, LOCK, KEYRING = "runs", "last-run", "engine.lock", "keyring.cfg"
CONSOLE, ANSWERS, OPENRC = "engine-console.log", "answers", "admin-openrc"
PLAN, JOURNAL, EVENTS, LOGS, DECISIONS = "plan.json", "journal.json", "events.jsonl", "logs", "decisions"
RUN_CONSOLE = "console.log"
ANSIBLE = "ansible"
VALIDATE = "validate"


def default_path(path: str | os.PathLike[str] | None = None) -> Path:
    """``path``, else ``$TUI_INSTALLER_STATE_DIR``, else the default; absolute, links not resolved."""
    return Path(path or os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR).absolute()


@dataclass(frozen=True)
class RunFiles:
    """The files of one run, ``runs/<id>/``: plan, journal, events, step logs, decisions."""

    root: Path

    @property
    def id(self) -> str:
        return self.root.name

    @property
    def plan_file(self) -> Path:
        return self.root / PLAN

    @property
    def journal_file(self) -> Path:
        return self.root / JOURNAL

    @property
    def events_file(self) -> Path:
        return self.root / EVENTS

    @property
    def logs(self) -> Path:
        return self.root / LOGS

    @property
    def ansible_dir(self) -> Path:
        """ansible-runner's private data of a run on hosts: playbooks (``project/``) and artefacts."""
        return self.root / ANSIBLE

    def step_log(self, step_id: str) -> Path:
        """The whole (redacted) output of one step, as the executor wrote it."""
        return self.logs / f"{step_id}.log"

    @property
    def console_file(self) -> Path:
        """What the headless printer showed, also kept here (and all of it once the terminal is gone)."""
        return self.root / RUN_CONSOLE

    def open_console(self) -> int:
        """An append-only descriptor on the run's console log (links refused), for the headless printer."""
        return safety.open_nofollow(self.console_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    def exists(self) -> bool:
        return self.journal_file.is_file()

    def create(self, plan: Plan) -> None:
        """Make the run's folders (refusing links planted in their place) and write its plan."""
        safety.real_subdir(self.root.parent, create=True)
        self.root.mkdir(mode=0o700)
        safety.real_subdir(self.logs, create=True)
        safety.write_private(self.plan_file, planformat.to_json(plan))

    def plan(self) -> Plan:
        """The plan this run ran, read back from ``plan.json`` (the `plan --format json` structure)."""
        return planformat.from_json(safety.read_text(self.plan_file))

    def journal(self) -> journals.Journal:
        return journals.load(self.journal_file)

    def read_journal(self) -> journals.Journal | None:
        """The journal, or None when it is missing or unreadable (a client must not crash on it)."""
        try:
            return self.journal()
        except (OSError, ValueError, KeyError, TypeError, UserError):
            return None

    def event_writer(self) -> events.EventWriter:
        return events.EventWriter(self.events_file, self.id)

    def has_events(self) -> bool:
        return self.events_file.exists()

    def follow(self, stop: threading.Event) -> Iterator[list[events.Event]]:
        """The run's events from the start, then as they are appended, until ``stop`` is set."""
        return events.follow(self.events_file, stop)

    def read_events(self) -> list[events.Event]:
        return events.read_all(self.events_file)

    def decision_file(self, step: str, attempt: int) -> Path:
        return self.root / DECISIONS / f"{step}.{attempt}.json"

    def decide(self, step: str, attempt: int, choice: str, by: str) -> tuple[bool, lock.Decision]:
        """Answer a failed step. The first answer wins: returns (won, the decision that stands)."""
        return lock.decide(self.decision_file(step, attempt), choice, by)

    def poll_decision(self, step: str, attempt: int) -> lock.Decision | None:
        return lock.poll_decision(self.decision_file(step, attempt))


@dataclass(frozen=True)
class ValidationFiles:
    """``validate/``: what ``tui-installer validate`` keeps - Tempest's workspace and config, the whole
    output, the progress while it runs and the result of the last run (the TUI reads these two)."""

    root: Path

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def workspace_registry(self) -> Path:
        """Tempest's list of workspaces, kept here rather than in ~/.tempest (shared by every state dir,
        where a second workspace of the same name is refused)."""
        return self.root / "workspaces.yaml"

    @property
    def tempest_conf(self) -> Path:
        return self.workspace / "etc" / "tempest.conf"

    @property
    def log_file(self) -> Path:
        return self.root / "tempest-run.log"

    @property
    def result_file(self) -> Path:
        return self.root / "result.json"

    @property
    def progress_file(self) -> Path:
        return self.root / "progress.json"

    @property
    def console_file(self) -> Path:
        """The output of a ``validate`` a client started in the background (the TUI)."""
        return self.root / "console.log"

    def ensure(self) -> None:
        safety.real_subdir(self.root, create=True)

    def open_console(self) -> int:
        """A fresh descriptor on the console file (links refused), for a background ``validate``."""
        self.ensure()
        return safety.open_nofollow(self.console_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)

    def progress(self) -> dict[str, Any] | None:
        """What a running (or the last) ``validate`` published: state, total, done, current, counts."""
        return self._json(self.progress_file)

    def result(self) -> dict[str, Any] | None:
        """The last finished ``validate``: counts, failed test ids, skips and why, log, facts."""
        return self._json(self.result_file)

    def _json(self, path: Path) -> dict[str, Any] | None:
        text = self.read(path)
        try:
            data = json.loads(text) if text else None
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def write(self, path: Path, text: str) -> None:
        """A private (0600) file of this directory, written whole."""
        safety.write_private(path, text)

    def read(self, path: Path) -> str | None:
        try:
            return safety.read_text(path)
        except (OSError, UserError):
            return None


@dataclass(frozen=True)
class StateDir:
    """One state directory. :meth:`open` checks it is safe (docs/DESIGN.md); the constructor trusts the
    caller (a client handed a path that the engine or :meth:`open` already checked)."""

    root: Path

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, create: bool = True,
             writable: bool = True) -> StateDir:
        """The state directory, created (mode 0700) if missing and ``create``; refused with one line when
        it is unsafe (not ours, writable by others, a file, a dangling link, read-only)."""
        root = default_path(path)
        if create and not os.path.lexists(root):
            safety.create_directory(root)
        if os.path.lexists(root):
            safety.check_directory(root, writable=writable)
        return cls(root)

    def exists(self) -> bool:
        return self.root.is_dir()

    def check_contents(self) -> None:
        """Refuse now what would fail later inside (a folder or a link where the keyring file goes), so
        an interactive client stops with one line before it starts, not half-way through its flow."""
        safety.regular_file(self.root / KEYRING)

    @property
    def lock_file(self) -> Path:
        return self.root / LOCK

    @property
    def keyring_file(self) -> Path:
        """The keyring's file: refused with one line when something else (a folder, a link) is there."""
        return safety.regular_file(self.root / KEYRING)

    @property
    def console_log(self) -> Path:
        """Where a detached engine's own stdout and stderr go."""
        return self.root / CONSOLE

    @property
    def openrc(self) -> Path:
        """The admin credentials the keystone recipe writes (``$TUI_INSTALLER_STATE_DIR/admin-openrc``)."""
        return self.root / OPENRC

    @property
    def validation(self) -> ValidationFiles:
        """What ``tui-installer validate`` writes (Tempest's workspace, log, progress, result)."""
        return ValidationFiles(self.root / VALIDATE)
    def networks(self) -> CloudNetworks | None:
        """The first networks and the way to a VM, as the cloud-networks recipe published them (or None)."""
        return read_networks(self.root)

    def run(self, run_id: str) -> RunFiles:
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise UserError(f"not a run id: {run_id!r}", file=str(self.root / LAST_RUN))
        return RunFiles(self.root / RUNS / run_id)

    def last_run(self) -> RunFiles | None:
        """The newest run (the engine writes its id to ``last-run`` when the run starts), or None."""
        try:
            return self.run(safety.read_text(self.root / LAST_RUN).strip())
        except (OSError, UserError):
            return None  # absent, a link, or not a run id (``../elsewhere`` never leaves the directory)

    def mark_last_run(self, run: RunFiles) -> None:
        safety.write_private(self.root / LAST_RUN, run.id)

    def clean_fragments(self) -> None:
        """Remove the fragments of atomic writes (``runs/*/.journal.json.<pid>.tmp``, ``.plan.json…``,
        ``.last-run.<pid>.tmp``) a crash or a full disk left behind. Only an engine holding the engine
        lock calls it, so no writer is using them (the keyring's own are left to it)."""
        for fragment in [*self.root.glob(f"{RUNS}/*/.*.tmp"), *self.root.glob(f".{LAST_RUN}.*.tmp")]:
            try:
                fragment.unlink()
            except OSError:
                pass

    def runs_newest_first(self) -> list[RunFiles]:
        """Runs that have a journal, newest first (run ids sort by start time)."""
        runs = self.root / RUNS
        if not runs.is_dir() or runs.is_symlink():
            return []
        return [RunFiles(p) for p in sorted(runs.iterdir(), reverse=True) if (p / JOURNAL).is_file()]

    def engine_lock(self) -> lock.EngineLock:
        return lock.EngineLock(self.lock_file)

    def engine_pid(self) -> int | None:
        """The pid of the live engine (-1 if unknown), or None when no engine runs here."""
        return lock.holder(self.lock_file)

    def open_console_log(self) -> int:
        """An append-only descriptor on the console log (for a detached engine's stdout and stderr)."""
        return safety.open_nofollow(self.console_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    def console_size(self) -> int:
        """Bytes in the console log now: an engine started next writes after them."""
        try:
            return os.lstat(self.console_log).st_size
        except OSError:
            return 0

    def console_tail(self, lines: int = 3, since: int = 0) -> str:
        """The console log's last lines written after byte ``since`` (one engine's start, not an older
        run's), joined on one line (for a message), or ``(no output)``."""
        try:
            text = safety.read_text(self.console_log)
        except (OSError, UserError):
            return "(no output)"
        tail = text.encode("utf-8", "replace")[since:].decode("utf-8", "replace").strip().splitlines()
        return " | ".join(tail[-lines:]) or "(no output)"

    # -- answers files the TUI writes, and which run was started from which ------------------------
    def new_answers_file(self, name: str) -> Path:
        folder = safety.real_subdir(self.root / ANSWERS, create=True)
        return folder / f"{name}.yaml"

    def remember_answers(self, run: RunFiles, answers: Path) -> None:
        folder = safety.real_subdir(self.root / ANSWERS, create=True)
        safety.write_private(folder / f"{run.id}.path", str(answers))

    def answers_file_of(self, run: RunFiles) -> Path | None:
        """The answers file ``run`` was started from by the TUI, if it recorded one."""
        try:
            return Path(safety.read_text(self.root / ANSWERS / f"{run.id}.path").strip())
        except (OSError, UserError):
            return None
