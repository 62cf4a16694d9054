"""More than one host: an Ansible inventory, the plan expanded per host, and each step run on its host
through ansible-runner (docs/MULTI-HOST.md).

The design: the engine stays the one loop over steps, with its journal, resume, retries and decisions.
A plan for an inventory holds one step per (step, host) — id ``service.phase.name@host`` — in the plan's
order, every host of a step before the next step (a later step on any host comes after an earlier one on
all). Each such step runs on its host as one Ansible task of our module ``tui_step``
(``ansible/library/tui_step.py``) through ansible-runner, whose event stream gives the step's per-host
result; the module does the step's ``creates``/``unless`` checks and prompts on the node. So a failed step
names its host, a retry runs on that host alone (the engine retries that step), and a re-run skips what
the journal records done on every host and what each node's own checks say is done.

Secrets: a step's secret values reach ansible-playbook only as answers to its ``vars_prompt`` questions
(ansible-runner answers them on the playbook's terminal, ``suppress_env_files``: never a file, never the
environment or argv), then the module as ``no_log`` parameters over ssh's stdin (pipelining): each node
gets only the secrets of the steps it runs, and Ansible masks their values in every result and event.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from tui_installer import settingtypes
from tui_installer.errors import UserError
from tui_installer.executor import Result
from tui_installer.model import ALL_PHASES, Phase, Plan, SettingDef, Step
from tui_installer.redact import Redactor
from tui_installer.statedir import PASSPHRASE_ENV

GROUPS = ("controller", "compute")
#: where each node gets tui-installer (``deliver_installer``): the step-side helpers the recipes run with
#: ``installer_python`` (``python -m tui_installer.ops...``); a host var ``tui_installer_python`` overrides
NODE_HOME = "/opt/tui-installer"
NODE_PYTHON = f"{NODE_HOME}/venv/bin/python"
LIBRARY = Path(__file__).resolve().parent / "ansible" / "library"
#: the Python that runs our ``tui_step`` module on a host whose inventory names none (Debian, Ubuntu)
NODE_SYSTEM_PYTHON = "/usr/bin/python3"
HOST_SEP = "@"
#: a host or group var ``tui_set_NAME=VALUE`` is the setting NAME in that host's plan
SETTING_VAR = "tui_set_"


@dataclass(frozen=True)
class Inventory:
    path: str
    #: host names, the controller first, then the compute hosts in the inventory's order
    hosts: tuple[str, ...]
    groups: dict[str, tuple[str, ...]]
    #: each host's built-in settings (host_name, host_ip, installer_python), from the inventory
    facts: dict[str, dict[str, str]] = field(default_factory=dict)
    #: settings of a host's own plan from its host or group vars ``tui_set_NAME`` (``[compute:vars]``
    #: ``tui_set_pip_packages=nova neutron ...``); a ``--set`` still wins
    settings: dict[str, dict[str, str]] = field(default_factory=dict)


def _ansible_bin(name: str) -> str:
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        raise UserError(f"{name} is not installed: more than one host needs Ansible",
                        hint="pip install 'tui-installer[hosts]' (ansible-core, ansible-runner)")
    return found


def load_inventory(path: str | Path) -> Inventory:
    """A standard Ansible inventory (INI or YAML), read by Ansible itself (``ansible-inventory --list``):
    one host in ``controller``, any number in ``compute``; every host in one of the two."""
    source = str(path)
    if not Path(source).is_file():
        raise UserError("inventory file not found", file=source, hint="give an Ansible inventory (INI or YAML)")
    result = subprocess.run([_ansible_bin("ansible-inventory"), "-i", source, "--list"], capture_output=True,
                            text=True, env={**_quiet_ansible_env(), "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True"})
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["unreadable"])[-1]
        raise UserError(f"not a readable Ansible inventory: {reason}", file=source)
    data = json.loads(result.stdout)
    groups = {g: tuple(data.get(g, {}).get("hosts", [])) for g in GROUPS}
    if len(groups["controller"]) != 1:
        raise UserError(f"group controller must hold exactly one host (it holds {len(groups['controller'])})",
                        file=source, key="controller", hint="[controller] then one host line")
    every = set(data.get("_meta", {}).get("hostvars", {})) | {h for g in data.values() if isinstance(g, dict)
                                                             for h in g.get("hosts", [])}
    stray = sorted(every - set(groups["controller"]) - set(groups["compute"]))
    if stray:
        raise UserError(f"host {stray[0]} is in neither group controller nor compute", file=source,
                        hint="put every host under [controller] or [compute]")
    for host in every:
        if not host.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise UserError(f"host name {host!r} may hold only letters, digits, '-', '_' and '.'", file=source)
    ordered = tuple(dict.fromkeys(groups["controller"] + groups["compute"]))
    hostvars = data.get("_meta", {}).get("hostvars", {})
    facts = {host: _facts(host, hostvars.get(host, {}), source) for host in ordered}
    settings = {host: {key.removeprefix(SETTING_VAR): str(value) for key, value in hostvars.get(host, {}).items()
                       if key.startswith(SETTING_VAR)} for host in ordered}
    return Inventory(path=str(Path(source).resolve()), hosts=ordered, groups=groups, facts=facts, settings=settings)


def _facts(host: str, hostvars: dict[str, Any], source: str) -> dict[str, str]:
    """A host's built-ins: its inventory name, the address Ansible reaches it at, its Python."""
    address = str(hostvars.get("ansible_host") or host)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        try:
            address = socket.gethostbyname(address)
        except OSError:
            raise UserError(f"host {host}: {address} does not resolve to an address (host_ip needs one)",
                            file=source, hint=f"give {host} ansible_host=ADDRESS") from None
    python = str(hostvars.get("tui_installer_python") or NODE_PYTHON)
    return {"installer_python": python, "host_name": host, "host_ip": address}


