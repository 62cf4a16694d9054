"""`tui-installer validate`: the deployed cloud checked by OpenStack's own test suite, Tempest.

What Tempest is told comes from what answers, not from what the installer meant to deploy: the catalog
(which services), neutron's extensions (routers and floating IPs only with ``router``), the hypervisor
type (the fake driver cannot snapshot, attach interfaces or give consoles). What Tempest needs and cannot
make itself (images, flavors, a shared network when projects cannot route their own) is created once,
by name, and reused on the next run. Progress and the result are published in the state directory
(``StateDir.validation``) for the CLI and the TUI; nothing here imports Textual.

Errors that mean "nothing to validate" (no cloud installed, a cloud half up, Tempest not installed) are
:class:`UserError` (exit 2); test failures are a result (exit 1).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tui_installer.errors import UserError
from tui_installer.statedir import StateDir
from tui_installer.statedir.layout import ValidationFiles

#: Tests left out of a run on purpose: (regex of test ids, what, why, does it apply to this cloud?).
#: Tempest's scenario tests log in to a guest over SSH: they need an image with an SSH server and
#: cloud-init (cirros), which no registry this installer reaches provides. A libvirt guest attaches a
#: cinder volume over iSCSI (os-brick needs an initiator: open-iscsi) - not with the fake backend (it
#: exports nothing) nor on a kernel without iSCSI. The result and the output say what was left out.
EXCLUSIONS: tuple[tuple[str, str, str, Callable[[dict[str, Any]], bool]], ...] = (
    (r"^tempest\.scenario\.(?!test_dashboard_basic_ops)", "tempest.scenario.* (but the dashboard's)",
     "they log in to a guest over SSH: that needs an image with an SSH server (cirros), which cannot be "
     "downloaded here", lambda f: True),
    (r"BootFromVolume|AttachVolume|test_attach_volume|test_volume_swap", "boot from volume, volume attach",
     "a libvirt guest attaches a volume over iSCSI (an initiator, open-iscsi, and a target): the fake volume "
     "backend exports nothing", lambda f: not f.get("fake_virt") and f.get("volume_protocols", []) == ["fake"]),
)
SELECTIONS = {
    "smoke": ["--smoke"],
    # the API tests of the services deployed here (no scenario tests: they need guests that boot)
    "api": ["--regex", r"^tempest\.api\.(identity|image|compute|network|volume)\."],
}
IMAGES = ("tempest-image", "tempest-image-alt")
FLAVORS = {"tempest-flavor": 128, "tempest-flavor-alt": 192}  # name -> MiB of RAM (1 vCPU, 1 GiB disk)
SHARED_NET, SHARED_CIDR = "tempest-shared", "10.251.0.0/24"
INSTALL_HINT = "install a cloud first: tui-installer install -p all-in-one"

#: why a test may be skipped here: (pattern of Tempest's reason, what is missing, does this cloud lack it?)
SKIP_EXPLANATIONS: tuple[tuple[str, str, Callable[[dict[str, Any]], bool]], ...] = (
    (r"[Cc]inder|[Vv]olumes? (is|are) not available", "service not deployed: block storage (cinder)",
     lambda f: "volumev3" not in f["services"]),
    (r"[Ss]wift|[Oo]bject [Ss]torage", "service not deployed: object storage (swift)",
     lambda f: "object-store" not in f["services"]),
    (r"[Hh]orizon", "service not deployed: dashboard (horizon)", lambda f: not f.get("dashboard_url")),
    (r"router extension|[Ff]loating [Ii][Pp]s? (is|are) not available|public_network_id|project_networks_reachable",
     "capability missing: routers / an external network (no router extension or no public network)",
     lambda f: not f["routers"] or not f["public_network"]),
    (r"[Ii]nterface attachment|[Ss]napshotting|[Ss]helve|[Cc]onsole",
     "capability missing: the fake virt driver (no snapshots, interface attach or consoles)",
     lambda f: bool(f["fake_virt"])),
    (r"[Vv]alidation should be enabled|run_validation", "capability missing: guest validation (logging in "
     "to a guest over SSH needs an image with an SSH server, which cannot be downloaded here)", lambda f: True),
    (r"[Ll]ess than 2 compute nodes|[Mm]igration", "capability missing: a second compute host",
     lambda f: f["compute_nodes"] < 2),
)
_STATUS = r" \.\.\. (?P<status>ok|FAILED|SKIPPED(?:: (?P<reason>.*))?)\s*$"
LINE_RE = re.compile(r"^\{\d+\} (?P<id>\S+?)(?: \[[\d.]+s\])?" + _STATUS)
SETUP_RE = re.compile(r"^\{\d+\} (?:setUpClass|tearDownClass) \((?P<id>[^)]+)\)(?: \[[\d.]+s\])?" + _STATUS)
TOTAL_RE = re.compile(r"^ - (Passed|Failed|Skipped): (\d+)\s*$")


@dataclass
class Cloud:
    """The cloud this state directory installed: its admin credentials (admin-openrc) and settings."""

    env: dict[str, str]
    settings: dict[str, Any]
    services: tuple[str, ...]

    @property
    def tempest(self) -> Path:
        return Path(str(self.settings.get("tempest_venv") or "/opt/stack/tempest")) / "bin" / "tempest"


@dataclass
class Result:
    selection: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failed_ids: list[str] = field(default_factory=list)
    skips: list[dict[str, str]] = field(default_factory=list)
    exit_code: int = 0
    seconds: float = 0.0
    log: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    #: tests left out of the selection on purpose, and why (``EXCLUSIONS``)
    excluded: list[dict[str, str]] = field(default_factory=list)

    def line(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


def exclusions(facts: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(regex, what, why) of the tests left out of a run against this cloud (``EXCLUSIONS``)."""
    return [(regex, what, why) for regex, what, why, applies in EXCLUSIONS if applies(facts)]


