"""What a step may leave running (issue 8.7), with real processes: a finished step's detached daemon
stays; ``cmd &`` dies with the pty's hangup; after ``kill -9`` of the engine, everything the in-flight
step started — even detached with ``setsid`` — is killed before the re-run runs anything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest


def alive(pidfile: Path) -> bool:
    try:
        proc = psutil.Process(int(pidfile.read_text()))
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except (OSError, ValueError, psutil.Error):
        return False


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    work = tmp_path / "work"
    work.mkdir()
    yield work
    for pidfile in work.glob("*.pid"):  # never leave a test's processes behind
        if alive(pidfile):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def profile(tmp_path: Path, work: Path) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: bg
        services: [k]
        service_definitions:
          k:
            phases:
              install:
                - name: daemon
                  run: "setsid -f bash -c 'echo $$ > {work}/daemon.pid; exec sleep 300'; sleep 0.2"
                - name: amp
                  run: "bash -c 'echo $$ > {work}/amp.pid; exec sleep 300' & sleep 0.2"
                - name: inflight
                  run: |
                    if [ -f {work}/second ]; then
                      if [ -f {work}/stray.pid ] && kill -0 "$(cat {work}/stray.pid)" 2>/dev/null
                      then echo alive > {work}/seen; else echo gone > {work}/seen; fi
                      exit 0
                    fi
                    touch {work}/second
                    setsid -f bash -c 'echo $$ > {work}/stray.pid; exec sleep 300'
                    sleep 300
        """))
    return path


def install(state: Path, prof: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tui_installer", "--state-dir", str(state), "install",
                             "-p", str(prof), "--yes", "--quiet"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def test_only_a_finished_steps_detached_processes_outlive_it(tmp_path, work):
    state, prof = tmp_path / "state", profile(tmp_path, work)
    first = install(state, prof)
    wait_for(lambda: alive(work / "stray.pid"))
    assert alive(work / "daemon.pid")  # detached by a step that finished: its result, kept
    wait_for(lambda: not alive(work / "amp.pid"), timeout=5)  # `cmd &` died with the pty's hangup
    first.send_signal(signal.SIGKILL)  # the engine dies mid-step: its pty closes...
    first.wait(10)
    time.sleep(0.3)
    assert alive(work / "stray.pid")  # ...but what the step detached runs on, until the re-run

    second = install(state, prof)
    assert second.wait(60) == 0
    assert (work / "seen").read_text().strip() == "gone"  # killed before the step ran again
    assert not alive(work / "stray.pid")
    assert alive(work / "daemon.pid")  # the finished step's daemon was left alone
