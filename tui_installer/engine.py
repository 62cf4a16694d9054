"""Runs a plan: idempotency checks, retries, the failure policy, decisions, events and the journal.

The engine walks the plan's dependency graph (``plan.graph``): one scheduler loop decides what starts,
each running step has a thread of its own (at most ``jobs`` at once; ``jobs=1`` is the plain serial
run), and one ticker thread flushes coalesced output and samples resources. The journal and the event
stream each serialise their writers (a lock each). It never raises across the UI boundary: everything a client
needs to know travels as an event (docs/DESIGN.md).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_installer import failures, journal, leftovers
from tui_installer import plan as planning
from tui_installer.errors import UserError
from tui_installer.executor import Executor, Result
from tui_installer.model import Plan, Step
from tui_installer.monitor import Monitor
from tui_installer.redact import Redactor
from tui_installer.statedir import STATE_DIR_ENV, StateDir, history
from tui_installer.unless import run_check

#: seconds between output flushes to the event stream / resource samples
OUTPUT_FLUSH, RESOURCE_EVERY = 0.2, 2.0


@dataclass(frozen=True)
class Policy:
    """What to do when a step has failed after its own retries: ``abort``, ``skip``, ``retry=N``
    (N more attempts, then abort), or ``ask`` (wait for a decision file written by a client)."""

    mode: str = "abort"
    retries: int = 0

    @classmethod
    def parse(cls, text: str) -> Policy:
        if text in ("abort", "skip", "ask"):
            return cls(text)
        if text.startswith("retry="):
            count = text.partition("=")[2]
            if count.isdigit():
                return cls("retry", int(count))
        raise UserError(f"unknown failure policy {text!r}", key="--on-failure",
                        hint="use abort, skip, ask or retry=N")


def new_run_id() -> str:
    """UTC time to the microsecond, then the pid: ids sort by start time and never collide."""
    now = time.time()
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}-{os.getpid()}"


class Engine:
    def __init__(self, plan: Plan, *, state_dir: Path, secrets: Mapping[str, str],
                 policy: Policy = Policy(), kind: str = "install", executor: Executor | None = None,
                 listener: Callable[[dict[str, Any]], None] | None = None, durable: bool = True,
                 resume: bool = True, jobs: int = 1, node: str | None = None) -> None:
        self.plan, self.state_dir, self.policy, self.kind = plan, state_dir, policy, kind
        #: ``kind="remove-node"``: the inventory host this run takes out (recorded in the journal)
        self.node = node
        self.secrets = dict(secrets)
        self.redactor = Redactor(self.secrets)
        self.executor = executor or Executor()
        self.remote: Any = None  # the Ansible executor of a plan with hosts (made when the run opens)
        self.run_id = new_run_id()
        self.state = StateDir.open(state_dir)
        self.files = self.state.run(self.run_id)
        self.run_dir = self.files.root
        self.cancel_event = threading.Event()
        self._listener, self._durable, self._resume = listener, durable, resume
        #: output not yet sent, per running step: (last lines, lines dropped since the last flush)
        self._pending: dict[str, tuple[list[str], int]] = {}
        #: steps running now, in the order they started
        self._running: list[str] = []
        #: (service, host) of every step that really ran in this run: their start steps run again
        self._changed: set[tuple[str, str | None]] = set()
        self.jobs = max(1, jobs)
        self._lock = threading.Lock()
        self._ticker_stop = threading.Event()
        self._disk_error: OSError | None = None

    # -- the run ---------------------------------------------------------------------------------

    def run(self) -> str:
        """Run the plan to the end; returns the final state: ok, failed or aborted."""
        try:
            return self._run_locked()
        except OSError as exc:
            raise _disk_user_error(exc, self.files.journal_file) from None

    def _run_locked(self) -> str:
        lock = self.state.engine_lock()
        lock.acquire()
        ticker: threading.Thread | None = None
        try:
            self._open_run()
            ticker = threading.Thread(target=self._tick, daemon=True, name="engine-ticker")
            ticker.start()
            state = self._run_phases()
            self._stop_ticker(ticker)
            if self._disk_error:
                raise self._disk_error
            self.journal.finish(state)
            self.events.emit("run_finished", state=state, duration=round(time.time() - self.journal.started, 3))
            return state
        finally:
            if ticker is not None:
                self._stop_ticker(ticker)
            if self.remote is not None:
                self.remote.close()
            if hasattr(self, "events"):
                self.events.close()
            lock.release()

    def cancel(self) -> None:
        self.cancel_event.set()

    def _open_run(self) -> None:
        self.state.clean_fragments()
        base = history.resume_base(self.state, self.plan.profile) if self._resume else None
        self.base = base
        leftovers.kill_unfinished(self.state)  # a dead engine's in-flight step must not run on
        self.files.create(self.plan)
        self.journal = journal.Journal.create(self.files.journal_file, self.run_id, self.plan, self.kind,
                                              base=base, node=self.node)
        self.journal.durable = self._durable
        self.state.mark_last_run(self.files)
        self.events = self.files.event_writer()
        if self._listener:
            self.events.listen(self._listener)
        phases = [{"name": p.name, "steps": [s.id for s in p.steps]} for p in self.plan.phases]
        self.events.emit("run_started", profile=self.plan.profile, kind=self.kind, pid=os.getpid(),
                         phases=phases, state_dir=str(self.state_dir), jobs=self.jobs,
                         after={s.id: list(s.after) for s in self.plan.steps() if s.after},
                         resumed_from=base.run if base else None, **({"node": self.node} if self.node else {}))

    def _run_phases(self) -> str:
        if any(step.host for step in self.plan.steps()):
            return self._run_hosts()
        return self._run_graph()

    def _run_hosts(self) -> str:
        """A plan with inventory hosts (hosts.py): phase by phase, each step as one Ansible run on all
        its hosts at once; retries and decisions are then each host's own, the hosts where it worked
        recorded before a failed host waits for a decision."""
        for phase in self.plan.phases:
            started = time.time()
            self.events.emit("phase_started", phase=phase.name)
            for batch in _batches(phase.steps):
                first = self._run_batch(batch) if len(batch) > 1 else {}
                for step in sorted(batch, key=lambda s: 0 if s.id in first and first[s.id].ok else 1):
                    outcome = self._run_host_step(step, first.get(step.id))
                    if outcome != "continue":
                        return outcome
            self.events.emit("phase_finished", phase=phase.name, duration=round(time.time() - started, 3))
        return "ok"

    def _run_batch(self, batch: list[Step]) -> dict[str, Result]:
        """The first attempt of one step on each of its hosts (``batch``: ``step@host`` ids), as one
        Ansible run in parallel; what follows (retries, decisions) is each host's own."""
        todo = [step for step in batch if not self.cancel_event.is_set() and not self._already_done(step)]
        if len(todo) < 2:
            return {}
        for step in todo:
            self._start_attempt(step)
        results: dict[str, Result] = self._remote().run_many(
            todo, secrets=self.secrets, log_paths={s.id: self.run_dir / self.journal.steps[s.id].log for s in todo},
            cancel=self.cancel_event, redactor=self.redactor)
        for step in todo:
            if results[step.id].tail:
                self.events.emit("output", step=step.id, lines=results[step.id].tail[-10:],
                                 dropped=max(0, results[step.id].lines - 10), host=step.host)
        return results

    def _remote(self) -> Any:
        if self.remote is None:
            from tui_installer.hosts import AnsibleExecutor

            self.remote = AnsibleExecutor(self.plan.inventory or "", self.files.ansible_dir)
        return self.remote

    def _run_host_step(self, step: Step, first: Result | None) -> str:
        """One step on one host after its batch: "continue", or the run's final state. ``first``: its
        first attempt, already made by ``_run_batch`` (None: make it here)."""
        if first is None:
            outcome, result = self._run_step(step, None, True)
        else:
            outcome, result = self._finish_attempt(step, first, 1 + step.retries + (
                self.policy.retries if self.policy.mode == "retry" else 0))
            if outcome == "retry":
                outcome, result = self._run_step(step, None, False)
        while outcome == "failed":
            assert result is not None
            choice = self._apply_policy(step, result)
            if choice == "retry":
                outcome, result = self._run_step(step, self.journal.steps[step.id].attempts + 1, False)
            elif choice == "skip":
                self._skip(step, "user")
                return "continue"
            else:
                return "failed"
        return "aborted" if outcome == "aborted" else "continue"

    def _run_graph(self) -> str:
        """Run the plan's graph: every step whose ``after`` steps have ended (ok or skipped) and whose
        ``locks`` are free starts, at most ``jobs`` at once, the one with the longest path to the end
        first (``plan.critical_first``, durations from earlier runs); with ``jobs=1`` the plan's order,
        the serial run of old.

        One thread per running step runs its checks, attempts and automatic retries; this thread
        alone decides what starts next and applies the failure policy. After a failure (or a cancel)
        nothing new starts: the steps already running finish, then the policy is applied (``ask``:
        the decision is asked only once nothing else runs, so the failure dialog is the only thing
        going on)."""
        steps = self.plan.steps()
        ids = {s.id for s in steps}
        waiting: list[Step] = list(steps) if self.jobs == 1 else planning.critical_first(
            steps, history.step_durations(self.state, exclude=self.run_id))
        running: dict[str, Step] = {}
        ended: set[str] = set()
        held: set[str] = set()
        failed: list[tuple[Step, Result]] = []
        stop: str | None = None
        error: BaseException | None = None
        left = {p.name: len(p.steps) for p in self.plan.phases}
        started_at: dict[str, float] = {}
        done: queue.Queue[tuple[Step, str, Any]] = queue.Queue()

        def launch(step: Step, budget: int | None, check: bool) -> None:
            if step.phase not in started_at:
                started_at[step.phase] = time.time()
                self.events.emit("phase_started", phase=step.phase)
            running[step.id] = step
            held.update(step.locks)
            thread = threading.Thread(target=self._step_thread, args=(step, budget, check, done),
                                      name=f"step {step.id}", daemon=True)
            thread.start()

        while True:
            if self.cancel_event.is_set() and stop is None:
                stop = "aborted"
            if stop is None and not failed:
                for step in list(waiting):
                    if len(running) >= self.jobs:
                        break
                    if (all(d in ended or d not in ids for d in step.after)
                            and not held.intersection(step.locks)):
                        waiting.remove(step)
                        launch(step, None, True)
            if not running:
                if error is not None:
                    raise error
                if failed and stop is None:
                    step, result = failed.pop(0)
                    choice = self._apply_policy(step, result)
                    if choice == "retry":
                        launch(step, self.journal.steps[step.id].attempts + 1, False)
                    elif choice == "skip":
                        self._skip(step, "user")
                        self._ended(step, ended, left, started_at)
                    else:
                        stop = "failed"
                    continue
                if stop is not None:
                    return stop
                if not waiting:
                    return "ok"
                raise RuntimeError("steps wait for steps that never run: "
                                   + ", ".join(s.id for s in waiting))  # plan.graph rules this out
            step, outcome, detail = done.get()
            del running[step.id]
            held.difference_update(step.locks)
            if outcome in ("ok", "skipped"):
                self._ended(step, ended, left, started_at)
            elif outcome == "failed":
                if self.policy.mode == "skip":  # nothing to wait for: as if it had been skipped at once
                    self._skip(step, "user")
                    self._ended(step, ended, left, started_at)
                else:
                    failed.append((step, detail))
                    if self.policy.mode != "ask":
                        stop = stop or "failed"
            elif outcome == "aborted":
                stop = "aborted"
            else:  # the step's thread raised (a full disk): stop everything, then raise it here
                error = error or detail
                self.cancel_event.set()
                stop = stop or "failed"

    def _ended(self, step: Step, ended: set[str], left: dict[str, int], started_at: dict[str, float]) -> None:
        ended.add(step.id)
        left[step.phase] -= 1
        if left[step.phase] == 0:
            self.events.emit("phase_finished", phase=step.phase,
                             duration=round(time.time() - started_at[step.phase], 3))

    # -- one step --------------------------------------------------------------------------------

    def _step_thread(self, step: Step, budget: int | None, check: bool,
                     done: queue.Queue[tuple[Step, str, Any]]) -> None:
        detail: Result | BaseException | None
        try:
            outcome, detail = self._run_step(step, budget, check)
        except BaseException as exc:  # handed to the scheduler, which stops the run and raises it
            outcome, detail = "error", exc
        done.put((step, outcome, detail))

    def _run_step(self, step: Step, budget: int | None, check: bool) -> tuple[str, Result | None]:
        """Checks, attempts and automatic retries of one step, in its own thread: returns ok,
        skipped, failed (recorded, the policy still to apply) or aborted (cancelled)."""
        if check:
            reason = self._already_done(step)
            if reason:
                self._skip(step, reason)
                return "skipped", None
        if budget is None:
            extra = self.policy.retries if self.policy.mode == "retry" else 0
            budget = 1 + step.retries + extra
        while True:
            if self.cancel_event.is_set() and not self.journal.steps[step.id].attempts:
                return "aborted", None
            outcome, done = self._finish_attempt(step, self._attempt(step), budget)
            if outcome != "retry":
                return outcome, done

    def _finish_attempt(self, step: Step, result: Result, budget: int) -> tuple[str, Result | None]:
        """Record one attempt's result: ok, skipped (a remote step's own check said done), aborted,
        retry (within ``budget``, announced) or failed (recorded, the policy still to apply)."""
        if result.ok and result.skipped:
            self._skip(step, result.skipped)
            return "skipped", None
        if result.ok:
            self._changed.add((step.service, step.host))
            self.journal.update(step.id, status=journal.OK, finished=time.time(), exit_code=0)
            self.events.emit("step_finished", step=step.id, status="ok",
                             duration=round(result.duration, 3), exit_code=0, **_host(step))
            return "ok", result
        record = self.journal.steps[step.id]
        if result.cancelled or self.cancel_event.is_set():
            self._fail(step, result, cancelled=True)
            return "aborted", result
        if record.attempts < budget:
            self._announce_retry(step, record.attempts, step.retry_delay)
            return "retry", result
        self._fail(step, result)
        return "failed", result

    def _already_done(self, step: Step) -> str | None:
        previous = self.base.steps.get(step.id) if self.base else None
        if previous and previous.done and previous.fingerprint == step.fingerprint:
            # a service whose earlier steps ran again (a setting changed its configuration) is started
            # again: its start step applies the change (servicemgr restarts what runs on older config)
            if not (step.phase == "start" and (step.service, step.host) in self._changed):
                return "done"
        if step.host:  # creates/unless are checked on the step's host, by the step itself (hosts.py)
            return None
        if step.creates and os.path.exists(step.creates):
            return "creates"
        if step.unless and run_check(step.unless, env=self._check_env(step), timeout=step.timeout or 60,
                                     cwd=step.cwd):
            return "unless"
        return None

    def _skip(self, step: Step, reason: str) -> None:
        now = time.time()
        self.journal.update(step.id, status=journal.SKIPPED, reason=reason, started=now, finished=now)
        self.events.emit("step_skipped", step=step.id, reason=reason, **_host(step))

    def _start_attempt(self, step: Step) -> None:
        record = self.journal.steps[step.id]
        attempt = record.attempts + 1
        self.journal.update(step.id, status=journal.RUNNING, attempts=attempt, started=time.time(),
                            finished=None, exit_code=None, signal=None, cause=None, reason=None, flush=False)
        self.events.emit("step_started", step=step.id, phase=step.phase, title=step.description or step.name,
                         command=step.display, attempt=attempt, **_host(step))

    def _attempt(self, step: Step) -> Result:
        record = self.journal.steps[step.id]
        self._start_attempt(step)
        with self._lock:
            self._pending[step.id] = ([], 0)
            self._running.append(step.id)
        executor = self._remote() if step.host else self.executor
        try:
            return executor.run(step, secrets=self.secrets, log_path=self.run_dir / record.log,
                                on_lines=lambda lines: self._on_lines(step.id, lines),
                                cancel=self.cancel_event, extra_env=self._step_env(step),
                                on_waiting=lambda line: self._on_waiting(step.id, line))
        finally:
            self._flush_output(step.id)
            with self._lock:
                self._pending.pop(step.id, None)
                self._running.remove(step.id)

    def _check_env(self, step: Step) -> dict[str, str]:
        """An ``unless`` check sees what its step would: the step's env, its secrets, the state dir."""
        secret_env = {var: self.secrets[name] for var, name in step.secret_env.items() if name in self.secrets}
        return {**self._step_env(), **step.env, **secret_env}

    def _step_env(self, step: Step | None = None) -> dict[str, str]:
        """Every process of a step carries the state and run directories and (``leftovers``) its id."""
        env = {STATE_DIR_ENV: str(self.state_dir), leftovers.RUN_VAR: str(self.run_dir)}
        if step is not None:
            env[leftovers.STEP_VAR] = step.id
        return env

    def _announce_retry(self, step: Step, attempt: int, delay: float) -> None:
        self.events.emit("step_retrying", step=step.id, attempt=attempt + 1, delay=delay)
        self.cancel_event.wait(delay)

    def _fail(self, step: Step, result: Result, cancelled: bool = False) -> None:
        record = self.journal.steps[step.id]
        cause = "cancelled by the operator" if cancelled else failures.name_cause(result.tail, result)
        message = _failure_message(step, result, cause)
        self.journal.update(step.id, status=journal.FAILED, finished=time.time(), exit_code=result.exit_code,
                            signal=result.signal, cause=cause)
        self.events.emit("step_failed", step=step.id, attempt=record.attempts, exit_code=result.exit_code,
                         signal=result.signal, timed_out=result.timed_out, cause=cause,
                         message=self.redactor.line(message), log=str(self.run_dir / record.log),
                         tail=result.tail[-20:], **_host(step))

    def _apply_policy(self, step: Step, result: Result) -> str:
        """The policy for a recorded failure (nothing else runs now): returns retry, skip or abort."""
        if self.policy.mode == "skip":
            return "skip"
        if self.policy.mode != "ask":
            return "abort"
        attempt = self.journal.steps[step.id].attempts
        self.events.emit("decision_needed", step=step.id, attempt=attempt, choices=["retry", "skip", "abort"],
                         **_host(step))
        choice, by = self._wait_decision(step.id, attempt)
        self.events.emit("decision", step=step.id, attempt=attempt, choice=choice, by=by)
        return choice

    def _wait_decision(self, step_id: str, attempt: int) -> tuple[str, str]:
        while not self.cancel_event.wait(0.1):
            answer = self.files.poll_decision(step_id, attempt)  # None: not written yet, or being written
            if answer is not None:
                return answer.choice, answer.by
        return "abort", "cancel"

    # -- output and resources --------------------------------------------------------------------

    def _on_lines(self, step: str, lines: list[str]) -> None:
        """Keep a step's last 10 lines for the next flush (≤ 5 output events a second per step,
        whatever it prints): the full output is in the step's log."""
        with self._lock:
            pending, dropped = self._pending.get(step, ([], 0))
            pending.extend(lines)
            if len(pending) > 10:
                dropped += len(pending) - 10
                del pending[:-10]
            self._pending[step] = (pending, dropped)

    def _on_waiting(self, step: str, line: str) -> None:
        """The step has been silent on a question (the executor's heuristic): say so to clients."""
        self._flush_output(step)
        self.events.emit("step_waiting", step=step, line=line)

    def _flush_output(self, only: str | None = None) -> None:
        """Send each running step's pending lines as one ``output`` event of that step."""
        with self._lock:
            names = [only] if only is not None else list(self._pending)
            batches = []
            for step in names:
                lines, dropped = self._pending.get(step, ([], 0))
                if lines:
                    batches.append((step, lines, dropped))
                    self._pending[step] = ([], 0)
        for step, lines, dropped in batches:
            self.events.emit("output", step=step, lines=lines, dropped=dropped)

    def _tick(self) -> None:
        try:
            self._tick_loop()
        except OSError as exc:  # a full disk: stop the step, what it does cannot be recorded
            self._disk_error = exc
            self.cancel_event.set()

    def _tick_loop(self) -> None:
        monitor, last_sample = Monitor(), 0.0
        while not self._ticker_stop.wait(OUTPUT_FLUSH):
            self._flush_output()
            self.journal.flush()
            if time.monotonic() - last_sample >= RESOURCE_EVERY:
                last_sample = time.monotonic()
                with self._lock:
                    running = list(self._running)
                self.events.emit("resources", step=running[0] if running else None, steps=running,
                                 **monitor.sample(os.getpid()))

    def _stop_ticker(self, ticker: threading.Thread) -> None:
        self._ticker_stop.set()
        ticker.join()


