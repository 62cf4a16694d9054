"""One all-in-one cloud for the whole end-to-end session: test_openstack.py builds it, takes it down and
builds it again; test_services.py then checks block storage, orchestration, the dashboard and Tempest
on it and uninstalls it last. A second full deployment would cost CI ~10 minutes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_common import COMPUTE, FAKE, TIMINGS, cli


@pytest.fixture(scope="session")
def states(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    base = tmp_path_factory.mktemp("e2e-openstack")
    st = {"controller": base / "controller", "node2": base / "node2"}
    # Start from a clean host: whatever an earlier run left (its own state dir is gone) is purged.
    cli(st["controller"], "uninstall", "-p", "all-in-one", *FAKE, "--yes", "--purge", timeout=900)
    yield st
    print("\ne2e timings (s): " + ", ".join(f"{k}: {v:.0f}" for k, v in TIMINGS if "passwords" not in k))
    if not os.environ.get("TUI_E2E_KEEP"):
        cli(st["node2"], "uninstall", "-p", "compute-only", *COMPUTE, "--yes", "--purge", timeout=900)
        cli(st["controller"], "uninstall", "-p", "all-in-one", *FAKE, "--yes", "--purge", timeout=900)
