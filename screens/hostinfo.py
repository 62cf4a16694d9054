"""Host facts, interfaces and the chosen profile's preflight checks (through the preview API); no Textual.

These checks only read the host: the same checks the profile's ``preflight`` phase runs (and refuses an
install with), taken from its plan and run here early for the operator's first look.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import psutil

from tui_installer import preview
from tui_installer.preview import Check

__all__ = ["Check", "Interface", "interfaces", "host_addresses", "facts", "checks"]


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
    return preview.host_facts(state_dir)


def checks(profile: str | None, state_dir: Path, fixes: dict[str, str] | None = None) -> list[Check]:
    """The chosen profile's own preflight checks (from the preview API) with the fixes the operator
    took, plus whether any interface is up. Default profile: all-in-one."""
    result = preview.preflight_checks(profile or "all-in-one", state_dir, fixes)
    up = bool(host_addresses())
    result.append(Check("network", "pass" if up else "warn",
                        "an interface is up" if up else "no interface with an address is up"))
    return result
