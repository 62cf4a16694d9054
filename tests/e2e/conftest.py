"""One all-in-one cloud for the whole end-to-end session (``virt_driver=libvirt``, ``libvirt_virt_type=qemu``,
``ovs_datapath=netdev``): made once, shared by test_openstack.py (networks, guests, a second node, purge and
install again) and test_services.py (block storage, orchestration, the dashboard, Tempest). Each test finds
the cloud installed and leaves it installed; the session purges it at the end (TUI_E2E_KEEP=1 keeps it).
A second full deployment would cost CI ~10 minutes."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from e2e_common import TIMINGS, Cloud, osc
from scripts import tinyimage


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    c = Cloud(tmp_path_factory.mktemp("e2e-openstack"))
    # Start from a clean host: whatever an earlier run left (its own state dir is gone) is purged.
    c.purge_node2()
    c.purge()
    c.install()
    yield c
    print("\ne2e timings (s): " + ", ".join(f"{k}: {v:.0f}" for k, v in TIMINGS if "passwords" not in k))
    if not os.environ.get("TUI_E2E_KEEP"):
        c.purge_node2()
        c.purge()


@pytest.fixture
def image(cloud: Cloud) -> str:
    """The tiny bootable image (tests/scripts/tinyimage.py, built once, cached) in Glance, and a flavor
    (made again when missing: the purge test installs the cloud afresh)."""
    built = tinyimage.build()
    if "e2e-tiny" not in osc("image", "list", "-f", "value", "-c", "Name").split():
        osc("image", "create", "--disk-format", "qcow2", "--container-format", "bare", "--file",
            str(built.qcow2), "--public", "e2e-tiny")
    if "e2e-flavor" not in osc("flavor", "list", "-f", "value", "-c", "Name").split():
        osc("flavor", "create", "--ram", "256", "--disk", "1", "--vcpus", "1", "e2e-flavor")
    return "e2e-tiny"