def build_wheel(dest: Path) -> Path:
    """A wheel of the running installer, made from its own installed files (pure Python: the package
    with its services, templates and schemas): the node runs exactly the code that made the plan, from a
    checkout or an installed wheel alike, with no release on a registry. Its requirements are those of
    the step side alone (``ops``: psutil); the engine's (Textual, keyring, pexpect) stay here."""
    import base64
    import hashlib
    import zipfile

    from tui_installer import __version__

    package = Path(__file__).resolve().parent
    info = f"tui_installer-{__version__}.dist-info"
    files: list[tuple[str, bytes]] = [
        (f"tui_installer/{path.relative_to(package).as_posix()}", path.read_bytes())
        for path in sorted(package.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")]
    files.append((f"{info}/METADATA", (f"Metadata-Version: 2.1\nName: tui-installer\nVersion: {__version__}\n"
                                      "Summary: tui-installer's step-side helpers on a node\n"
                                      "Requires-Dist: psutil<8,>=7\nRequires-Dist: pyyaml>=6\n").encode()))
    files.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: tui-installer\nRoot-Is-Purelib: true\n"
                                   b"Tag: py3-none-any\n"))

    def digest(data: bytes) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

    record = "".join(f"{name},sha256={digest(data)},{len(data)}\n" for name, data in files) + f"{info}/RECORD,,\n"
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / f"tui_installer-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in [*files, (f"{info}/RECORD", record.encode())]:
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data,
                             compress_type=zipfile.ZIP_DEFLATED)
    return wheel


def needs_installer(plan: Plan, inventory: Inventory) -> list[str]:
    """The hosts whose steps run the installer's helpers (their ``installer_python``)."""
    found = []
    for host in inventory.hosts:
        python = inventory.facts[host]["installer_python"]
        if any(s.host == host and (python in s.display or python in (s.unless or "")) for s in plan.steps()):
            found.append(host)
    return found


def deliver_tasks(wheel: Path, source: str) -> list[dict[str, Any]]:
    """The Ansible tasks that put tui-installer on a node (``deliver_installer``; ``plan --format ansible``
    puts them first in site.yml): ``source`` is where the controller machine's copy of ``wheel`` is."""
    import hashlib

    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    remote = f"{NODE_HOME}/{wheel.name}"
    install = (
        "set -e\n"
        "if ! dpkg-query -W -f='${db:Status-Abbrev}' python3-venv 2>/dev/null | grep -q '^ii'; then\n"
        "  export DEBIAN_FRONTEND=noninteractive\n"
        # a server just booted: Debian's apt-daily may hold dpkg's lock (waited for) or the lists' (retried)
        "  if ! apt-get install -y -q -o DPkg::Lock::Timeout=600 python3-venv >/dev/null 2>&1; then\n"
        "    for i in $(seq 1 120); do\n"
        "      out=$(apt-get update -q 2>&1) && break\n"
        "      echo \"$out\" | grep -q 'Could not get lock' || { echo \"$out\" >&2; exit 1; }\n"
        "      sleep 5\n"
        "    done\n"
        "    apt-get install -y -q -o DPkg::Lock::Timeout=600 python3-venv >/dev/null\n"
        "  fi\nfi\n"
        f"cd {NODE_HOME}\n"
        f"test -x venv/bin/python || python3 -m venv venv\n"
        f"if [ \"$(cat installed.sha256 2>/dev/null)\" != {sha} ]; then\n"
        f"  venv/bin/pip install -q --no-input --disable-pip-version-check 'psutil>=7,<8' 'pyyaml>=6'\n"
        f"  venv/bin/pip install -q --no-input --disable-pip-version-check --force-reinstall --no-deps {remote}\n"
        f"  echo {sha} > installed.sha256; echo installed\nfi\n")
    return [
        {"name": "home", "ansible.builtin.file": {"path": NODE_HOME, "state": "directory", "mode": "0755"}},
        {"name": "wheel", "ansible.builtin.copy": {"src": source, "dest": remote, "mode": "0644"}},
        {"name": "venv", "ansible.builtin.shell": _Unsafe(install), "register": "venv",
         "changed_when": "'installed' in venv.stdout"},
    ]


def deliver_installer(inventory: Inventory, hosts: Sequence[str], work_dir: Path) -> list[str]:
    """tui-installer onto each of ``hosts`` before the plan's steps, in one Ansible run (all at once): the
    wheel of this installer (``build_wheel``, once per run) copied to ``NODE_HOME``, installed into a
    virtualenv of its own there (``NODE_PYTHON``: the steps' ``installer_python``), python3-venv from apt
    first where missing. A node that already has this very wheel is left alone (its sha256 is kept
    beside it). Nothing secret goes to the node here. A host where it fails: one line naming it. Returns
    the hosts where it was installed now (the others had it already)."""

    work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    wheel = build_wheel(work_dir / "wheel")

    play = [{"name": "tui-installer on the nodes", "hosts": "all", "gather_facts": False,
             "tasks": deliver_tasks(wheel, str(wheel))}]
    (work_dir / "project").mkdir(mode=0o700, exist_ok=True)
    (work_dir / "project" / "deliver.yml").write_text(yaml.dump(play, Dumper=_Dumper, sort_keys=False))
    failed: dict[str, str] = {}
    done: set[str] = set()
    changed: list[str] = []

    def handle(event: dict[str, Any]) -> bool:
        data = event.get("event_data") or {}
        host, res = data.get("host"), data.get("res") or {}
        if event.get("event") in ("runner_on_failed", "runner_on_unreachable") and host:
            text = str(res.get("stderr") or res.get("msg") or "failed").strip().splitlines()
            failed[str(host)] = f"{data.get('task')}: {text[-1] if text else 'failed'}"[:300]
        elif event.get("event") == "runner_on_ok" and data.get("task") == "venv" and host:
            done.add(str(host))
            if res.get("changed"):
                changed.append(str(host))
        return True

    _run_once(handle, private_data_dir=str(work_dir), project_dir=str(work_dir / "project"),
              playbook="deliver.yml", inventory=inventory.path, limit=",".join(hosts),
              ident=f"deliver.{int(time.time() * 1000)}")
    for host in hosts:
        if host in failed or host not in done:
            raise UserError(f"host {host}: tui-installer could not be installed in {NODE_HOME}: "
                            f"{failed.get(host, 'no answer')}", file=inventory.path,
                            hint="the node needs python3-venv (apt) and PyPI for psutil")
    return [host for host in hosts if host in changed]


