"""What the end-to-end modules share: the CLI and the openstack client, run as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

PASSPHRASE = "e2e-keyring-passphrase"
FAKE = ["--set", "virt_driver=fake", "--set", "ovs_datapath=netdev"]
NODE2 = "e2enode2"
COMPUTE = [*FAKE, "--set", "controller_host=127.0.0.1", "--set", f"host_name={NODE2}"]
OSC = "/opt/stack/venv/bin/openstack"
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


def secret(state: Path, name: str) -> str:
    env = {**os.environ, "TUI_INSTALLER_KEYRING_PASSPHRASE": PASSPHRASE}
    return subprocess.run([sys.executable, "-m", "tui_installer", "passwords", "show", name, "--state-dir",
                           str(state)], capture_output=True, text=True, env=env, check=True).stdout.strip()
