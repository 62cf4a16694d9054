"""The Summary screen's validation view (issue 11) renders what `validate` published in the state
directory: offered, preparing, running (tests done / selected, the current test), refused, finished."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tui_installer.screens.summary import validate_text

from tui_installer.statedir import StateDir

pytestmark = pytest.mark.tui


def test_offered_running_refused_and_done(tmp_path: Path) -> None:
    state = StateDir.open(tmp_path / "state")
    assert "press v to run Tempest" in validate_text(state)
    files = state.validation
    files.ensure()
    files.write(files.progress_file, json.dumps({"state": "preparing", "selection": "smoke"}))
    assert "preparing" in validate_text(state)
    files.write(files.progress_file, json.dumps({
        "state": "running", "selection": "smoke", "total": 107, "done": 44, "current": "tempest.api.x.T.test_a",
        "passed": 42, "failed": 0, "skipped": 2}))
    text = validate_text(state)
    assert "44/107 tests" in text and "now: tempest.api.x.T.test_a" in text and "42 passed" in text
    files.write(files.progress_file, json.dumps({"state": "error", "message": "the cloud is half up: x"}))
    assert "not run: the cloud is half up: x" in validate_text(state)
    files.write(files.progress_file, json.dumps({"state": "done"}))
    files.write(files.result_file, json.dumps({
        "selection": "smoke", "passed": 77, "failed": 1, "skipped": 3, "seconds": 646,
        "failed_ids": ["tempest.api.volume.T.test_b"], "log": "/x/tempest-run.log",
        "skips": [{"test": "a", "reason": "r", "why": "service not deployed: object storage (swift)"},
                  {"test": "b", "reason": "r", "why": "service not deployed: object storage (swift)"},
                  {"test": "c", "reason": "r", "why": "capability missing: a second compute host"}]}))
    text = validate_text(state)
    assert "77 passed, 1 failed, 3 skipped" in text and "FAILED tempest.api.volume.T.test_b" in text
    assert "skipped 2: service not deployed: object storage (swift)" in text and "/x/tempest-run.log" in text
