"""Register services, endpoints and users in keystone, idempotently, through keystoneauth1.

keystoneauth1 (the library every OpenStack client authenticates with) logs in, keeps the token and
reads the catalog; the look-then-create logic is ours: it looks first and creates only what is missing
(pyinfra's fact-then-act), so a step can run again safely. Why not the ``openstack`` client: each call of
it costs ~1.5 s of start-up and a second run fails on "already exists". Why not openstacksdk: it costs
~1 s more per call to import, for the same few REST calls. Passwords come from environment variables
named on the command line (``--password-env NOVA_PASSWORD``), never from argv.

keystoneauth1 lives in the OpenStack venv, not beside the installer: given ``--venv DIR`` and run by an
interpreter without it, this file re-executes itself with ``DIR/bin/python -I`` (it imports only the
standard library and keystoneauth1, never the engine).

    python -m tui_installer.ops.keystone --venv /opt/stack/venv --auth-url URL \\
        user nova --password-env NOVA_PASSWORD --project service --role admin
    python -m tui_installer.ops.keystone --venv /opt/stack/venv ... service nova --type compute \\
        --region RegionOne --endpoint public=http://10.0.0.1:8774/v2.1 --endpoint internal=...
    python -m tui_installer.ops.keystone ... register nova --password-env NOVA_PASSWORD \\
        --service nova --type compute --endpoint public=... --endpoint internal=...   # both, one login
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any


def _in_venv(argv: list[str]) -> None:
    """Re-run this file with the OpenStack venv's interpreter when keystoneauth1 is not importable here."""
    try:
        import keystoneauth1  # noqa: F401
        return
    except ImportError:
        pass
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--venv")
    venv = pre.parse_known_args(argv)[0].venv
    if not venv:
        raise SystemExit("identity: keystoneauth1 is not installed here: give --venv (the OpenStack venv)")
    python = os.path.join(venv, "bin", "python")
    os.execv(python, [python, "-I", os.path.abspath(__file__), *argv])


class Keystone:
    """An admin session on the identity v3 API: keystoneauth1 for the token and catalog, JSON in and out."""

    def __init__(self, auth_url: str, username: str, password: str, project: str = "admin") -> None:
        from keystoneauth1 import adapter, session
        from keystoneauth1.identity import v3

        self.url = auth_url.rstrip("/")
        if not self.url.endswith("/v3"):
            self.url += "/v3"
        auth = v3.Password(auth_url=self.url, username=username, password=password, project_name=project,
                           user_domain_id="default", project_domain_id="default")
        self.session = session.Session(auth=auth, timeout=30)
        self.identity = adapter.Adapter(self.session, service_type="identity", endpoint_override=self.url)
        self.token = self.session.get_token()  # logs in now: a wrong password fails here

    def endpoint(self, stype: str, interface: str = "internal") -> str:
        url = self.session.get_endpoint(service_type=stype, interface=interface)
        if not url:
            raise SystemExit(f"identity: no {interface} endpoint of type {stype!r} in the catalog")
        return str(url)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = self.identity.request(path, method, json=body)
        return dict(resp.json()) if resp.content else {}

    def find(self, kind: str, **query: str) -> dict[str, Any] | None:
        items = self.identity.get(f"/{kind}", params=query).json()[kind]
        return dict(items[0]) if items else None


