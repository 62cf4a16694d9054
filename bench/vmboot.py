"""Benchmark (issue 10): the tiny guest image (tests/scripts/tinyimage.py), built and booted under plain QEMU TCG.

    .venv/bin/python bench/vmboot.py [--rounds 3]

In one run, interleaved round by round:
  build: the image from a fresh cache (kernel copy, initramfs, disk, qcow2), then from the cache;
  A. boot from the qcow2 on a virtio disk (SeaBIOS, syslinux's MBR and FAT loader, then the kernel) — what a
     cloud does;
  B. the baseline: the same kernel, initramfs and command line given to QEMU directly (-kernel/-initrd);
each timed from QEMU's start to the boot marker, the DHCP lease, the metadata uuid and TINY-READY on the
serial console. QEMU user-net's DHCP and a guestfwd metadata answer stand in for the cloud. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = (("marker", "TINY-BOOT-OK"), ("lease", "TINY-LEASE"), ("metadata", "META-UUID="), ("ready", "TINY-READY"))
HUNG = 300.0


sys.path.insert(0, str(ROOT / "tests"))
from scripts import tinyimage  # noqa: E402  (tests/scripts: the one copy of the image builder)


def boot(built: Any, work: Path, from_disk: bool) -> dict[str, float]:
    """Seconds from QEMU's start to each console event."""
    console = work / f"console-{uuid.uuid4().hex[:8]}.log"
    netdev = tinyimage.user_netdev(str(uuid.uuid4()))
    argv = tinyimage.qemu_argv(console, netdev, disk=built.qcow2 if from_disk else None,
                               direct=None if from_disk else built)
    start = time.monotonic()
    qemu = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: dict[str, float] = {}
    try:
        while len(seen) < len(EVENTS) and time.monotonic() - start < HUNG and qemu.poll() is None:
            text = console.read_text(errors="replace") if console.exists() else ""
            for name, line in EVENTS:
                if name not in seen and line in text:
                    seen[name] = time.monotonic() - start
            time.sleep(0.02)
    finally:
        qemu.kill()
        qemu.wait()
    if len(seen) < len(EVENTS):
        sys.exit(f"boot {'disk' if from_disk else 'direct'} incomplete after {time.monotonic() - start:.0f} s: "
                 f"{seen}\n{console.read_text(errors='replace')}")
    return seen


def fmt(values: list[float]) -> str:
    return f"{min(values):.2f} s ({statistics.median(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cold: list[float] = []
    warm: list[float] = []
    runs: dict[str, list[dict[str, float]]] = {"disk": [], "direct": []}
    with tempfile.TemporaryDirectory(prefix="vmboot-") as tmp:
        work = Path(tmp)
        for r in range(args.rounds):
            cache = work / f"cache{r}"
            cold.append(tinyimage.build(cache_dir=cache).seconds)
            built = tinyimage.build(cache_dir=cache)
            warm.append(built.seconds)
            for name in ("disk", "direct") if r % 2 == 0 else ("direct", "disk"):
                runs[name].append(boot(built, work, from_disk=name == "disk"))
                print(f"round {r + 1} {name}: " + ", ".join(f"{k} {v:.2f} s" for k, v in runs[name][-1].items()),
                      flush=True)
        size = built.qcow2.stat().st_size
    load = open("/proc/loadavg").read().split()[0]
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {load}, {args.rounds} rounds, best (median)")
    print(f"image: {size / 1024 / 1024:.1f} MiB qcow2; build cold {fmt(cold)}, from cache {fmt(warm)}")
    print("| boot (QEMU TCG) | " + " | ".join(name for name, _ in EVENTS) + " |")
    print("|---|" + "---|" * len(EVENTS))
    for label, key in (("A. qcow2 on a virtio disk (BIOS + syslinux)", "disk"),
                       ("B. baseline: -kernel/-initrd", "direct")):
        print(f"| {label} | " + " | ".join(fmt([run[name] for run in runs[key]]) for name, _ in EVENTS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
