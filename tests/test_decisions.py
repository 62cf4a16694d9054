"""A failed step's decision: the first answer wins, also when clients race (real processes at once),
and a losing `tui-installer answer` says who answered first and exits 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tui_installer.statedir import lock

RACE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from tui_installer.statedir import lock
    path, choice, start = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    while time.time() < start:
        pass
    won, decision = lock.decide(path, choice, by=f"racer:{choice}")
    print(won, decision.choice, decision.by)
    """)


def test_racing_writers_one_wins_and_all_see_its_answer(tmp_path: Path) -> None:
    for round_ in range(5):
        path = tmp_path / f"decisions-{round_}" / "svc.install.a.1.json"
        start = time.time() + 1.0
        racers = [subprocess.Popen([sys.executable, "-c", RACE, str(path), choice, str(start)],
                                   stdout=subprocess.PIPE, text=True)
                  for choice in ("retry", "skip", "abort", "retry", "skip", "abort")]
        answers = [r.communicate(timeout=60)[0].split() for r in racers]
        winners = [a for a in answers if a[0] == "True"]
        assert len(winners) == 1, answers
        assert {(a[1], a[2]) for a in answers} == {(winners[0][1], winners[0][2])}, answers
        assert json.loads(path.read_text()) == {"choice": winners[0][1], "by": winners[0][2]}
        assert lock.poll_decision(path) == lock.Decision(winners[0][1], winners[0][2])


def test_the_losing_answer_command_says_who_won(tmp_path: Path) -> None:
    """`tui-installer answer` against a step another client already answered: exit 1, the standing answer."""
    from tui_installer.journal import FAILED, Journal, StepRecord
    from tui_installer.model import Phase, Plan, Step
    from tui_installer.statedir import StateDir

    state = StateDir.open(tmp_path / "state")
    run = state.run("20260101-000000-1")
    step = Step(id="svc.install.a", service="svc", phase="install", name="a", argv=("false",), fingerprint="f")
    run.create(Plan(profile="p", profile_source="", services=("svc",), added={}, settings={}, secrets=(),
                    phases=(Phase("install", (step,)),)))
    Journal(path=run.journal_file, run=run.id, profile="p", state="running",
            steps={step.id: StepRecord(status=FAILED, attempts=1)}, order=[step.id]).save()
    state.mark_last_run(run)
    assert run.decide(step.id, 1, "skip", by="tui:42")[0]
    done = subprocess.run([sys.executable, "-m", "tui_installer", "--state-dir", str(state.root), "answer",
                           step.id, "retry"], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "another client answered step svc.install.a first: skip (by tui:42)" in done.stdout
    assert run.poll_decision(step.id, 1) == lock.Decision("skip", "tui:42")
