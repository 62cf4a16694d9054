"""The state of a run, folded from its event stream; no Textual here so it is testable on its own.

Every client (a fresh TUI, one re-attaching after a dropped SSH session, a second console) replays the
same ``events.jsonl`` from the start through :meth:`RunState.apply` and ends in the same state.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_installer.statedir import DONE_REASONS, StateDir, finished_verdict, history

HISTORY = 60  # resource samples kept for the sparklines
DONE = ("ok", "skipped")


@dataclass
class StepState:
    id: str
    phase: str
    title: str = ""
    command: str = ""
    status: str = "pending"
    attempt: int = 0
    reason: str | None = None
    started: float | None = None
    duration: float | None = None
    #: the inventory host it runs on (the events' ``host``; None: this machine)
    host: str | None = None


@dataclass
class PhaseState:
    name: str
    steps: list[str] = field(default_factory=list)
    status: str = "pending"
    started: float | None = None
    duration: float | None = None


@dataclass
class Failure:
    step: str
    attempt: int
    event: dict[str, Any]
    needs_decision: bool = False
    choices: tuple[str, ...] = ()


@dataclass
class Resources:
    cpu: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    mem: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    disk: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    net: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    last: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunState:
    """What the Progress screen shows, rebuilt from events alone."""

    run: str = ""
    profile: str = ""
    pid: int | None = None
    state: str = "starting"  # starting | running | ok | failed | aborted
    started: float | None = None
    finished: float | None = None
    duration: float | None = None
    phases: dict[str, PhaseState] = field(default_factory=dict)
    steps: dict[str, StepState] = field(default_factory=dict)
    #: the step the live log shows: the newest running one (several run at once with --jobs)
    current: str | None = None
    #: every step running now, in the order they started
    running: list[str] = field(default_factory=list)
    #: the last output line of each step (the "also running" lines)
    recent: dict[str, str] = field(default_factory=dict)
    #: set when the live log moves to a step that was already running: its output so far is in its log
    switched: str | None = None
    #: the graph (step -> steps it waits for) and how many run at once, from ``run_started``
    after: dict[str, list[str]] = field(default_factory=dict)
    jobs: int = 1
    #: the run's kind (install, uninstall, remove-node) and, for remove-node, the host it takes out
    kind: str = "install"
    node: str = ""
    last_output: float | None = None
    failure: Failure | None = None
    decisions: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)

    def apply(self, event: dict[str, Any]) -> list[str]:
        """Fold one event in. Returns the new output lines it carried (for the live log), if any."""
        handler = getattr(self, "_on_" + str(event.get("type")), None)
        if handler is None:
            return []
        result = handler(event)
        return result if isinstance(result, list) else []

    # --- handlers, one per event type of docs/DESIGN.md -----------------------------------------
    def _on_run_started(self, e: dict[str, Any]) -> None:
        self.run, self.profile, self.pid = e.get("run", ""), e.get("profile", ""), e.get("pid")
        self.state, self.started = "running", e.get("ts")
        self.after, self.jobs = dict(e.get("after") or {}), max(1, int(e.get("jobs") or 1))
        self.kind, self.node = str(e.get("kind") or "install"), str(e.get("node") or "")
        for phase in e.get("phases", []):
            ps = self.phases.setdefault(phase["name"], PhaseState(phase["name"]))
            for sid in phase.get("steps", []):
                ps.steps.append(sid)
                self.steps.setdefault(sid, StepState(sid, phase["name"], title=step_title(sid), host=host_of(sid)))

    def _on_phase_started(self, e: dict[str, Any]) -> None:
        ps = self.phases.setdefault(e["phase"], PhaseState(e["phase"]))
        ps.status, ps.started = "running", e.get("ts")

    def _on_phase_finished(self, e: dict[str, Any]) -> None:
        ps = self.phases.setdefault(e["phase"], PhaseState(e["phase"]))
        ps.duration = e.get("duration")
        failed = any(self.steps[s].status == "failed" for s in ps.steps if s in self.steps)
        ps.status = e.get("status") or ("failed" if failed else "ok")

    def _on_step_started(self, e: dict[str, Any]) -> None:
        st = self._step(e)
        st.title, st.command = e.get("title") or st.title, e.get("command", "")
        st.status, st.attempt = "running", int(e.get("attempt", 1))
        st.started, st.duration = e.get("ts"), None
        self.current, self.last_output, self.switched = st.id, e.get("ts"), None
        if st.id not in self.running:
            self.running.append(st.id)
        if self.failure and self.failure.step == st.id:
            self.failure = None

    def _ended(self, step: str) -> None:
        """A step stopped running; the live log moves to the newest step still running, if any."""
        if step in self.running:
            self.running.remove(step)
        self.recent.pop(step, None)
        if step == self.current and self.running:
            self.current = self.switched = self.running[-1]

    def _on_output(self, e: dict[str, Any]) -> list[str]:
        self.last_output = e.get("ts")
        lines = [str(x) for x in e.get("lines", [])]
        step = e.get("step")
        if lines and step is not None:
            self.recent[str(step)] = lines[-1]
        if step is not None and self.current is not None and step != self.current:
            return []  # another running step's output: its "also running" line, and its log
        if e.get("dropped"):  # the engine keeps the newest lines: the skipped ones came before them
            lines.insert(0, f"[... {e['dropped']} earlier lines not shown; see the step's log]")
        return lines

    def _on_step_finished(self, e: dict[str, Any]) -> None:
        st = self._step(e)
        st.status, st.duration = e.get("status", "ok"), e.get("duration")
        self._ended(st.id)

    def _on_step_skipped(self, e: dict[str, Any]) -> None:
        st = self._step(e)
        st.status, st.reason = "skipped", e.get("reason")
        self._ended(st.id)
        if self.failure and self.failure.step == st.id:
            self.failure = None

    def _on_step_retrying(self, e: dict[str, Any]) -> None:
        self._step(e).status = "retrying"

    def _on_step_failed(self, e: dict[str, Any]) -> None:
        st = self._step(e)
        st.status, st.attempt = "failed", int(e.get("attempt", st.attempt or 1))
        if st.started and e.get("ts"):
            st.duration = float(e["ts"]) - float(st.started)
        self._ended(st.id)
        self.failure = Failure(st.id, st.attempt, e)

    def _on_decision_needed(self, e: dict[str, Any]) -> None:
        attempt = int(e.get("attempt", 1))
        if self.failure is None or self.failure.step != e["step"]:
            self.failure = Failure(e["step"], attempt, {"step": e["step"]})
        self.failure.attempt, self.failure.needs_decision = attempt, True
        self.failure.choices = tuple(e.get("choices", ("retry", "skip", "abort")))

    def _on_decision(self, e: dict[str, Any]) -> None:
        self.decisions[(e["step"], int(e.get("attempt", 1)))] = {"choice": e.get("choice"), "by": e.get("by")}
        if self.failure and self.failure.step == e["step"]:
            self.failure.needs_decision = False

    def _on_resources(self, e: dict[str, Any]) -> None:
        r = self.resources
        r.last = e
        r.cpu.append(float(e.get("cpu", 0.0)))
        total = float(e.get("mem_total") or 1)
        r.mem.append(100.0 * float(e.get("mem_used", 0)) / total)
        r.disk.append(float(e.get("disk_read_bps", 0)) + float(e.get("disk_write_bps", 0)))
        r.net.append(float(e.get("net_rx_bps", 0)) + float(e.get("net_tx_bps", 0)))

    def _on_run_finished(self, e: dict[str, Any]) -> None:
        self.state, self.finished, self.duration = e.get("state", "ok"), e.get("ts"), e.get("duration")
        self.current, self.running = None, []
        for ps in self.phases.values():
            if ps.status == "running":
                ps.status = "failed" if self.state != "ok" else "ok"

    def _step(self, e: dict[str, Any]) -> StepState:
        sid = str(e["step"])
        phase = str(e.get("phase") or (sid.split(".")[1] if sid.count(".") >= 2 else ""))
        if sid not in self.steps:
            self.steps[sid] = StepState(sid, phase, title=step_title(sid), host=host_of(sid))
            self.phases.setdefault(phase, PhaseState(phase)).steps.append(sid)
        st = self.steps[sid]
        if e.get("host"):
            st.host = str(e["host"])
        return st

    # --- derived views ---------------------------------------------------------------------------
    @property
    def finished_ok(self) -> bool:
        return self.state == "ok"

    @property
    def over(self) -> bool:
        return self.state in ("ok", "failed", "aborted")

    @property
    def skipped_undone(self) -> list[str]:
        """Steps skipped without doing their work (after a failure): never counted as success."""
        return [s.id for s in self.steps.values() if s.status == "skipped" and s.reason not in DONE_REASONS]

    @property
    def verdict(self) -> str:
        """How the run reads: "finished", "finished with N skipped step(s): names", "FAILED", "running"..."""
        if self.state == "ok":
            text = finished_verdict(self.skipped_undone)
            return "finished" if text == "ok" else text
        return {"failed": "FAILED", "aborted": "was aborted", "starting": "starting"}.get(self.state, "running")

    def step_to_show(self) -> str | None:
        """The step a run seen only when over opens on: the last that failed, else the last that ran."""
        ran = [st.id for st in self.steps.values() if st.status != "pending"]
        failed = [sid for sid in ran if self.steps[sid].status == "failed"]
        return (failed or ran)[-1] if ran else None

    @property
    def hosts(self) -> list[str]:
        """The inventory hosts the run's steps are on, in the order they first appear (none: one host)."""
        return list(dict.fromkeys(st.host for st in self.steps.values() if st.host))

    def host_counts(self) -> dict[str, dict[str, int]]:
        """Per host: steps done (ok or skipped), failed, running, and all of its steps."""
        found = {host: {"done": 0, "failed": 0, "running": 0, "total": 0} for host in self.hosts}
        for st in self.steps.values():
            if st.host is None:
                continue
            counts = found[st.host]
            counts["total"] += 1
            if st.status in DONE:
                counts["done"] += 1
            elif st.status == "failed":
                counts["failed"] += 1
            elif st.status in ("running", "retrying"):
                counts["running"] += 1
        return found

    def counts(self) -> tuple[int, int]:
        """(steps done or skipped, all steps)."""
        done = sum(1 for s in self.steps.values() if s.status in DONE)
        return done, len(self.steps)

    def silent_for(self, now: float | None = None) -> float:
        """Seconds since the running step last printed (0 when nothing runs)."""
        if self.current is None or self.last_output is None or self.over:
            return 0.0
        return max(0.0, (now or time.time()) - self.last_output)

    def remaining(self, history: dict[str, float], now: float | None = None) -> float | None:
        """Seconds left, from earlier runs' durations of this run's steps; None while fewer than half of
        them ever ran (another profile's steps, or a run that stopped early, say little about this one)."""
        known = [history[sid] for sid in self.steps if sid in history]
        if not known or 2 * len(known) < len(self.steps):
            return None
        typical = statistics.median(known)
        left, total = {}, 0.0
        for st in self.steps.values():
            if st.status in DONE:
                continue
            expected = history.get(st.id, typical)
            if st.status == "running" and st.started:
                expected = max(0.0, expected - ((now or time.time()) - st.started))
            left[st.id] = expected
            total += expected
        if self.jobs <= 1 or not self.after:
            return total
        # steps at once: the longest chain of what is left, or the work spread over the jobs if longer
        path: dict[str, float] = {}
        for sid in self.steps:  # the run's order puts every step after what it waits for
            if sid in left:
                path[sid] = left[sid] + max((path.get(d, 0.0) for d in self.after.get(sid, ())), default=0.0)
        return max(max(path.values(), default=0.0), total / self.jobs)


def host_of(step_id: str) -> str | None:
    """The host of a per-host step id ``service.phase.name@host`` (None: this machine's step)."""
    return step_id.rpartition("@")[2] or None if "@" in step_id else None


def step_title(step_id: str) -> str:
    """The step's own name, without its service, phase and host."""
    return step_id.partition("@")[0].split(".")[-1]


def step_history(state_dir: Path, exclude: str | None = None, runs: int = 5) -> dict[str, float]:
    """Durations of steps that ran (not skipped) in the newest earlier runs' journals."""
    return history.step_durations(StateDir(state_dir), exclude, runs)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def fmt_rate(bps: float) -> str:
    return f"{fmt_bytes(bps)}/s"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "K", "M", "G"):
        if n < 1024:
            return f"{n:.0f}{unit}"
        n /= 1024
    return f"{n:.1f}T"


def run_title(s: RunState) -> str:
    """What the run does, for titles: "Install of PROFILE", "Uninstall of PROFILE", "Removal of HOST"."""
    if s.kind == "remove-node":
        return f"Removal of host {s.node or '?'}"
    return f"{'Uninstall' if s.kind == 'uninstall' else 'Install'} of {s.profile}"
