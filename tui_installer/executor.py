"""The one executor: every step's command runs here, in a pty.

Why a pty: tools behave as on an operator's terminal (sudo, password prompts, line-buffered output).
The process is started by ``ptyspawn`` (posix_spawn on a fresh pty: ``pexpect.spawn``'s fork of the
interpreter cost more per step than the step's own ``bash -c``) and its pty is driven by pexpect
(``fdpexpect.fdspawn``, bytes mode). The loop is ansible-runner's pexpect loop: each pass checks cancel
and the timeouts, then reads with a short timeout; ``pexpect.TIMEOUT`` (quiet for a moment) and
``pexpect.EOF`` (every writer closed the pty) are the loop's two other outcomes, and after a kill a last
read keeps what the dying processes wrote. Why ``read_nonblocking`` and not ``expect()`` per line: at
~2M lines a regex round trip per line is far too slow; the executor takes the pty's output in chunks and
works on blocks of lines with C-speed string operations (decode, split, redact, write). Prompts are
regexes searched over the not yet scanned text, including the partial last line (prompts rarely end
with a newline), and answered with pexpect's ``sendline``. (pexpect's ``logfile_read`` is not used: it
would see raw chunks, and the log may only get redacted, normalised, complete lines.)

Output handling: the pty's output post-processing (OPOST) is switched off, so ``\\n`` stays
``\\n`` and the kernel does half the work; a bare ``\\r`` (a progress redraw) keeps the final state of its
line; ANSI escape sequences are dropped; invalid UTF-8 becomes U+FFFD; a line longer than
``LINE_CAP`` is cut into pieces. Every line is redacted before it reaches the log file (created 0600),
``on_output`` or ``Result.tail``.

Killing: a step's processes are found by three means, because any one alone misses some: the pty
child's descendants (psutil), its session and process group (the child is a session leader), and the
marker variable ``TUI_INSTALLER_STEP_TOKEN=<random>`` set in the step's environment, which every
grandchild inherits even after ``setsid``/``nohup``/double fork (it does not survive a program that
clears its environment, e.g. ``env -i``). Only cancel, timeouts and a wrong-answer loop kill; after a
normal exit, daemons the step started keep running.
"""

from __future__ import annotations

import os
import re
import secrets as _random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pexpect

from . import proctree, ptyspawn, questions
from .executor_io import LINE_CAP, Prompter, Relay, Splitter, open_log
from .model import Step
from .proctree import STEP_TOKEN_VAR
from .redact import Redactor
from .statedir import PASSPHRASE_ENV
from .stepenv import QUIET_ENV, quiet_env  # noqa: F401 - QUIET_ENV re-exported
from .unless import run_check  # noqa: F401 - re-exported: the engine's `unless` checks

TAIL_LINES = 30
READ_SIZE = 65536
#: Output is processed when this much is buffered, or BATCH_SECONDS after the first unprocessed byte.
BATCH_BYTES = 256 * 1024
BATCH_SECONDS = 0.05
#: How long to wait for more data before processing a partial batch (a prompt waits for us).
BATCH_WAIT = 0.005
#: Longest sleep of the loop: cancel, timeouts and a dead child are noticed within this.
TICK = 0.1
#: After the child exited, output from processes still holding the pty is read for this long.
EXIT_GRACE = 0.2
#: While output flows, whether the child exited is checked this often (``waitpid``, cheap).
EXIT_CHECK = 0.25
KILL_GRACE = 3.0
#: A step silent this long whose last output looks like a question is stopped (``timed_out="input"``):
#: nobody will answer it. Applies to every step, whatever its ``idle_timeout``.
QUESTION_IDLE = 300.0
#: A step silent this long on a question is announced (``on_waiting``): "still running" shows it.
WAITING_NOTICE = 5.0

#: ``on_output(line)``: called once per line (simple); ``on_lines(lines)``: once per block (fast).
LineCallback = Callable[[str], None]
LinesCallback = Callable[[list[str]], None]


class MissingSecretError(KeyError):
    """The step needs a secret the caller did not pass: the engine must fetch it first."""


@dataclass
class Result:
    exit_code: int | None
    signal: int | None
    timed_out: str | None  # None | "overall" | "idle" | "input" (silent on a question)
    cancelled: bool
    duration: float
    tail: list[str]
    pid: int | None
    answered_wrong: bool = False
    lines: int = 0
    #: set when the command could not be started at all (exit_code is then 127 or 126)
    error: str | None = None
    log_path: str | None = field(default=None, repr=False)
    #: the question a step stopped on (``timed_out="input"``), redacted
    waiting: str | None = None
    #: the step's own check (creates/unless) said it is done; set by a remote run, whose checks run there
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.exit_code == 0
            and self.signal is None
            and not self.timed_out
            and not self.cancelled
            and not self.answered_wrong
        )


