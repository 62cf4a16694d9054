"""Why the state directory can be trusted before root writes into it.

The engine runs as root and writes journals, logs, a lock and the keyring into the state directory. If
another user could write into that directory, or into any folder above it, they could plant a symbolic
link (``engine.lock`` pointing at ``/etc/shadow``, ``runs`` pointing elsewhere) and root would follow it.
So: every folder on the way must belong to root or to us and be writable by nobody else (a sticky folder
such as ``/tmp`` is fine: others cannot replace our entry in it), the directory itself must be ours, and
the files inside are opened without following symbolic links (``O_NOFOLLOW``).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from tui_installer.errors import UserError

HINT_OWNER = "use a directory that you own (chown it) or choose another with --state-dir"


def check_directory(path: Path, *, writable: bool) -> None:
    """Refuse ``path`` (an absolute state directory that exists) unless it is safe; one clear line each."""
    if os.path.islink(path) and not os.path.exists(path):
        raise UserError(f"the state directory {path} is a dangling symbolic link",
                        hint="remove the link or point it at a directory you own")
    if not path.is_dir():
        raise UserError(f"the state directory {path} is not a directory",
                        hint="move the file away or choose another with --state-dir")
    for chain in (_prefixes(path), _prefixes(Path(os.path.realpath(path)))):
        for component in chain[:-1]:
            _check_ancestor(component)
    if os.path.islink(path):
        _check_ancestor(path)  # the link itself: who could have planted it
    _check_own_dir(Path(os.path.realpath(path)), shown=path)
    if writable and os.statvfs(path).f_flag & os.ST_RDONLY:
        raise UserError(f"the state directory {path} is on a read-only filesystem",
                        hint="remount it read-write or choose another with --state-dir")


def create_directory(path: Path) -> None:
    """Create ``path`` (mode 0700) after checking the folders that already exist above it."""
    for component in _prefixes(path)[:-1]:
        if not os.path.lexists(component):
            break
        _check_ancestor(component)
    try:
        path.mkdir(parents=True, mode=0o700)
    except FileExistsError:
        return  # a dangling link or a file: check_directory names it
    except OSError as exc:
        raise UserError(f"cannot create the state directory {path}: {exc.strerror}",
                        hint="choose a writable place with --state-dir") from None


def _prefixes(path: Path) -> list[Path]:
    parts = path.parts
    return [Path(*parts[:i]) for i in range(1, len(parts) + 1)]


def _check_ancestor(component: Path) -> None:
    st = os.lstat(component)
    if st.st_uid not in (0, os.geteuid()):
        raise UserError(f"{component} (above the state directory) belongs to uid {st.st_uid}, "
                        "who could redirect the installer's files", hint=HINT_OWNER)
    if stat.S_ISLNK(st.st_mode) or st.st_mode & stat.S_ISVTX:
        return  # a link's own mode means nothing (its target is checked); sticky: others cannot swap our entry
    if st.st_mode & 0o022:
        raise UserError(f"{component} (above the state directory) is writable by group or others "
                        f"(mode {stat.S_IMODE(st.st_mode):04o})", hint=f"chmod go-w {component} or " + HINT_OWNER)


def _check_own_dir(real: Path, shown: Path) -> None:
    st = os.lstat(real)
    if st.st_uid != os.geteuid():
        raise UserError(f"the state directory {shown} belongs to uid {st.st_uid}, not to you "
                        f"(uid {os.geteuid()})", hint=HINT_OWNER)
    if st.st_mode & 0o022:
        raise UserError(f"the state directory {shown} is writable by group or others "
                        f"(mode {stat.S_IMODE(st.st_mode):04o}): links planted in it would be followed",
                        hint=f"check its contents, then chmod 700 {shown}")
    if st.st_mode & 0o077:
        os.chmod(real, 0o700)  # ours and only readable by others: tighten, it will hold the keyring


def real_subdir(path: Path, *, create: bool) -> Path:
    """``path`` (a folder inside the state directory) as a real folder of ours, never a symbolic link."""
    if create:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a folder"
        raise UserError(f"{path} is {what}; the installer only uses real folders in its state directory",
                        hint="remove it (it was not made by tui-installer)")
    return path


def regular_file(path: Path) -> Path:
    """``path`` if it is absent or a regular file; a folder or a link there is refused with one line."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    if not stat.S_ISREG(st.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "a folder" if stat.S_ISDIR(st.st_mode) \
            else "not a regular file"
        raise UserError(f"{path} is {what}, not a file", hint="move it away; tui-installer writes a plain file there")
    return path


def open_nofollow(path: Path, flags: int, mode: int = 0o600) -> int:
    """``os.open`` that refuses a symbolic link as the last component (ELOOP), with one clear line."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UserError(f"{path} is a symbolic link; the installer does not follow links in its "
                            "state directory", hint="remove it (it was not made by tui-installer)") from None
        raise


def read_text(path: Path) -> str:
    """The text of a file inside the state directory, refusing a symbolic link."""
    fd = open_nofollow(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as handle:
        return handle.read().decode(errors="replace")


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """Write ``text`` to ``path`` atomically, with ``mode`` from the first byte (never world-readable);
    missing parent folders are created. A link at the temporary name is refused, and the rename replaces
    a link at ``path`` itself rather than writing through it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = open_nofollow(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
