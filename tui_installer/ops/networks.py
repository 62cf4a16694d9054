"""The cloud's first networks, as DevStack makes them: ``public`` (external, flat on the provider bridge, a
floating range), ``private`` (a tenant network with DHCP) and ``router1`` between them. Idempotent
(look-then-create, like ``ops.keystone``), one login and a few REST calls through keystoneauth1 instead
of ~10 ``openstack`` commands of ~1.5 s each.

It also publishes what the operator needs to reach a VM (``--publish FILE``, JSON): the networks, the
router and its namespace, and whether security groups are enforced. The TUI's summary reads that file
(through ``statedir``), never the cloud.

    python -m tui_installer.ops.networks --venv /opt/stack/venv --auth-url URL --region R \\
        create --public-cidr 198.18.0.0/24 --public-gateway 198.18.0.1 \\
        --floating-range 198.18.0.100-198.18.0.200 --private-cidr 198.19.0.0/24 --publish FILE
The admin password comes from the environment (``ADMIN_PASSWORD``), never argv.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
from typing import Any


def _in_venv(argv: list[str]) -> None:
    """Re-run this file with the OpenStack venv's interpreter (it has keystoneauth1); standard library only."""
    try:
        import keystoneauth1  # noqa: F401
        return
    except ImportError:
        pass
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--venv")
    venv = pre.parse_known_args(argv)[0].venv
    if not venv:
        raise SystemExit("networks: keystoneauth1 is not installed here: give --venv (the OpenStack venv)")
    python = os.path.join(venv, "bin", "python")
    os.execv(python, [python, "-I", os.path.abspath(__file__), *argv])

class Neutron:
    """An admin session on the networking v2.0 API (keystoneauth1, the endpoint from the catalog)."""

    def __init__(self, auth_url: str, password: str, region: str) -> None:
        from keystoneauth1 import adapter, session
        from keystoneauth1.identity import v3

        auth = v3.Password(auth_url=auth_url, username="admin", password=password, project_name="admin",
                           user_domain_id="default", project_domain_id="default")
        self.api = adapter.Adapter(session.Session(auth=auth, timeout=60), service_type="network",
                                   interface="public", region_name=region)

    def find(self, kind: str, **query: str) -> list[dict[str, Any]]:
        params = "&".join(f"{k}={v}" for k, v in query.items())
        result: list[dict[str, Any]] = self.api.get(f"/v2.0/{kind}?{params}").json()[kind]
        return result

    def ensure(self, kind: str, body: dict[str, Any], **query: str) -> dict[str, Any]:
        """The one ``kind`` matching ``query``, created from ``body`` when there is none."""
        found = self.find(kind, **query)
        if found:
            return found[0]
        created: dict[str, Any] = self.api.post(f"/v2.0/{kind}", json={kind[:-1]: body}).json()[kind[:-1]]
        print(f"created {kind[:-1]} {body.get('name')} ({created['id']})")
        return created


def create(net: Neutron, args: argparse.Namespace) -> dict[str, Any]:
    start, end = args.floating_range.split("-")
    public = net.ensure("networks", {"name": "public", "router:external": True,
                                     "provider:network_type": "flat", "provider:physical_network": "public"},
                        name="public")
    net.ensure("subnets", {"name": "public-subnet", "network_id": public["id"], "ip_version": 4,
                           "cidr": args.public_cidr, "gateway_ip": args.public_gateway, "enable_dhcp": False,
                           "allocation_pools": [{"start": start, "end": end}]},
               name="public-subnet", network_id=public["id"])
    private = net.ensure("networks", {"name": "private"}, name="private")
    subnet = net.ensure("subnets", {"name": "private-subnet", "network_id": private["id"], "ip_version": 4,
                                    "cidr": args.private_cidr, "enable_dhcp": True},
                        name="private-subnet", network_id=private["id"])
    router = net.ensure("routers", {"name": "router1",
                                    "external_gateway_info": {"network_id": public["id"]}}, name="router1")
    ports = net.find("ports", device_id=router["id"], device_owner="network:router_interface")
    if not any(ip["subnet_id"] == subnet["id"] for p in ports for ip in p["fixed_ips"]):
        net.api.put(f"/v2.0/routers/{router['id']}/add_router_interface", json={"subnet_id": subnet["id"]})
        print(f"router1: interface on private-subnet ({args.private_cidr})")
    router = net.find("routers", id=router["id"])[0]
    gateway = [ip["ip_address"] for ip in (router.get("external_gateway_info") or {}).get("external_fixed_ips", [])]
    return {"public": {"name": "public", "id": public["id"], "cidr": args.public_cidr,
                       "gateway": args.public_gateway, "floating_range": [start, end], "bridge": args.bridge},
            "private": {"name": "private", "id": private["id"], "cidr": args.private_cidr},
            "router": {"name": "router1", "id": router["id"], "external_ip": gateway[0] if gateway else "",
                       "namespace": f"qrouter-{router['id']}"}}


def check_ranges(args: argparse.Namespace) -> str | None:
    """What is wrong with the ranges, in one line, or None (checked before anything is created)."""
    public = ipaddress.ip_network(args.public_cidr)
    start, _, end = args.floating_range.partition("-")
    try:
        first, last, gateway = (ipaddress.ip_address(a) for a in (start, end, args.public_gateway))
    except ValueError as err:
        return f"floating range {args.floating_range!r}: {err} (expected FIRST-LAST)"
    if not (first in public and last in public and int(first) <= int(last)):
        return f"floating range {args.floating_range} is not a range inside {public}"
    if gateway not in public or int(first) <= int(gateway) <= int(last):
        return f"public gateway {gateway} must be inside {public} and outside the floating range"
    if public.overlaps(ipaddress.ip_network(args.private_cidr)):
        return f"private network {args.private_cidr} overlaps the public one {public}"
    return None


def publish(path: str, document: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "w") as out:
        json.dump(document, out, indent=2)
    os.replace(tmp, path)
    print(f"published {path}")


def reach(doc: dict[str, Any]) -> str:
    router = doc.get("router")
    if not router:
        return ""
    return (f"server create --network private; floating ip create public; server add floating ip; then "
            f"ip netns exec {router['namespace']} ping FLOATING_IP (or ssh) from this host")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _in_venv(argv)
    parser = argparse.ArgumentParser(prog="python -m tui_installer.ops.networks", description=__doc__)
    parser.add_argument("--venv")
    parser.add_argument("--auth-url", required=True)
    parser.add_argument("--region", default="RegionOne")
    parser.add_argument("--public-cidr", required=True)
    parser.add_argument("--public-gateway", required=True)
    parser.add_argument("--floating-range", required=True)
    parser.add_argument("--private-cidr", required=True)
    parser.add_argument("--bridge", default="br-ex")
    parser.add_argument("--firewall-driver", default="openvswitch")
    parser.add_argument("--skip", action="store_true", help="create nothing, publish only the firewall facts")
    parser.add_argument("--publish", required=True)
    args = parser.parse_args(argv)
    problem = check_ranges(args)
    if problem:
        print(f"networks: {problem}", file=sys.stderr)
        return 2
    doc: dict[str, Any] = {}
    if not args.skip:
        doc = create(Neutron(args.auth_url, os.environ["ADMIN_PASSWORD"], args.region), args)
    doc["security_groups"] = {"driver": args.firewall_driver, "enforced": args.firewall_driver != "noop"}
    doc["reach"] = reach(doc)
    publish(args.publish, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