def roles_of(inventory: Inventory, host: str) -> tuple[str, ...]:
    """The groups a host is in (``controller``, ``compute`` or both): the roles of the services it runs."""
    return tuple(group for group in GROUPS if host in inventory.groups[group])


def expand(plans: Mapping[str, Plan], inventory: Inventory, whole: Plan | None = None) -> Plan:
    """One step per (step, host) from each host's own plan (built with its built-ins, ``facts_of``, and the
    services of its roles), phase by phase in the order of ``whole`` (the plan of every service on one
    host: dependencies first), a step on every host that has it before the next step."""
    whole = whole or plans[inventory.hosts[0]]
    rank = {name: i for i, name in enumerate(ALL_PHASES)}
    position = {step.id: i for i, step in enumerate(whole.steps())}
    merged: dict[str, list[tuple[tuple[int, int, int], Step]]] = {}
    for host_index, host in enumerate(inventory.hosts):
        for index, step in enumerate(plans[host].steps()):
            key = (position.get(step.id, len(position) + index), host_index, index)
            merged.setdefault(step.phase, []).append((key, replace(step, id=f"{step.id}{HOST_SEP}{host}", host=host)))
    phases = tuple(Phase(name, tuple(step for _key, step in sorted(merged[name], key=lambda item: item[0])))
                   for name in sorted(merged, key=rank.__getitem__))
    services = [name for name in whole.services if any(name in plans[h].services for h in inventory.hosts)]
    secrets = [name for name in whole.secrets if any(name in plans[h].secrets for h in inventory.hosts)]
    added = {name: why for h in inventory.hosts for name, why in plans[h].added.items() if name in whole.added}
    first = plans[inventory.groups["controller"][0]]
    return replace(first, services=tuple(services), secrets=tuple(secrets), added=added, phases=phases,
                   inventory=inventory.path, hosts=inventory.hosts,
                   placement={host: plans[host].services for host in inventory.hosts})


#: ``plan_for_hosts``' build: a host's plan from the roles it has and settings of its own (``controller_host``)
HostBuild = Callable[[Sequence[str] | None, Mapping[str, str]], Plan]


def plan_for_hosts(build: HostBuild, inventory: Inventory) -> Plan:
    """``build`` once per host with that host's built-ins and roles (``plan.placed``: the controller's
    services on the controller, nova-compute and the agents with what they need on each compute host), then
    ``expand``. Every host gets ``controller_host`` = the controller's ``host_ip``, the controller
    ``compute_hosts``, each host its ``tui_set_NAME`` vars (a ``--set`` still wins)."""
    from tui_installer import hostfacts

    controller = inventory.groups["controller"][0]
    with hostfacts.facts_of(inventory.facts[controller]):
        whole = build(None, {})
    wiring = {"controller_host": inventory.facts[controller]["host_ip"],
              "compute_hosts": " ".join(inventory.groups["compute"])}
    wiring = {name: value for name, value in wiring.items() if name in whole.settings}
    plans = {}
    for host in inventory.hosts:
        with hostfacts.facts_of(inventory.facts[host]):
            plans[host] = build(roles_of(inventory, host), {**wiring, **inventory.settings.get(host, {})})
    return expand(plans, inventory, whole)


class _Unsafe(str):
    """A value Ansible must never template (a setting's value may hold ``{{``): dumped as ``!unsafe``."""


def _unsafe_representer(dumper: yaml.SafeDumper, value: _Unsafe) -> yaml.Node:
    """``!unsafe`` where Ansible could template (a ``{``); else a plain string, quoted where YAML would read
    another type: Ansible 2.19 resolves an ``!unsafe`` scalar's type even when quoted (``!unsafe '0750'`` is
    the integer 488), and a text without ``{`` holds no template."""
    if "{" not in value:
        return dumper.represent_str(str(value))
    return dumper.represent_scalar("!unsafe", str(value))


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Unsafe, _unsafe_representer)


def secret_var(name: str) -> str:
    return f"tui_secret_{name}"


def step_play(step: Step, name: str | None = None) -> list[dict[str, Any]]:
    """The playbook of one step on its host: the secrets it names as private ``vars_prompt`` questions,
    one ``tui_step`` task. Every literal is ``!unsafe``: Ansible templates only our secret references."""
    # the prompt ends in ">": ansible-runner's answer patterns are regexes, and no name is then a prefix
    prompts = [{"name": secret_var(secret), "prompt": f"tui-secret <{secret}>", "private": True}
               for secret in step.secrets]
    answers = [f"{{{{ {secret_var(p.secret)} }}}}" if p.secret else _Unsafe(p.answer or "")
               for p in step.prompts]
    args: dict[str, Any] = {
        "step": _Unsafe(name or step.id), "argv": [_Unsafe(a) for a in step.argv],
        "env": {_Unsafe(k): _Unsafe(v) for k, v in step.env.items()},
        "secret_env": {_Unsafe(var): f"{{{{ {secret_var(secret)} }}}}" for var, secret in step.secret_env.items()},
        "prompt_expect": [_Unsafe(p.expect) for p in step.prompts],
        "prompt_answer": answers,
    }
    for key in ("cwd", "creates", "unless"):
        value = getattr(step, key)
        if value:
            args[key] = _Unsafe(value)
    if step.timeout:
        args["timeout"] = step.timeout
    title = _Unsafe(name or step.id)
    return [{"name": title, "hosts": "all", "gather_facts": False, "vars_prompt": prompts,
             "tasks": [{"name": title, "tui_step": args}]}]