def _batches(steps: tuple[Step, ...]) -> list[list[Step]]:
    """Consecutive steps that are one step on several hosts (``id@host``, hosts.py) form a batch; every
    other step is a batch of its own."""
    batches: list[list[Step]] = []
    for step in steps:
        last = batches[-1][-1] if batches else None
        if last is not None and step.host and last.host and \
                step.id.rpartition("@")[0] == last.id.rpartition("@")[0]:
            batches[-1].append(step)
        else:
            batches.append([step])
    return batches


def _host(step: Step) -> dict[str, str]:
    """Events of a step that runs on an inventory host name it (``host``)."""
    return {"host": step.host} if step.host else {}


def _disk_user_error(exc: OSError, journal_file: Path) -> OSError | UserError:
    """A full, read-only or over-quota state directory ends the run with one line; other errors
    stay what they are."""
    if isinstance(exc, journal.StateDiskError):
        return UserError(exc.line)
    if exc.errno in journal.DISK_ERRNOS:
        return UserError(journal.disk_error_line(journal_file, exc))
    return exc


def _failure_message(step: Step, result: Result, cause: str | None) -> str:
    if result.timed_out == "input":
        how = f"was stopped, waiting for input: `{result.waiting}`"
    elif result.timed_out:
        how = f"timed out ({result.timed_out})"
    elif result.signal:
        how = f"was killed by signal {result.signal}"
    else:
        how = f"exited with code {result.exit_code}"
    return f"step {step.id} {how}" + (f": {cause}" if cause else "")
