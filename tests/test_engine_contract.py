"""What the engine tells its clients, field by field, with the real executor running real commands
(tools/mutation.py found these unchecked): the event stream of a run with every outcome (ok, skipped,
retried, failed by exit code or by signal, cancelled, asked), what the journal records, the failure policy
and how a full disk or a cancelled run ends."""

from __future__ import annotations

import errno
import os
import shlex
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from tui_installer import engine, journal
from tui_installer.errors import UserError
from tui_installer.executor import Executor
from tui_installer.model import Phase, Plan, Step


def step(name: str, command: str, phase: str = "install", **kw: Any) -> Step:
    return Step(id=f"svc.{phase}.{name}", service="svc", phase=phase, name=name, argv=("sh", "-c", command),
                fingerprint=f"fp-{name}", **kw)


def plan_of(*phases: tuple[str, tuple[Step, ...]]) -> Plan:
    return Plan(profile="t", profile_source="test", services=("svc",), added={}, settings={}, secrets=(),
                phases=tuple(Phase(name, steps) for name, steps in phases))


def run(plan: Plan, state: Path, policy: str = "abort", **kw: Any) -> tuple[str, engine.Engine, list[dict]]:
    seen: list[dict[str, Any]] = []
    eng = engine.Engine(plan, state_dir=state, secrets={}, policy=engine.Policy.parse(policy),
                        listener=seen.append, **kw)
    return eng.run(), eng, seen


def of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def strip(event: dict[str, Any], *drop: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("ts", "run", "type", *drop)}


def test_the_event_stream_and_journal_of_a_run_with_every_outcome(tmp_path: Path) -> None:
    there = tmp_path / "there"
    there.touch()
    marker = tmp_path / "tried-once"
    flaky = f"if [ -e {marker} ]; then exit 0; fi; touch {marker}; exit 3"
    plan = plan_of(("install", (step("a", "true", description="first step"),
                                step("b", "true", creates=str(there)),
                                step("c", flaky, retries=1, retry_delay=0.01),
                                step("slow", "sleep 0.6"))),
                   ("config", (step("d", "true", phase="config"),)))
    state, eng, seen = run(plan, tmp_path / "state")
    assert state == "ok"
    started = of(seen, "run_started")[0]
    assert strip(started) == {"profile": "t", "kind": "install", "pid": os.getpid(),
                              "state_dir": str(tmp_path / "state"), "resumed_from": None,
                              "jobs": 1, "after": {},  # serial here; steps built by hand carry no graph
                              "phases": [{"name": "install", "steps": ["svc.install.a", "svc.install.b",
                                                                       "svc.install.c", "svc.install.slow"]},
                                         {"name": "config", "steps": ["svc.config.d"]}]}
    assert [e["phase"] for e in of(seen, "phase_started")] == ["install", "config"]
    finished = of(seen, "phase_finished")
    assert [e["phase"] for e in finished] == ["install", "config"]
    assert isinstance(finished[0]["duration"], float) and finished[0]["duration"] >= 0.6
    assert [strip(e) for e in of(seen, "step_skipped")] == [{"step": "svc.install.b", "reason": "creates"}]
    first = of(seen, "step_started")[0]
    assert strip(first) == {"step": "svc.install.a", "phase": "install", "title": "first step",
                            "command": "sh -c true", "attempt": 1}
    assert [(e["step"], e["attempt"], e["title"]) for e in of(seen, "step_started")][1:3] == \
        [("svc.install.c", 1, "c"), ("svc.install.c", 2, "c")]
    assert [strip(e) for e in of(seen, "step_retrying")] == [{"step": "svc.install.c", "attempt": 2, "delay": 0.01}]
    assert not of(seen, "step_failed")
    oks = of(seen, "step_finished")
    assert [(e["step"], e["status"], e["exit_code"]) for e in oks] == \
        [(s, "ok", 0) for s in ("svc.install.a", "svc.install.c", "svc.install.slow", "svc.config.d")]
    # the ticker samples resources while a step runs, naming it
    assert "svc.install.slow" in [e["step"] for e in of(seen, "resources")]
    assert strip(of(seen, "run_finished")[0], "duration") == {"state": "ok"}
    record = journal.load(eng.files.journal_file)
    assert (record.kind, record.state) == ("install", "ok")
    for sid in ("svc.install.a", "svc.install.c", "svc.config.d"):
        r = record.steps[sid]
        assert r.status == "ok" and r.exit_code == 0 and r.finished is not None and r.started is not None
        assert r.finished >= r.started
    assert record.steps["svc.install.c"].attempts == 2
    assert eng.journal.durable is True