def _export_steps(plan: Plan) -> list[tuple[Step, list[str] | None]]:
    """The tasks of an export: a one-host plan's steps (on every host: None), or a plan for an inventory's
    (step, host) steps folded into one task per step and reading (the hosts where it reads so)."""
    if not plan.hosts:
        return [(step, None) for step in plan.steps()]
    tasks: list[tuple[Step, list[str], str]] = []
    for step in plan.steps():
        args = yaml.dump(step_play(step, base_id(step)), Dumper=_Dumper, sort_keys=False)
        same: list[str] | None = None
        for other, hosts, other_args in reversed(tasks):  # this step's tasks so far (consecutive)
            if base_id(other) != base_id(step):
                break
            if other_args == args:
                same = hosts
                break
        if same is None:
            tasks.append((step, [str(step.host)], args))
        else:
            same.append(str(step.host))
    return [(step, hosts) for step, hosts, _args in tasks]


def export_ansible(plan: Plan, dest: Path, inventory: Inventory | None) -> Path:
    """``plan --format ansible``: a directory plain ``ansible-playbook -i inventory site.yml -e @secrets.yml``
    runs — the same ``tui_step`` tasks as the engine's, in the plan's order on every host, with the
    module beside the playbook (``library/``). No secret value is written: ``secrets.example.yml`` names
    the variables to give (a vars file, or one encrypted with ``ansible-vault``)."""
    if dest.exists() and any(dest.iterdir()):
        raise UserError("the output directory is not empty", file=str(dest), hint="give a new directory")
    (dest / "library").mkdir(parents=True, exist_ok=True)
    (dest / "group_vars").mkdir(exist_ok=True)
    shutil.copyfile(LIBRARY / "tui_step.py", dest / "library" / "tui_step.py")
    if inventory:
        shutil.copyfile(inventory.path, dest / "inventory")
    else:
        (dest / "inventory").write_text("[controller]\nlocalhost ansible_connection=local\n\n[compute]\n")
    (dest / "ansible.cfg").write_text("[defaults]\nlibrary = library\nretry_files_enabled = False\n"
                                      "# a host's ansible_python_interpreter in the inventory wins\n"
                                      f"interpreter_python = {NODE_SYSTEM_PYTHON}\n\n"
                                      "[ssh_connection]\n# the module and its no_log arguments go over ssh's stdin\n"
                                      "pipelining = True\n")
    secrets = list(plan.secrets)
    check = {"name": "every secret is given (secrets.example.yml names them)", "no_log": True,
             "ansible.builtin.assert": {"that": [f"{secret_var(n)} is defined and {secret_var(n)} | length > 0"
                                                 for n in secrets], "quiet": True}}
    tasks: list[dict[str, Any]] = [check] if secrets else []
    if inventory and inventory.hosts and any(inventory.facts[h]["installer_python"] == NODE_PYTHON
                                             for h in needs_installer(plan, inventory)):
        wheel = build_wheel(dest / "files")
        tasks += [{**task, "name": f"tui-installer on the node: {task['name']}"}
                  for task in deliver_tasks(wheel, f"files/{wheel.name}")]
    for step, hosts in _export_steps(plan):
        play = step_play(step, base_id(step))[0]
        task: dict[str, Any] = {"name": _Unsafe(f"{step.phase}: {base_id(step)}"),
                                "tui_step": play["tasks"][0]["tui_step"]}
        if hosts is not None:  # the hosts whose plan has this step, reading this way
            task["when"] = f"inventory_hostname in {json.dumps(hosts)}"
        tasks.append(task)
    site = [{"name": _Unsafe(f"tui-installer profile {plan.profile}"), "hosts": "all", "gather_facts": False,
             "tasks": tasks}]
    header = (f"# tui-installer plan --format ansible: profile {plan.profile}, {len(plan.steps())} steps"
              + (" (each on the hosts of its service's role: `when`)" if plan.hosts else " on every host")
              + ".\n# Run: ansible-playbook -i inventory site.yml -e @secrets.yml\n")
    (dest / "site.yml").write_text(header + yaml.dump(site, Dumper=_Dumper, sort_keys=False))
    settings = {_Unsafe(k): (_Unsafe(v) if isinstance(v, str) else v) for k, v in plan.settings.items()}
    (dest / "group_vars" / "all.yml").write_text(
        "# the settings this plan was made with (already in site.yml's commands; for reference). No secrets.\n"
        + yaml.dump({"tui_installer_settings": settings}, Dumper=_Dumper, sort_keys=False))
    (dest / "secrets.example.yml").write_text(
        "# copy to secrets.yml (mode 0600) or `ansible-vault create secrets.yml`, and fill in each value\n"
        + "".join(f"{secret_var(n)}: \"\"\n" for n in secrets))
    return dest


#: the most a host's clock may differ from the controller's (tokens, rabbit and the scheduler's "up" care)
MAX_CLOCK_SKEW = 5.0


def clock_skews(inventory: Inventory, work_dir: Path) -> dict[str, float]:
    """Each host's clock minus this machine's, in seconds: ``date +%s.%N`` on every host at once (one Ansible
    run), against the time the result reached us (the error is the way back: well under a second)."""

    skews: dict[str, float] = {}

    def handle(event: dict[str, Any]) -> bool:
        data = event.get("event_data") or {}
        if event.get("event") == "runner_on_ok" and data.get("host") in inventory.hosts:
            received = time.time()
            try:
                skews[str(data["host"])] = float(str((data.get("res") or {}).get("stdout", "")).strip()) - received
            except ValueError:
                pass
        return True

    work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _run_once(handle, ssh_args="-o ControlMaster=no", private_data_dir=str(work_dir), inventory=inventory.path,
              host_pattern="all", module="ansible.builtin.command", module_args="date +%s.%N",
              ident=f"clock.{int(time.time() * 1000)}")
    return skews


