"""Multi-host benchmark (not a test; root): ``.venv/bin/python bench/multihost.py [--repeat 3]``.

Brings up the three lab hosts (tests/lab/labhosts.py; the cached root filesystem is built first if
missing) and times, interleaved, ``repeat`` times each:
  (a) the demo profile installed on this machine alone (the baseline: the local executor, no Ansible);
  (b) the demo profile on one lab host through Ansible (the cost of Ansible and SSH per step);
  (c) the demo profile on three lab hosts through Ansible (each step one ansible-playbook run on all
      three hosts in parallel);
  (d) the same three-host command again: every (step, host) done, nothing runs (the resume path).
Each install starts from a fresh state directory and fresh nodes' markers. Prints best (median) seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from lab import labhosts  # noqa: E402

CLI = [sys.executable, "-m", "tui_installer"]
ENV = {**os.environ, "TUI_INSTALLER_KEYRING_PASSPHRASE": "bench-keyring-pass"}


def install(state: Path, *extra: str) -> float:
    started = time.monotonic()
    subprocess.run([*CLI, "install", "-p", "demo", "--yes", "--quiet", "--state-dir", str(state), *extra],
                   env=ENV, check=True, capture_output=True)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    started = time.monotonic()
    labhosts.build_rootfs()
    built = time.monotonic() - started
    started = time.monotonic()
    hosts = labhosts.up(3, sshd_only=1)
    up = time.monotonic() - started
    base = labhosts.lab_dir()
    one = base / "inventory-one.ini"
    one.write_text((base / "inventory.ini").read_text().split("[compute]")[0] + "[compute]\n")
    times: dict[str, list[float]] = {"a": [], "b": [], "c": [], "d": []}
    try:
        for _ in range(args.repeat):
            for host in hosts:
                subprocess.run([*labhosts.ssh_argv(host.name, base), "rm -f /tmp/hello-marker"], check=True)
            Path("/tmp/hello-marker").unlink(missing_ok=True)
            with tempfile.TemporaryDirectory() as tmp:
                times["a"].append(install(Path(tmp) / "a"))
                times["b"].append(install(Path(tmp) / "b", "--inventory", str(one)))
                subprocess.run([*labhosts.ssh_argv("lab1", base), "rm -f /tmp/hello-marker"], check=True)
                times["c"].append(install(Path(tmp) / "c", "--inventory", str(base / "inventory.ini")))
                times["d"].append(install(Path(tmp) / "c", "--inventory", str(base / "inventory.ini")))
    finally:
        started = time.monotonic()
        labhosts.down(quiet=True)
        down = time.monotonic() - started
    load = os.getloadavg()[0]
    print(f"rootfs ready {built:.1f} s (0 when cached), up (3 hosts to ssh) {up:.1f} s, down {down:.1f} s, "
          f"load {load:.1f}")
    names = {"a": "demo on this machine (local executor)", "b": "demo on 1 lab host through Ansible",
             "c": "demo on 3 lab hosts through Ansible", "d": "re-run on 3 hosts (all done)"}
    for key, name in names.items():
        print(f"| {name} | {min(times[key]):.1f} s ({statistics.median(times[key]):.1f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
