"""The TUI's session priority (tui_installer/priority.py): the logic around ``/proc/self/autogroup`` on
files standing in for it, then the real file of a real session (root only may raise it; the suite runs as
root in CI). The TUI in a real terminal is checked in tests/tui/test_terminal.py (its session raised, the
engine's and the steps' not, the old value back after it quits)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tui_installer import priority


def files(tmp_path: Path, nice: int = 0, enabled: str = "1") -> tuple[Path, Path]:
    group, on = tmp_path / "autogroup", tmp_path / "enabled"
    group.write_text(f"/autogroup-42 nice {nice}\n")
    on.write_text(enabled + "\n")
    return group, on


def test_raised_while_the_block_runs_and_put_back_after_even_on_error(tmp_path: Path) -> None:
    group, on = files(tmp_path)
    with pytest.raises(RuntimeError), priority.interactive(group, on, env={}) as value:
        assert value == priority.INTERACTIVE_NICE == -10
        assert group.read_text() == "-10\n"  # what the kernel's file takes
        raise RuntimeError
    assert group.read_text() == "0\n"


@pytest.mark.parametrize(("nice", "enabled", "env", "expected"), [
    (0, "0", {}, None),                              # autogroup off: sessions are not weighed
    (-15, "1", {}, None),                            # never less priority than the session had
    (0, "1", {priority.ENV: "0"}, None),             # turned off
    (0, "1", {priority.ENV: "x"}, None),             # not a number: left alone
    (0, "1", {priority.ENV: "-21"}, None),           # out of range
    (-15, "1", {priority.ENV: "-5"}, -5),            # asked for explicitly
])
def test_when_it_is_left_alone(tmp_path: Path, nice: int, enabled: str, env: dict[str, str],
                               expected: int | None) -> None:
    group, on = files(tmp_path, nice, enabled)
    untouched = group.read_text()
    with priority.interactive(group, on, env=env) as value:
        assert value == expected
        assert group.read_text() == (untouched if expected is None else f"{expected}\n")
    assert group.read_text() == (untouched if expected is None else f"{nice}\n")


def test_no_autogroup_file_or_no_permission_changes_nothing(tmp_path: Path) -> None:
    with priority.interactive(tmp_path / "missing", tmp_path / "missing-too", env={}) as value:
        assert value is None
    group, on = files(tmp_path)
    group.chmod(0o444)
    if os.geteuid() != 0:  # root writes a read-only file; the kernel's file refuses non-root instead
        with priority.interactive(group, on, env={}) as value:
            assert value is None


@pytest.mark.skipif(not priority.AUTOGROUP.exists(), reason="a kernel without autogroup")
def test_the_real_session_is_raised_and_put_back() -> None:
    """In a new session (its own autogroup, nice 0): raised inside the block where root may, back after."""
    code = ("from tui_installer import priority as p\n"
            "before = p.current()\n"
            "with p.interactive(env={}) as v:\n"
            "    inside = p.current()\n"
            "print(before, v, inside, p.current())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          start_new_session=True, check=True)
    before, value, inside, after = done.stdout.split()
    enabled = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    assert before == after == "0"
    if enabled and os.geteuid() == 0:
        assert (value, inside) == ("-10", "-10")
    else:
        assert (value, inside) == ("None", "0")


def can_yield() -> bool:
    return priority.yielding(env={})


def test_yielding_is_off_when_asked_or_without_autogroup(tmp_path: Path) -> None:
    _group, on = files(tmp_path)
    off = tmp_path / "off"
    off.write_text("0\n")
    assert priority.yielding(env={priority.YIELD_ENV: "0"}, enabled=on) is False
    assert priority.yielding(env={}, enabled=off) is False
    assert priority.yielding(env={}, enabled=tmp_path / "missing") is False
    assert priority.yielding(env={}, enabled=on) is (os.geteuid() == 0)


def nice_of(pid: int) -> int | None:
    return priority.current(priority.session_file(pid))


@pytest.mark.skipif(not can_yield(), reason="needs root and autogroup on")
def test_steps_off_the_longest_path_yield_and_a_session_is_put_back_when_its_step_ends() -> None:
    """Real sessions (each step runs in one of its own): the step with the longest path keeps nice 0,
    the others get YIELD_NICE; when it ends the next longest is put back to 0; a step that ends while
    yielding leaves what it left running in its session at 0."""
    def session(command: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["sh", "-c", command], start_new_session=True)

    chain, short, leaves = session("sleep 60"), session("sleep 60"), session("sleep 60 & exec sleep 0.3")
    left = None
    try:
        steps = priority.StepPriorities({"chain": 30.0, "short": 5.0, "leaves": 1.0})
        steps.started("chain", chain.pid)
        steps.started("short", short.pid)
        steps.started("leaves", leaves.pid)
        assert (nice_of(chain.pid), nice_of(short.pid), nice_of(leaves.pid)) == (0, priority.YIELD_NICE,
                                                                                  priority.YIELD_NICE)
        assert steps.current() == {"chain": 0, "short": priority.YIELD_NICE, "leaves": priority.YIELD_NICE}
        leaves.wait(timeout=30)  # its leader ended; its `sleep 60` is still in the session, yielding
        (left,) = [p for p in psutil.process_iter() if p.pid != leaves.pid
                   and os.getsid(p.pid) == leaves.pid]
        assert nice_of(left.pid) == priority.YIELD_NICE
        steps.ended("leaves")
        assert nice_of(left.pid) == 0
        steps.ended("chain")
        assert nice_of(short.pid) == 0 and steps.current() == {"short": 0}
    finally:
        for proc in (chain, short, leaves):
            proc.kill()
            proc.wait()
        if left is not None:
            left.kill()
