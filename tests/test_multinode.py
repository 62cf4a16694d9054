"""A real OpenStack over the lab hosts through Ansible (issue 12): the controller's services on lab1 (systemd
as PID 1: servicemgr's systemd units for real) and nova-compute with the Open vSwitch agent on lab2 (systemd),
installed by ONE `tui-installer install --inventory` command (profile multi-node, virt_driver=fake,
ovs_datapath=netdev); then lab3 (sshd alone: servicemgr's start-stop-daemon path) added to the running
cloud by `tui-installer node add`, and at the end taken out by `tui-installer node remove`.

From this machine over the lab network, a real client of the cloud's APIs (keystoneauth1, as the openstack
client uses it) checks: every compute's hypervisor enabled and up, a server forced onto each compute ACTIVE
there; the add ran only lab3's steps and the controller's steps that name the compute hosts; lab1 stopped
and started (labhosts.stop/start) and the cloud answers again without a re-run; a re-run changes nothing;
the removal refused while a server is on lab3, then lab3's hypervisor, service, agents and cell mapping gone
and the host cleaned; a known secret nowhere on this machine's artefacts nor in any file of the compute
nodes but their service config files of mode 0640 or stricter, nor in any process's argv while it ran.

Budget: measured 7.7 min for the three-host install on a quiet machine (2026-12-02); it runs in CI. It
shares the session's lab with tests/test_multihost.py (whose files and these never meet)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from lab import labhosts
from lab.fixture import Lab
from test_multihost import PsSampler, _files_holding

from tui_installer.secrets import SecretStore

#: ``multinode``: a real OpenStack over the lab hosts; `-m "not multinode"` leaves it out of a quick run
pytestmark = [pytest.mark.lab, pytest.mark.multinode]

CLI = [sys.executable, "-m", "tui_installer"]
PASSPHRASE = "lab-keyring-passphrase-multinode"
#: the rabbit password: the one secret every compute node's service configs need
KNOWN = "Kn0wnRabbitSecret4MultiNode7"
SETTINGS = ["--set", "virt_driver=fake", "--set", "ovs_datapath=netdev",
            # lab hosts share this machine's kernel clock: chronyd serves and follows, never sets it (-x)
            "--set", "timesync_keep_clock=true"]
COMPUTES = ("lab2", "lab3")
NODE_PYTHON = "/opt/tui-installer/venv/bin/python"


def _env() -> dict[str, str]:
    return {**os.environ, "TUI_INSTALLER_KEYRING_PASSPHRASE": PASSPHRASE}


#: a compute host installs only the Python packages it runs (no keystone, glance, uWSGI build)
COMPUTE_VARS = ('[compute:vars]\ntui_set_pip_packages="nova neutron python-openstackclient PyMySQL python-memcached '
                'pyroute2"\ntui_set_pip_uncached_packages=""\n')


def _inventory(lab: Lab, tmp_path: Path, without: str) -> Path:
    """The lab's inventory without host ``without`` (added later with `node add`), with COMPUTE_VARS."""
    path = tmp_path / "inventory.ini"
    kept = [line for line in lab.inventory.read_text().splitlines() if not line.startswith(f"{without} ")]
    path.write_text("\n".join(kept) + "\n\n" + COMPUTE_VARS)
    return path


def _install(inventory: Path, state: Path, timeout: float) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run([*CLI, "install", "-p", "multi-node", "--inventory", str(inventory), "--yes",
                             *SETTINGS, "--state-dir", str(state)], env=_env(), capture_output=True, text=True,
                            timeout=timeout)
    return result, time.monotonic() - started


class Cloud:
    """The cloud's APIs from this machine, as admin (keystoneauth1: what the openstack client runs on)."""

    def __init__(self, address: str, password: str) -> None:
        from keystoneauth1 import session
        from keystoneauth1.identity import v3

        auth = v3.Password(auth_url=f"http://{address}:5000/v3", username="admin", password=password,
                           project_name="admin", user_domain_name="Default", project_domain_name="Default")
        self.session = session.Session(auth=auth, timeout=30)

    def get(self, service: str, path: str, **kw: Any) -> Any:
        return self.session.get(path, endpoint_filter={"service_type": service, "interface": "public"},
                                **kw).json()

    def post(self, service: str, path: str, body: dict[str, Any], **kw: Any) -> Any:
        response = self.session.post(path, json=body,
                                     endpoint_filter={"service_type": service, "interface": "public"}, **kw)
        return response.json() if response.content else None

    def hypervisors(self) -> dict[str, tuple[str, str]]:
        data = self.get("compute", "/os-hypervisors/detail")
        return {h["hypervisor_hostname"]: (h["state"], h["status"]) for h in data["hypervisors"]}


