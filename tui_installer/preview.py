"""What a client (the TUI, the CLI) may ask the engine before anything runs: the preview API.

Profiles and answers files, the plan as it would run, the settings form (each field typed, described,
with its value and where that value came from), whether a selection needs the keyring, and the
profile's preflight checks as data. Clients use these functions and types instead of reaching into
``schema``, ``catalog``, ``plan`` or ``ops.preflight``: the rules stay in one place (an import-linter
contract in pyproject.toml keeps the screens to this module, the state directory, events and errors).
No Textual here.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from . import catalog, hostfacts, planformat, schema, settingtypes, settingvalues
from . import plan as planning
from .catalog import ProfileInfo
from .errors import UserError
from .hosts import MAX_CLOCK_SKEW, HostSpec
from .model import Answers, Endpoint, Plan, Profile, ServiceSpec, SettingDef, Step
from .ops import preflight
from .secrets import MIN_LENGTH, SecretStore
from .secrets import check_value as check_secret
from .stepenv import quiet_env

__all__ = ["Answers", "Endpoint", "Plan", "Profile", "ProfileInfo", "ServiceSpec", "SecretStore", "Step",
           "MIN_LENGTH", "check_secret", "Field", "Check", "list_profiles", "load_profile", "is_path",
           "load_answers", "dump_answers", "services_for", "resolve_services", "why_required", "build_plan",
           "plan_text", "plan_sh", "plan_from_json", "needs_secrets", "settings_form", "groups", "check_field",
           "split_sets", "parse_sets", "render", "TEMPLATE_RE", "host_facts", "preflight_checks",
           "run_preflight_step", "HostSpec", "check_hosts", "hosts_inventory_text", "write_inventory",
           "read_hosts", "test_hosts", "shell_on_host", "MAX_CLOCK_SKEW", "prepare_node_add"]

GIB = 1024 ** 3
list_profiles = catalog.list_profiles
load_profile = catalog.load_profile
is_path = catalog.is_path
load_answers = schema.load_answers
dump_answers = schema.dump_answers
services_for = catalog.services_for
resolve_services = planning.resolve_services
why_required = planning.why_required
plan_text = planning.to_text
plan_sh = planning.to_sh
plan_from_json = planformat.from_json
render = settingtypes.render
#: ``{{ name }}`` in a value: it follows another setting
TEMPLATE_RE = schema.TEMPLATE_RE


def build_plan(profile: Profile, answers: Answers | None = None, overrides: Mapping[str, str] | None = None) -> Plan:
    """The install plan exactly as ``install`` would run it (``UserError`` when it cannot be made)."""
    return planning.build(profile, answers=answers, overrides=overrides)


def needs_secrets(profile: Profile, answers: Answers | None = None) -> bool:
    """Whether an install of this selection uses the keyring: any of its services declares a secret.
    Only the selection is resolved (no settings, no steps): cheap enough to ask before every start."""
    services = services_for(profile)
    selected = [s for s in profile.services if not answers or s not in answers.remove_services]
    selected += [s for s in (answers.add_services if answers else ()) if s not in selected]
    order, _ = resolve_services(selected, services)
    return any(services[name].secrets for name in order)


# -- the settings form --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """One setting as a form shows it. ``value`` is the current one (a value following another setting
    reads as written, ``{{ host_ip }}``); ``base`` what it would be without the answers and ``--set``;
    ``origin`` where the value came from: built-in, default, profile, answers or --set."""

    name: str
    service: str
    type: str
    description: str
    advanced: bool
    required: bool
    choices: tuple[str, ...]
    value: Any
    base: Any
    origin: str
    setting: SettingDef


def settings_form(profile: Profile, selected: Sequence[str], answers: Answers | None = None,
                  overrides: Mapping[str, str] | None = None) -> list[Field]:
    """Every setting a plan of ``selected`` has, in plan order (built-ins, the profile's, the services')."""
    services = services_for(profile)
    order, _ = resolve_services(list(selected), services)
    values, origins, defs = settingvalues.merge_settings(profile, answers, overrides, services)
    base, _, _ = settingvalues.merge_settings(profile, None, None, services)
    owner = {n: s for s in reversed(order) for n in services[s].settings}
    fields = []
    for name in settingvalues.used_settings(profile, order, services):
        setting = defs[name]
        fields.append(Field(
            name=name, service=owner.get(name, "host" if name in settingtypes.BUILTIN_TYPES else profile.name),
            type=setting.type, description=setting.description, advanced=setting.advanced,
            required=base[name] is None, choices=setting.choices, value=values[name], base=base[name],
            origin=_origin(origins.get(name), profile, answers), setting=setting))
    return fields


def groups(fields: Sequence[Field]) -> dict[str, list[Field]]:
    """Fields by service, groups with a required field first, required fields first within a group."""
    found: dict[str, list[Field]] = {}
    for field in sorted(fields, key=lambda f: not f.required):
        found.setdefault(field.service, []).append(field)
    return found


def _origin(where: tuple[str, str] | None, profile: Profile, answers: Answers | None) -> str:
    if where is None:
        return "built-in"
    source, key = where
    if not source:
        return "--set"
    if answers is not None and source == answers.source:
        return "answers"
    inline_default = key.startswith("service_definitions.")  # a service of the profile's own
    return "profile" if source == profile.source and not inline_default else "default"


def check_field(field: Field, text: str) -> Any:
    """The typed value of ``text`` typed into ``field``, or ``ValueError`` (the one validator). Empty text
    means "not given" (``None``), except for a string, which may be empty."""
    if not text.strip() and field.type != "string":
        if field.required:
            raise ValueError("a value is required")
        return None
    if field.required and not text.strip():
        raise ValueError("a value is required")
    return settingtypes.check(field.setting, text)


def split_sets(items: Sequence[str] | None) -> dict[str, str]:
    """``--set k=v`` items as text (``install`` passes them to the plan as overrides)."""
    overrides = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"expected KEY=VALUE, got {item!r}", key="--set")
        overrides[key.strip()] = value
    return overrides


def parse_sets(profile: Profile, items: Sequence[str]) -> dict[str, Any]:
    """``--set k=v`` items, typed by the plan's own rule (``settingvalues.apply_overrides``), or ``UserError``."""
    overrides = split_sets(items)
    defs = settingvalues.definitions(services_for(profile), profile)
    values: dict[str, Any] = {}
    settingvalues.apply_overrides(values, {}, overrides, defs)
    return values


