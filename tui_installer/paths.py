"""Where the installer keeps its state: one directory, mode 0700."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_STATE_DIR = "/var/lib/tui-installer"
STATE_DIR_ENV = "TUI_INSTALLER_STATE_DIR"


def state_dir(path: str | os.PathLike[str] | None = None, *, create: bool = True) -> Path:
    """The state directory: ``path``, else ``$TUI_INSTALLER_STATE_DIR``, else the default.

    Created with mode 0700 (and tightened if it exists) because it holds the keyring, journals and logs.
    """
    chosen = Path(path or os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR).absolute()
    if create:
        chosen.mkdir(parents=True, exist_ok=True, mode=0o700)
        if chosen.stat().st_mode & 0o077:
            chosen.chmod(0o700)
    return chosen
