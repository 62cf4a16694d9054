"""The crash harness (issue 8.1), the way SQLite tests crash recovery: the real engine is killed with
SIGKILL right after its N-th journal write, for every N of a small real run, and at random instants,
through chains of resumes; after every run, no step that some journal already recorded as done may
have run again."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tui_installer.journal import CRASH_AFTER_ENV

STEPS = ["a", "b", "slow", "c", "d"]


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    work = tmp_path / "work"
    work.mkdir()
    steps = "\n".join(
        f"        - name: {name}\n          run: \"{'sleep 0.4; ' if name == 'slow' else ''}"
        f"echo {name} >> {work}/ran.log\"" for name in STEPS)
    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent("""\
        name: crashy
        services: [k]
        service_definitions:
          k:
            phases:
              install:
        """) + steps + "\n")
    return tmp_path / "state", profile, work


def start(state: Path, profile: Path, crash_after: int | None = None, jobs: int = 1) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != CRASH_AFTER_ENV}
    if crash_after is not None:
        env[CRASH_AFTER_ENV] = str(crash_after)
    return subprocess.Popen([sys.executable, "-m", "tui_installer", "--state-dir", str(state), "install",
                             "-p", str(profile), "--yes", "--quiet", "--jobs", str(jobs)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def recorded_done(state: Path, allow_torn: bool = False) -> set[str]:
    """Steps any journal of the state directory records as done (ok, or skipped because done); every
    journal must be whole JSON unless a test tore one by hand (``allow_torn``)."""
    done: set[str] = set()
    for path in (state / "runs").glob("*/journal.json") if (state / "runs").is_dir() else []:
        try:
            steps = json.loads(path.read_text())["steps"]
        except ValueError:
            if not allow_torn:
                raise
            continue
        for step_id, record in steps.items():
            if record["status"] == "ok" or (record["status"] == "skipped" and record["reason"] == "done"):
                done.add(step_id.rsplit(".", 1)[1])
    return done


def ran(work: Path) -> list[str]:
    log = work / "ran.log"
    return log.read_text().split() if log.exists() else []


class Chain:
    """Runs of one state directory, each checked: nothing recorded done before it ran in it."""

    def __init__(self, state: Path, profile: Path, work: Path, steps: list[str] = STEPS, jobs: int = 1) -> None:
        self.state, self.profile, self.work, self.steps, self.jobs = state, profile, work, steps, jobs
        self.redone: list[str] = []
        self.runs = 0
        self.allow_torn = False

    def run(self, crash_after: int | None = None, kill_at: float | None = None, may_fail: bool = False) -> int:
        done_before, ran_before = recorded_done(self.state, self.allow_torn), len(ran(self.work))
        proc = start(self.state, self.profile, crash_after, self.jobs)
        if kill_at is not None:
            time.sleep(kill_at)
            proc.send_signal(signal.SIGKILL)
        _out, err = proc.communicate(timeout=60)
        self.runs += 1
        self.redone += [s for s in ran(self.work)[ran_before:] if s in done_before]
        self.stderr = err.decode()
        if crash_after is None and kill_at is None and not may_fail:
            assert proc.returncode == 0, self.stderr
        return proc.returncode

    def finish(self) -> None:
        """A last, uninterrupted run completes the install with nothing redone."""
        assert self.run() == 0
        assert recorded_done(self.state, self.allow_torn) == set(self.steps)
        assert self.redone == [], f"steps redone after {self.runs} runs: {self.redone}"


#: journal writes of a whole run, at most: create + one per step end + the ticker's "running" of the
#: slow step + finish (a resumed run writes one per skipped step instead)
MAX_WRITES = 2 + 2 * len(STEPS)


def test_kill_after_every_journal_write_through_chains_of_resumes(setup):
    state, profile, work = setup
    killed = 0
    for n in range(1, MAX_WRITES + 1):
        chain_work = work.with_name(f"work-{n}")
        chain_work.mkdir()
        chain = Chain(state.with_name(f"state-{n}"), _profile_for(profile, chain_work), chain_work)
        code = chain.run(crash_after=n)
        assert code in (0, -signal.SIGKILL)
        killed += code == -signal.SIGKILL
        for early in (1, 2, 1):  # the resumed runs die early too: the bug of issue 8.1
            chain.run(crash_after=early)
        chain.finish()
    assert killed >= len(STEPS) + 1  # the hook did kill: after the create and after every step's end


def test_kill_at_random_instants_through_chains_of_resumes(setup):
    state, profile, work = setup
    rng = random.Random(8_1)
    for trial in range(4):
        chain_work = work.with_name(f"work-r{trial}")
        chain_work.mkdir()
        chain = Chain(state.with_name(f"state-r{trial}"), _profile_for(profile, chain_work), chain_work)
        for _kill in range(4):
            chain.run(kill_at=rng.uniform(0.05, 1.2))
        chain.finish()


def _profile_for(profile: Path, work: Path) -> Path:
    """The harness profile, writing its record of executed steps into ``work``."""
    original = profile.read_text()
    text = original.replace(str(profile.parent / "work"), str(work))
    path = work / "profile.yaml"
    path.write_text(text)
    return path


# -- the same with steps running at once (issue 13) --------------------------------------------------

#: three independent services of three steps; each step sleeps a little, so kills land while two or
#: three of them run at once; each step appends its name to ran.log (one short O_APPEND write)
PARALLEL = {"p": ["p1", "p2", "p3"], "q": ["q1", "q2", "q3"], "r": ["r1", "r2", "r3"]}
PARALLEL_STEPS = [name for names in PARALLEL.values() for name in names]


def _parallel_profile(work: Path) -> Path:
    lines = ["name: crashy-par", f"services: [{', '.join(PARALLEL)}]", "service_definitions:"]
    for service, names in PARALLEL.items():
        lines += [f"  {service}:", "    phases:", "      install:"]
        lines += [f"        - name: {name}\n          run: \"sleep 0.{2 + i}; echo {name} >> {work}/ran.log\""
                  for i, name in enumerate(names)]
    path = work / "profile.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_parallel_kill_after_every_journal_write_redoes_nothing(tmp_path: Path) -> None:
    killed = 0
    for n in range(1, 2 + 2 * len(PARALLEL_STEPS) + 1):
        work = tmp_path / f"work-{n}"
        work.mkdir()
        chain = Chain(tmp_path / f"state-{n}", _parallel_profile(work), work, PARALLEL_STEPS, jobs=3)
        code = chain.run(crash_after=n)
        assert code in (0, -signal.SIGKILL)
        killed += code == -signal.SIGKILL
        chain.run(crash_after=2)  # the resumed run dies early too
        chain.finish()
    assert killed >= len(PARALLEL_STEPS)


def test_parallel_kill_at_random_instants_redoes_nothing(tmp_path: Path) -> None:
    rng = random.Random(13)
    overlapped = 0
    for trial in range(3):
        work = tmp_path / f"work-r{trial}"
        work.mkdir()
        chain = Chain(tmp_path / f"state-r{trial}", _parallel_profile(work), work, PARALLEL_STEPS, jobs=3)
        for _kill in range(4):
            chain.run(kill_at=rng.uniform(0.3, 1.5))
        chain.finish()
        overlapped += _overlapping_starts(chain.state)
    assert overlapped  # the steps did run at once (their step_started events interleave)


def _overlapping_starts(state: Path) -> int:
    """How many times a step started while another of the same run was still running."""
    from tui_installer import events

    count = 0
    for path in (state / "runs").glob("*/events.jsonl"):
        running: set[str] = set()
        for event in events.read_all(path):
            if event["type"] == "step_started":
                count += bool(running)
                running.add(event["step"])
            elif event["type"] in ("step_finished", "step_failed"):
                running.discard(event["step"])
    return count