def find_or_create(ks: Keystone, kind: str, query: dict[str, str], body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The ``kind`` item that ``query`` finds, else the one ``body`` creates: (item, created).

    Steps run in parallel (two services register at once, both needing the ``service`` project): when
    another process creates the same item between our look and our create, keystone answers 409
    Conflict, and the item is then looked up again rather than failing the step."""
    from keystoneauth1 import exceptions

    found = ks.find(kind, **query)
    if found:
        return found, False
    try:
        return dict(ks.call("POST", f"/{kind}", {kind[:-1]: body})[kind[:-1]]), True
    except exceptions.Conflict:
        again = ks.find(kind, **query)
        if again is None:
            raise
        return again, False


def ensure_project(ks: Keystone, name: str) -> str:
    project, created = find_or_create(ks, "projects", {"name": name, "domain_id": "default"},
                                      {"name": name, "domain_id": "default"})
    if created:
        print(f"created project {name}")
    return str(project["id"])


def ensure_user(ks: Keystone, name: str, password: str, project: str, roles: list[str]) -> None:
    """The user exists with this password and ``roles`` on ``project``.

    Service users need ``service`` besides ``admin``: keystonemiddleware now rejects a service token
    without a role from ``service_token_roles`` (``service_token_roles_required`` defaults to True).
    """
    project_id = ensure_project(ks, project)
    user, created = find_or_create(ks, "users", {"name": name, "domain_id": "default"},
                                   {"name": name, "domain_id": "default", "password": password})
    if created:
        print(f"created user {name}")
    else:
        ks.call("PATCH", f"/users/{user['id']}", {"user": {"password": password}})
        print(f"user {name} exists (password set)")
    for role in roles:
        role_ref = ks.find("roles", name=role)
        if role_ref is None:
            raise SystemExit(f"identity: role {role!r} does not exist")
        ks.call("PUT", f"/projects/{project_id}/users/{user['id']}/roles/{role_ref['id']}")
    print(f"user {name} has roles {', '.join(roles)} on project {project}")


def ensure_service(ks: Keystone, name: str, stype: str, region: str, endpoints: dict[str, str]) -> None:
    """The service exists with exactly one endpoint per interface, at these URLs."""
    svc, created = find_or_create(ks, "services", {"type": stype}, {"name": name, "type": stype, "enabled": True})
    if created:
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


def ensure_role(ks: Keystone, name: str) -> str:
    role, created = find_or_create(ks, "roles", {"name": name}, {"name": name})
    if created:
        print(f"created role {name}")
    return str(role["id"])


def ensure_stack_domain(ks: Keystone, domain: str, admin: str, password: str, owner_role: str,
                        user_role: str, grant_to: str) -> None:
    """DevStack's heat setup: the stack users' domain, its admin (role admin on it), and heat's roles.

    ``grant_to`` (the cloud's admin) gets ``owner_role`` on its project, so it may create stacks.
    """
    found, _ = find_or_create(ks, "domains", {"name": domain}, {"name": domain, "enabled": True})
    domain_id = str(found["id"])
    user, created = find_or_create(ks, "users", {"name": admin, "domain_id": domain_id},
                                   {"name": admin, "domain_id": domain_id, "password": password})
    if not created:
        ks.call("PATCH", f"/users/{user['id']}", {"user": {"password": password}})
    admin_role = ensure_role(ks, "admin")
    ks.call("PUT", f"/domains/{domain_id}/users/{user['id']}/roles/{admin_role}")
    print(f"domain {domain} with its admin {admin}")
    owner = ensure_role(ks, owner_role)
    ensure_role(ks, user_role)
    project_id = ensure_project(ks, grant_to)
    grantee = ks.find("users", name=grant_to, domain_id="default")
    if grantee is None:
        raise SystemExit(f"identity: user {grant_to!r} does not exist")
    ks.call("PUT", f"/projects/{project_id}/users/{grantee['id']}/roles/{owner}")
    print(f"roles {owner_role} (given to {grant_to}) and {user_role} exist")


def probe(ks: Keystone, stype: str, path: str) -> int:
    """GET ``path`` on the service's internal endpoint with the admin token: 0 on HTTP 2xx."""
    url = ks.endpoint(stype).rstrip("/") + path
    resp = ks.session.get(url, headers={"Accept": "application/json",
                                        "OpenStack-API-Version": f"{stype} latest"})
    print(f"{stype}: GET {url} -> {resp.status_code}")
    return 0


def connect(args: argparse.Namespace) -> Keystone:
    """Log in as admin, waiting for keystone to answer (it may just have been started)."""
    from keystoneauth1 import exceptions

    password = _env(args.admin_password_env)
    deadline = time.monotonic() + args.wait
    while True:
        try:
            return Keystone(args.auth_url, args.admin_user, password)
        except (exceptions.ConnectFailure, exceptions.ServiceUnavailable, exceptions.BadGateway):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"identity: environment variable {name} is not set")
    return value


def _user_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name")
    p.add_argument("--password-env", required=True)
    p.add_argument("--project", default="service")
    p.add_argument("--role", action="append", dest="roles", help="repeatable (default: admin, service)")


def _service_args(p: argparse.ArgumentParser, name: bool = True) -> None:
    if name:
        p.add_argument("name")
    else:
        p.add_argument("--service", required=True, help="the service's name in the catalog")
    p.add_argument("--type", required=True)
    p.add_argument("--region", default="RegionOne")
    p.add_argument("--endpoint", action="append", default=[], metavar="INTERFACE=URL")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tui_installer.ops.keystone")
    p.add_argument("--auth-url", required=True)
    p.add_argument("--admin-user", default="admin")
    p.add_argument("--admin-password-env", default="ADMIN_PASSWORD")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for keystone to answer")
    p.add_argument("--venv", help="the OpenStack venv, whose keystoneauth1 this runs with")
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("user")
    _user_args(u)
    s = sub.add_parser("service")
    _service_args(s)
    r = sub.add_parser("register", help="user, then service and endpoints, with one login (one process)")
    _user_args(r)
    _service_args(r, name=False)
    sub.add_parser("check", help="only log in (keystone answers and the admin password works)")
    d = sub.add_parser("stack-domain", help="heat's domain, its admin user, heat_stack_owner/user roles")
    d.add_argument("domain")
    d.add_argument("--domain-admin", required=True, help="the domain's admin user")
    d.add_argument("--password-env", required=True)
    d.add_argument("--owner-role", default="heat_stack_owner")
    d.add_argument("--user-role", default="heat_stack_user")
    d.add_argument("--grant-to", default="admin", help="this user (and project) gets the owner role")
    pr = sub.add_parser("probe", help="GET a path on a service's endpoint from the catalog, with a token")
    pr.add_argument("type")
    pr.add_argument("path", nargs="?", default="/")
    return p


def _run(args: argparse.Namespace) -> int:
    ks = connect(args)
    if args.cmd in ("user", "register"):
        ensure_user(ks, args.name, _env(args.password_env), args.project, args.roles or ["admin", "service"])
    if args.cmd in ("service", "register"):
        name = args.service if args.cmd == "register" else args.name
        ensure_service(ks, name, args.type, args.region, dict(e.split("=", 1) for e in args.endpoint))
    if args.cmd == "stack-domain":
        ensure_stack_domain(ks, args.domain, args.domain_admin, _env(args.password_env), args.owner_role,
                            args.user_role, args.grant_to)
    if args.cmd == "probe":
        return probe(ks, args.type, args.path)
    if args.cmd == "check":
        print(f"keystone at {ks.url} answers; admin token issued")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _in_venv(argv)
    args = _parser().parse_args(argv)
    from keystoneauth1 import exceptions

    try:
        return _run(args)
    except exceptions.HttpError as exc:
        print(f"identity: {exc.http_status} {exc.message} on {exc.url or args.auth_url}", file=sys.stderr)
    except exceptions.ConnectionError as exc:
        print(f"identity: cannot reach {args.auth_url}: {type(exc).__name__}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
