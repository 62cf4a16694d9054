"""identity: the look-then-create logic, through keystoneauth1, against a small in-memory identity v3
server (a fake of keystone; the real one is exercised by the e2e tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

ADMIN_PW = "admin-Secret-1"


class FakeKeystone(BaseHTTPRequestHandler):
    db: dict[str, list[dict[str, Any]]] = {}
    calls: list[str] = []
    #: kinds whose next create loses a race: another client creates the item just before it (then 409)
    race: set[str] = set()

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")

    def _route(self) -> tuple[str, list[str], dict[str, list[str]]]:
        url = urlparse(self.path)
        self.calls.append(f"{self.command} {url.path}")
        return url.path, url.path.strip("/").split("/")[1:], parse_qs(url.query)

    def do_POST(self) -> None:  # noqa: N802
        path, parts, _ = self._route()
        body = self._body()
        if path == "/v3/auth/tokens":
            ok = body["auth"]["identity"]["password"]["user"]["password"] == ADMIN_PW
            token = {"catalog": [], "expires_at": "2099-01-01T00:00:00.000000Z", "methods": ["password"],
                     "user": {"id": "u-admin", "name": "admin", "domain": {"id": "default"}}}
            return self._send(201 if ok else 401, {"token": token}, {"X-Subject-Token": "tok"})
        kind = parts[0]
        item = {**body[kind[:-1]], "id": uuid.uuid4().hex}
        if kind in self.race:  # the other client's create lands first
            self.race.discard(kind)
            self.db.setdefault(kind, []).append({**item, "id": uuid.uuid4().hex})
        unique = ("type",) if kind == "services" else ("name", "domain_id")
        if kind != "endpoints" and any(all(i.get(k) == item.get(k) for k in unique) for i in self.db.get(kind, [])):
            return self._send(409, {"error": {"code": 409, "message": f"Conflict: duplicate {kind[:-1]}"}})
        self.db.setdefault(kind, []).append(item)
        self._send(201, {kind[:-1]: item})

    def do_GET(self) -> None:  # noqa: N802
        _, parts, query = self._route()
        items = [i for i in self.db.get(parts[0], [])
                 if all(str(i.get(k)) == v[0] for k, v in query.items())]
        self._send(200, {parts[0]: items})

    def do_PATCH(self) -> None:  # noqa: N802
        _, parts, _ = self._route()
        self._body()
        self._send(200, {})

    def do_PUT(self) -> None:  # noqa: N802
        _, parts, _ = self._route()
        self.db.setdefault("assignments", []).append({"path": "/".join(parts)})
        self._send(204)

    def do_DELETE(self) -> None:  # noqa: N802
        _, parts, _ = self._route()
        self.db[parts[0]] = [i for i in self.db.get(parts[0], []) if i["id"] != parts[1]]
        self._send(204)


@pytest.fixture()
def keystone() -> Iterator[str]:
    FakeKeystone.db = {"roles": [{"id": "r-admin", "name": "admin"}, {"id": "r-service", "name": "service"}],
                       "projects": [{"id": "p-admin", "name": "admin", "domain_id": "default"}]}
    FakeKeystone.calls = []
    FakeKeystone.race = set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeKeystone)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v3"
    server.shutdown()


def identity(url: str, *args: str, admin: str = ADMIN_PW) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ADMIN_PASSWORD": admin, "NOVA_PASSWORD": "nova-Secret-2"}
    return subprocess.run([sys.executable, "-m", "tui_installer.ops.keystone", "--auth-url", url, "--wait", "2", *args],
                          capture_output=True, text=True, env=env, timeout=60)


def test_user_is_created_once_with_admin_and_service_roles(keystone: str) -> None:
    first = identity(keystone, "user", "nova", "--password-env", "NOVA_PASSWORD")
    assert first.returncode == 0, first.stderr
    assert "created project service" in first.stdout and "created user nova" in first.stdout
    second = identity(keystone, "user", "nova", "--password-env", "NOVA_PASSWORD")
    assert "exists" in second.stdout and "created" not in second.stdout
    assert len(FakeKeystone.db["users"]) == 1 and len(FakeKeystone.db["projects"]) == 2
    roles = {a["path"].rsplit("/", 1)[1] for a in FakeKeystone.db["assignments"]}
    assert roles == {"r-admin", "r-service"}
    assert "nova-Secret-2" not in first.stdout + second.stdout + first.stderr


def test_endpoints_are_replaced_only_when_the_url_changes(keystone: str) -> None:
    args = ["service", "nova", "--type", "compute", "--region", "R1", "--endpoint", "public=http://a:8774/v2.1",
            "--endpoint", "internal=http://a:8774/v2.1"]
    assert identity(keystone, *args).returncode == 0
    assert len(FakeKeystone.db["endpoints"]) == 2 and len(FakeKeystone.db["services"]) == 1
    FakeKeystone.calls.clear()
    assert identity(keystone, *args).returncode == 0
    assert not [c for c in FakeKeystone.calls if c.startswith(("POST /v3/endpoints", "DELETE"))]
    args[-1] = "internal=http://b:8774/v2.1"
    assert identity(keystone, *args).returncode == 0
    urls = sorted(e["url"] for e in FakeKeystone.db["endpoints"])
    assert urls == ["http://a:8774/v2.1", "http://b:8774/v2.1"] and len(FakeKeystone.db["services"]) == 1


def test_wrong_admin_password_fails_fast_with_a_message(keystone: str) -> None:
    done = identity(keystone, "check", admin="wrong")
    assert done.returncode == 1 and "401" in done.stderr and "wrong" not in done.stderr


def test_unreachable_keystone_is_named() -> None:
    done = identity("http://127.0.0.1:9/v3", "check")
    assert done.returncode == 1 and "cannot reach" in done.stderr


def test_without_keystoneauth_it_runs_itself_with_the_venvs_python(keystone: str) -> None:
    """The system python has no keystoneauth1: --venv makes the helper re-run with the venv's python."""
    script = os.path.join(os.path.dirname(__file__), "..", "tui_installer", "ops", "keystone.py")
    system = "/usr/bin/python3"
    assert subprocess.run([system, "-c", "import keystoneauth1"], capture_output=True).returncode != 0
    env = {**os.environ, "ADMIN_PASSWORD": ADMIN_PW}
    venv = os.path.dirname(os.path.dirname(sys.executable))
    done = subprocess.run([system, "-I", script, "--venv", venv, "--auth-url", keystone, "check"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and "admin token issued" in done.stdout, done.stderr
    done = subprocess.run([system, "-I", script, "--auth-url", keystone, "check"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 1 and "give --venv" in done.stderr


def test_register_is_user_then_service_with_one_login(keystone: str) -> None:
    done = identity(keystone, "register", "nova", "--password-env", "NOVA_PASSWORD", "--service", "nova",
                    "--type", "compute", "--endpoint", "public=http://a:8774/v2.1")
    assert done.returncode == 0, done.stderr
    assert "created user nova" in done.stdout and "endpoint nova public http://a:8774/v2.1" in done.stdout
    assert FakeKeystone.calls.count("POST /v3/auth/tokens") == 1
    assert len(FakeKeystone.db["users"]) == 1 and len(FakeKeystone.db["endpoints"]) == 1


def test_a_create_that_loses_a_race_takes_the_winners_item(keystone: str) -> None:
    """Two services register at once (parallel steps): both look, find no ``service`` project, user or
    service, and create it; keystone gives the loser 409. It takes what the winner made instead of failing."""
    FakeKeystone.race = {"projects", "users", "services"}
    done = identity(keystone, "register", "nova", "--password-env", "NOVA_PASSWORD", "--service", "nova",
                    "--type", "compute", "--region", "RegionOne", "--endpoint", "public=http://h:8774/v2.1")
    assert done.returncode == 0, done.stderr
    assert FakeKeystone.race == set(), "each create met its race"
    assert [p["name"] for p in FakeKeystone.db["projects"]].count("service") == 1
    assert [u["name"] for u in FakeKeystone.db["users"]] == ["nova"]
    assert [s["type"] for s in FakeKeystone.db["services"]] == ["compute"]
    assert len(FakeKeystone.db["endpoints"]) == 1
