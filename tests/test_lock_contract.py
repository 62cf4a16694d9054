"""The engine's lock and the decision files, part by part (tools/mutation.py found these unchecked): the lock
held by another real process is refused with its pid and freed by the kernel when it dies, patience waits
for a brief holder, the pid written and cleared; a decision is private, validated and read back whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tui_installer.errors import UserError
from tui_installer.statedir import lock

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.write(fd, sys.argv[2].encode())
print("held", flush=True)
time.sleep(float(sys.argv[3]))
"""


def hold(path: Path, text: str, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), text, str(seconds)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def test_the_lock_records_its_pid_and_release_clears_it(tmp_path: Path) -> None:
    path = tmp_path / "engine.lock"
    held = lock.EngineLock(path)
    held.acquire()
    assert path.read_text() == str(os.getpid()) and path.stat().st_mode & 0o777 == 0o600
    child = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                            "from tui_installer.statedir import lock; print(lock.holder(Path(sys.argv[1])))",
                            str(path)], capture_output=True, text=True, timeout=60)
    assert child.stdout.strip() == str(os.getpid()), child.stderr
    held.release()
    assert path.read_text() == "" and lock.holder(path) is None
    held.release()  # twice is harmless
    again = lock.EngineLock(path)
    again.acquire(patience=0)
    again.release()


def test_a_lock_held_by_a_live_process_is_refused_with_its_pid(tmp_path: Path) -> None:
    path = tmp_path / "engine.lock"
    proc = hold(path, "12345", 60)
    try:
        assert lock.holder(path) == 12345
        with pytest.raises(UserError) as caught:
            lock.EngineLock(path).acquire(patience=0.05)
        assert "another tui-installer engine is running (pid 12345)" in str(caught.value)
        assert caught.value.file == str(path) and "tui-installer attach" in (caught.value.hint or "")
        assert path.read_text() == "12345", "the refused engine overwrote the holder's pid"
    finally:
        proc.kill()
        proc.wait()
    assert lock.holder(path) is None  # the kernel freed it
    fresh = lock.EngineLock(path)
    fresh.acquire(patience=0)
    fresh.release()


def test_an_unreadable_pid_is_minus_one_and_a_missing_or_linked_lock_is_none(tmp_path: Path) -> None:
    path = tmp_path / "engine.lock"
    assert lock.holder(path) is None
    proc = hold(path, "not-a-pid", 60)
    try:
        assert lock.holder(path) == -1
        link = tmp_path / "link.lock"
        link.symlink_to(path)
        assert lock.holder(link) is None
    finally:
        proc.kill()
        proc.wait()


def test_patience_waits_for_a_holder_that_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "engine.lock"
    proc = hold(path, "1", 0.3)
    try:
        waiting = lock.EngineLock(path)
        waiting.acquire(patience=30)  # generous: this only means "not hung"
        assert path.read_text() == str(os.getpid())
        waiting.release()
    finally:
        proc.kill()
        proc.wait()


def test_a_decision_is_private_first_wins_and_bad_choices_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "decisions" / "step.1.json"
    with pytest.raises(UserError) as caught:
        lock.decide(path, "maybe", "me")
    assert "unknown choice 'maybe'" in str(caught.value) and not path.exists()
    assert caught.value.hint == "use retry, skip, abort"
    assert lock.decide(path, "retry", "tui") == (True, lock.Decision("retry", "tui"))
    assert json.loads(path.read_text()) == {"choice": "retry", "by": "tui"}
    assert path.stat().st_mode & 0o777 == 0o600
    assert lock.decide(path, "abort", "cli") == (False, lock.Decision("retry", "tui"))


def test_poll_takes_only_a_whole_valid_decision(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    assert lock.poll_decision(path) is None
    for text in ('{"choice": "retry"', '["retry"]', '{"choice": "later", "by": "x"}', '{"by": "x"}'):
        path.write_text(text)
        assert lock.poll_decision(path) is None, text
    victim = tmp_path / "elsewhere.json"
    victim.write_text('{"choice": "retry", "by": "x"}')
    link = tmp_path / "linked.json"
    link.symlink_to(victim)
    assert lock.poll_decision(link) is None  # a planted link is refused, not followed nor raised
    path.write_text('{"choice": "skip"}')
    assert lock.poll_decision(path) == lock.Decision("skip", "?")
    path.write_text('{"choice": "abort", "by": "ops"}')
    assert lock.poll_decision(path) == lock.Decision("abort", "ops")


def test_read_decision_waits_for_a_writer_finishing_and_gives_up_on_garbage(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text("{")
    assert lock.read_decision(path, wait=0.05) == lock.Decision("?", "?")

    def finish() -> None:
        time.sleep(0.2)
        path.write_text('{"choice": "retry", "by": "late"}')

    writer = threading.Thread(target=finish)
    writer.start()
    try:
        assert lock.read_decision(path, wait=30) == lock.Decision("retry", "late")
    finally:
        writer.join()
