"""Every request a screen makes of the app, declared once.

A screen never calls the app by name (``self.app.next_screen()``, a ``getattr`` on the app): it posts
one of these messages, which bubbles from the screen to the app, and ``InstallerApp`` handles it
(``on_<message name>``). So a screen works under any app that handles them — a test's app included —
and a reader sees in this one file everything the screens can ask for. Answers to a dialog travel the
other way, as the ``ModalScreen[T]`` result given to ``dismiss()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.message import Message


@dataclass
class FlowNext(Message):
    """Flow screen ``screen`` was left with valid input: show the next one. The app ignores a request
    from a screen that is no longer current (a key pressed twice before the first switch)."""

    screen: str


@dataclass
class FlowBack(Message):
    """Back from flow screen ``screen`` to the previous one (what was entered stays in the session)."""

    screen: str


@dataclass
class StartInstall(Message):
    """Start the engine detached and show its progress; ``answers`` None means the session's, as now."""

    answers: Path | None = None


@dataclass
class RunStarted(Message):
    """The engine began run ``run``: the app remembers which answers file it was started from."""

    run: str


@dataclass
class ResumeInstall(Message):
    """Start the engine again on run ``run``: the journal makes it skip what is already done."""

    run: str | None


@dataclass
class EditSettingsAndRetry(Message):
    """The run was aborted to change a setting: back to Settings; the next start resumes at the step."""


@dataclass
class EngineStartFailed(Message):
    """The engine exited before its run began; ``error`` has only this attempt's output. A wrong
    passphrase typed at the prompt is asked again."""

    error: str


@dataclass
class ShowHosts(Message):
    """Install on more than one host: the Hosts screen joins the flow, and is shown now."""


@dataclass
class RemoveNode(Message):
    """Take compute host ``host`` out of the cloud (``tui-installer node remove``, detached): show its progress."""

    host: str