def build_env(
    step: Step, secrets: Mapping[str, str], extra_env: Mapping[str, str] | None, token: str
) -> dict[str, str]:
    """os.environ + quiet defaults + extra_env + step.env + secret env + the step marker.

    The keyring's master passphrase never reaches a step, whoever forgot to drop it from os.environ."""
    base = {k: v for k, v in os.environ.items() if k != PASSPHRASE_ENV}
    env = {**base, **quiet_env(base), **(extra_env or {}), **step.env}
    env.setdefault("TERM", "dumb")
    for var, name in step.secret_env.items():
        env[var] = secrets[name]
    env[STEP_TOKEN_VAR] = token
    return env


def _check_secrets(step: Step, secrets: Mapping[str, str]) -> None:
    missing = [name for name in step.secrets if name not in secrets]
    if missing:
        raise MissingSecretError(f"step {step.id} needs secrets not passed: {', '.join(missing)}")


class Executor:
    """Runs steps. No state between runs but a cached redactor; one instance may serve many threads."""

    def __init__(self, *, max_answers: int = 3, kill_grace: float = KILL_GRACE,
                 question_idle: float = QUESTION_IDLE, waiting_notice: float = WAITING_NOTICE) -> None:
        #: a prompt matched more than this many times means the answer is wrong (a loop)
        self.max_answers = max_answers
        self.kill_grace = kill_grace
        self.question_idle, self.waiting_notice = question_idle, waiting_notice
        self._redactor: tuple[frozenset[tuple[str, str]], Redactor] | None = None

    def _redactor_for(self, secrets: Mapping[str, str]) -> Redactor:
        """One Redactor per set of secrets (building one costs ~0.5 ms for 24 secrets)."""
        key = frozenset(secrets.items())
        if self._redactor is None or self._redactor[0] != key:
            self._redactor = (key, Redactor(secrets))
        return self._redactor[1]

    def run(
        self,
        step: Step,
        *,
        secrets: Mapping[str, str],
        log_path: str | os.PathLike[str],
        on_output: LineCallback | None = None,
        cancel: threading.Event | None = None,
        extra_env: Mapping[str, str] | None = None,
        redactor: Redactor | None = None,
        on_lines: LinesCallback | None = None,
        on_waiting: LineCallback | None = None,
    ) -> Result:
        """Run ``step`` to its end; never raises for a failing command (see ``Result``).

        ``secrets`` must hold every secret the step names; all of them (and any in ``redactor``,
        which defaults to one over ``secrets``) are masked in the output. Lines reach ``on_output``
        one call each, or ``on_lines`` a list per block read (prefer it for chatty steps: a Python
        call per line costs ~1 us, i.e. seconds for millions of lines). Both run in this thread.
        ``on_waiting(line)`` is called once when the step has been silent ``waiting_notice`` seconds
        on a line that looks like a question (``questions.pending``).
        """
        _check_secrets(step, secrets)
        redactor = redactor or self._redactor_for(secrets)
        with open_log(log_path) as log:
            relay = Relay(log, redactor, on_output, on_lines, TAIL_LINES)
            relay.header(f"$ {step.display}")
            result = _Run(self, step, secrets, relay, cancel, on_waiting).execute(extra_env)
            result.log_path = os.fspath(log_path)
            relay.footer(_summary(result))
        return result


def _summary(r: Result) -> str:
    how = f"exit {r.exit_code}" if r.signal is None else f"signal {r.signal}"
    extra = "".join(
        f", {w}" for w, on in (("timed out: " + str(r.timed_out), r.timed_out), ("cancelled", r.cancelled),
                              ("wrong answer loop", r.answered_wrong)) if on
    )
    return f"[{how}{extra} after {r.duration:.2f}s, {r.lines} lines]"


