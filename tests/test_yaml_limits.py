"""Hostile YAML (issue 8.4): alias bombs, a 50 MB file, huge numbers of keys, deep nesting. Each is one
line naming the file and the limit, exit 2, no traceback, in under a second and bounded memory, through
the real command line (CPU seconds beyond the CLI's own start, which load does not inflate)."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui_installer import yamlsrc


def billion_laughs() -> str:
    levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        prev, name = chr(96 + i), chr(97 + i)
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    return "name: bomb\nservices: [mariadb]\nsettings:\n" + "\n".join("  " + x for x in levels) + "\n"


def many_keys() -> str:
    return "name: keys\nservices: [mariadb]\nsettings:\n" + "".join(f"  k{i}: {i}\n" for i in range(12_000))


def flow_keys() -> str:
    return "{name: flow, settings: {" + ", ".join(f"k{i}: {i}" for i in range(12_000)) + "}}\n"


def deep() -> str:
    return "name: deep\nsettings: {x: " + "[" * 500 + "]" * 500 + "}\n"


CASES = {
    "laughs": (billion_laughs, "more than 10000 values"),
    "keys": (many_keys, "more than 10000 values"),
    "flow": (flow_keys, "more than 10000 values"),
    "deep": (deep, "nested deeper than 64 levels"),
}


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def plan(path: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """The CLI's answer and the CPU seconds it spent: CPU time, unlike wall time, does not grow with the
    machine's load, so the bound below holds on a busy 2-core CI host (the 60 s timeout means "hung")."""
    before = child_cpu()
    done = subprocess.run([sys.executable, "-m", "tui_installer", "plan", "-p", str(path)],
                          capture_output=True, text=True, timeout=60)
    return done, child_cpu() - before


def python_start() -> float:
    """The CPU seconds of the interpreter's and the CLI's own start, to subtract from the measured time."""
    before = child_cpu()
    subprocess.run([sys.executable, "-m", "tui_installer", "profiles"], capture_output=True, timeout=60)
    return child_cpu() - before


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_yaml_is_one_line_under_a_second(tmp_path: Path, name: str) -> None:
    make, limit = CASES[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(make())
    base = python_start()
    done, took = plan(path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(")") and f" {path}:" in lines[0] and limit in lines[0], done.stderr
    assert took - base < 1.0, f"{took - base:.2f} CPU seconds beyond the CLI's own start"


def test_a_50_mb_file_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("w") as handle:
        for i in range(50 * 1024 * 1024 // 64):
            handle.write(f"k{i:010d}: {'x' * 48}\n")
    base = python_start()
    done, took = plan(path)
    assert done.returncode == 2
    assert done.stderr.strip() == f"tui-installer: error: {path}: too large: more than 256 KiB " \
                                  "(a profile, service or answers file is a few hundred lines)"
    assert took - base < 1.0, f"{took - base:.2f} CPU seconds beyond the CLI's own start"


def test_memory_stays_bounded_in_process() -> None:
    """The line table walks aliases: it must not expand a bomb (it grew ~60 MB/s before)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(Exception, match="more than 10000 values"):
        yamlsrc.load_text(billion_laughs(), "bomb.yaml")
    assert time.monotonic() - started < 0.5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


def test_shipped_files_and_anchors_still_load() -> None:
    data = yamlsrc.load_text("base: &b {x: 1, y: [1, 2]}\nmore:\n  <<: *b\n  z: 3\nagain: *b\n", "ok.yaml")
    assert data["more"] == {"x": 1, "y": [1, 2], "z": 3} and data["again"]["y"] == [1, 2]
    for path in Path(yamlsrc.__file__).parent.joinpath("services").glob("*.yaml"):
        yamlsrc.load_file(path)
