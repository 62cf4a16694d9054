"""Host facts and the chosen profile's preflight checks (psutil, /etc/os-release); no Textual.

These checks only read the host: the same checks the profile's ``preflight`` phase runs (and refuses an
install with), taken from its plan and run here early for the operator's first look.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from tui_installer import catalog
from tui_installer import plan as planning
from tui_installer.errors import UserError
from tui_installer.ops import preflight

GIB = 1024 ** 3


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # pass | warn | fail
    why: str


@dataclass(frozen=True)
class Interface:
    name: str
    up: bool
    addresses: tuple[str, ...]


def interfaces() -> list[Interface]:
    """Interfaces with their IPv4/IPv6 addresses (link-local IPv6 left out), loopback last."""
    stats = psutil.net_if_stats()
    found = []
    for name, addrs in psutil.net_if_addrs().items():
        ips = tuple(a.address.split("%")[0] for a in addrs
                    if a.family in (socket.AF_INET, socket.AF_INET6) and not a.address.startswith("fe80"))
        found.append(Interface(name, bool(stats.get(name) and stats[name].isup), ips))
    return sorted(found, key=lambda i: (i.name == "lo", i.name))


def host_addresses() -> list[str]:
    """Addresses an operator may pick as ``host_ip``: IPv4 of up interfaces, loopback last."""
    ips = [ip for i in interfaces() if i.up for ip in i.addresses if ":" not in ip]
    return sorted(dict.fromkeys(ips), key=lambda ip: ip.startswith("127."))


def facts(state_dir: Path) -> list[tuple[str, str]]:
    rel = preflight.os_release()
    mem = psutil.virtual_memory()
    where = preflight.existing_parent(state_dir)
    disk = shutil.disk_usage(where)
    cpu_model = _cpu_model()
    return [
        ("System", rel.get("PRETTY_NAME", "unknown")),
        ("Host name", socket.gethostname()),
        ("CPU", f"{psutil.cpu_count() or '?'} cores{', ' + cpu_model if cpu_model else ''}"),
        ("Memory", f"{mem.total / GIB:.1f} GiB, {mem.available / GIB:.1f} GiB available"),
        ("Disk", f"{disk.free / GIB:.1f} GiB free of {disk.total / GIB:.1f} GiB at {where}"),
    ]


def checks(profile: str | None, state_dir: Path) -> list[Check]:
    """The chosen profile's own preflight checks (the ``tui_installer.ops.preflight`` steps of its plan),
    run here read-only, plus whether any interface is up. Default profile: all-in-one."""
    limits, problem = preflight_limits(profile or "all-in-one")
    found = preflight.run_checks(min_ram_mb=limits["min_ram_mb"], min_disk_gb=limits["min_disk_gb"],
                                 disk_path=limits["disk_path"] or str(preflight.existing_parent(state_dir)),
                                 ports=limits["ports"], host_name=limits["host_name"])
    result = [Check(c.name, c.status, c.detail) for c in found]
    if problem:
        result.append(Check("plan", "warn", problem))
    up = bool(host_addresses())
    result.append(Check("network", "pass" if up else "warn",
                        "an interface is up" if up else "no interface with an address is up"))
    return result


def preflight_limits(profile: str) -> tuple[dict[str, Any], str]:
    """Thresholds and ports from the plan's preflight steps, merged (strictest wins)."""
    limits: dict[str, Any] = {"min_ram_mb": 0, "min_disk_gb": 0.0, "disk_path": None, "ports": [],
                              "host_name": None}
    try:
        plan = planning.build(catalog.load_profile(profile))
    except (UserError, OSError) as exc:
        return limits, f"no plan for {profile} yet: {exc}"
    parser = argparse.ArgumentParser(add_help=False)
    for option in ("--min-ram-mb", "--min-disk-gb", "--disk-path", "--host-name"):
        parser.add_argument(option)
    parser.add_argument("--port", action="append", default=[])
    for step in (s for phase in plan.phases if phase.name == "preflight" for s in phase.steps):
        words = shlex.split(step.shell) if step.shell else list(step.argv)
        if "tui_installer.ops.preflight" not in words:
            continue
        args, _ = parser.parse_known_args(words[words.index("tui_installer.ops.preflight") + 1:])
        limits["min_ram_mb"] = max(limits["min_ram_mb"], int(args.min_ram_mb or 0))
        limits["min_disk_gb"] = max(limits["min_disk_gb"], float(args.min_disk_gb or 0))
        limits["disk_path"] = args.disk_path or limits["disk_path"]
        limits["host_name"] = args.host_name or limits["host_name"]
        limits["ports"] += [preflight._port_spec(p) for p in args.port]
    return limits, ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())[:40]
    except OSError:
        pass
    return ""


