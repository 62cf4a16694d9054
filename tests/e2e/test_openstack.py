"""End to end (issue 3): the real CLI deploys a real OpenStack on this machine, and the cloud works.

The four tests run in order and share the machine's real paths (/opt/stack, /etc/*, /var/lib/*): that is
the product. Each run has its own state directories under /tmp, shared with test_services.py (the session
fixture ``states`` in conftest.py): the cloud test 4 installs again is the one test_services.py checks.
They need root and the network to Debian's archive and PyPI; select them with ``-m e2e`` (``-m "not e2e"`` skips them).
Set TUI_E2E_KEEP=1 to leave the cloud installed after the module (default: purged, to free ~2 GiB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from e2e_common import COMPUTE, FAKE, NODE2, PASSPHRASE, cli, ok, osc

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(os.geteuid() != 0, reason="deploys OpenStack: needs root")]

PORTS = {3306, 5672, 25672, 4369, 11211, 5000, 8778, 9292, 8774, 9696, 6633, 6634, 8776, 8004, 8080}
PROGRAMS = ("/opt/stack/venv/", "mariadbd", "beam.smp", "epmd", "memcached", "ovs-vswitchd", "ovsdb-server")


def journal(state: Path) -> dict:
    run = (state / "last-run").read_text().strip()
    return json.loads((state / "runs" / run / "journal.json").read_text())


def test_1_all_in_one_installs_and_the_cloud_works(states: dict[str, Path], tmp_path: Path) -> None:
    state = states["controller"]
    ok(cli(state, "install", "-p", "all-in-one", "--yes", *FAKE))
    for path in (Path("/etc/openstack/clouds.yaml"), state / "admin-openrc"):
        assert path.stat().st_mode & 0o777 == 0o600, path
    # independently of the installer's own verify steps: the openstack client and clouds.yaml
    assert osc("token", "issue", "-f", "value", "-c", "id").strip()
    types = set(osc("catalog", "list", "-f", "value", "-c", "Type").split())
    assert {"identity", "placement", "image", "compute", "network"} <= types
    image = tmp_path / "tiny.raw"
    image.write_bytes(b"\0" * (1 << 20))
    assert osc("image", "create", "--disk-format", "raw", "--container-format", "bare", "--file", str(image),
               "e2e-image", "-f", "value", "-c", "status").strip() == "active"
    osc("network", "create", "e2e-net")
    osc("subnet", "create", "--network", "e2e-net", "--subnet-range", "10.99.0.0/24", "e2e-subnet")
    osc("flavor", "create", "--ram", "64", "--disk", "1", "--vcpus", "1", "e2e-flavor")
    status = osc("server", "create", "--image", "e2e-image", "--flavor", "e2e-flavor", "--network", "e2e-net",
                 "--wait", "e2e-server", "-f", "value", "-c", "status", timeout=600).strip()
    assert status == "ACTIVE"
    osc("server", "delete", "--wait", "e2e-server", timeout=600)
    assert "e2e-server" not in osc("server", "list", "-f", "value", "-c", "Name")


def test_1b_no_secret_in_any_artefact(states: dict[str, Path]) -> None:
    state = states["controller"]
    env = {**os.environ, "TUI_INSTALLER_KEYRING_PASSPHRASE": PASSPHRASE}
    names = ok(cli(state, "passwords", "list")).split()
    secrets = [subprocess.run([sys.executable, "-m", "tui_installer", "passwords", "show", n, "--state-dir",
                               str(state)], capture_output=True, text=True, env=env).stdout.strip()
               for n in names if n.endswith("password")]
    assert len(secrets) >= 10 and all(len(s) >= 8 for s in secrets)
    places = [state / "runs", Path("/etc/tui-installer"), Path("/var/log/openstack")]
    files = [f for place in places for f in place.rglob("*") if f.is_file()]
    for f in files:
        data = f.read_bytes()
        assert not any(s.encode() in data for s in secrets), f"a secret is in {f}"
    for proc in psutil.process_iter(["cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        assert not any(s in line for s in secrets), f"a secret is in the argv of pid {proc.pid}"


def test_2_rerun_skips_every_step_in_under_a_minute(states: dict[str, Path]) -> None:
    t0 = time.monotonic()
    ok(cli(states["controller"], "install", "-p", "all-in-one", "--yes", *FAKE))
    assert time.monotonic() - t0 < 60
    steps = journal(states["controller"])["steps"]
    assert steps and all(s["status"] == "skipped" for s in steps.values()), \
        [k for k, s in steps.items() if s["status"] != "skipped"]


def test_3_compute_only_beside_the_controller(states: dict[str, Path]) -> None:
    """A second hypervisor with its own state dir; it gets the controller's passwords as an operator would."""
    env = {**os.environ, "TUI_INSTALLER_KEYRING_PASSPHRASE": PASSPHRASE}
    for name in ("admin_password", "rabbit_password", "nova_password"):
        value = subprocess.run([sys.executable, "-m", "tui_installer", "passwords", "show", name, "--state-dir",
                                str(states["controller"])], capture_output=True, text=True, env=env).stdout
        subprocess.run([sys.executable, "-m", "tui_installer", "passwords", "set", name, "--state-dir",
                        str(states["node2"])], input=value, text=True, env=env, check=True, capture_output=True)
    ok(cli(states["node2"], "install", "-p", "compute-only", "--yes", *COMPUTE))
    rows = osc("hypervisor", "list", "-f", "value", "-c", "Hypervisor Hostname", "-c", "State").splitlines()
    assert len(rows) == 2 and f"{NODE2} up" in rows, rows
    assert f"{NODE2} True" in osc("network", "agent", "list", "-f", "value", "-c", "Host", "-c", "Alive")


