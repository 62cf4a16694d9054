"""Refuse an external (public) range that this host already reaches some other way.

The range gets a connected route on the provider bridge (br-ex): if the host's uplink, a route, its DNS
resolver, or the apt and PyPI mirrors it installs from live in that range, the bridge's route hijacks
them and the install breaks half way (seen here: the mirrors of this machine kind resolve to
203.0.113.80, inside RFC 5737's TEST-NET-3, and the uplink is in TEST-NET-1).

    python -m tui_installer.ops.netcheck 198.18.0.0/24 --bridge br-ex
exits 1 with one line naming what collides and the setting to change.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import socket
import subprocess
import sys
from pathlib import Path

MIRRORS = ("pypi.org", "files.pythonhosted.org")


def routes(bridge: str) -> list[str]:
    """The host's IPv4 route destinations, except the bridge's own and the default route."""
    out = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    dests = []
    for line in out.splitlines():
        words = line.split()
        if not words or words[0] in ("default", "broadcast", "local") or f"dev {bridge}" in line:
            continue
        dests.append(words[0])
    return dests


def apt_hosts(root: Path = Path("/etc/apt")) -> set[str]:
    files = [root / "sources.list", *sorted((root / "sources.list.d").glob("*"))]
    hosts: set[str] = set()
    for f in files:
        try:
            hosts.update(re.findall(r"https?://([A-Za-z0-9.-]+)", f.read_text()))
        except OSError:
            pass
    return hosts


def resolvers(path: Path = Path("/etc/resolv.conf")) -> list[str]:
    try:
        return re.findall(r"^nameserver\s+(\S+)", path.read_text(), re.M)
    except OSError:
        return []


def addresses(host: str) -> set[str]:
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None, socket.AF_INET)}
    except OSError:
        return set()


def collisions(cidr: str, bridge: str) -> list[str]:
    net = ipaddress.ip_network(cidr)
    found = []
    for dest in routes(bridge):
        try:
            if ipaddress.ip_network(dest, strict=False).overlaps(net):
                found.append(f"the route to {dest}")
        except ValueError:
            continue
    for address in resolvers():
        if ":" not in address and ipaddress.ip_address(address) in net:
            found.append(f"the DNS resolver {address}")
    for host in sorted(apt_hosts() | set(MIRRORS)):
        for address in sorted(addresses(host)):
            if ipaddress.ip_address(address) in net:
                found.append(f"{host} ({address})")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tui_installer.ops.netcheck", description=__doc__)
    parser.add_argument("cidr")
    parser.add_argument("--bridge", default="br-ex")
    parser.add_argument("--setting", default="public_network_cidr")
    args = parser.parse_args(argv)
    found = collisions(args.cidr, args.bridge)
    if found:
        print(f"{args.setting}={args.cidr} is already reached through this host's network: {', '.join(found)}; "
              f"choose another range (--set {args.setting}=...)", file=sys.stderr)
        return 1
    print(f"{args.cidr}: no route, resolver or mirror of this host in it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
