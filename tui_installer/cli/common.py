"""What every command needs from its arguments: the state directory, the unlocked secret store, and
signal handling for a run. Kept apart from ``cli`` (which may start the TUI) so engine-side commands
never reach Textual, not even through a lazy import."""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from tui_installer.errors import UserError
from tui_installer.statedir import StateDir

if TYPE_CHECKING:  # for the annotation only: the store itself is imported where it is opened
    from tui_installer.secrets import SecretStore


def option(args: argparse.Namespace, name: str) -> Any:
    return getattr(args, name, None)


def state_of(args: argparse.Namespace, *, create: bool = True, writable: bool = True) -> StateDir:
    """The state directory of ``--state-dir`` (or its default), checked safe; ``create=False`` and
    ``writable=False`` for commands that only read it (they work on a read-only copy)."""
    return StateDir.open(option(args, "state_dir"), create=create, writable=writable)


def state_dir_of(args: argparse.Namespace) -> Path:
    return state_of(args).root


def open_secrets(args: argparse.Namespace, *, interactive: bool) -> SecretStore:
    """The secret store, unlocked from --keyring-passphrase-file, the environment, or (only when allowed
    and a terminal is there) a prompt — never a prompt behind the user's back."""
    from tui_installer.secrets import SecretStore
    from tui_installer.statedir import PASSPHRASE_ENV

    state_dir = state_dir_of(args)
    if state_dir in _OPENED:  # a command that runs twice (node remove, then the install after it): the
        return _OPENED[state_dir]  # passphrase is gone from the environment, a pipe is read once
    ask = _ask_passphrase if interactive and sys.stdin.isatty() else None
    store = SecretStore.open(state_dir, passphrase_file=option(args, "keyring_passphrase_file"), ask=ask)
    # Steps inherit this process's environment: the master passphrase must not reach them.
    os.environ.pop(PASSPHRASE_ENV, None)
    _OPENED[state_dir] = store
    return store


#: the stores this process unlocked, by state directory
_OPENED: dict[Path, SecretStore] = {}


def _ask_passphrase(prompt: str = "Keyring passphrase: ", confirm: bool = False) -> str:
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("Again: ") != first:
        raise UserError("the two passphrases differ", hint="run the command again")
    return first


def install_signal_handlers(cancel: Callable[[], object]) -> None:
    """SIGTERM/SIGINT cancel the running step (its whole process tree) and end the run as aborted; a
    lost terminal (SIGHUP) must not kill an install half-way through dpkg."""
    def handler(signum: int, frame: FrameType | None) -> None:
        cancel()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