# -- the host and its preflight checks ----------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    name: str
    status: str  # pass | warn | fail
    why: str
    #: settings that would make a failed check pass, as its step's message names them (``--set k=v``)
    fix: tuple[tuple[str, str], ...] = ()


def host_facts(state_dir: Path) -> list[tuple[str, str]]:
    """What the operator sees first about this host: system, name, CPU, memory, disk."""
    rel = preflight.os_release()
    mem = psutil.virtual_memory()
    where = preflight.existing_parent(state_dir)
    disk = shutil.disk_usage(where)
    cpu_model = _cpu_model()
    virt = hostfacts.host_virt_type()
    return [
        ("System", rel.get("PRETTY_NAME", "unknown")),
        ("Host name", socket.gethostname()),
        ("CPU", f"{psutil.cpu_count() or '?'} cores{', ' + cpu_model if cpu_model else ''}"),
        ("Memory", f"{mem.total / GIB:.1f} GiB, {mem.available / GIB:.1f} GiB available"),
        ("Disk", f"{disk.free / GIB:.1f} GiB free of {disk.total / GIB:.1f} GiB at {where}"),
        ("Virtualisation", f"{virt.name}: {virt.reason}"),
    ]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())[:40]
    except OSError:
        pass
    return ""


def preflight_checks(profile: str, state_dir: Path, overrides: Mapping[str, str] | None = None) -> list[Check]:
    """The profile's own preflight, run read-only for the host check: the ``ops.preflight`` steps as
    detailed checks (root, distro, RAM, disk, ports: read with that helper's own command line), every
    other preflight step run for real with its verdict and last line. A required setting not given yet
    is a warning, and a stand-in lets the rest be checked (the preflight phase checks again at install).
    ``overrides`` are ``--set`` values (text): the fixes an operator took from earlier checks."""
    try:
        chosen = load_profile(profile)
        given = dict(overrides or {})
        missing = [f for f in settings_form(chosen, chosen.services, overrides=given)
                   if f.required and f.value is None]
        plan = build_plan(chosen, overrides={**given, **{f.name: _stand_in(f) for f in missing}})
    except (UserError, OSError) as exc:
        return [Check("plan", "warn", f"no plan for {profile} yet: {exc}")]
    found = [Check(f.name, "warn", f"required, not given yet: {f.description or f.type} (set it in Settings)")
             for f in missing]
    limits = preflight_limits(plan)
    found += [Check(c.name, c.status, c.detail) for c in preflight.run_checks(
        min_ram_mb=limits.min_ram_mb, min_disk_gb=limits.min_disk_gb,
        disk_path=limits.disk_path or str(preflight.existing_parent(state_dir)),
        ports=limits.port, host_name=limits.host_name)]
    return found + [run_preflight_step(step) for step in _preflight_steps(plan) if _helper_args(step) is None]


def _stand_in(field: Field) -> str:
    """A value of the right type for a required setting not given yet, so the other checks can run."""
    if field.choices:
        return field.choices[0]
    return {"host": "127.0.0.1", "ip": "127.0.0.1", "hostname": "localhost", "port": "1", "integer": "0",
            "number": "0", "boolean": "false", "path": "/nonexistent", "cidr": "192.0.2.0/24"}.get(field.type,
                                                                                                 "unset")


