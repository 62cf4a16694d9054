"""Unit tests of the logic around the event stream: the run-state reducer (fed hand-written events),
the follower (partial lines), decisions (first writer wins) and engine liveness (a real flock)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from tui_installer.screens.runstate import RunState, fmt_duration, step_history

from tui_installer import client, events
from tui_installer.statedir import Decision, StateDir

pytestmark = pytest.mark.tui

EVENTS = [
    {"type": "run_started", "ts": 100.0, "run": "r1", "profile": "demo", "pid": 42,
     "phases": [{"name": "install", "steps": ["a.install.x", "a.install.y"]},
                {"name": "start", "steps": ["a.start.z"]}]},
    {"type": "phase_started", "ts": 100.0, "phase": "install"},
    {"type": "step_started", "ts": 100.0, "step": "a.install.x", "phase": "install", "title": "X",
     "command": "echo x", "attempt": 1},
    {"type": "output", "ts": 101.0, "step": "a.install.x", "lines": ["x1", "x2"], "dropped": 3},
    {"type": "step_finished", "ts": 102.0, "step": "a.install.x", "status": "ok", "duration": 2.0},
    {"type": "step_started", "ts": 102.0, "step": "a.install.y", "title": "Y", "command": "false",
     "attempt": 1},
    {"type": "step_failed", "ts": 103.0, "step": "a.install.y", "attempt": 1, "exit_code": 1, "tail": ["no"]},
    {"type": "decision_needed", "ts": 103.0, "step": "a.install.y", "attempt": 1,
     "choices": ["retry", "skip", "abort"]},
]


def fold(events: list[dict]) -> tuple[RunState, list[str]]:
    state, lines = RunState(), []
    for e in events:
        lines += state.apply(e)
    return state, lines


def test_reducer_follows_a_failure_and_its_decision() -> None:
    state, lines = fold(EVENTS)
    # the engine keeps the newest lines of a burst: the notice of the dropped ones comes first
    assert lines == ["[... 3 earlier lines not shown; see the step's log]", "x1", "x2"]
    assert state.failure is not None and state.failure.needs_decision
    assert state.counts() == (1, 3)
    state.apply({"type": "decision", "ts": 104.0, "step": "a.install.y", "attempt": 1, "choice": "skip",
                 "by": "cli:1"})
    assert not state.failure.needs_decision
    state.apply({"type": "step_skipped", "ts": 104.0, "step": "a.install.y", "reason": "user"})
    assert state.failure is None and state.counts() == (2, 3)
    state.apply({"type": "run_finished", "ts": 105.0, "state": "ok", "duration": 5.0})
    assert state.over and state.finished_ok and state.phases["install"].status == "ok"


def test_estimate_uses_history_and_the_running_step() -> None:
    state, _ = fold(EVENTS[:3])
    assert state.remaining({}) is None
    assert state.remaining({"other.install.step": 30.0}) is None, "another profile's steps: no estimate"
    assert state.remaining({"a.install.x": 0.01}) is None, "one step of three ever ran: no estimate yet"
    left = state.remaining({"a.install.x": 10.0, "a.install.y": 4.0, "a.start.z": 6.0}, now=103.0)
    assert left == pytest.approx(7.0 + 4.0 + 6.0)
    assert fmt_duration(75) == "1m15s" and fmt_duration(3700) == "1h01m"


def test_silence_is_measured_from_the_last_output() -> None:
    state, _ = fold(EVENTS[:4])
    assert state.silent_for(now=131.0) == pytest.approx(30.0)


def test_history_reads_earlier_journals(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r0"
    run.mkdir(parents=True)
    (run / "journal.json").write_text(json.dumps({"run": "r0", "profile": "p", "state": "ok", "started": 1.0, "steps": {
        "a.install.x": {"status": "ok", "started": 1.0, "finished": 4.5},
        "a.install.y": {"status": "skipped", "started": 1.0, "finished": 1.0}}}))
    assert step_history(tmp_path) == {"a.install.x": 3.5}
    assert step_history(tmp_path, exclude="r0") == {}


def test_follow_waits_for_whole_lines(tmp_path: Path) -> None:
    path, stop = tmp_path / "events.jsonl", threading.Event()
    got: list[dict] = []

    def reader() -> None:
        for batch in events.follow(path, stop, poll=0.01):
            got.extend(batch)

    thread = threading.Thread(target=reader)
    thread.start()
    with path.open("ab") as fh:
        fh.write(b'{"type": "a"}\n{"type": ')
        fh.flush()
        time.sleep(0.1)
        assert got == [{"type": "a"}]
        fh.write(b'"b"}\nnot json\n')
        fh.flush()
        time.sleep(0.1)
    stop.set()
    thread.join(2)
    assert got == [{"type": "a"}, {"type": "b"}]


def test_first_decision_wins(tmp_path: Path) -> None:
    StateDir(tmp_path).run("r1").root.mkdir(parents=True)
    won, first = client.write_decision(tmp_path, "r1", "a.install.y", 1, "retry")
    lost, standing = client.write_decision(tmp_path, "r1", "a.install.y", 1, "abort")
    assert won and not lost and standing == first == Decision("retry", f"tui:{os.getpid()}")
    path = StateDir(tmp_path).run("r1").decision_file("a.install.y", 1)
    assert path.stat().st_mode & 0o777 == 0o600


def test_engine_alive_follows_the_lock(tmp_path: Path) -> None:
    assert not client.engine_alive(tmp_path)
    # -o: only flock itself holds the lock (not its sleep), so killing it frees the lock
    holder = subprocess.Popen(["flock", "-o", str(tmp_path / "engine.lock"), "sleep", "30"])
    try:
        deadline = time.monotonic() + 5
        while not client.engine_alive(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.engine_alive(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    (tmp_path / "engine.lock").write_text("999999")  # a stale pid, and a free lock
    assert not client.engine_alive(tmp_path)


def test_systemd_unit_command_keeps_the_passphrase_out_of_argv(tmp_path: Path) -> None:
    cmd = client.unit_command("tui-installer-x", tmp_path / "console.log", tmp_path / "a.yaml", tmp_path,
                              passphrase_by_env=True, passphrase_file=None)
    assert cmd[:5] == ["systemd-run", "--unit", "tui-installer-x", "--collect", "--quiet"]
    assert cmd[cmd.index("-E") + 1] == client.PASSPHRASE_ENV and "=" not in cmd[cmd.index("-E") + 1]
    tail = cmd[cmd.index("tui_installer") - 2:]
    assert tail[3:] == ["install", "-a", str(tmp_path / "a.yaml"), "--yes", "--on-failure", "ask",
                        "--state-dir", str(tmp_path)]


def test_host_checks_come_from_the_profiles_preflight_steps(tmp_path: Path) -> None:
    from tui_installer.screens import hostinfo

    from tui_installer import preview

    limits = preview.preflight_limits(preview.build_plan(preview.load_profile("all-in-one")))
    assert limits.min_ram_mb > 0 and limits.min_disk_gb > 0
    assert 5000 in [port for port, _ in limits.port], "keystone's port is checked"
    compute = preview.preflight_checks("compute-only", tmp_path)
    assert compute[0].name == "controller_host" and compute[0].status == "warn", \
        "a required setting not given yet is named, and the other checks still run"
    assert {"root", "ram", "neutron-agent.names"} <= {c.name for c in compute}
    names = [c.name for c in hostinfo.checks(str(Path(__file__).parent / "profiles" / "tuidemo.yaml"),
                                             tmp_path)]
    assert names[:3] == ["root", "distro", "hostname"] and names[-1] == "network"


def test_set_on_the_tui_command_line_is_typed_like_the_setting(tmp_path: Path) -> None:
    from tui_installer.screens.app import apply_sets
    from tui_installer.screens.session import Session

    from tui_installer.errors import UserError

    session = Session(state_dir=tmp_path)
    session.choose_profile(str(Path(__file__).parent / "profiles" / "tuidemo.yaml"))
    apply_sets(session, ["slow_seconds=7", "greeting=yo"])
    assert session.settings == {"slow_seconds": 7, "greeting": "yo"}
    assert "slow_seconds: 7" in session.answers_yaml()
    with pytest.raises(UserError, match="expected an integer"):
        apply_sets(session, ["slow_seconds=x"])