def selection_args(selection: str, facts: dict[str, Any]) -> list[str]:
    """``tempest run``'s arguments: the selection, less what this cloud cannot run."""
    regexes = [regex for regex, _, _ in exclusions(facts)]
    return [*SELECTIONS[selection], *(["--exclude-regex", "|".join(regexes)] if regexes else [])]


def explain(reason: str, facts: dict[str, Any]) -> str:
    """Which missing service or capability of this cloud a skip reason stands for: "unexplained" when no
    rule fits, or when one fits but the cloud has what it names (cinder deployed, yet "no cinder")."""
    for pattern, what, lacking in SKIP_EXPLANATIONS:
        if re.search(pattern, reason):
            return what if lacking(facts) else f"unexplained (the cloud has it: {what})"
    return "unexplained"


def parse_openrc(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        m = re.match(r"^export (OS_[A-Z_]+)=(.*)$", line.strip())
        if m:
            words = shlex.split(m.group(2))
            env[m.group(1)] = words[0] if words else ""
    return env


def find_cloud(state: StateDir) -> Cloud:
    """The installed cloud, or one line saying there is none (exit 2)."""
    text = state.validation.read(state.openrc)
    if text is None:
        raise UserError(f"no cloud is installed from {state.root} (no admin-openrc there)", hint=INSTALL_HINT)
    env = parse_openrc(text)
    if not env.get("OS_AUTH_URL") or not env.get("OS_PASSWORD"):
        raise UserError("has no OS_AUTH_URL/OS_PASSWORD", file=str(state.openrc), hint=INSTALL_HINT)
    for run in state.runs_newest_first():
        try:
            plan = run.plan()
        except (OSError, ValueError, UserError):
            continue
        if any(p.name == "install" for p in plan.phases):
            return Cloud(env=env, settings=dict(plan.settings), services=tuple(plan.services))
    raise UserError(f"no install run in {state.root}", hint=INSTALL_HINT)


class Api:
    """Just enough of the OpenStack REST APIs (a token and the catalog from keystone), standard library only."""

    def __init__(self, env: dict[str, str], timeout: float = 30) -> None:
        self.timeout = timeout
        self.auth_url = env["OS_AUTH_URL"].rstrip("/")
        self.region = env.get("OS_REGION_NAME") or "RegionOne"
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": env.get("OS_USERNAME", "admin"), "password": env["OS_PASSWORD"],
            "domain": {"name": env.get("OS_USER_DOMAIN_NAME", "Default")}}}},
            "scope": {"project": {"name": env.get("OS_PROJECT_NAME", "admin"),
                                  "domain": {"name": env.get("OS_PROJECT_DOMAIN_NAME", "Default")}}}}}
        try:
            resp = urllib.request.urlopen(urllib.request.Request(
                self.auth_url + "/auth/tokens", data=json.dumps(body).encode(), method="POST",
                headers={"Content-Type": "application/json"}), timeout=timeout)
        except urllib.error.HTTPError as exc:
            raise UserError(f"the cloud is half up: keystone at {self.auth_url} answers {exc.code} to the admin's "
                            "login", hint="check `tui-installer status`; install again to repair") from None
        except (urllib.error.URLError, OSError) as exc:
            raise UserError(f"the cloud is not up: keystone at {self.auth_url} does not answer ({_why(exc)})",
                            hint="start it again: tui-installer install -p all-in-one") from None
        self.token = resp.headers["X-Subject-Token"]
        data = json.loads(resp.read())["token"]
        self.project_id = data["project"]["id"]
        self.catalog: dict[str, str] = {}
        for svc in data.get("catalog", []):
            for ep in svc["endpoints"]:
                if ep["interface"] == "public" and ep.get("region_id", ep.get("region")) in (self.region, None):
                    self.catalog[svc["type"]] = ep["url"].replace("%(project_id)s", self.project_id).replace(
                        "$(project_id)s", self.project_id)

    def url(self, stype: str, path: str) -> str:
        return self.catalog[stype].rstrip("/") + path

    def call(self, method: str, stype: str, path: str, body: Any = None, *, raw: bytes | None = None,
             headers: dict[str, str] | None = None) -> Any:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"X-Auth-Token": self.token, "Accept": "application/json",
                "Content-Type": "application/octet-stream" if raw is not None else "application/json",
                **(headers or {})}
        req = urllib.request.Request(self.url(stype, path), data=data, method=method, headers=hdrs)
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            text = resp.read()
        return json.loads(text) if text.strip() else {}

    def unanswered(self) -> list[str]:
        """The catalog's services whose endpoint does not answer (refused, timed out or 5xx)."""
        bad = []
        for stype, url in sorted(self.catalog.items()):
            try:
                urllib.request.urlopen(urllib.request.Request(url, headers={"X-Auth-Token": self.token}),
                                       timeout=15).close()
            except urllib.error.HTTPError as exc:
                if exc.code >= 500:
                    bad.append(f"{stype} ({url}: {exc.code})")
            except (urllib.error.URLError, OSError) as exc:
                bad.append(f"{stype} ({url}: {_why(exc)})")
        return bad