class _Run:
    """One execution of one step: the read loop and its bookkeeping."""

    def __init__(self, ex: Executor, step: Step, secrets: Mapping[str, str], relay: Relay,
                 cancel: threading.Event | None, on_waiting: LineCallback | None = None) -> None:
        self.ex, self.step, self.secrets, self.relay, self.cancel = ex, step, secrets, relay, cancel
        self.on_waiting = on_waiting
        self.waiting: str | None = None
        self.announced: str | None = None
        self.token = _random.token_hex(12)
        self.invalid: str | None = None
        try:
            self.prompter = Prompter(step.prompts, secrets, ex.max_answers)
        except re.error as exc:  # schema validation should have refused it; never crash the engine
            self.invalid = f"invalid prompt pattern in step {step.id}: {exc}"
            self.prompter = Prompter((), secrets, ex.max_answers)
        self.splitter = Splitter(relay, self.prompter, LINE_CAP)
        self.buf: list[bytes] = []
        self.buf_bytes = 0
        self.buf_since = 0.0
        self.timed_out: str | None = None
        self.cancelled = False

    def execute(self, extra_env: Mapping[str, str] | None) -> Result:
        self.start = self.last_output = time.monotonic()
        if self.invalid:
            return self._not_started(self.invalid, 2)
        try:
            self.child = self._spawn(extra_env)
        except OSError as exc:
            code = 126 if isinstance(exc, PermissionError) else 127
            return self._not_started(f"cannot run {self.step.argv[0]!r}: {exc}", code)
        self.io = self.child.io
        try:
            stopped = self._loop()
        except BaseException:  # KeyboardInterrupt, a bug: never leave the step's processes behind
            self._kill()
            self.child.close()
            raise
        if stopped:
            self._kill()
            self._drain(deadline=time.monotonic() + 1.0)
        self.splitter.finish()
        self._wait_exit()
        return self._result()

    def _kill(self) -> None:
        proctree.kill(self.child.pid, self.token, self.ex.kill_grace, self.child.alive)

    def _spawn(self, extra_env: Mapping[str, str] | None) -> ptyspawn.PtyChild:
        env = build_env(self.step, self.secrets, extra_env, self.token)
        return ptyspawn.spawn(self.step.argv, env, cwd=self.step.cwd, maxread=READ_SIZE)

    def _not_started(self, message: str, code: int) -> Result:
        self.relay.emit_block(message + "\n")
        return Result(code, None, None, False, time.monotonic() - self.start, self.relay.tail_list(),
                      None, lines=self.relay.count, error=message)

    def _limit_reached(self, now: float) -> bool:
        """Sets the reason and returns True when the step must be stopped."""
        if self.cancel is not None and self.cancel.is_set():
            self.cancelled = True
        elif self.step.timeout and now - self.start > self.step.timeout:
            self.timed_out = "overall"
        elif self.step.idle_timeout and now - self.last_output > self.step.idle_timeout:
            self.timed_out = "idle"
        elif now - self.last_output > min(self.ex.waiting_notice, self.ex.question_idle):
            self._check_question(now - self.last_output)
        return self.cancelled or bool(self.timed_out) or self.prompter.looping

    def _check_question(self, silent: float) -> None:
        """Silent on a question: announce it once, and stop the step after ``question_idle``."""
        line = questions.pending(self.splitter.pending, self.relay.tail)
        if line is None:
            return
        line = self.relay.redactor.line(line)
        if line != self.announced and self.on_waiting is not None:
            self.announced = line
            try:
                self.on_waiting(line)
            except Exception:  # a broken listener must not stop the step
                self.on_waiting = None
        if silent > self.ex.question_idle:
            self.timed_out, self.waiting = "input", line

    def _loop(self) -> bool:
        """Read until EOF (False) or until the step must be stopped (True).

        While output flows each pass is one ``read`` (see ``ptyspawn.PtyIO``); when the pty is quiet
        the read waits up to ``BATCH_WAIT`` (something is buffered: a prompt may be waiting for us) or
        ``TICK``, and a ``TIMEOUT`` is the moment to process what is buffered.
        """
        exited_at: float | None = None
        next_check = 0.0
        while True:
            now = time.monotonic()
            if self._limit_reached(now):
                return True
            try:
                self._take(self.io.read_nonblocking(READ_SIZE, BATCH_WAIT if self.buf else TICK))
            except pexpect.TIMEOUT:
                self._process()
                next_check = 0.0  # quiet: a good moment to see whether the child is still there
            except pexpect.EOF:
                self._process()
                return False
            if now >= next_check:
                next_check = now + EXIT_CHECK
                if exited_at is None and not self.child.alive():
                    exited_at = now
            if exited_at is not None and now - exited_at > EXIT_GRACE:
                self._process()
                return False  # the child is gone; whoever still holds the pty is not our concern

    def _take(self, data: bytes) -> None:
        """Buffer a chunk; process the buffer once it is big or old enough."""
        now = time.monotonic()
        if not self.buf:
            self.buf_since = now
        self.buf.append(data)
        self.buf_bytes += len(data)
        self.last_output = now
        if self.buf_bytes >= BATCH_BYTES or now - self.buf_since >= BATCH_SECONDS:
            self._process()

    def _process(self) -> None:
        if not self.buf:
            return
        data = b"".join(self.buf)
        self.buf.clear()
        self.buf_bytes = 0
        for answer in self.splitter.feed(data):
            self.child.send_line(answer)

    def _drain(self, deadline: float) -> None:
        """After a kill, the last read: keep what the dying processes still wrote, for the tail and
        the log (until EOF, 50 ms of quiet, or ``deadline``)."""
        while time.monotonic() < deadline:
            try:
                self._take(self.io.read_nonblocking(READ_SIZE, 0.05))
            except (pexpect.TIMEOUT, pexpect.EOF):
                break
        self._process()

    def _wait_exit(self) -> None:
        """The pty is closed but the child may still run (it closed its output): limits still apply."""
        while not self.child.wait(TICK):
            if self._limit_reached(time.monotonic()):
                self._kill()
                break
        self.child.close()

    def _result(self) -> Result:
        return Result(
            exit_code=self.child.exit_code,
            signal=self.child.signal,
            timed_out=self.timed_out,
            cancelled=self.cancelled,
            duration=time.monotonic() - self.start,
            tail=self.relay.tail_list(),
            pid=self.child.pid,
            answered_wrong=self.prompter.looping,
            lines=self.relay.count,
            waiting=self.waiting,
        )