def check_clocks(inventory: Inventory, work_dir: Path, limit: float = MAX_CLOCK_SKEW) -> dict[str, float]:
    """Preflight of a run on hosts: every host answers, and its clock is within ``limit`` seconds of the
    controller's; else one line naming the host and its skew (UserError). Returns the skews."""
    skews = clock_skews(inventory, work_dir)
    silent = [h for h in inventory.hosts if h not in skews]
    if silent:
        raise UserError(f"host {silent[0]} did not answer the clock check over SSH", file=inventory.path,
                        hint="check its address, user and key: ansible -i INVENTORY -m ping all")
    controller = inventory.groups["controller"][0]
    for host in inventory.hosts:
        off = skews[host] - skews[controller]
        if abs(off) > limit:
            way = "ahead of" if off > 0 else "behind"
            raise UserError(f"host {host}: clock {abs(off):.1f} s {way} the controller {controller}'s "
                            f"(more than {limit:.0f} s)", file=inventory.path,
                            hint="synchronise the clocks (chrony or systemd-timesyncd) and run again")
    return {host: skews[host] - skews[controller] for host in inventory.hosts}


FACTS_PLAY = [{"name": "tui-installer host facts", "hosts": "all", "gather_facts": False, "tasks": [
    {"name": "facts", "ansible.builtin.setup": {"gather_subset": ["!all", "!min", "distribution", "hardware"]}},
    {"name": "kvm", "ansible.builtin.shell":
        "if [ -e /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then echo yes; else echo no; fi",
     "changed_when": False},
    {"name": "disk", "ansible.builtin.shell": "df -Pk / | awk 'NR == 2 {print $4}'", "changed_when": False},
    {"name": "sudo", "become": True, "ansible.builtin.command": "id -u", "changed_when": False},
    {"name": "clock", "ansible.builtin.command": "date +%s.%N", "changed_when": False},
]}]


def host_facts(inventory: Inventory, work_dir: Path) -> dict[str, dict[str, Any]]:
    """What the Hosts view shows of each host, through Ansible: reachable, sudo works, distro, RAM, CPUs,
    free disk on /, KVM usable (the device and the CPU's vmx/svm flag), clock against the controller's."""

    found: dict[str, dict[str, Any]] = {h: {"host": h, "reachable": False, "sudo": False, "error": None}
                                        for h in inventory.hosts}

    def handle(event: dict[str, Any]) -> bool:
        data = event.get("event_data") or {}
        host, task = data.get("host"), data.get("task")
        if host not in found:
            return True
        res = data.get("res") or {}
        if event.get("event") == "runner_on_unreachable":
            found[host]["error"] = str(res.get("msg", "unreachable"))[:300]
        elif event.get("event") == "runner_on_failed" and task == "sudo":
            found[host]["reachable"], found[host]["error"] = True, "sudo: " + str(res.get("msg", ""))[:200]
        elif event.get("event") == "runner_on_ok":
            entry = found[host]
            entry["reachable"] = True
            if task == "facts":
                facts = res.get("ansible_facts") or {}
                entry.update(distro=f"{facts.get('ansible_distribution', '?')} "
                                    f"{facts.get('ansible_distribution_version', '')}".strip(),
                             ram_mb=facts.get("ansible_memtotal_mb"), cpus=facts.get("ansible_processor_vcpus"))
            elif task == "disk":
                free = str(res.get("stdout", "")).strip()
                entry["disk_free_gb"] = round(int(free) / 2**20, 1) if free.isdigit() else None
            elif task == "kvm":
                entry["kvm"] = str(res.get("stdout", "")).strip() == "yes"
            elif task == "sudo":
                entry["sudo"] = str(res.get("stdout", "")).strip() == "0"
            elif task == "clock":
                entry["clock_offset"] = float(str(res.get("stdout", "0")).strip() or 0) - time.time()
        return True

    work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (work_dir / "project").mkdir(mode=0o700, exist_ok=True)
    (work_dir / "project" / "facts.yml").write_text(yaml.safe_dump(FACTS_PLAY, sort_keys=False))
    _run_once(handle, private_data_dir=str(work_dir), project_dir=str(work_dir / "project"),
              playbook="facts.yml", inventory=inventory.path, ident=f"facts.{int(time.time())}")
    controller = found[inventory.groups["controller"][0]].get("clock_offset")
    for entry in found.values():
        offset = entry.pop("clock_offset", None)
        entry["clock_skew"] = round(offset - controller, 1) if offset is not None and controller is not None else None
        entry["role"] = "controller" if entry["host"] in inventory.groups["controller"] else "compute"
    return found


def _run_once(handle: Callable[[dict[str, Any]], bool], ssh_args: str | None = None, **config: Any) -> None:
    """One ansible-runner run with its own SSH control directory (removed after), no env files and the
    keyring passphrase kept out of Ansible's environment; ``config`` goes to ``RunnerConfig``."""
    from ansible_runner.config.runner import RunnerConfig
    from ansible_runner.runner import Runner

    control = tempfile.mkdtemp(prefix="tui-ssh-")
    try:
        envvars = _runner_env(control) | ({"ANSIBLE_SSH_ARGS": ssh_args} if ssh_args else {})
        runner_config = RunnerConfig(envvars=envvars, suppress_env_files=True, quiet=True, rotate_artifacts=0,
                                     **config)
        runner_config.prepare()
        runner_config.env.pop(PASSPHRASE_ENV, None)
        Runner(runner_config, event_handler=handle).run()
    finally:
        shutil.rmtree(control, ignore_errors=True)


