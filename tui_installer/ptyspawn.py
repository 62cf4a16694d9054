"""Start a command on a new pty, as its session leader with the pty as controlling terminal.

Why not ``pexpect.spawn``: it forks the whole Python interpreter and runs Python code in the child
before ``exec`` (copy-on-write faults on every page the interpreter touches): 5-7 ms per step on a
2-core machine, more than a plain ``bash -c`` costs. ``os.posix_spawn`` (vfork + exec, in C) does the
same job in about the time of the ``exec`` itself:

- ``setsid=True`` makes the child a session leader; it then opens the pty's slave by name, which (no
  ``O_NOCTTY``) makes the pty its controlling terminal: sudo, ``/dev/tty`` prompts and job control
  behave as on a terminal; stdout and stderr are the same pty.
- the pty is set up by the parent before the spawn: echo off (answers to prompts are not echoed back),
  no output post-processing (``\\n`` is not turned into ``\\r\\n``: half the kernel's work per byte),
  and a window size.
- signals Python ignores or handles (SIGPIPE, SIGXFSZ, SIGINT...) are reset to their defaults, so
  ``yes | head`` ends quietly as in a shell.
- ``cwd`` goes through ``env -C DIR`` (coreutils >= 8.28): Python 3.11 cannot ask posix_spawn to chdir,
  and ``os.chdir`` in the parent would race with other threads.
"""

from __future__ import annotations

import fcntl
import os
import pty
import shutil
import signal
import struct
import termios
from collections.abc import Mapping, Sequence

_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM,
                    signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2)


class PtyChild:
    """A spawned process and the master side of its pty; ``alive()`` reaps it once it has exited."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self.fd = pid, fd
        self.exit_code: int | None = None
        self.signal: int | None = None
        self._done = False

    def alive(self) -> bool:
        if self._done:
            return False
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else: the status is lost
            self._done = True
            return False
        if pid == 0:
            return True
        self._done = True
        if os.WIFSIGNALED(status):
            self.signal = os.WTERMSIG(status)
        else:
            self.exit_code = os.waitstatus_to_exitcode(status)
        return False

    def send_line(self, text: str) -> bool:
        """Type ``text`` and Enter; False if nobody reads any more (the child is gone)."""
        try:
            os.write(self.fd, text.encode() + b"\n")
        except OSError:  # EIO after the child left, EAGAIN if its input is full: it is not listening
            return False
        return True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _setup_terminal(slave: int, master: int, rows: int, cols: int) -> None:
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST
    attrs[3] &= ~(termios.ECHO | termios.ECHONL)
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def resolve(command: str, env: Mapping[str, str]) -> str:
    """The executable for ``command``, searched in the *step's* PATH (a venv's bin, say)."""
    if "/" in command:
        if not os.path.exists(command):
            raise FileNotFoundError(f"no such file: {command}")
        return command
    found = shutil.which(command, path=env.get("PATH", os.defpath))
    if found is None:
        raise FileNotFoundError(f"command not found: {command}")
    return found


def spawn(argv: Sequence[str], env: Mapping[str, str], cwd: str | None = None,
          rows: int = 50, cols: int = 200) -> PtyChild:
    """Start ``argv``; raises OSError (FileNotFoundError, PermissionError) if it cannot be run."""
    argv = list(argv)
    if cwd is not None:
        argv = ["env", "-C", cwd, "--", *argv]
    path = resolve(argv[0], env)
    master, slave = pty.openpty()
    try:
        _setup_terminal(slave, master, rows, cols)
        name = os.ttyname(slave)
        actions = [(os.POSIX_SPAWN_OPEN, 0, name, os.O_RDWR, 0),
                   (os.POSIX_SPAWN_DUP2, 0, 1), (os.POSIX_SPAWN_DUP2, 0, 2)]
        pid = os.posix_spawn(path, argv, dict(env), file_actions=actions, setsid=True,
                             setsigdef=_DEFAULT_SIGNALS, setsigmask=())
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    return PtyChild(pid, master)
