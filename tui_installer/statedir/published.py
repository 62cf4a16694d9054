"""What the install published for its operator beyond the journal: the cloud's first networks and how to
reach a VM (``networks.json``, written by the ``cloud-networks`` recipe through ``ops.networks``).

A typed reader, so that the TUI's summary shows the public network, the router and the way in without
asking the cloud: a file that is missing or not what the recipe writes reads as None.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NETWORKS = "networks.json"


@dataclass(frozen=True)
class CloudNetworks:
    security_groups_driver: str
    security_groups_enforced: bool
    public_cidr: str = ""
    public_gateway: str = ""
    floating_range: tuple[str, str] = ("", "")
    bridge: str = ""
    private_cidr: str = ""
    router: str = ""
    router_external_ip: str = ""
    namespace: str = ""

    @property
    def created(self) -> bool:
        return bool(self.router)


def read_networks(root: Path) -> CloudNetworks | None:
    try:
        doc = json.loads((root / NETWORKS).read_text())
        return _parse(doc) if isinstance(doc, dict) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _parse(doc: dict[str, Any]) -> CloudNetworks:
    sg = doc["security_groups"]
    driver, enforced = str(sg["driver"]), bool(sg["enforced"])
    if "router" not in doc:  # create_default_networks=false: only the security-group facts
        return CloudNetworks(driver, enforced)
    public, router = doc["public"], doc["router"]
    first, last = public["floating_range"]
    return CloudNetworks(
        driver, enforced, public_cidr=str(public["cidr"]), public_gateway=str(public["gateway"]),
        floating_range=(str(first), str(last)), bridge=str(public["bridge"]),
        private_cidr=str(doc["private"]["cidr"]), router=str(router["name"]),
        router_external_ip=str(router["external_ip"]), namespace=str(router["namespace"]))
