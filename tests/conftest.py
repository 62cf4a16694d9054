"""Suite-wide rules. Under CI (``CI=true``) a test that cannot run its real dependency fails with the reason
instead of skipping: a run that skipped the end-to-end tests (not root, no tmux, no shellcheck) must not be
green. Deselecting with ``-m`` is still possible; it is a choice made on the command line, not a skip."""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")

#: ``lab``: the session's lab hosts (tests/lab/fixture.py)
pytest_plugins = ["lab.fixture"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which must run every test: {reason}"