def _preflight_steps(plan: Plan) -> list[Step]:
    return [s for phase in plan.phases if phase.name == "preflight" for s in phase.steps]


def _helper_args(step: Step) -> list[str] | None:
    """The arguments of a step that runs the preflight helper, or None for any other step."""
    try:
        words = shlex.split(step.shell) if step.shell else list(step.argv)
        return words[words.index("tui_installer.ops.preflight") + 1:]
    except ValueError:  # not the helper (or a shell string shlex cannot read)
        return None


#: a preflight step's message that names the setting to change: ``use --set ovs_datapath=netdev``
FIX_RE = re.compile(r"--set ([a-z_][a-z0-9_]*)=([^\s'\";]+)")
CHECK_TIMEOUT = 30.0


def run_preflight_step(step: Step) -> Check:
    """One preflight step run as the engine would (its argv, env and cwd; no terminal, no secrets), with
    its verdict and last line; a failure that names ``--set k=v`` carries it as a fix to offer."""
    name = f"{step.service}.{step.name}"
    if step.secrets:
        return Check(name, "warn", "uses secrets: checked when the install runs")
    env = {**os.environ, **quiet_env(dict(os.environ)), **step.env}
    try:
        done = subprocess.run(list(step.argv), capture_output=True, text=True, env=env, cwd=step.cwd,
                              stdin=subprocess.DEVNULL, timeout=CHECK_TIMEOUT, start_new_session=True)
    except subprocess.TimeoutExpired:
        return Check(name, "warn", f"gave no verdict within {CHECK_TIMEOUT:.0f} s: checked again at install")
    except OSError as exc:
        return Check(name, "fail", f"cannot run: {exc}")
    output = (done.stdout + done.stderr).strip().splitlines()
    last = " ".join(output[-1].split()) if output else ""
    if done.returncode == 0:
        return Check(name, "pass", last or step.description or "passed")
    return Check(name, "fail", last or f"exit {done.returncode}", fix=tuple(FIX_RE.findall(done.stdout + done.stderr)))


@dataclass
class Limits:
    min_ram_mb: int = 0
    min_disk_gb: float = 0.0
    disk_path: str | None = None
    host_name: str | None = None
    port: tuple[tuple[int, tuple[str, ...]], ...] = ()


def preflight_limits(plan: Plan) -> Limits:
    """Thresholds and ports of a plan's preflight steps, merged (the strictest wins)."""
    limits = Limits()
    for step in _preflight_steps(plan):
        given = _helper_args(step)
        if given is None:
            continue
        try:
            args, _ = preflight.parser().parse_known_args(given)
        except SystemExit:  # not arguments argparse can read
            continue
        limits.min_ram_mb = max(limits.min_ram_mb, args.min_ram_mb)
        limits.min_disk_gb = max(limits.min_disk_gb, args.min_disk_gb)
        limits.disk_path = args.disk_path if "--disk-path" in given else limits.disk_path
        limits.host_name = args.host_name or limits.host_name
        limits.port += tuple(args.port)
    return limits


# -- more than one host (hosts.py): the Hosts screen's rules and checks -------------------------------
def check_hosts(specs: list[HostSpec], where: str = "hosts") -> None:
    """The hosts make an inventory: names, addresses, users, ports, keys, exactly one controller
    (``UserError``, one line naming the host, when not)."""
    from . import hosts

    hosts.check_specs(specs, where)


def hosts_inventory_text(specs: list[HostSpec]) -> str:
    from . import hosts

    return hosts.inventory_text(specs)


def write_inventory(specs: list[HostSpec], path: Path) -> Path:
    """The hosts as a standard Ansible inventory (INI, groups controller and compute), mode 0600."""
    from . import hosts

    return hosts.write_inventory(specs, path)


def read_hosts(inventory: str) -> list[HostSpec]:
    """An inventory's hosts as the Hosts screen edits them, read by Ansible itself."""
    from . import hosts

    return hosts.read_specs(inventory)


def test_hosts(specs: list[HostSpec], work_dir: Path) -> dict[str, dict[str, Any]]:
    """Each host through Ansible over SSH: reachable, sudo, distro, CPUs, RAM, free disk on /, KVM, clock
    skew against the controller's (seconds). Slow (an Ansible run): call it off the UI thread."""
    from . import hosts

    return hosts.test_specs(specs, work_dir)


def shell_on_host(inventory: str, host: str, command: str | None = None) -> list[str]:
    """The ``ssh`` argv that opens a shell on an inventory host as Ansible connects to it."""
    from . import hosts

    return hosts.shell_argv(inventory, host, command)


def prepare_node_add(state_dir: Path, spec: HostSpec, work_dir: Path) -> Path:
    """A compute host for the running cloud (``nodes.prepare_add``): tested through the inventory, put under
    ``[compute]``; returns the answers file whose install adds it. Slow (an Ansible run): off the UI thread."""
    from . import nodes

    return nodes.prepare_add(state_dir, spec, work_dir)