def test_the_journal_of_a_retry_reads_running_not_finished(tmp_path: Path) -> None:
    """While the attempt an operator asked for runs, the journal (flushed by the ticker) says running, with no
    finish time or exit code left over from the failed attempt: the step itself reads it."""
    marker, snapshot = tmp_path / "tried-once", tmp_path / "snapshot.json"
    flaky = (f"if [ -e {marker} ]; then sleep 0.8; cp \"$TUI_INSTALLER_RUN_DIR/journal.json\" {snapshot}; exit 0; fi;"
             f" touch {marker}; exit 3")

    def listener(event: dict[str, Any]) -> None:
        if event["type"] == "decision_needed":
            eng.files.decide(event["step"], event["attempt"], "retry", "test")

    eng = engine.Engine(plan_of(("install", (step("c", flaky),))), state_dir=tmp_path / "state", secrets={},
                        policy=engine.Policy.parse("ask"), listener=listener)
    assert eng.run() == "ok"
    during = journal.load(snapshot).steps["svc.install.c"]
    assert (during.status, during.attempts, during.finished, during.exit_code) == ("running", 2, None, None)


def test_a_step_killed_by_a_signal_fails_the_run_with_every_detail(tmp_path: Path) -> None:
    plan = plan_of(("install", (step("k", "kill -TERM $$"), step("never", "true"))))
    state, eng, seen = run(plan, tmp_path / "state")
    assert state == "failed"
    failed = of(seen, "step_failed")
    assert len(failed) == 1
    f = failed[0]
    assert (f["step"], f["attempt"], f["signal"], f["timed_out"]) == ("svc.install.k", 1, signal.SIGTERM, None)
    assert f["message"].startswith(f"step svc.install.k was killed by signal {signal.SIGTERM}")
    assert f["log"] == str(eng.run_dir / "logs" / "svc.install.k.log")
    assert [e["step"] for e in of(seen, "step_started")] == ["svc.install.k"]
    r = journal.load(eng.files.journal_file).steps["svc.install.k"]
    assert (r.status, r.signal) == ("failed", signal.SIGTERM)
    assert strip(of(seen, "run_finished")[0], "duration") == {"state": "failed"}


def test_a_failure_without_a_known_cause_says_only_how_it_ended(tmp_path: Path) -> None:
    state, _, seen = run(plan_of(("install", (step("x", "exit 3"),))), tmp_path / "state")
    assert state == "failed"
    f = of(seen, "step_failed")[0]
    assert f["cause"] is None and f["message"] == "step svc.install.x exited with code 3"
    assert f["exit_code"] == 3 and f["signal"] is None


def test_a_cancelled_run_is_aborted_and_stops_the_running_step(tmp_path: Path) -> None:
    eng = engine.Engine(plan_of(("install", (step("a", "true"),))), state_dir=tmp_path / "s1", secrets={})
    eng.cancel()
    assert eng.run() == "aborted"
    assert journal.load(eng.files.journal_file).steps["svc.install.a"].status == "pending"

    seen: list[dict[str, Any]] = []

    def listener(event: dict[str, Any]) -> None:
        seen.append(event)
        if event["type"] == "step_started":
            threading.Timer(0.3, eng2.cancel).start()

    eng2 = engine.Engine(plan_of(("install", (step("long", "sleep 300"), step("after", "true")))),
                         state_dir=tmp_path / "s2", secrets={}, listener=listener)
    outcome: list[str] = []
    runner = threading.Thread(target=lambda: outcome.append(eng2.run()))
    runner.start()
    runner.join(120)  # generous: only means "the cancel did not stop the step" (it sleeps 300 s)
    assert not runner.is_alive(), "cancel did not stop the running step"
    assert outcome == ["aborted"]
    f = of(seen, "step_failed")[0]
    assert (f["step"], f["cause"]) == ("svc.install.long", "cancelled by the operator")
    assert [e["step"] for e in of(seen, "step_started")] == ["svc.install.long"]


