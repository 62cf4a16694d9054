"""Host facts and the TUI's host checks (psutil, /etc/os-release); no Textual, so it is unit-testable.

These checks only read the host. They are the operator's first look; the profile's own ``preflight``
phase (run by the engine) is what refuses an install.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import psutil

GIB = 1024 ** 3
SUPPORTED = {("debian", "12"), ("debian", "13"), ("ubuntu", "22.04"), ("ubuntu", "24.04")}
#: (min RAM GiB to pass, to warn; min free disk GiB to pass, to warn) per profile; default for others
NEEDS = {"all-in-one": (8, 4, 20, 10), "compute-only": (4, 2, 10, 5)}
DEFAULT_NEEDS = (2, 1, 2, 1)


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


def os_release(path: Path = Path("/etc/os-release")) -> dict[str, str]:
    values = {}
    try:
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip().strip('"')
    except OSError:
        pass
    return values


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
    rel = os_release()
    mem = psutil.virtual_memory()
    disk = shutil.disk_usage(_existing(state_dir))
    cpu_model = _cpu_model()
    return [
        ("System", rel.get("PRETTY_NAME", "unknown")),
        ("Host name", socket.gethostname()),
        ("CPU", f"{psutil.cpu_count() or '?'} cores{', ' + cpu_model if cpu_model else ''}"),
        ("Memory", f"{mem.total / GIB:.1f} GiB, {mem.available / GIB:.1f} GiB available"),
        ("Disk", f"{disk.free / GIB:.1f} GiB free of {disk.total / GIB:.1f} GiB at {_existing(state_dir)}"),
    ]


def checks(profile: str | None, state_dir: Path) -> list[Check]:
    ram_ok, ram_warn, disk_ok, disk_warn = NEEDS.get(profile or "", DEFAULT_NEEDS)
    rel = os_release()
    distro = (rel.get("ID", ""), rel.get("VERSION_ID", ""))
    mem = psutil.virtual_memory().total / GIB
    free = shutil.disk_usage(_existing(state_dir)).free / GIB
    result = [
        Check("root", "pass" if os.geteuid() == 0 else "fail",
              "running as root" if os.geteuid() == 0 else "the install needs root (packages, services)"),
        _distro_check(distro, rel.get("ID_LIKE", "")),
        _level("memory", mem, ram_ok, ram_warn, "GiB RAM"),
        _level("disk", free, disk_ok, disk_warn, "GiB free"),
        _resolvable(),
        Check("network", "pass" if host_addresses() else "warn",
              "an interface is up" if host_addresses() else "no interface with an address is up"),
    ]
    return result


def _distro_check(distro: tuple[str, str], like: str) -> Check:
    name = " ".join(distro).strip() or "unknown"
    if distro in SUPPORTED:
        return Check("distribution", "pass", f"{name} is supported")
    if distro[0] in ("debian", "ubuntu") or "debian" in like:
        return Check("distribution", "warn", f"{name} is not tested; Debian 12 or Ubuntu 22.04/24.04 are")
    return Check("distribution", "fail", f"{name}: only Debian and Ubuntu are supported")


def _level(name: str, value: float, ok: float, warn: float, unit: str) -> Check:
    if value >= ok:
        return Check(name, "pass", f"{value:.1f} {unit} (>= {ok} wanted)")
    if value >= warn:
        return Check(name, "warn", f"{value:.1f} {unit}: enough for a lab, {ok} recommended")
    return Check(name, "fail", f"{value:.1f} {unit}: at least {warn} needed")


def _resolvable() -> Check:
    name = socket.gethostname()
    try:
        socket.getaddrinfo(name, None)
    except OSError:
        return Check("host name", "fail", f"{name} does not resolve (add it to /etc/hosts)")
    return Check("host name", "pass", f"{name} resolves")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())[:40]
    except OSError:
        pass
    return ""


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
