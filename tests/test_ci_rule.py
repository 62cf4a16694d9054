"""Under ``CI=true`` a test that skips (its real dependency missing) fails with the reason (tests/conftest.py);
outside CI the same skip stays a skip. Proven on a probe test run by a real pytest with the suite's conftest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = "tests/fixtures/ci/skipping_probe.py"


def probe(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
                           f"--basetemp={tmp_path / 'probe'}", PROBE],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("ci", ["true", "1"])
def test_a_skip_fails_under_ci_with_its_reason(tmp_path: Path, ci: str) -> None:
    done = probe(tmp_path, ci)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 1 passed" in done.stdout, done.stdout
    assert "skipped under CI=true, which must run every test: " in done.stdout
    assert "the probe's real dependency is missing" in done.stdout


def test_a_skip_is_a_skip_outside_ci(tmp_path: Path) -> None:
    done = probe(tmp_path, None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 skipped" in done.stdout, done.stdout
