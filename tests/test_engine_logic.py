"""Engine logic with a scripted fake executor: resume, fingerprints, failure policies, decisions, lock.

The real executor is exercised in test_executor.py and, through the CLI, in test_cli_install.py.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tui_installer import engine, events, journal
from tui_installer.errors import UserError
from tui_installer.executor import Result
from tui_installer.model import Phase, Plan, Step
from tui_installer.statedir import Decision, StateDir


class ScriptedExecutor:
    """Returns scripted results per step id (default: success) and records what it was asked to run."""

    def __init__(self, script: dict[str, list[int]] | None = None, hold: threading.Event | None = None):
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.calls: list[str] = []
        self.hold = hold

    def run(self, step, *, secrets, log_path, on_lines=None, cancel=None, extra_env=None, on_waiting=None):
        self.calls.append(step.id)
        Path(log_path).write_text("fake\n")
        if on_lines:
            on_lines([f"running {step.id}"])
        if self.hold is not None:
            self.hold.wait(5)
        codes = self.script.get(step.id)
        code = codes.pop(0) if codes else 0
        return Result(exit_code=code, signal=None, timed_out=None, cancelled=False, duration=0.01,
                      tail=[f"{step.id} said {code}"], pid=None)


def make_plan(names=("a", "b", "c"), fingerprints=None, profile="t") -> Plan:
    fingerprints = fingerprints or {}
    steps = tuple(
        Step(id=f"svc.install.{n}", service="svc", phase="install", name=n, argv=("true",),
             fingerprint=fingerprints.get(n, f"fp-{n}"))
        for n in names
    )
    return Plan(profile=profile, profile_source="test", services=("svc",), added={}, settings={},
                secrets=(), phases=(Phase("install", steps),))


def run(plan, state, executor, policy="abort", **kw) -> tuple[str, engine.Engine]:
    eng = engine.Engine(plan, state_dir=state, secrets={}, policy=engine.Policy.parse(policy),
                        executor=executor, durable=False, **kw)
    return eng.run(), eng


def statuses(eng: engine.Engine) -> dict[str, tuple[str, str | None]]:
    record = journal.load(eng.run_dir / "journal.json")
    return {k: (v.status, v.reason) for k, v in record.steps.items()}


def test_all_ok_then_rerun_skips_everything(tmp_path):
    state, ex = run(make_plan(), tmp_path, ScriptedExecutor())
    assert state == "ok"
    state, eng = run(make_plan(), tmp_path, ex2 := ScriptedExecutor())
    assert state == "ok" and ex2.calls == []
    assert set(statuses(eng).values()) == {("skipped", "done")}


def test_failure_aborts_and_rerun_resumes_at_failed_step(tmp_path):
    state, eng = run(make_plan(), tmp_path, ScriptedExecutor({"svc.install.b": [1]}))
    assert state == "failed"
    st = statuses(eng)
    assert st["svc.install.a"] == ("ok", None)
    assert st["svc.install.b"][0] == "failed"
    assert st["svc.install.c"] == ("pending", None)
    state, eng = run(make_plan(), tmp_path, ex := ScriptedExecutor())
    assert state == "ok"
    assert ex.calls == ["svc.install.b", "svc.install.c"]


def test_changed_fingerprint_runs_again(tmp_path):
    run(make_plan(), tmp_path, ScriptedExecutor())
    state, eng = run(make_plan(fingerprints={"b": "changed"}), tmp_path, ex := ScriptedExecutor())
    assert ex.calls == ["svc.install.b"]


def test_skip_policy_is_not_done_for_the_next_run(tmp_path):
    state, eng = run(make_plan(), tmp_path, ScriptedExecutor({"svc.install.a": [1]}), policy="skip")
    assert state == "ok"
    assert statuses(eng)["svc.install.a"] == ("skipped", "user")
    state, eng = run(make_plan(), tmp_path, ex := ScriptedExecutor())
    assert ex.calls == ["svc.install.a"]


def test_retry_policy_gives_more_attempts(tmp_path):
    state, eng = run(make_plan(("a",)), tmp_path, ScriptedExecutor({"svc.install.a": [1, 1, 0]}), policy="retry=2")
    assert state == "ok"
    assert journal.load(eng.run_dir / "journal.json").steps["svc.install.a"].attempts == 3
    kinds = [e["type"] for e in events.read_all(eng.run_dir / "events.jsonl")]
    assert kinds.count("step_retrying") == 2


def test_retry_budget_exhausted_fails(tmp_path):
    state, _ = run(make_plan(("a",)), tmp_path, ScriptedExecutor({"svc.install.a": [1, 1, 1]}), policy="retry=1")
    assert state == "failed"


def test_ask_policy_waits_for_a_decision_and_first_answer_wins(tmp_path):
    plan = make_plan(("a", "b"))
    eng = engine.Engine(plan, state_dir=tmp_path, secrets={}, policy=engine.Policy("ask"),
                        executor=ScriptedExecutor({"svc.install.a": [1, 0]}), durable=False)
    thread = threading.Thread(target=eng.run)
    thread.start()
    path = eng.run_dir / "events.jsonl"
    deadline = time.time() + 10
    while time.time() < deadline and "decision_needed" not in [e["type"] for e in events.read_all(path)]:
        time.sleep(0.05)
    assert eng.files.decide("svc.install.a", 1, "retry", by="first") == (True, Decision("retry", "first"))
    assert eng.files.decide("svc.install.a", 1, "abort", by="second") == (False, Decision("retry", "first"))
    thread.join(10)
    decision = [e for e in events.read_all(path) if e["type"] == "decision"]
    assert decision[0]["choice"] == "retry" and decision[0]["by"] == "first"
    assert statuses(eng) == {"svc.install.a": ("ok", None), "svc.install.b": ("ok", None)}
    assert events.read_all(path)[-1]["state"] == "ok"


def test_second_engine_refused_while_one_runs(tmp_path):
    hold = threading.Event()
    first = engine.Engine(make_plan(("a",)), state_dir=tmp_path, secrets={}, executor=ScriptedExecutor(hold=hold),
                          durable=False)
    thread = threading.Thread(target=first.run)
    thread.start()
    try:
        deadline = time.time() + 5
        while StateDir(tmp_path).engine_pid() is None and time.time() < deadline:
            time.sleep(0.02)
        assert StateDir(tmp_path).engine_pid() is not None
        with pytest.raises(UserError, match="another tui-installer engine is running"):
            run(make_plan(("a",)), tmp_path, ScriptedExecutor())
    finally:
        hold.set()
        thread.join(10)
    assert StateDir(tmp_path).engine_pid() is None


def test_event_stream_tells_the_whole_story(tmp_path):
    _, eng = run(make_plan(("a", "b")), tmp_path, ScriptedExecutor({"svc.install.b": [3]}))
    stream = events.read_all(eng.run_dir / "events.jsonl")
    kinds = [e["type"] for e in stream if e["type"] not in ("resources",)]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.index("step_started") < kinds.index("step_finished") < kinds.index("step_failed")
    failed = next(e for e in stream if e["type"] == "step_failed")
    assert failed["step"] == "svc.install.b" and failed["exit_code"] == 3
    assert "svc.install.b" in failed["message"] and failed["log"].endswith("svc.install.b.log")
    assert all(e["run"] == eng.run_id for e in stream)
    json.dumps(stream)  # plain, serialisable records


def test_uninstall_run_resets_resume(tmp_path):
    run(make_plan(), tmp_path, ScriptedExecutor())
    removal = make_plan(("stop",), profile="t")
    run(removal, tmp_path, ScriptedExecutor(), kind="uninstall", resume=False)
    _, eng = run(make_plan(), tmp_path, ex := ScriptedExecutor())
    assert len(ex.calls) == 3


def test_policy_parse_rejects_nonsense():
    with pytest.raises(UserError, match="--on-failure"):
        engine.Policy.parse("sometimes")
    assert engine.Policy.parse("retry=3") == engine.Policy("retry", 3)


def test_creates_and_unless_skip_a_step_without_running_it(tmp_path):
    """A step's own idempotency checks: `creates` (a path that exists) and `unless` (a check that exits 0)
    skip it with their reason. `unless` sees what its step would: its env and its secrets (DESIGN.md)."""
    there = tmp_path / "already-there"
    there.touch()

    def step(name, **kw):
        return Step(id=f"svc.install.{name}", service="svc", phase="install", name=name, argv=("true",),
                    fingerprint=f"fp-{name}", **kw)

    steps = (step("made", creates=str(there)),
             step("checked", unless='[ "$TOKEN" = s3cret-token ] && [ "$PLAIN" = yes ]', env={"PLAIN": "yes"},
                  secret_env={"TOKEN": "tok"}),
             step("runs", creates=str(tmp_path / "absent"), unless="false"))
    plan = Plan(profile="t", profile_source="test", services=("svc",), added={}, settings={}, secrets=("tok",),
                phases=(Phase("install", steps),))
    executor = ScriptedExecutor()
    eng = engine.Engine(plan, state_dir=tmp_path / "state", secrets={"tok": "s3cret-token"},
                        policy=engine.Policy.parse("abort"), executor=executor, durable=False)
    assert eng.run() == "ok"
    assert executor.calls == ["svc.install.runs"]
    assert statuses(eng) == {"svc.install.made": ("skipped", "creates"), "svc.install.checked": ("skipped", "unless"),
                             "svc.install.runs": ("ok", None)}
