"""Host checks that refuse early what would fail late: not root, unsupported distro, too little RAM or
disk, host name not resolvable, a port taken by someone else.

Used by the TUI's host screen (``run_checks``) and by plan steps (``python -m tui_installer.ops.preflight``),
which exit 1 with one line per failed check saying why and what to do.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

PASS, WARN, FAIL = "pass", "warn", "fail"
SUPPORTED = {"debian": ("12", "13"), "ubuntu": ("22.04", "24.04")}


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str


def os_release(path: str = "/etc/os-release") -> dict[str, str]:
    values = {}
    try:
        for line in Path(path).read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key] = value.strip().strip('"')
    except OSError:
        pass
    return values


def check_root() -> Check:
    if os.geteuid() == 0:
        return Check("root", PASS, "running as root")
    return Check("root", FAIL, "not running as root: installing packages and services needs root (use sudo)")


def check_distro(release: dict[str, str] | None = None) -> Check:
    release = release if release is not None else os_release()
    distro, version = release.get("ID", "?"), release.get("VERSION_ID", "?")
    name = release.get("PRETTY_NAME", f"{distro} {version}")
    if version in SUPPORTED.get(distro, ()):
        return Check("distro", PASS, name)
    if distro in SUPPORTED:
        return Check("distro", WARN, f"{name}: untested version (tested: {', '.join(SUPPORTED[distro])})")
    return Check("distro", FAIL, f"{name}: unsupported (Debian 12/13 or Ubuntu 22.04/24.04 are)")


def check_ram(min_mb: int) -> Check:
    total = psutil.virtual_memory().total // 2**20
    detail = f"{total} MiB of RAM, {min_mb} MiB needed"
    return Check("ram", PASS if total >= min_mb else FAIL, detail if total >= min_mb else detail + ": add memory")


def existing_parent(path: Path) -> Path:
    """``path`` or its nearest existing parent: where a directory still to be created will live."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(path: str, min_gb: float) -> Check:
    free = shutil.disk_usage(existing_parent(Path(path))).free / 2**30
    detail = f"{free:.1f} GiB free at {path}, {min_gb:g} GiB needed"
    return Check("disk", PASS if free >= min_gb else FAIL, detail if free >= min_gb else detail + ": free space")


def check_hostname(name: str | None = None) -> Check:
    name = name or socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        return Check("hostname", FAIL, f"host name {name!r} does not resolve: add it to /etc/hosts "
                                       f"(e.g. '127.0.1.1 {name}')")
    return Check("hostname", PASS, f"{name} resolves to {address}")


def listeners(port: int) -> list[str]:
    """Names of the processes listening on TCP ``port`` (empty if free)."""
    names = []
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            try:
                names.append(psutil.Process(conn.pid).name() if conn.pid else "?")
            except psutil.Error:
                names.append("?")
    return names


def check_port(port: int, allowed: Iterable[str] = ()) -> Check:
    """A port is fine when free, or when held by one of the ``allowed`` programs (our own service on a
    re-run); otherwise it names who holds it."""
    holders = listeners(port)
    allowed = tuple(allowed)
    if not holders:
        return Check(f"port {port}", PASS, "free")
    if allowed and all(any(a in h for a in allowed) for h in holders):
        return Check(f"port {port}", PASS, f"held by {', '.join(sorted(set(holders)))} (ours)")
    return Check(f"port {port}", FAIL, f"already in use by {', '.join(sorted(set(holders)))}: stop it or "
                                       "change the port setting")


def run_checks(*, min_ram_mb: int = 0, min_disk_gb: float = 0, disk_path: str = "/",
               ports: Iterable[tuple[int, tuple[str, ...]]] = (), host_name: str | None = None) -> list[Check]:
    checks = [check_root(), check_distro(), check_hostname(host_name)]
    if min_ram_mb:
        checks.append(check_ram(min_ram_mb))
    if min_disk_gb:
        checks.append(check_disk(disk_path, min_disk_gb))
    checks.extend(check_port(port, allowed) for port, allowed in ports)
    return checks


def port_spec(text: str) -> tuple[int, tuple[str, ...]]:
    """``PORT[:PROGRAM,...]``: a port that must be free or held by one of the programs."""
    port, _, allowed = text.partition(":")
    if not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected PORT[:PROGRAM,...], got {text!r}")
    return int(port), tuple(a for a in allowed.split(",") if a)


def parser() -> argparse.ArgumentParser:
    """The command line of a preflight step; clients read a plan's preflight steps with it too
    (``preview.preflight_checks``), so the limits a step enforces and those shown early are one."""
    parser = argparse.ArgumentParser(prog="python -m tui_installer.ops.preflight")
    parser.add_argument("--min-ram-mb", type=int, default=0)
    parser.add_argument("--min-disk-gb", type=float, default=0)
    parser.add_argument("--disk-path", default="/")
    parser.add_argument("--host-name")
    parser.add_argument("--port", type=port_spec, action="append", default=[],
                        help="PORT[:PROGRAM,...]: must be free or held by one of the programs")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    checks = run_checks(min_ram_mb=args.min_ram_mb, min_disk_gb=args.min_disk_gb, disk_path=args.disk_path,
                        ports=args.port, host_name=args.host_name)
    for check in checks:
        print(f"{check.status.upper():<4} {check.name}: {check.detail}")
    failed = [c for c in checks if c.status == FAIL]
    if failed:
        print(f"preflight refused: {'; '.join(f'{c.name}: {c.detail}' for c in failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