def _wait(what: str, check: Any, timeout: float = 180.0, every: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as exc:  # the API coming back up: connection refused, 503
            last = exc
        time.sleep(every)
    raise AssertionError(f"{what}: not after {timeout:.0f} s (last: {last!r})")


def _server_on(cloud: Cloud, host: str, image: str, flavor: str) -> str:
    """A server forced onto ``host`` (availability zone nova:HOST, admin), ACTIVE there; returns its id."""
    body = {"server": {"name": f"lab-{host}-{uuid.uuid4().hex[:6]}", "imageRef": image, "flavorRef": flavor,
                       "networks": "none", "availability_zone": f"nova:{host}"}}
    server = cloud.post("compute", "/servers", body, headers={"OpenStack-API-Version": "compute 2.37"})["server"]

    def active() -> dict[str, Any] | None:
        found = cloud.get("compute", f"/servers/{server['id']}")["server"]
        assert found["status"] != "ERROR", found.get("fault")
        return found if found["status"] == "ACTIVE" else None

    found = _wait(f"server on {host} ACTIVE", active, timeout=240)
    assert found["OS-EXT-SRV-ATTR:host"] == host, found
    return str(server["id"])


def _image_and_flavor(cloud: Cloud) -> tuple[str, str]:
    image = cloud.post("image", "/v2/images", {"name": f"lab-{uuid.uuid4().hex[:6]}", "disk_format": "raw",
                                               "container_format": "bare", "visibility": "public"})
    cloud.session.put(f"/v2/images/{image['id']}/file", data=b"\0" * 4096,
                      headers={"Content-Type": "application/octet-stream"},
                      endpoint_filter={"service_type": "image", "interface": "public"})
    _wait("image active", lambda: cloud.get("image", f"/v2/images/{image['id']}")["status"] == "active", 60, 1)
    flavor = cloud.post("compute", "/flavors", {"flavor": {"name": f"lab-{uuid.uuid4().hex[:6]}", "ram": 64,
                                                           "vcpus": 1, "disk": 1}})["flavor"]
    return str(image["id"]), str(flavor["id"])


def _units(lab: Lab, host: str) -> list[str]:
    out = lab.ssh(host, "ls /etc/tui-installer/units/").stdout.split()
    return sorted(name.removesuffix(".json") for name in out if name.endswith(".json"))


def _ran(state: Path, run: str) -> list[str]:
    events = (state / "runs" / run / "events.jsonl").read_text().splitlines()
    return [e["step"] for e in map(json.loads, events) if e["type"] == "step_finished"]


def _runs(state: Path) -> list[str]:
    return sorted(p.name for p in (state / "runs").iterdir())


def _node(state: Path, *argv: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "node", *argv, "--yes", "--state-dir", str(state)], env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def _check_compute_node(lab: Lab, host: str) -> None:
    """``host`` runs exactly its compute services, under systemd where it has one, with standard bridges and
    neither the admin cloud nor the API's config."""
    assert _units(lab, host) == [f"neutron-ovs-agent-{host}", f"nova-compute-{host}"], host
    listed = lab.ssh(host, "ls /etc/openstack /etc/nova /etc/neutron 2>&1", check=False).stdout
    assert "clouds.yaml" not in listed and "nova.conf\n" not in listed, listed  # no admin cloud, no API
    assert lab.ssh(host, "ovs-vsctl list-br").stdout.split() == ["br-int", "br-tun"], host  # standard names
    if lab.ssh(host, "test -d /run/systemd/system", check=False).returncode == 0:
        _check_systemd_units(lab, host)
    else:  # no systemd: servicemgr started its services as daemons (start-stop-daemon)
        listed = lab.ssh(host, f"{NODE_PYTHON} -m tui_installer.ops.servicemgr list").stdout
        for unit in _units(lab, host):
            assert re.search(rf"{unit}.*running", listed), listed


def _check_systemd_units(lab: Lab, host: str) -> None:
    for unit in _units(lab, host):
        active = lab.ssh(host, f"systemctl is-active openstack@{unit}.service", check=False).stdout.strip()
        enabled = lab.ssh(host, f"systemctl is-enabled openstack@{unit}.service", check=False).stdout.strip()
        assert (active, enabled) == ("active", "enabled"), (host, unit, active, enabled)


def _check_secret_files(lab: Lab, host: str) -> None:
    """The rabbit password on ``host`` only in its service config files, each 0640 or stricter."""
    upper = lab.upper(host)
    holding = _files_holding(upper, KNOWN)
    assert holding, f"{host}: the rabbit password must be in its service configs"
    for path in holding:
        relative = "/" + str(Path(path).relative_to(upper))
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert relative.startswith(("/etc/nova/", "/etc/neutron/")) and relative.endswith((".conf", ".ini")), \
            (host, relative)
        assert mode & 0o137 == 0, (host, relative, oct(mode))


def _reported_since(cloud: Cloud, since: float) -> set[str]:
    """The compute hosts whose nova-compute sent a heartbeat after ``since`` (epoch seconds)."""
    from datetime import datetime, timezone

    found = set()
    for service in cloud.get("compute", "/os-services")["services"]:
        stamp = service.get("updated_at")
        if service["binary"] == "nova-compute" and stamp:
            when = datetime.fromisoformat(stamp.split(".")[0]).replace(tzinfo=timezone.utc).timestamp()
            if when > since:
                found.add(service["host"])
    return found


def _compute_logs(lab: Lab) -> str:
    """For a failure's message: each compute's nova-compute processes and its log's tail."""
    parts = []
    for host in COMPUTES:
        out = lab.ssh(host, f"pgrep -af nova-compute; tail -n 30 /var/log/openstack/nova-compute-{host}.log",
                      check=False).stdout
        parts.append(f"--- {host}:\n{out}")
    return "\n".join(parts)


def test_openstack_over_lab_hosts_then_a_compute_added_and_removed(lab: Lab, tmp_path: Path) -> None:
    budget_started = time.monotonic()
    state = tmp_path / "state"
    store = SecretStore.open(state, passphrase=PASSPHRASE)
    store.set("rabbit_password", KNOWN)
    inventory = _inventory(lab, tmp_path, without="lab3")
    lab3 = next(h for h in lab.hosts if h.name == "lab3")
    with PsSampler() as ps:
        first, install_seconds = _install(inventory, state, timeout=1500)
    output = first.stdout + first.stderr
    assert first.returncode == 0, output[-6000:]
    print(f"\ninstall on lab1, lab2: {install_seconds:.0f} s")
    assert "tui-installer in /opt/tui-installer on lab1, lab2: installed on lab1, lab2" in first.stdout
    assert ps.samples > 100 and ps.hits == [], ps.hits[:3]

    # where each service ran: the controller's on lab1 (systemd units enabled and active), lab2's its own
    assert _units(lab, "lab1") == ["glance-api", "keystone", "neutron-api", "neutron-rpc-server", "nova-api",
                                   "nova-conductor", "nova-scheduler", "placement"]
    _check_systemd_units(lab, "lab1")
    _check_compute_node(lab, "lab2")

    # the cloud, from this machine: lab2 up and enabled, a server forced onto it ACTIVE there
    admin = SecretStore.open(state, passphrase=PASSPHRASE).values(["admin_password"])["admin_password"]
    controller = next(h.address for h in lab.hosts if h.name == "lab1")
    cloud = Cloud(controller, admin)
    assert cloud.hypervisors() == {"lab2": ("up", "enabled")}
    image, flavor = _image_and_flavor(cloud)
    _server_on(cloud, "lab2", image, flavor)

    # lab3 added to the running cloud: one command; only lab3's steps and the controller's steps that name
    # the compute hosts (the cell mapping and the check of every hypervisor and agent) run
    before = set(_runs(state))
    started = time.monotonic()
    with PsSampler() as ps:
        added = _node(state, "add", "lab3", "--address", lab3.address, timeout=1200)
    add_seconds = time.monotonic() - started
    assert added.returncode == 0, (added.stdout + added.stderr)[-6000:]
    print(f"node add lab3: {add_seconds:.0f} s")
    assert ps.hits == [], ps.hits[:3]
    assert "node lab3 added" in added.stdout and "installed on lab3" in added.stdout
    (add_run,) = set(_runs(state)) - before
    ran = _ran(state, add_run)
    on_controller = sorted(step for step in ran if not step.endswith("@lab3"))
    assert on_controller == ["neutron.verify.compute-agents@lab1", "nova.verify.computes@lab1"], on_controller
    assert len(ran) > 20, ran
    assert "lab3 ansible_host=" in inventory.read_text()
    _check_compute_node(lab, "lab3")
    assert cloud.hypervisors() == {"lab2": ("up", "enabled"), "lab3": ("up", "enabled")}
    on_lab3 = _server_on(cloud, "lab3", image, flavor)
    for host in ("lab2", "lab3"):
        _check_secret_files(lab, host)

    # the controller's host stopped and started: systemd brings the cloud back, no re-run
    lab1 = next(h for h in lab.hosts if h.name == "lab1")
    labhosts.stop(lab1)
    labhosts.start(lab1)
    restarted = time.time()
    cloud = Cloud(controller, admin)
    # up by a heartbeat sent after the restart (the last one before it would read "up" for a minute)
    try:
        _wait("every compute reporting after lab1's restart", lambda: _reported_since(cloud, restarted) == set(COMPUTES)
              and all(cloud.hypervisors().get(h) == ("up", "enabled") for h in COMPUTES), timeout=300)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_compute_logs(lab)}") from None
    for unit in _units(lab, "lab1"):  # systemd starts them again in their order (mariadb, rabbit first)
        _wait(f"openstack@{unit} active again on lab1", lambda unit=unit: lab.ssh(
            "lab1", f"systemctl is-active openstack@{unit}.service", check=False).stdout.strip() == "active",
            timeout=240)
    _server_on(cloud, "lab2", image, flavor)

    # a re-run of the first command on the grown inventory changes nothing on any host
    again, rerun_seconds = _install(inventory, state, timeout=900)
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    print(f"re-run: {rerun_seconds:.0f} s")
    assert not re.search(r"^\[[0-9:]+\]\s+ok\s", again.stdout, re.M), "a step ran again on the re-run"
    assert "already there on lab1, lab2, lab3" in again.stdout

    # removing lab3 while a server is on it: refused before anything stops, lab3 still serving
    refused = _node(state, "remove", "lab3", timeout=600)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    log = state / "runs" / _runs(state)[-1] / "logs" / "nova-compute.stop.servers-gone-lab3@lab1.log"
    assert "servers are still on lab3" in log.read_text(), log.read_text()[-2000:]
    assert "lab3" in inventory.read_text() and cloud.hypervisors().get("lab3") == ("up", "enabled"), _compute_logs(lab)
    cloud.session.delete(f"/servers/{on_lab3}", endpoint_filter={"service_type": "compute", "interface": "public"})
    _wait("the server on lab3 deleted", lambda: cloud.session.get(
        f"/servers/{on_lab3}", endpoint_filter={"service_type": "compute", "interface": "public"},
        raise_exc=False).status_code == 404, timeout=120)

    # removed: its services deleted at the controller, its agents removed, the host cleaned
    started = time.monotonic()
    removed = _node(state, "remove", "lab3", timeout=900)
    remove_seconds = time.monotonic() - started
    assert removed.returncode == 0, (removed.stdout + removed.stderr)[-6000:]
    print(f"node remove lab3: {remove_seconds:.0f} s")
    assert "node lab3 removed" in removed.stdout
    assert cloud.hypervisors() == {"lab2": ("up", "enabled")}
    services = cloud.get("compute", "/os-services")["services"]
    assert [s["host"] for s in services if s["binary"] == "nova-compute"] == ["lab2"], services
    agents = cloud.get("network", "/v2.0/agents")["agents"]
    assert sorted(a["host"] for a in agents) == ["lab2"], [(a["host"], a["agent_type"]) for a in agents]
    left = lab.ssh("lab3", "ls -d /opt/stack /opt/tui-installer /etc/nova /etc/neutron /etc/tui-installer/units/*.json "
                           "2>/dev/null; pgrep -af 'nova-compute|neutron-openvswitch-agent'", check=False).stdout
    assert left.strip() == "", left
    assert "lab3" not in inventory.read_text()
    _server_on(cloud, "lab2", image, flavor)  # the cloud still schedules on what is left

    # the known secret: nowhere on this machine's artefacts (the keyring is encrypted)
    artefacts = [p for p in _files_holding(state, KNOWN) if not p.endswith("keyring.cfg")]
    assert artefacts == [], artefacts
    total = time.monotonic() - budget_started
    print(f"test: {total:.0f} s")
