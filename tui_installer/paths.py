"""Where the installer keeps its state: one directory, mode 0700."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_STATE_DIR = "/var/lib/tui-installer"
STATE_DIR_ENV = "TUI_INSTALLER_STATE_DIR"
#: the keyring's master passphrase, for automation; never passed on to a step
PASSPHRASE_ENV = "TUI_INSTALLER_KEYRING_PASSPHRASE"


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


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """Write ``text`` to ``path`` atomically, with ``mode`` from the first byte (never world-readable);
    missing parent folders are created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