def test_ask_policy_announces_the_choices_and_a_cancel_answers_abort(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    def listener(event: dict[str, Any]) -> None:
        seen.append(event)
        if event["type"] == "decision_needed":
            threading.Timer(0.2, eng.cancel).start()

    eng = engine.Engine(plan_of(("install", (step("x", "exit 4"),))), state_dir=tmp_path / "state", secrets={},
                        policy=engine.Policy.parse("ask"), listener=listener)
    assert eng.run() == "failed"
    assert [strip(e) for e in of(seen, "decision_needed")] == \
        [{"step": "svc.install.x", "attempt": 1, "choices": ["retry", "skip", "abort"]}]
    assert [strip(e) for e in of(seen, "decision")] == \
        [{"step": "svc.install.x", "attempt": 1, "choice": "abort", "by": "cancel"}]


@pytest.mark.parametrize("count", [11, 25])
def test_output_events_keep_at_most_the_last_ten_lines_and_count_the_rest(tmp_path: Path, count: int) -> None:
    printer = f"i=1; while [ $i -le {count} ]; do echo line-$i; i=$((i+1)); done"
    _, _, seen = run(plan_of(("install", (step("p", printer),))), tmp_path / "state")
    out = of(seen, "output")
    assert out and all(len(e["lines"]) <= 10 for e in out)
    assert sum(len(e["lines"]) + e["dropped"] for e in out) == count
    assert out[-1]["lines"][-1] == f"line-{count}" and all(e["step"] == "svc.install.p" for e in out)


def test_an_uninstall_run_is_recorded_as_one(tmp_path: Path) -> None:
    _, eng, seen = run(plan_of(("uninstall", (step("u", "true", phase="uninstall"),))), tmp_path / "state",
                       kind="uninstall", resume=False)
    assert of(seen, "run_started")[0]["kind"] == "uninstall"
    assert journal.load(eng.files.journal_file).kind == "uninstall"


def test_policy_parse_accepts_exactly_the_documented_forms() -> None:
    assert engine.Policy.parse("ask") == engine.Policy("ask")
    assert engine.Policy.parse("skip") == engine.Policy("skip")
    assert engine.Policy.parse("retry=0") == engine.Policy("retry", 0)
    for bad in ("retry=1=2", "retry=", "retry=-1", "ASK"):
        with pytest.raises(UserError):
            engine.Policy.parse(bad)


def test_a_full_or_read_only_state_directory_ends_with_the_operators_line(tmp_path: Path) -> None:
    jfile = tmp_path / "state" / "runs" / "r1" / "journal.json"
    jfile.parent.mkdir(parents=True)
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    err = engine._disk_user_error(journal.StateDiskError(jfile, full), jfile)
    assert isinstance(err, UserError) and str(err) == journal.disk_error_line(jfile, full)
    ro = OSError(errno.EROFS, os.strerror(errno.EROFS))
    err = engine._disk_user_error(ro, jfile)
    assert isinstance(err, UserError) and str(err) == journal.disk_error_line(jfile, ro)
    other = OSError(errno.EACCES, "denied")
    assert engine._disk_user_error(other, jfile) is other


def test_run_ids_sort_by_time_and_carry_the_pid() -> None:
    first, second = engine.new_run_id(), engine.new_run_id()
    assert first <= second and first.endswith(f"-{os.getpid()}")
    stamp = first.rsplit("-", 1)[0]
    assert len(stamp) == len("20260101-000000.000000") and stamp[15] == "."
    assert shlex.quote(first) == first


def test_a_step_whose_thread_fails_to_write_the_state_ends_the_run_with_the_disk_line(tmp_path: Path) -> None:
    """Steps run in threads (``--jobs``): the state directory filling up under one of them (here: its
    log refused with ENOSPC, as a full disk does; tests/test_fulldisk.py fills a real one) is raised by
    the run as the operator's one line, not turned into an ordinary failed step, and the journal stays
    whole JSON."""
    state_dir = tmp_path / "state"

    class FullDisk(Executor):
        def run(self, step: Step, **kw: Any) -> Any:
            if step.name == "b":
                raise journal.StateDiskError(kw["log_path"], OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
            return super().run(step, **kw)

    plan = plan_of(("install", (step("a", "true"), step("b", "true"))))
    eng = engine.Engine(plan, state_dir=state_dir, secrets={}, executor=FullDisk(), jobs=2)
    with pytest.raises(UserError) as raised:
        eng.run()
    assert "No space left on device" in str(raised.value) and str(state_dir) in str(raised.value)
    assert "\n" not in str(raised.value)
    record = journal.load(eng.files.journal_file)
    assert record.steps["svc.install.b"].status != "ok"
