"""What the end-to-end modules share: the CLI and the openstack client run as an operator would, and the one
all-in-one cloud of the session (``Cloud``; the fixture is in conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

PASSPHRASE = "e2e-keyring-passphrase"
NETDEV = ["--set", "ovs_datapath=netdev"]
LIBVIRT = ["--set", "virt_driver=libvirt", "--set", "libvirt_virt_type=qemu", *NETDEV]
FAKE = ["--set", "virt_driver=fake", *NETDEV]
NODE2 = "e2enode2"
COMPUTE = [*FAKE, "--set", "controller_host=127.0.0.1", "--set", f"host_name={NODE2}"]
OSC = "/opt/stack/venv/bin/openstack"
PORTS = {3306, 5672, 25672, 4369, 11211, 5000, 8778, 9292, 8774, 8775, 9696, 6633, 6634, 6640,
         8776, 8004, 8080}  # (the last: cinder-api, heat-api, horizon)
# (guests, dnsmasq and haproxy by what only ours have in their command lines: other QEMUs may run here)
PROGRAMS = ("/opt/stack/venv/", "mariadbd", "beam.smp", "epmd", "memcached", "ovs-vswitchd", "ovsdb-server",
            "libvirtd", "virtlogd", "guest=instance-", "/var/lib/neutron")
SERVICES = ("keystone", "placement", "glance", "nova", "neutron", "nova-metadata", "cinder", "heat")
DATABASES = ("keystone", "placement", "glance", "nova", "nova_api", "nova_cell0", "neutron", "cinder", "heat")
HUNG = 300  # seconds: a TCG guest boots in ~15 s on a loaded 2-core host; past this it is hung, not slow
TIMINGS: list[tuple[str, float]] = []




def cli(state: Path, *args: str, timeout: float = 2400) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TUI_INSTALLER_KEYRING_PASSPHRASE": PASSPHRASE}
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "tui_installer", *args, "--state-dir", str(state)],
                          capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL)
    TIMINGS.append((" ".join(args[:3]), time.monotonic() - t0))
    return done


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def osc(*args: str, timeout: float = 300) -> str:
    done = subprocess.run([OSC, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OS_CLOUD": "admin"})
    assert done.returncode == 0, f"openstack {' '.join(args)}: {done.stderr[-3000:]}"
    return done.stdout


def osc_json(*args: str) -> dict:
    return json.loads(osc(*args, "-f", "json"))


def journal(state: Path) -> dict:
    run = (state / "last-run").read_text().strip()
    return json.loads((state / "runs" / run / "journal.json").read_text())


def until(what: str, check: Callable[[], bool], timeout: float = HUNG, pause: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not after {timeout:.0f} s"
        time.sleep(pause)


class Cloud:
    """The shared deployment: the controller's state dir, and the compute-only node's when installed."""

    def __init__(self, base: Path) -> None:
        self.controller, self.node2 = base / "controller", base / "node2"
        self.node2_installed = False

    def install(self) -> None:
        ok(cli(self.controller, "install", "-p", "all-in-one", "--yes", *LIBVIRT))

    def install_node2(self) -> None:
        if self.node2_installed:
            return
        env = {**os.environ, "TUI_INSTALLER_KEYRING_PASSPHRASE": PASSPHRASE}
        for name in ("admin_password", "rabbit_password", "nova_password"):
            value = subprocess.run([sys.executable, "-m", "tui_installer", "passwords", "show", name, "--state-dir",
                                    str(self.controller)], capture_output=True, text=True, env=env).stdout
            subprocess.run([sys.executable, "-m", "tui_installer", "passwords", "set", name, "--state-dir",
                            str(self.node2)], input=value, text=True, env=env, check=True, capture_output=True)
        ok(cli(self.node2, "install", "-p", "compute-only", "--yes", *COMPUTE))
        self.node2_installed = True

    def purge_node2(self) -> subprocess.CompletedProcess[str]:
        self.node2_installed = False
        return cli(self.node2, "uninstall", "-p", "compute-only", *COMPUTE, "--yes", "--purge", timeout=900)

    def purge(self) -> subprocess.CompletedProcess[str]:
        return cli(self.controller, "uninstall", "-p", "all-in-one", *LIBVIRT, "--yes", "--purge", timeout=900)

    @property
    def networks(self) -> dict:
        return json.loads((self.controller / "networks.json").read_text())


def secret(state: Path, name: str) -> str:
    env = {**os.environ, "TUI_INSTALLER_KEYRING_PASSPHRASE": PASSPHRASE}
    return subprocess.run([sys.executable, "-m", "tui_installer", "passwords", "show", name, "--state-dir",
                           str(state)], capture_output=True, text=True, env=env, check=True).stdout.strip()
