"""Start a command on a new pty, as its session leader with the pty as controlling terminal, and
drive the pty's master side through pexpect (``fdpexpect.fdspawn``).

Why not ``pexpect.spawn``: it forks the whole Python interpreter and runs Python code in the child
before ``exec`` (copy-on-write faults on every page the interpreter touches): 5-7 ms per step on a
2-core machine, more than a plain ``bash -c`` costs. ``os.posix_spawn`` (vfork + exec, in C) does the
same job in about the time of the ``exec`` itself, and pexpect's ``fdspawn`` then does the I/O on the
pty it was given, with pexpect's ``TIMEOUT``/``EOF`` semantics and ``send``/``sendline``:

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
- ``PtyIO`` (an ``fdspawn``, bytes mode) tries a non-blocking ``read`` before it polls: while output
  flows that is one syscall per 4 KiB the pty hands over instead of two (~30% less CPU for the relay,
  which leaves more of a 2-core machine to the step).
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import signal
import struct
import termios
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pexpect
from pexpect.fdpexpect import fdspawn
from pexpect.spawnbase import SpawnBase

_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM,
                    signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2)


if TYPE_CHECKING:  # the stubs make fdspawn generic over str/bytes; at run time it is a plain class
    _BytesSpawn = fdspawn[bytes]
else:
    _BytesSpawn = fdspawn


class PtyIO(_BytesSpawn):
    """pexpect over the pty master: ``read_nonblocking`` raises ``pexpect.TIMEOUT`` when nothing came
    within ``timeout`` seconds and ``pexpect.EOF`` once every writer closed the pty; answers go out with
    ``sendline``. Bytes mode (``encoding=None``): the executor decodes whole blocks itself. No
    ``logfile``/``logfile_send``: answers are often secrets, and pexpect would log them as sent."""

    def __init__(self, fd: int, maxread: int) -> None:
        super().__init__(fd, encoding=None, maxread=maxread, use_poll=True)  # poll: no FD_SETSIZE limit
        os.set_blocking(fd, False)

    def read_nonblocking(self, size: int = 1, timeout: float | None = -1) -> bytes:
        """What the pty has, up to ``size`` bytes; waits up to ``timeout`` only if it has nothing yet.

        pexpect's ``fdspawn`` polls before every read; reading first (the fd is non-blocking) saves the
        poll while output flows. The plain read is ``SpawnBase``'s, so EIO/empty still mean ``EOF``.
        """
        try:
            data: bytes = SpawnBase.read_nonblocking(self, size)
            return data
        except BlockingIOError:
            pass
        try:
            data = super().read_nonblocking(size, timeout)  # poll up to timeout (TIMEOUT), then read
        except BlockingIOError:  # readable, yet nothing to read: as good as a timeout
            raise pexpect.TIMEOUT("nothing to read") from None
        return data


class PtyChild:
    """A spawned process and its pty (``io``, pexpect); ``alive()`` reaps the process once it exited.

    (``io.isalive()`` would only say whether the fd is open: the process is watched with ``waitpid``.)
    """

    def __init__(self, pid: int, fd: int, maxread: int = 65536) -> None:
        self.pid = pid
        self.io = PtyIO(fd, maxread)
        self.exit_code: int | None = None
        self.signal: int | None = None
        self._done = False

    @property
    def fd(self) -> int:
        fd: int = self.io.child_fd
        return fd

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

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the exit; True once it exited (and was reaped).

        Why a pidfd: it wakes at the exit itself, where sleeping in steps would add up to a sleep's
        length to every step (a process usually exits a moment after it closed the pty).
        """
        if not self.alive():
            return True
        try:
            pidfd = os.pidfd_open(self.pid)
        except OSError:  # a kernel without pidfds (< 5.3)
            time.sleep(min(timeout, 0.01))
            return not self.alive()
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            poller.poll(timeout * 1000)
        finally:
            os.close(pidfd)
        return not self.alive()

    def send_line(self, text: str) -> bool:
        """Type ``text`` and Enter; False if nobody reads any more (the child is gone)."""
        try:
            self.io.sendline(text)
        except OSError:  # EIO after the child left, EAGAIN if its input is full: it is not listening
            return False
        return True

    def close(self) -> None:
        self.io.close()  # closes the master fd; a second call does nothing


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
          rows: int = 50, cols: int = 200, maxread: int = 65536) -> PtyChild:
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
    return PtyChild(pid, master, maxread)