def _runner_env(control_dir: str) -> dict[str, str]:
    """What every ansible-runner run of ours sets: Ansible from our venv, our module, pipelining, quiet."""
    ansible_bin = Path(_ansible_bin("ansible-playbook")).parent
    return {"PATH": f"{ansible_bin}:{os.environ.get('PATH', '')}",
            "ANSIBLE_PIPELINING": "True", "ANSIBLE_LIBRARY": str(LIBRARY), "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "False", "ANSIBLE_DEPRECATION_WARNINGS": "False",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": control_dir, "ANSIBLE_FORKS": "10",
            "ANSIBLE_SSH_ARGS": "-C -o ControlMaster=auto -o ControlPersist=15s",
            "ANSIBLE_SSH_RETRIES": "3", "ANSIBLE_HOST_KEY_CHECKING": "True",
            # a host's ``ansible_python_interpreter`` runs our module (its shebang is the conventional
            # /usr/bin/python); without one, Debian's and Ubuntu's python3, with no discovery round trip
            "ANSIBLE_PYTHON_INTERPRETER": os.environ.get("ANSIBLE_PYTHON_INTERPRETER", NODE_SYSTEM_PYTHON)}


def _quiet_ansible_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != PASSPHRASE_ENV}
    env.update({"ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "False", "ANSIBLE_DEPRECATION_WARNINGS":
                "False", "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False"})
    return env


def base_id(step: Step) -> str:
    """``service.phase.name`` of a per-host step ``service.phase.name@host``."""
    return step.id.rpartition(HOST_SEP)[0] if step.host else step.id


@dataclass
class HostOutcome:
    status: str = "none"  # ok | failed | unreachable | none
    res: dict[str, Any] | None = None


