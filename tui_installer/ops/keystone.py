"""Register services, endpoints and users in keystone, idempotently, with the standard library only.

Why not the ``openstack`` client: each call of it costs ~1.5 s of start-up and a second run fails on
"already exists". This talks to the identity v3 API directly: it looks first and creates only what is
missing (pyinfra's fact-then-act), so a step can run again safely. Passwords come from environment
variables named on the command line (``--password-env NOVA_PASSWORD``), never from argv.

    python -m tui_installer.ops.keystone --auth-url URL --admin-password-env ADMIN_PASSWORD \\
        user nova --password-env NOVA_PASSWORD --project service --role admin
    python -m tui_installer.ops.keystone ... service nova --type compute --region RegionOne \\
        --endpoint public=http://10.0.0.1:8774/v2.1 --endpoint internal=http://10.0.0.1:8774/v2.1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class Keystone:
    """A tiny identity v3 client: one admin token, JSON in and out."""

    def __init__(self, auth_url: str, username: str, password: str, project: str = "admin") -> None:
        self.url = auth_url.rstrip("/")
        if not self.url.endswith("/v3"):
            self.url += "/v3"
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": username, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
        req = urllib.request.Request(f"{self.url}/auth/tokens", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            self.token = resp.headers["X-Subject-Token"]
            self.catalog = json.loads(resp.read())["token"].get("catalog", [])

    def endpoint(self, stype: str, interface: str = "internal") -> str:
        for svc in self.catalog:
            for ep in svc["endpoints"] if svc["type"] == stype else []:
                if ep["interface"] == interface:
                    return str(ep["url"])
        raise SystemExit(f"identity: no {interface} endpoint of type {stype!r} in the catalog")

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers={
            "X-Auth-Token": self.token, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else {}

    def find(self, kind: str, **query: str) -> dict[str, Any] | None:
        qs = urllib.parse.urlencode(query)
        items = self.call("GET", f"/{kind}?{qs}")[kind]
        return items[0] if items else None


def ensure_project(ks: Keystone, name: str) -> str:
    found = ks.find("projects", name=name, domain_id="default")
    if found:
        return str(found["id"])
    made = ks.call("POST", "/projects", {"project": {"name": name, "domain_id": "default"}})
    print(f"created project {name}")
    return str(made["project"]["id"])


def ensure_user(ks: Keystone, name: str, password: str, project: str, roles: list[str]) -> None:
    """The user exists with this password and ``roles`` on ``project``.

    Service users need ``service`` besides ``admin``: keystonemiddleware now rejects a service token
    without a role from ``service_token_roles`` (``service_token_roles_required`` defaults to True).
    """
    project_id = ensure_project(ks, project)
    user = ks.find("users", name=name, domain_id="default")
    if user:
        ks.call("PATCH", f"/users/{user['id']}", {"user": {"password": password}})
        print(f"user {name} exists (password set)")
    else:
        user = ks.call("POST", "/users", {"user": {"name": name, "domain_id": "default",
                                                    "password": password}})["user"]
        print(f"created user {name}")
    for role in roles:
        role_ref = ks.find("roles", name=role)
        if role_ref is None:
            raise SystemExit(f"identity: role {role!r} does not exist")
        ks.call("PUT", f"/projects/{project_id}/users/{user['id']}/roles/{role_ref['id']}")
    print(f"user {name} has roles {', '.join(roles)} on project {project}")


def ensure_service(ks: Keystone, name: str, stype: str, region: str, endpoints: dict[str, str]) -> None:
    """The service exists with exactly one endpoint per interface, at these URLs."""
    svc = ks.find("services", type=stype)
    if svc is None:
        svc = ks.call("POST", "/services", {"service": {"name": name, "type": stype, "enabled": True}})[
            "service"]
        print(f"created service {name} ({stype})")
    existing = ks.call("GET", f"/endpoints?service_id={svc['id']}")["endpoints"]
    for interface, url in endpoints.items():
        same = [e for e in existing if e["interface"] == interface and e.get("region_id") == region]
        if same and same[0]["url"] == url:
            continue
        for old in same:
            ks.call("DELETE", f"/endpoints/{old['id']}")
        ks.call("POST", "/endpoints", {"endpoint": {"service_id": svc["id"], "interface": interface,
                                                    "url": url, "region_id": region}})
        print(f"endpoint {name} {interface} {url}")


def probe(ks: Keystone, stype: str, path: str) -> int:
    """GET ``path`` on the service's internal endpoint with the admin token: 0 on HTTP 2xx."""
    url = ks.endpoint(stype).rstrip("/") + path
    req = urllib.request.Request(url, headers={"X-Auth-Token": ks.token, "Accept": "application/json",
                                               "OpenStack-API-Version": f"{stype} latest"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        print(f"{stype}: GET {url} -> {resp.status}")
    return 0


def connect(args: argparse.Namespace) -> Keystone:
    """Log in as admin, waiting for keystone to answer (it may just have been started)."""
    password = _env(args.admin_password_env)
    deadline = time.monotonic() + args.wait
    while True:
        try:
            return Keystone(args.auth_url, args.admin_user, password)
        except (urllib.error.URLError, ConnectionError) as exc:
            if time.monotonic() > deadline or getattr(exc, "code", 0) in (401, 403):
                raise
            time.sleep(1)


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"identity: environment variable {name} is not set")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tui_installer.ops.keystone")
    p.add_argument("--auth-url", required=True)
    p.add_argument("--admin-user", default="admin")
    p.add_argument("--admin-password-env", default="ADMIN_PASSWORD")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for keystone to answer")
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("user")
    u.add_argument("name")
    u.add_argument("--password-env", required=True)
    u.add_argument("--project", default="service")
    u.add_argument("--role", action="append", dest="roles", help="repeatable (default: admin, service)")
    s = sub.add_parser("service")
    s.add_argument("name")
    s.add_argument("--type", required=True)
    s.add_argument("--region", default="RegionOne")
    s.add_argument("--endpoint", action="append", default=[], metavar="INTERFACE=URL")
    sub.add_parser("check", help="only log in (keystone answers and the admin password works)")
    pr = sub.add_parser("probe", help="GET a path on a service's endpoint from the catalog, with a token")
    pr.add_argument("type")
    pr.add_argument("path", nargs="?", default="/")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        ks = connect(args)
        if args.cmd == "user":
            roles = args.roles or ["admin", "service"]
            ensure_user(ks, args.name, _env(args.password_env), args.project, roles)
        elif args.cmd == "service":
            endpoints = dict(e.split("=", 1) for e in args.endpoint)
            ensure_service(ks, args.name, args.type, args.region, endpoints)
        elif args.cmd == "probe":
            return probe(ks, args.type, args.path)
        else:
            print(f"keystone at {ks.url} answers; admin token issued")
    except urllib.error.HTTPError as exc:
        print(f"identity: {exc.code} {exc.reason} on {exc.url}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"identity: cannot reach {args.auth_url}: {exc.reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
