"""The TUI's session priority (tui_installer/priority.py): the logic around ``/proc/self/autogroup`` on
files standing in for it, then the real file of a real session (root only may raise it; the suite runs as
root in CI). The TUI in a real terminal is checked in tests/tui/test_terminal.py (its session raised, the
engine's and the steps' not, the old value back after it quits)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
