"""Benchmark (issue 10): how long a real guest takes on the all-in-one cloud (libvirt, QEMU/TCG, netdev).

    sudo .venv/bin/python bench/vm.py [--rounds N]

Needs an installed all-in-one (``virt_driver=libvirt``, the first networks) and clouds.yaml; run it under the
deploy lock. In one run, alternating per round:
  A. baseline: plain ``qemu-system-x86_64 -accel tcg`` boots the same tiny image (tests/scripts/tinyimage.py)
     from its qcow2, user-mode network; seconds from start to the boot marker on the serial console;
  B. the cloud: ``openstack server create`` on ``private`` → ACTIVE → boot marker in ``console log show``
     → DHCP lease → metadata uuid; then ``floating ip create`` + ``server add floating ip`` → first ping
     answered from inside the router's namespace (``ip netns exec qrouter-… ping``).
It prints a Markdown table (median and range). Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

OSC = "/opt/stack/venv/bin/openstack"
HUNG = 300.0


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from scripts import tinyimage  # noqa: E402  (tests/scripts: the one copy of the image builder)


def osc(*args: str) -> str:
    done = subprocess.run([OSC, *args], capture_output=True, text=True, env={**os.environ, "OS_CLOUD": "admin"},
                          timeout=300)
    if done.returncode != 0:
        sys.exit(f"openstack {' '.join(args)}: {done.stderr[-2000:]}")
    return done.stdout


def wait(check: Callable[[], bool], pause: float = 0.5) -> None:
    deadline = time.monotonic() + HUNG
    while not check():
        if time.monotonic() > deadline:
            sys.exit("hung: no progress in 300 s")
        time.sleep(pause)


def baseline(image: Path) -> float:
    """Plain QEMU/TCG, same image, same memory: start → boot marker."""
    qemu = shutil.which("qemu-system-x86_64") or sys.exit("qemu-system-x86_64 missing")
    with tempfile.TemporaryDirectory() as tmp:
        console = Path(tmp) / "console"
        t0 = time.monotonic()
        proc = subprocess.Popen([qemu, "-accel", "tcg", "-m", "256", "-display", "none", "-monitor", "none",
                                 "-no-reboot", "-serial", f"file:{console}", "-drive",
                                 f"file={image},if=virtio,format=qcow2,snapshot=on", "-netdev", "user,id=n0",
                                 "-device", "virtio-net-pci,netdev=n0"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            wait(lambda: console.exists() and tinyimage.MARKER in console.read_text(errors="replace"), 0.2)
            return time.monotonic() - t0
        finally:
            proc.kill()
            proc.wait()


def shows(server: str, mark: str) -> Callable[[], bool]:
    return lambda: mark in osc("console", "log", "show", server)


def cloud_round(image: str, namespace: str) -> dict[str, float]:
    name = f"bench-vm-{os.getpid()}"
    times: dict[str, float] = {}
    t0 = time.monotonic()
    osc("server", "create", "--image", image, "--flavor", "bench-flavor", "--network", "private", name)
    try:
        wait(lambda: osc("server", "show", name, "-f", "value", "-c", "status").strip() == "ACTIVE")
        times["ACTIVE"] = time.monotonic() - t0
        marks = {"boot marker": tinyimage.MARKER, "DHCP lease": "TINY-LEASE", "metadata uuid": "META-UUID="}
        for label, mark in marks.items():
            wait(shows(name, mark))
            times[label] = time.monotonic() - t0
        fip = osc("floating", "ip", "create", "public", "-f", "value", "-c", "floating_ip_address").strip()
        t1 = time.monotonic()
        osc("server", "add", "floating", "ip", name, fip)
        wait(lambda: subprocess.run(["ip", "netns", "exec", namespace, "ping", "-c", "1", "-W", "1", fip],
                                    capture_output=True).returncode == 0, 0.2)
        times["floating IP ping (from associate)"] = time.monotonic() - t1
        times["floating IP ping (from create)"] = time.monotonic() - t0
        osc("floating", "ip", "delete", fip)
    finally:
        subprocess.run([OSC, "server", "delete", "--wait", name], capture_output=True,
                       env={**os.environ, "OS_CLOUD": "admin"})
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--state-dir", default="/var/lib/tui-installer",
                        help="the install's state dir (its networks.json names the router's namespace)")
    args = parser.parse_args()
    namespace = json.loads((Path(args.state_dir) / "networks.json").read_text())["router"]["namespace"]
    built = tinyimage.build()
    osc("image", "create", "--disk-format", "qcow2", "--container-format", "bare", "--file", str(built.qcow2),
        "bench-tiny")
    osc("flavor", "create", "--ram", "256", "--disk", "1", "--vcpus", "1", "bench-flavor")
    results: dict[str, list[float]] = {}
    try:
        for _ in range(args.rounds):
            results.setdefault("plain QEMU/TCG: start → boot marker (baseline)", []).append(baseline(built.qcow2))
            for label, seconds in cloud_round("bench-tiny", namespace).items():
                results.setdefault(f"server create → {label}", []).append(seconds)
    finally:
        osc("image", "delete", "bench-tiny")
        osc("flavor", "delete", "bench-flavor")
    load = os.getloadavg()[0]
    print(f"\n| measure ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {load:.1f}, "
          f"{args.rounds} rounds) | median | min–max |\n|---|---|---|")
    for label, values in results.items():
        print(f"| {label} | {statistics.median(values):.1f} s | {min(values):.1f}–{max(values):.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