class AnsibleExecutor:
    """Runs a step on its inventory hosts as one Ansible task (``run_many``: the same step on several
    hosts in one ansible-playbook, in parallel) and gives each host's ``Result``; ``run`` is the
    engine's ``Executor.run`` contract for one (step, host). Each step's log is written, redacted."""

    def __init__(self, inventory_path: str, work_dir: Path,
                 on_event: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.inventory_path, self.work_dir, self.on_event = inventory_path, work_dir, on_event
        self._control_dir: str | None = None

    def control_dir(self) -> str:
        """ssh's connection sockets: a short private path (a socket path holds at most 107 bytes), made
        once per run; the masters exit 15 s after their last use."""
        if self._control_dir is None or not Path(self._control_dir).is_dir():
            self._control_dir = tempfile.mkdtemp(prefix="tui-ssh-")
        return self._control_dir

    def close(self) -> None:
        if self._control_dir:
            for socket in Path(self._control_dir).iterdir():
                subprocess.run(["ssh", "-O", "exit", "-o", f"ControlPath={socket}", "x"], capture_output=True)
            shutil.rmtree(self._control_dir, ignore_errors=True)
            self._control_dir = None

    def run(self, step: Step, *, secrets: Mapping[str, str], log_path: Path,
            on_output: Callable[[str], None] | None = None, cancel: threading.Event | None = None,
            extra_env: Mapping[str, str] | None = None, redactor: Redactor | None = None,
            on_lines: Callable[[list[str]], None] | None = None,
            on_waiting: Callable[[str], None] | None = None) -> Result:
        result = self.run_many([step], secrets=secrets, log_paths={step.id: log_path}, cancel=cancel,
                               redactor=redactor)[step.id]
        lines = _read_lines(result)
        if on_lines and lines:
            on_lines(lines)
        return result

    def run_many(self, steps: list[Step], *, secrets: Mapping[str, str], log_paths: Mapping[str, Path],
                 cancel: threading.Event | None = None, redactor: Redactor | None = None) -> dict[str, Result]:
        """The same step (``base_id``) on each of ``steps``' hosts: one ansible-playbook run for the hosts
        where it reads the same (most steps), one more for each host where it differs (a step using
        ``host_ip``, say: each host's plan has its own built-ins)."""
        first = steps[0]
        assert all(s.host and base_id(s) == base_id(first) for s in steps), [s.id for s in steps]
        redactor = redactor or Redactor(dict(secrets))
        missing = [name for name in first.secrets if name not in secrets]
        if missing:
            return {s.id: _result(127, [], 0.0, error=f"secret {missing[0]} is not in the keyring",
                                  log_path=log_paths[s.id]) for s in steps}
        self.work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        project = self.work_dir / "project"
        project.mkdir(mode=0o700, exist_ok=True)
        name = base_id(first)
        groups: dict[str, list[Step]] = {}
        for step in steps:
            groups.setdefault(yaml.dump(step_play(step, name), Dumper=_Dumper, sort_keys=False), []).append(step)
        results: dict[str, Result] = {}
        for number, (text, group) in enumerate(groups.items()):
            if cancel and cancel.is_set():
                break
            playbook = project / (f"{name}.yml" if len(groups) == 1 else f"{name}.{number}.yml")
            playbook.write_text(text)
            results.update(self._run_playbook(playbook, name, group, secrets, log_paths, cancel, redactor))
        for step in steps:
            if step.id not in results:
                results[step.id] = replace(_result(None, [], 0.0, log_path=log_paths[step.id]), cancelled=True)
        return results

    def _run_playbook(self, playbook: Path, name: str, steps: list[Step], secrets: Mapping[str, str],
                      log_paths: Mapping[str, Path], cancel: threading.Event | None,
                      redactor: Redactor) -> dict[str, Result]:
        from ansible_runner.config.runner import RunnerConfig
        from ansible_runner.runner import Runner

        first = steps[0]
        by_host = {str(s.host): s for s in steps}
        project = playbook.parent
        outcomes = {host: HostOutcome() for host in by_host}

        def handle(event: dict[str, Any]) -> bool:
            kind = str(event.get("event", ""))
            data = event.get("event_data") or {}
            host = data.get("host")
            if kind in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable") and host in outcomes \
                    and data.get("task") == name:
                outcomes[host].status = {"runner_on_ok": "ok", "runner_on_failed": "failed"}.get(kind, "unreachable")
                outcomes[host].res = dict(data.get("res") or {})
            if self.on_event and kind.startswith("runner_on_"):
                self.on_event(kind, {"host": host, "task": data.get("task")})
            return True  # ansible-runner keeps the event in its artefacts (no secret reaches them)

        started = time.monotonic()
        config = RunnerConfig(
            private_data_dir=str(self.work_dir), project_dir=str(project), playbook=playbook.name,
            inventory=self.inventory_path, limit=",".join(by_host), ident=f"{name}.{int(time.time() * 1000)}",
            envvars={**_runner_env(self.control_dir()), "ANSIBLE_LOCAL_TEMP": str(self.work_dir / "tmp")},
            passwords={f"tui-secret <{secret}>": secrets[secret] for secret in first.secrets},
            suppress_env_files=True, quiet=True, rotate_artifacts=0, timeout=None,
        )
        config.prepare()
        config.env.pop(PASSPHRASE_ENV, None)  # the ``command`` artefact records the environment
        runner = Runner(config, event_handler=handle, cancel_callback=(lambda: bool(cancel and cancel.is_set())))
        runner.run()
        duration = time.monotonic() - started
        cancelled = bool(cancel and cancel.is_set())
        results = {}
        for host, step in by_host.items():
            outcome = outcomes[host]
            res = outcome.res or {}
            lines = [redactor.line(str(line)) for line in res.get("lines") or []]
            if outcome.status == "unreachable" or (outcome.status == "none" and not cancelled):
                msg = str(res.get("msg") or f"ansible-playbook ended {runner.status} (rc {runner.rc})")
                lines.append(redactor.line(f"{host}: {msg}"))
            elif outcome.status == "failed" and not res.get("lines") and res.get("msg"):
                lines.append(redactor.line(str(res["msg"])))
            _write_log(log_paths[step.id], step, lines, redactor)
            if cancelled and outcome.status == "none":
                results[step.id] = replace(_result(None, lines, duration, log_path=log_paths[step.id]),
                                           cancelled=True)
            elif outcome.status == "ok":
                results[step.id] = _result(0, lines, duration, log_path=log_paths[step.id],
                                           skipped=res.get("skipped_reason"))
            else:
                code = res.get("rc")
                result = _result(code if isinstance(code, int) and code > 0 else 1, lines, duration,
                                 log_path=log_paths[step.id],
                                 error=None if outcome.status == "failed" else f"host {host} unreachable")
                stopped = str(res.get("stopped") or "")
                if isinstance(code, int) and code < 0:  # killed by a signal on the node
                    result = replace(result, exit_code=None, signal=-code)
                results[step.id] = replace(result, timed_out="overall" if stopped.startswith("timed out") else None,
                                           answered_wrong=stopped.startswith("answered wrong"))
        return results


def _read_lines(result: Result) -> list[str]:
    return list(result.tail)


def _result(code: int | None, lines: list[str], duration: float, *, log_path: Path, error: str | None = None,
            skipped: str | None = None) -> Result:
    return Result(exit_code=code, signal=None, timed_out=None, cancelled=False, duration=duration,
                  tail=[line[:4096] for line in lines[-30:]], pid=None, lines=len(lines), error=error,
                  log_path=str(log_path), skipped=skipped if skipped in ("creates", "unless") else None)


def _write_log(log_path: Path, step: Step, lines: list[str], redactor: Redactor) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as log:
        log.write(f"$ {redactor.line(step.display)}   [on {step.host}, through Ansible]\n")
        log.writelines(line + "\n" for line in lines)


# -- the Hosts screen's data: hosts as the operator enters them, the inventory they make -------------
NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
ROLES = ("controller", "compute")


@dataclass
class HostSpec:
    """One host as the Hosts screen (or an inventory read back) has it: how Ansible reaches it, its role."""

    name: str
    address: str
    user: str = "root"
    key: str = ""
    port: int = 22
    #: extra ssh options, as ``ansible_ssh_common_args`` (``-o UserKnownHostsFile=...``)
    ssh_args: str = ""
    role: str = "compute"
    #: the host's other variables read back from an inventory (``ansible_python_interpreter``,
    #: ``ansible_become_*``, ``tui_installer_*``...), written again as they were
    extra: dict[str, str] = field(default_factory=dict)


#: the variables a HostSpec holds in its own fields
_SPEC_VARS = ("ansible_host", "ansible_user", "ansible_port", "ansible_ssh_private_key_file", "ansible_ssh_common_args")


_ADDRESS = SettingDef(name="address", default=None, type="host")


def check_specs(specs: list[HostSpec], where: str = "hosts") -> None:
    """The hosts make an inventory we can run on: names and addresses given and unique, a user, a port,
    a key that exists, and exactly one controller; else one line (UserError) naming the host."""
    if not specs:
        raise UserError("no host given", file=where, hint="add a host (address, user, key), or go back for this "
                                                            "machine alone")
    seen: dict[str, str] = {}
    for spec in specs:
        if not spec.name or any(c not in NAME_CHARS for c in spec.name):
            raise UserError(f"host name {spec.name!r} may hold only letters, digits, '-', '_' and '.'", file=where)
        if spec.name in seen:
            raise UserError(f"host name {spec.name} is given twice", file=where, hint="give each host its own name")
        seen[spec.name] = spec.address
        try:  # the settings' own rule for a host: an IP address, or a host name that is not all digits
            settingtypes.check(_ADDRESS, spec.address)
        except ValueError:
            raise UserError(f"host {spec.name}: address {spec.address!r} is not an address or a host name",
                            file=where, hint="an IP address (10.0.0.5) or a host name (node1.example.org)") from None
        if not spec.user or not all(c.isalnum() or c in "-_." for c in spec.user):
            raise UserError(f"host {spec.name}: user {spec.user!r} is not a user name", file=where)
        if not 0 < spec.port < 65536:
            raise UserError(f"host {spec.name}: port {spec.port} is not a TCP port", file=where)
        if spec.key and not Path(spec.key).expanduser().is_file():
            raise UserError(f"host {spec.name}: SSH key {spec.key} is not a file", file=where,
                            hint="give the private key's path (ssh-keygen -t ed25519 makes one)")
        if "\n" in spec.ssh_args or "'" in spec.ssh_args:
            raise UserError(f"host {spec.name}: ssh options may not hold a quote or a new line", file=where)
        if spec.role not in ROLES:
            raise UserError(f"host {spec.name}: role {spec.role!r} is neither controller nor compute", file=where)
    controllers = [s.name for s in specs if s.role == "controller"]
    if not controllers:
        raise UserError("no host is the controller: exactly one must be (the others are compute)", file=where,
                        hint="select the controller and make it so")
    if len(controllers) > 1:
        raise UserError(f"{len(controllers)} hosts are the controller ({', '.join(controllers)}): exactly one may be",
                        file=where, hint="make one of them compute")


def host_line(spec: HostSpec) -> str:
    """``spec`` as one host line of an INI inventory."""
    words = [spec.name, f"ansible_host={spec.address}", f"ansible_user={spec.user}"]
    if spec.port != 22:
        words.append(f"ansible_port={spec.port}")
    if spec.key:
        words.append(f"ansible_ssh_private_key_file={_ini_value(str(Path(spec.key).expanduser()))}")
    if spec.ssh_args.strip():
        words.append(f"ansible_ssh_common_args='{spec.ssh_args.strip()}'")
    words += [f"{name}={_ini_value(value)}" for name, value in spec.extra.items()]
    return " ".join(words)


def inventory_text(specs: list[HostSpec]) -> str:
    """A standard Ansible inventory (INI) of ``specs``: groups ``controller`` and ``compute``."""
    text = ["# tui-installer hosts: an Ansible inventory (ansible-inventory -i THIS_FILE --list reads it)"]
    for group in ROLES:
        text += ["", f"[{group}]", *(host_line(s) for s in specs if s.role == group)]
    return "\n".join(text) + "\n"


def _ini_value(value: str) -> str:
    return value if value and all(c.isalnum() or c in "/._-+@:," for c in value) else f"'{value}'"


def write_inventory(specs: list[HostSpec], path: Path) -> Path:
    """``check_specs``, then the inventory at ``path`` (mode 0600: it names keys and addresses)."""
    check_specs(specs, str(path))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(inventory_text(specs))
    os.chmod(path, 0o600)
    return path


def host_vars(inventory_path: str, host: str) -> dict[str, Any]:
    """A host's variables as Ansible resolves them (``ansible-inventory --host``: group vars merged)."""
    result = subprocess.run([_ansible_bin("ansible-inventory"), "-i", inventory_path, "--host", host],
                            capture_output=True, text=True, env=_quiet_ansible_env())
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["unreadable"])[-1]
        raise UserError(f"host {host}: {reason}", file=inventory_path)
    data = json.loads(result.stdout or "{}")
    return data if isinstance(data, dict) else {}