def _why(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    return str(getattr(reason, "strerror", None) or reason)


def dashboard_url(cloud: Cloud, api: Api) -> str:
    """The dashboard's URL when horizon was installed and its login page answers (it is not in the catalog)."""
    port = cloud.settings.get("horizon_port")
    if "horizon" not in cloud.services or not port:
        return ""
    host = urllib.parse.urlsplit(api.auth_url).hostname or "127.0.0.1"
    url = f"http://{host}:{port}/"
    try:
        urllib.request.urlopen(url + "auth/login/", timeout=30).close()
    except (urllib.error.URLError, OSError) as exc:
        raise UserError(f"the cloud is half up: the dashboard at {url} does not answer ({_why(exc)})",
                        hint="see `tui-installer status`; install again to restart what stopped") from None
    return url


def discover(api: Api) -> dict[str, Any]:
    """What the cloud can do, as Tempest must be told."""
    facts: dict[str, Any] = {"services": sorted(api.catalog)}
    facts["extensions"] = sorted(e["alias"] for e in api.call("GET", "network", "/v2.0/extensions")["extensions"]) \
        if "network" in api.catalog else []
    hyps = api.call("GET", "compute", "/os-hypervisors/detail")["hypervisors"] if "compute" in api.catalog else []
    facts["hypervisor_types"] = sorted({str(h.get("hypervisor_type", "?")) for h in hyps})
    facts["compute_nodes"] = len(hyps)
    facts["fake_virt"] = facts["hypervisor_types"] == ["fake"]
    facts["routers"] = "router" in facts["extensions"]
    external = api.call("GET", "network", "/v2.0/networks?router:external=True")["networks"] \
        if facts["routers"] else []
    facts["public_network"] = external[0]["id"] if external else ""
    facts["public_network_name"] = external[0]["name"] if external else ""
    if "volumev3" in api.catalog:
        pools = api.call("GET", "volumev3", "/scheduler-stats/get_pools?detail=True").get("pools", [])
        facts["volume_backends"] = sorted({str(p.get("capabilities", {}).get("volume_backend_name", ""))
                                           for p in pools} - {""})
        # how volumes reach a guest: iSCSI, NFS..., or "fake" (cinder's fake driver: nothing is exported)
        facts["volume_protocols"] = sorted({str(p.get("capabilities", {}).get("storage_protocol", ""))
                                            for p in pools} - {""})
        facts["volume_protocol"] = next((str(p["capabilities"].get("storage_protocol", "")) for p in pools), "")
    return facts


def ensure_resources(api: Api, facts: dict[str, Any], say: Callable[[str], None]) -> dict[str, str]:
    """Images, flavors and (without routers) a shared network for Tempest: found by name, else made."""
    ids: dict[str, str] = {}
    for name in IMAGES:
        found = [i for i in api.call("GET", "image", f"/v2/images?name={name}")["images"] if i["status"] == "active"]
        if found:
            ids[name] = found[0]["id"]
            continue
        image = api.call("POST", "image", "/v2/images", {"name": name, "disk_format": "raw",
                                                         "container_format": "bare", "visibility": "public"})
        api.call("PUT", "image", f"/v2/images/{image['id']}/file", raw=b"\0" * (1 << 20))
        ids[name] = image["id"]
        say(f"created image {name}")
    flavors = {f["name"]: f["id"] for f in api.call("GET", "compute", "/flavors?is_public=None")["flavors"]}
    for name, ram in FLAVORS.items():
        if name not in flavors:
            flavors[name] = api.call("POST", "compute", "/flavors", {"flavor": {
                "name": name, "ram": ram, "vcpus": 1, "disk": 1}})["flavor"]["id"]
            say(f"created flavor {name}")
        ids[name] = flavors[name]
    if not facts["routers"]:
        nets = api.call("GET", "network", f"/v2.0/networks?name={SHARED_NET}")["networks"]
        if not nets:
            net = api.call("POST", "network", "/v2.0/networks", {"network": {"name": SHARED_NET, "shared": True}})
            api.call("POST", "network", "/v2.0/subnets", {"subnet": {
                "network_id": net["network"]["id"], "ip_version": 4, "cidr": SHARED_CIDR, "name": SHARED_NET}})
            say(f"created shared network {SHARED_NET} (no router extension: test projects use it)")
    return ids


def b(value: object) -> str:
    """An oslo.config boolean."""
    return "true" if value else "false"


def tempest_conf(cloud: Cloud, auth_url: str, region: str, facts: dict[str, Any], ids: dict[str, str],
                 log_file: Path) -> str:
    """tempest.conf for this cloud (it holds the admin password: written 0600 in the state directory)."""
    env, has = cloud.env, set(facts["services"])
    fake = facts["fake_virt"]
    sections: dict[str, dict[str, str]] = {
        "DEFAULT": {"log_file": str(log_file), "use_stderr": "false"},
        "auth": {"admin_username": env.get("OS_USERNAME", "admin"), "admin_password": env["OS_PASSWORD"],
                 "admin_project_name": env.get("OS_PROJECT_NAME", "admin"),
                 "admin_domain_name": env.get("OS_USER_DOMAIN_NAME", "Default"),
                 "use_dynamic_credentials": "true",
                 "create_isolated_networks": b(facts["routers"])},
        "identity": {"uri_v3": auth_url, "auth_version": "v3", "region": region,
                     "v3_endpoint_type": "public", "disable_ssl_certificate_validation": "true"},
        "identity-feature-enabled": {"api_v2": "false", "api_v3": "true"},
        "compute": {"image_ref": ids["tempest-image"], "image_ref_alt": ids["tempest-image-alt"],
                    "flavor_ref": ids["tempest-flavor"], "flavor_ref_alt": ids["tempest-flavor-alt"],
                    "min_compute_nodes": str(facts["compute_nodes"] or 1), "region": region,
                    "build_timeout": "300"},
        "compute-feature-enabled": {
            "snapshot": b(not fake), "shelve": b(not fake), "interface_attach": b(not fake),
            "console_output": b(not fake), "vnc_console": "false", "spice_console": "false",
            "serial_console": "false", "change_password": "false", "resize": "false",
            "cold_migration": b(facts["compute_nodes"] > 1), "live_migration": "false",
            "block_migration_for_live_migration": "false", "attach_encrypted_volume": "false",
            "volume_multiattach": "false", "rescue": "true", "pause": "true", "suspend": "true",
            "personality": "false", "config_drive": b(not fake), "metadata_service": b(not fake)},
        "network": {"region": region, "project_networks_reachable": "false",
                    "floating_network_name": facts["public_network_name"],
                    "public_network_id": facts["public_network"]},
        "network-feature-enabled": {"api_extensions": ",".join(facts["extensions"]) or "None",
                                    "floating_ips": b(facts["routers"] and bool(facts["public_network"])),
                                    "ipv6": "true", "port_security": b("port-security" in facts["extensions"])},
        "image": {"region": region},
        "image-feature-enabled": {"import_image": "false"},
        "validation": {"run_validation": "false", "connect_method": "fixed"},
        "service_available": {"nova": b("compute" in has), "neutron": b("network" in has),
                              "glance": b("image" in has), "cinder": b("volumev3" in has),
                              "swift": b("object-store" in has), "heat": b("orchestration" in has),
                              "horizon": b(facts["dashboard_url"])},
        "enforce_scope": {s: "true" for s in ("keystone", "nova", "neutron", "glance", "placement", "cinder")},
        "placement": {"region": region},
    }
    if not facts["routers"]:
        sections["compute"]["fixed_network_name"] = SHARED_NET
    if facts["dashboard_url"]:
        sections["dashboard"] = {"dashboard_url": facts["dashboard_url"],
                                 "login_url": facts["dashboard_url"] + "auth/login/"}
    if "volumev3" in has:
        sections["volume"] = {"region": region, "catalog_type": "volumev3",
                              "backend_names": ",".join(facts.get("volume_backends", [])) or "fake-1",
                              "storage_protocol": facts.get("volume_protocol") or "iSCSI",
                              "build_timeout": "300"}
        sections["volume-feature-enabled"] = {"backup": "false", "manage_volume": "false",
                                              "manage_snapshot": "false", "extend_attached_volume": "false",
                                              "multi_backend": "false"}
    out = ["# written by tui-installer validate from the deployed cloud (catalog, extensions, hypervisor)"]
    for name, values in sections.items():
        out.append(f"[{name}]")
        out += [f"{k} = {v}" for k, v in values.items()]
        out.append("")
    return "\n".join(out)


def prepare(state: StateDir, say: Callable[[str], None]) -> tuple[Cloud, ValidationFiles, dict[str, Any]]:
    """Checks (exit 2 when there is nothing to validate), discovery, resources, tempest.conf."""
    cloud = find_cloud(state)
    if not os.access(cloud.tempest, os.X_OK):
        raise UserError(f"Tempest is not installed ({cloud.tempest} is missing)",
                        hint="install the tempest service: tui-installer install -p all-in-one")
    api = Api(cloud.env)
    bad = api.unanswered()
    if bad:
        raise UserError(f"the cloud is half up: {'; '.join(bad)} do(es) not answer",
                        hint="see `tui-installer status`; install again to restart what stopped")
    facts = discover(api)
    facts["dashboard_url"] = dashboard_url(cloud, api)
    say("cloud: " + ", ".join(facts["services"]) + f"; hypervisor {'/'.join(facts['hypervisor_types']) or '-'}"
        + f"; routers {'yes' if facts['routers'] else 'no'}")
    ids = ensure_resources(api, facts, say)
    files = state.validation
    files.ensure()
    if not (files.workspace / ".stestr.conf").is_file():
        init = subprocess.run([str(cloud.tempest), "init", "--workspace-path", str(files.workspace_registry),
                               "--name", "tui-installer", str(files.workspace)], capture_output=True, text=True,
                              timeout=300)
        if init.returncode != 0:
            last = (init.stderr.strip() or init.stdout.strip() or "no output").splitlines()[-1]
            raise UserError(f"tempest init {files.workspace} failed: {last}",
                            hint=f"remove {files.workspace} and run validate again")
    conf = tempest_conf(cloud, api.auth_url, api.region, facts, ids, files.root / "tempest.log")
    files.write(files.tempest_conf, conf)
    return cloud, files, facts


def _publish(files: ValidationFiles, data: dict[str, Any]) -> None:
    files.write(files.progress_file, json.dumps(data))


def run(state: StateDir, selection: str = "smoke", concurrency: int = 2,
        say: Callable[[str], None] = print) -> Result:
    """Prepare, run Tempest with ``selection``, publish progress and write the result."""
    if selection not in SELECTIONS:
        raise UserError(f"unknown selection {selection!r} (one of: {', '.join(SELECTIONS)})")
    t0 = time.monotonic()
    if state.exists() and state.openrc.is_file():  # published only where there is a cloud to validate
        state.validation.ensure()
        _publish(state.validation, {"state": "preparing", "selection": selection})
    try:
        cloud, files, facts = prepare(state, say)
    except UserError as exc:
        if state.validation.root.is_dir():
            _publish(state.validation, {"state": "error", "message": exc.format()})
        raise
    left_out = exclusions(facts)
    result = Result(selection=selection, log=str(files.log_file), facts=facts,
                    excluded=[{"tests": what, "why": why} for _, what, why in left_out])
    for _, what, why in left_out:
        say(f"tempest: not run: {what} ({why})")
    args = [str(cloud.tempest), "run", *selection_args(selection, facts)]
    listed = subprocess.run([*args, "--list-tests"], cwd=files.workspace, capture_output=True, text=True,
                            timeout=600)
    total = sum(1 for line in listed.stdout.splitlines() if line.startswith("tempest."))
    say(f"tempest: {total} tests selected ({selection}), concurrency {concurrency}")
    progress = {"state": "running", "selection": selection, "total": total, "done": 0, "current": "",
                "passed": 0, "failed": 0, "skipped": 0}
    _publish(files, progress)
    totals: dict[str, int] = {}
    with open(files.log_file, "w") as log:
        os.chmod(files.log_file, 0o600)
        proc = subprocess.Popen([*args, "--concurrency", str(concurrency)], cwd=files.workspace,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            log.flush()
            line = line.rstrip("\n")
            m = LINE_RE.match(line) or SETUP_RE.match(line)
            t = TOTAL_RE.match(line)
            if t:
                totals[t.group(1)] = int(t.group(2))
            if not m:
                continue
            test, status = m.group("id"), m.group("status")
            if status == "ok":
                result.passed += 1
            elif status == "FAILED":
                result.failed += 1
                result.failed_ids.append(test)
            else:
                reason = (m.group("reason") or "").strip()
                result.skipped += 1
                result.skips.append({"test": test, "reason": reason, "why": explain(reason, facts)})
            progress.update(done=result.passed + result.failed + result.skipped, current=test,
                            passed=result.passed, failed=result.failed, skipped=result.skipped)
            _publish(files, progress)
        rc = proc.wait()
    # Tempest's own totals, when it printed them, are the count (a class skipped at setup is one line)
    result.passed = totals.get("Passed", result.passed)
    result.failed = totals.get("Failed", result.failed)
    result.skipped = totals.get("Skipped", result.skipped)
    result.seconds = round(time.monotonic() - t0, 1)
    result.exit_code = 0 if rc == 0 and result.failed == 0 and result.passed > 0 else 1
    files.write(files.result_file, json.dumps(asdict(result), indent=1))
    progress.update(state="done", passed=result.passed, failed=result.failed, skipped=result.skipped,
                    exit_code=result.exit_code)
    _publish(files, progress)
    return result
