"""A full or read-only state directory (issue 8.2), on a real small tmpfs filled to several levels:
the journal is never torn or replaced by a short write, the run ends with one line naming the state
directory and the space to free (exit 2), ``status`` never crashes, fragments are cleaned up, and after
space is freed the re-run finishes with nothing redone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_crash import Chain, recorded_done

STEPS = [f"s{i:02d}" for i in range(30)]
#: free bytes left on the tmpfs for a run: from nothing to enough for several steps
LEVELS = [0, 2048, 4096, 12288, 40960, 102400, 204800]


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def profile_in(tmp_path: Path, work: Path) -> Path:
    slow = {"s10": "sleep 0.5; ", "s20": "sleep 0.5; "}  # the ticker writes while these run
    steps = "".join(f"        - name: {name}\n          run: \"seq 1 300; {slow.get(name, '')}"
                    f"echo {name} >> {work}/ran.log\"\n" for name in STEPS)
    path = tmp_path / "profile.yaml"
    path.write_text("name: full\nservices: [k]\nservice_definitions:\n  k:\n    phases:\n      install:\n"
                    + steps)
    return path


def fill(mount: Path, free: int) -> None:
    """Fill the file system, then give back ``free`` bytes."""
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    block = b"\0" * 65536
    try:
        while True:
            try:
                if os.write(fd, block) == 0:
                    break
            except OSError:
                try:
                    os.write(fd, b"\0" * 4096)
                    continue
                except OSError:
                    break
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - free))


def cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui_installer", "--state-dir", str(state), *args],
                          capture_output=True, text=True, timeout=120)


def check_consistent(state: Path) -> None:
    """Every journal is whole JSON, and ``status`` answers without a traceback."""
    for path in (state / "runs").glob("*/journal.json") if (state / "runs").is_dir() else []:
        json.loads(path.read_text())
    status = cli(state, "status")
    assert "Traceback" not in status.stderr, status.stderr
    assert status.returncode in (0, 1, 2)


def test_full_disk_ends_in_one_line_and_the_rerun_redoes_nothing(disk, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    state = disk / "state"
    chain = Chain(state, profile_in(tmp_path, work), work, STEPS)
    failures = 0
    for free in LEVELS:
        fill(disk, free)
        if chain.run(may_fail=True) != 0:
            failures += 1
            lines = chain.stderr.strip().splitlines()
            assert len(lines) == 1, chain.stderr
            assert str(state) in lines[0] and "free at least" in lines[0], lines[0]
        check_consistent(state)
        (disk / "filler").unlink()
        assert chain.redone == [], f"redone at {free} bytes free: {chain.redone}"
    assert failures >= 3  # the low levels did fill the disk
    assert not list(state.glob("runs/*/.journal.json.*.tmp")), "fragments left behind"
    chain.finish()
    assert recorded_done(state) == set(STEPS)


def test_read_only_state_directory_is_one_line(disk, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    state = disk / "state"
    chain = Chain(state, profile_in(tmp_path, work), work, STEPS)
    chain.run()
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    try:
        proc = cli(state, "install", "-p", str(chain.profile), "--yes", "--quiet")
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert str(state) in proc.stderr and "read-only" in proc.stderr.lower()
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)


def test_fragments_are_cleaned_and_a_torn_journal_is_one_line(tmp_path):
    """Whatever an older version or a crash left: fragments go at the next run; ``status`` on a torn
    journal is one line, exit 2, no traceback."""
    work = tmp_path / "work"
    work.mkdir()
    state = tmp_path / "state"
    chain = Chain(state, profile_in(tmp_path, work), work, STEPS)
    chain.run()
    run_dir = next((state / "runs").iterdir())
    fragments = [run_dir / ".journal.json.999999.tmp", run_dir / ".plan.json.999999.tmp",
                 state / ".last-run.999999.tmp"]
    for fragment in fragments:
        fragment.write_text('{"run": "torn')
    chain.run()
    assert not [f for f in fragments if f.exists()]

    newest = state / "runs" / (state / "last-run").read_text().strip() / "journal.json"
    newest.write_bytes(newest.read_bytes()[:4096])  # what a short write renamed into place used to leave
    chain.allow_torn = True
    status = cli(state, "status")
    assert status.returncode == 2 and "Traceback" not in status.stderr
    assert len(status.stderr.strip().splitlines()) == 1 and "cannot read the journal" in status.stderr
    assert chain.run() == 0 and chain.redone == []  # the torn journal is passed over: nothing redone