def read_specs(inventory_path: str) -> list[HostSpec]:
    """The hosts of an inventory as the Hosts screen edits them (``load_inventory``'s rules first)."""
    inventory = load_inventory(inventory_path)
    specs = []
    for host in inventory.hosts:
        hv = host_vars(inventory.path, host)
        specs.append(HostSpec(
            name=host, address=str(hv.get("ansible_host") or host), user=str(hv.get("ansible_user") or "root"),
            key=str(hv.get("ansible_ssh_private_key_file") or ""), port=int(hv.get("ansible_port") or 22),
            ssh_args=str(hv.get("ansible_ssh_common_args") or ""),
            role="controller" if host in inventory.groups["controller"] else "compute",
            extra={name: str(value) for name, value in hv.items()
                   if name.startswith(("ansible_", "tui_")) and name not in _SPEC_VARS
                   and isinstance(value, str | int | float | bool) and "'" not in str(value)
                   and "\n" not in str(value)}))
    return specs


def test_specs(specs: list[HostSpec], work_dir: Path) -> dict[str, dict[str, Any]]:
    """``host_facts`` of hosts not saved yet (the Hosts screen's test): reachable, sudo, distro, CPUs, RAM,
    free disk, KVM, clock against the controller's (the first host while none is chosen). A host that
    cannot even be put in an inventory gets its reason as ``error``."""
    work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    trial = [replace(s, role="compute") for s in specs]
    controller = next((i for i, s in enumerate(specs) if s.role == "controller"), 0)
    trial[controller].role = "controller"
    path = work_dir / "trial-inventory.ini"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(inventory_text(trial))
    found = host_facts(load_inventory(path), work_dir / "facts")
    for entry in found.values():
        entry["role"] = next(s.role for s in specs if s.name == entry["host"])
    return found


def shell_argv(inventory_path: str, host: str, command: str | None = None) -> list[str]:
    """``ssh`` to ``host`` with the connection Ansible would use (``ansible-inventory --host``: address,
    user, port, key, ``ansible_ssh_common_args`` and ``ansible_ssh_extra_args``), a terminal, and
    ``command`` if given (else a login shell)."""
    import shlex

    hv = host_vars(inventory_path, host)
    if hv.get("ansible_connection") not in (None, "ssh", "smart", "paramiko"):
        raise UserError(f"host {host} is reached by ansible_connection={hv['ansible_connection']}, not ssh",
                        file=inventory_path)
    values = {key: str(hv[key]) for key in ("ansible_host", "ansible_user", "ansible_port",
                                            "ansible_ssh_private_key_file", "ansible_ssh_common_args",
                                            "ansible_ssh_extra_args") if hv.get(key) not in (None, "")}
    templated = [key for key, value in values.items() if "{{" in value or "{%" in value]
    if templated:
        raise UserError(f"host {host}: {templated[0]} is a template: the shell needs it resolved", file=inventory_path,
                        hint=f"give {host} a plain {templated[0]}")
    argv = ["ssh", "-t"]
    for key in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        argv += shlex.split(values.get(key, ""))
    if "ansible_port" in values:
        argv += ["-p", values["ansible_port"]]
    if "ansible_ssh_private_key_file" in values:
        argv += ["-i", str(Path(values["ansible_ssh_private_key_file"]).expanduser())]
    if "ansible_user" in values:
        argv += ["-l", values["ansible_user"]]
    argv += ["--", values.get("ansible_host", host)]
    return argv + ([command] if command else [])