def test_3b_a_new_api_service_from_the_templates(states: dict[str, Path]) -> None:
    """Issue 7: one YAML of <= 60 lines, built from the recipe templates, deploys an API behind keystone."""
    profile = Path(__file__).with_name("hello-cloud.yaml")
    service = profile.read_text().split("service_definitions:")[1]
    assert len([line for line in service.splitlines() if line.strip()]) <= 60
    try:
        ok(cli(states["controller"], "install", "-p", str(profile), "--yes", *FAKE))
        assert "hello" in osc("catalog", "list", "-f", "value", "-c", "Type").split()
        url = osc("endpoint", "list", "--service", "hello", "--interface", "public", "-f", "value",
                  "-c", "URL").strip()
        token = osc("token", "issue", "-f", "value", "-c", "id").strip()
        with urllib.request.urlopen(urllib.request.Request(url, headers={"X-Auth-Token": token}),
                                    timeout=30) as resp:
            assert resp.read().decode().strip() == "hello admin"
        with pytest.raises(urllib.error.HTTPError) as refused:  # keystonemiddleware is in front
            urllib.request.urlopen(url, timeout=30)
        assert refused.value.code == 401
    finally:  # the all-in-one purge of test 4 does not know this service: its own steps remove it
        for action in ("stop", "remove"):
            subprocess.run([sys.executable, "-m", "tui_installer.ops.servicemgr", action, "hello-api"],
                           capture_output=True, timeout=120)
        subprocess.run(["rm", "-rf", "/etc/hello-api", "/var/log/openstack/hello-api.log",
                        "/var/log/openstack/hello-uwsgi.log"], check=True)


def deployment_left() -> tuple[list[str], set[int]]:
    procs = []
    for proc in psutil.process_iter(["cmdline", "name"]):
        line = " ".join(proc.info["cmdline"] or []) or (proc.info["name"] or "")
        if any(p in line for p in PROGRAMS):
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    procs.append(f"{proc.pid} {line[:120]}")
            except psutil.Error:
                pass
    ports = {c.laddr.port for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN} & PORTS
    return procs, ports


def test_4_uninstall_purge_leaves_nothing_and_installs_again(states: dict[str, Path]) -> None:
    ok(cli(states["node2"], "uninstall", "-p", "compute-only", *COMPUTE, "--yes", "--purge", timeout=900))
    ok(cli(states["controller"], "uninstall", "-p", "all-in-one", *FAKE, "--yes", "--purge", timeout=900))
    procs, ports = deployment_left()
    assert procs == [] and ports == set(), (procs, ports)
    for path in ("/opt/stack/venv", "/etc/keystone", "/etc/nova", "/etc/neutron", "/var/log/openstack",
                 "/etc/openstack/clouds.yaml"):
        assert not Path(path).exists(), path
    assert list(Path("/etc/tui-installer/units").glob("*.json")) == []
    ok(cli(states["controller"], "install", "-p", "all-in-one", "--yes", *FAKE))
    assert osc("token", "issue", "-f", "value", "-c", "id").strip()
