"""`plan --format ansible` of the multi-node cloud, run with plain `ansible-playbook` on fresh lab hosts (issue
12, "Proven" item 6): no tui-installer engine, journal or keyring on this machine, only the exported
directory, a secrets file the operator fills (here: random values) and Ansible. The cloud it gives passes the
same client checks as tests/test_multinode.py: each compute's hypervisor enabled and up, a server forced
onto each ACTIVE there.

Marker ``multinode_export`` (and ``lab``): in the default run; measured 3:57 on a quiet machine
(2026-12-02, ansible-playbook 209 s for the three hosts)."""

from __future__ import annotations

import secrets as random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from lab import labhosts
from lab.fixture import Lab
from test_multihost import _files_holding
from test_multinode import COMPUTE_VARS, SETTINGS, Cloud, _image_and_flavor, _server_on

pytestmark = [pytest.mark.lab, pytest.mark.multinode_export]

CLI = [sys.executable, "-m", "tui_installer"]


def test_the_ansible_export_gives_the_same_cloud_with_plain_ansible_playbook(lab: Lab, tmp_path: Path) -> None:
    hosts = labhosts.up(3, sshd_only=1)  # fresh hosts: nothing of the session's earlier tests on them
    try:
        _export_and_check(lab, tmp_path, hosts)
    finally:  # fresh hosts again for the session's later lab tests (not this cloud's services on them)
        labhosts.up(3, sshd_only=1)


def _export_and_check(lab: Lab, tmp_path: Path, hosts: list[labhosts.Host]) -> None:
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(lab.inventory.read_text() + "\n" + COMPUTE_VARS)
    out = tmp_path / "export"
    exported = subprocess.run([*CLI, "plan", "-p", "multi-node", "--inventory", str(inventory), *SETTINGS,
                               "--format", "ansible", "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert exported.returncode == 0, exported.stderr
    names = list(yaml.safe_load((out / "secrets.example.yml").read_text()))
    values = {name: random.token_urlsafe(18) for name in names}
    secrets_file = out / "secrets.yml"
    secrets_file.write_text(yaml.safe_dump(values))
    secrets_file.chmod(0o600)

    started = time.monotonic()
    ran = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventory", "site.yml",
                          "-e", "@secrets.yml"], cwd=out, capture_output=True, text=True, timeout=2400)
    print(f"\nansible-playbook: {time.monotonic() - started:.0f} s")
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-6000:]
    assert "failed=0" in ran.stdout
    assert not any(value in ran.stdout + ran.stderr for value in values.values())

    controller = next(h.address for h in hosts if h.name == "lab1")
    cloud = Cloud(controller, values["tui_secret_admin_password"])
    computes = [h.name for h in hosts if h.group == "compute"]
    assert {h: cloud.hypervisors().get(h) for h in computes} == {h: ("up", "enabled") for h in computes}
    image, flavor = _image_and_flavor(cloud)
    for host in computes:
        _server_on(cloud, host, image, flavor)
    secrets_file.unlink()
    assert _files_holding(out, values["tui_secret_rabbit_password"]) == []
