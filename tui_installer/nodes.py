"""A compute host added to a running cloud, or taken out of it (``tui-installer node add|remove``, and the
Summary screen's actions).

Adding is an install of the same choices on a grown inventory: the host goes into the inventory's
``[compute]`` group (the operator's file, edited in place: comments and group vars kept), the newest
install's profile, services and settings (``Plan.choices``) are written as an answers file, and the usual
install runs on it. The journal makes that cheap and exact: every (step, host) already done is skipped,
so what runs is the new host's steps and the controller's steps whose command names the compute hosts
(``compute_hosts``: the cell mapping and the check that each hypervisor and agent is up).

Removing is its own plan (``removal_plan``), run as a ``remove-node`` journal that names the host:

1. on the controller: refuse while servers are on the host; disable its compute service;
2. on the host: its services' ``stop`` steps;
3. on the controller: its compute service deleted (nova then drops its resource provider and cell
   mapping; a mapping left is deleted too) and its network agents;
4. on the host: its services' ``cleanup`` (configs, venvs, bridges, data), then tui-installer itself;
5. on the controller: the check that nothing of the host is left (service, hypervisor, agent, mapping).

Then the host leaves the inventory. A later install's resume base forgets that host's steps
(``history.resume_base``), so the same host added again is installed again.
"""

from __future__ import annotations

import os
import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tui_installer import hosts, schema
from tui_installer import plan as planning
from tui_installer.errors import UserError
from tui_installer.model import Answers, Phase, Plan, Step
from tui_installer.statedir import StateDir, history
from tui_installer.statedir.layout import RunFiles

#: the Python services a compute host runs that the controller knows it by
COMPUTE_SERVICE = "nova-compute"
AGENT_SERVICE = "neutron-agent"
_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*(?:[#;].*)?$")


@dataclass(frozen=True)
class Cloud:
    """The newest install in a state directory that ran on an inventory: what node add/remove build on."""

    run: RunFiles
    plan: Plan
    answers: Answers
    inventory: hosts.Inventory

    @property
    def controller(self) -> str:
        return self.inventory.groups["controller"][0]


def last_cloud(state_dir: Path) -> Cloud:
    """The newest install run with an inventory, finished; else one line saying what to do first."""
    from tui_installer import client

    state = StateDir.open(state_dir)
    run = history.last_install(state)
    if run is None:
        raise UserError(f"no install has run in {state_dir}", hint="install a cloud with --inventory first")
    record = run.read_journal()
    if record is not None and record.state == "running" and client.engine_alive(state_dir):
        raise UserError(f"run {run.id} is still running", hint="wait for it (tui-installer status), then try again")
    plan = run.plan()
    if not plan.inventory:
        raise UserError(f"run {run.id} installed on this machine alone: there is no inventory to add a host to",
                        hint="install with --inventory (a controller and compute hosts) to grow the cloud later")
    if plan.choices is None:
        raise UserError(f"run {run.id} did not record the settings it was given (an older tui-installer)",
                        hint="run the same `tui-installer install --inventory ...` once more, then try again")
    return Cloud(run=run, plan=plan, answers=history.answers_of(run), inventory=hosts.load_inventory(plan.inventory))


# -- the inventory file ------------------------------------------------------------------------------------

def _sections(lines: Sequence[str]) -> list[tuple[str, int, int]]:
    """(name, first line, end) of each ``[section]`` of an INI inventory, in file order."""
    found: list[tuple[str, int, int]] = []
    for i, line in enumerate(lines):
        match = _SECTION.match(line)
        if match:
            if found:
                found[-1] = (found[-1][0], found[-1][1], i)
            found.append((match.group(1).strip(), i, len(lines)))
    return found


def _ini_lines(path: str) -> list[str]:
    text = Path(path).read_text(encoding="utf-8")
    lines = text.splitlines()
    if not any(name == "controller" for name, _s, _e in _sections(lines)):
        raise UserError("not an INI inventory with a [controller] section: node add and remove edit INI files",
                        file=path, hint="add or remove the host in the inventory yourself, then run "
                                        "`tui-installer install` again")
    return lines


def _write_keeping_mode(path: str, lines: Sequence[str]) -> None:
    target = Path(path)
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o600
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, target)


def add_to_inventory(path: str, spec: hosts.HostSpec) -> None:
    """``spec`` as a new line of the ``[compute]`` group (after its last host line; the group is made at the
    end when there is none); comments, group vars and other hosts stay as they were. Ansible must then
    read the file with the host in ``compute``, else it is put back as it was."""
    lines = _ini_lines(path)
    original = list(lines)
    sections = _sections(lines)
    compute = next(((start, end) for name, start, end in sections if name == "compute"), None)
    line = hosts.host_line(replace(spec, role="compute"))
    if compute is None:
        lines += ["", "[compute]", line]
    else:
        start, end = compute
        last = start
        for i in range(start + 1, end):
            if lines[i].strip() and not lines[i].lstrip().startswith(("#", ";")):
                last = i
        lines.insert(last + 1, line)
    _write_keeping_mode(path, lines)
    try:
        found = hosts.load_inventory(path)
        if spec.name not in found.groups["compute"]:
            raise UserError(f"host {spec.name} is not in group compute after adding it", file=path)
    except UserError:
        _write_keeping_mode(path, original)
        raise


def remove_from_inventory(path: str, name: str) -> None:
    """The host line of ``name`` out of ``[compute]`` (everything else kept); put back if Ansible still
    finds the host in the inventory afterwards (listed elsewhere too)."""
    lines = _ini_lines(path)
    original = list(lines)
    drop = {i for section, start, end in _sections(lines) if section == "compute"
            for i in range(start + 1, end) if lines[i].split()[:1] == [name]}
    lines = [line for i, line in enumerate(lines) if i not in drop]
    _write_keeping_mode(path, lines)
    try:
        if name in hosts.load_inventory(path).hosts:
            raise UserError(f"host {name} is still in the inventory after its line under [compute] was removed",
                            file=path, hint=f"{name} is listed in another group too: take it out there")
    except UserError:
        _write_keeping_mode(path, original)
        raise


# -- add -----------------------------------------------------------------------------------------------

def check_new_host(cloud: Cloud, spec: hosts.HostSpec, work_dir: Path) -> dict[str, object]:
    """The new host reachable over SSH with sudo and its clock near the controller's, tried through a copy
    of the inventory with the host added (so it is reached as Ansible will reach it: ``[all:vars]`` and
    group vars included); else one line naming it. Returns its facts (``hosts.host_facts``)."""
    if spec.name in cloud.inventory.hosts:
        raise UserError(f"host {spec.name} is already in the inventory", file=cloud.inventory.path,
                        hint=f"`tui-installer install` resumes it; `tui-installer node remove {spec.name}` "
                             "takes it out")
    known = hosts.read_specs(cloud.inventory.path)
    taken = {s.address: s.name for s in known}
    if spec.address in taken:
        raise UserError(f"address {spec.address} is host {taken[spec.address]}'s already", file=cloud.inventory.path)
    spec = replace(spec, role="compute")
    hosts.check_specs([*known, spec], where=cloud.inventory.path)
    work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    trial = work_dir / "inventory.ini"
    trial.write_text(Path(cloud.inventory.path).read_text(encoding="utf-8"), encoding="utf-8")
    trial.chmod(0o600)
    add_to_inventory(str(trial), spec)
    found = hosts.host_facts(hosts.load_inventory(trial), work_dir / "facts")
    facts = found.get(spec.name, {})
    if not facts.get("reachable"):
        raise UserError(f"host {spec.name} ({spec.address}) cannot be reached: {facts.get('error') or 'no answer'}",
                        hint="check its address, user and SSH key (ssh -i KEY USER@ADDRESS true)")
    if not facts.get("sudo"):
        raise UserError(f"host {spec.name}: user {spec.user} has no password-less sudo",
                        hint="log in as root, or give the user NOPASSWD sudo")
    skew = facts.get("clock_skew")
    if not isinstance(skew, int | float) or abs(skew) > hosts.MAX_CLOCK_SKEW:
        raise UserError(f"host {spec.name}: clock {'not readable' if skew is None else f'{skew:+.1f} s'} against "
                        f"the controller {cloud.controller}'s (more than {hosts.MAX_CLOCK_SKEW:.0f} s off)",
                        hint="synchronise the clocks (chrony or systemd-timesyncd) and run again")
    return facts


def answers_for(cloud: Cloud, state_dir: Path, label: str) -> Path:
    """The newest install's choices on its (edited) inventory, as an answers file in the state directory
    (``install -a`` on it is the install that adds the host)."""
    answers = replace(cloud.answers, inventory=cloud.inventory.path, source="")
    path = StateDir.open(state_dir).new_answers_file(f"{label}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    from tui_installer.statedir import safety

    safety.write_private(path, "# tui-installer answers: the cloud's choices on its inventory "
                               f"({label})\n" + schema.dump_answers(answers))
    return path


def prepare_add(state_dir: Path, spec: hosts.HostSpec, work_dir: Path,
                say: Callable[[str], None] = lambda _text: None) -> Path:
    """Everything before the install that adds ``spec``: the cloud, the host checked, the inventory grown, the
    answers written (returned)."""
    cloud = last_cloud(state_dir)
    facts = check_new_host(cloud, spec, work_dir)
    say(f"host {spec.name}: {facts.get('distro')}, {facts.get('cpus')} CPU, {facts.get('ram_mb')} MB RAM, "
        f"sudo ok, clock {facts.get('clock_skew'):+.1f} s")
    add_to_inventory(cloud.inventory.path, spec)
    say(f"added {spec.name} to [compute] in {cloud.inventory.path}")
    return answers_for(cloud, state_dir, f"node-add-{spec.name}")


# -- remove ----------------------------------------------------------------------------------------------

#: on the controller, before anything stops: no server may be left on the host; it takes no new one
_NO_SERVERS = """\
osc={prefix}/venv/bin/openstack
ids=$($osc server list --all-projects --host {node} -f value -c ID -c Name) || exit 1
if [ -n "$ids" ]; then
  echo "servers are still on {node}:" >&2; echo "$ids" >&2
  echo "delete them or move them to another host (openstack server migrate), then remove {node} again" >&2
  exit 1
fi
echo "no server on {node}"
for id in $($osc compute service list --host {node} --service nova-compute -f value -c ID); do
  $osc compute service set --disable --disable-reason "being removed (tui-installer node remove)" {node} nova-compute
  echo "compute service $id of {node} disabled: no new server goes there"
done
"""

#: on the controller once the host's services are stopped: its records deleted
_DEREGISTER_COMPUTE = """\
osc={prefix}/venv/bin/openstack
manage="{prefix}/venv/bin/nova-manage --config-file /etc/nova/nova.conf"
for id in $($osc compute service list --host {node} --service nova-compute -f value -c ID); do
  $osc compute service delete "$id" && echo "deleted compute service $id of {node}"
done
# nova drops the host's resource provider and cell mapping with the service; a mapping left is deleted here
# (list_hosts is a table: | cell name | cell uuid | host name |)
$manage cell_v2 list_hosts 2>/dev/null | awk -v h={node} '$6 == h {{print $4}}' | while read -r cell; do
  $manage cell_v2 delete_host --cell_uuid "$cell" --host {node} 2>&1 | grep -v -i eventlet
  echo "deleted the cell mapping of {node}"
done
exit 0
"""

_DEREGISTER_AGENTS = """\
osc={prefix}/venv/bin/openstack
for id in $($osc network agent list --host {node} -f value -c ID); do
  $osc network agent delete "$id" && echo "deleted network agent $id of {node}"
done
exit 0
"""

#: on the controller at the end: nothing of the host is left
_GONE = """\
osc={prefix}/venv/bin/openstack
manage="{prefix}/venv/bin/nova-manage --config-file /etc/nova/nova.conf"
left=()
[ -z "$($osc compute service list --host {node} -f value -c ID)" ] || left+=("a compute service")
$osc hypervisor list -f value -c 'Hypervisor Hostname' | grep -qx {node} && left+=("a hypervisor")
[ -z "$($osc network agent list --host {node} -f value -c ID)" ] || left+=("a network agent")
$manage cell_v2 list_hosts 2>/dev/null | awk -v h={node} '$6 == h' | grep -q . && left+=("a cell mapping")
if [ ${{#left[@]}} -gt 0 ]; then echo "{node} still has: ${{left[*]}}" >&2; exit 1; fi
$osc hypervisor list -f value -c 'Hypervisor Hostname' -c State
echo "{node} is out of the cloud: no compute service, hypervisor, network agent or cell mapping left"
"""

#: on the removed host, last: the tui-installer the install delivered (its services no longer need it)
_INSTALLER_GONE = f"rm -rf {hosts.NODE_HOME} && echo 'removed {hosts.NODE_HOME}'"


def _controller_step(service: str, phase: str, name: str, script: str, host: str, description: str,
                     timeout: float = 300.0) -> Step:
    step = Step(id=f"{service}.{phase}.{name}{hosts.HOST_SEP}{host}", service=service, phase=phase, name=name,
                argv=("bash", "-c", script), shell=script, env={"OS_CLOUD": "admin"}, timeout=timeout,
                description=description, host=host)
    return replace(step, fingerprint=planning.fingerprint(step))


HostRemoval = Callable[[Sequence[str] | None, Mapping[str, str]], Plan]


def removal_plan(cloud: Cloud, node: str, build: HostRemoval) -> Plan:
    """The plan that takes ``node`` out of the cloud (see the module's docstring). ``build``: the removal
    plan (``stop`` and ``cleanup``) of the cloud's choices for given roles and settings, as
    ``cli.install.load_plan(removal=True, purge=True)`` builds it per host."""
    from tui_installer import hostfacts

    inventory = cloud.inventory
    if node not in inventory.hosts:
        raise UserError(f"host {node} is not in the inventory", file=inventory.path,
                        hint="`tui-installer hosts --inventory FILE` lists them")
    if node in inventory.groups["controller"]:
        raise UserError(f"host {node} is the controller: only a compute host can be removed", file=inventory.path,
                        hint="`tui-installer uninstall --purge` takes the whole cloud down")
    controller = cloud.controller
    wiring = {"controller_host": inventory.facts[controller]["host_ip"]}
    with hostfacts.facts_of(inventory.facts[node]):
        probe = build(hosts.roles_of(inventory, node), {})
        values = {k: v for k, v in wiring.items() if k in probe.settings}
        own = build(hosts.roles_of(inventory, node), {**values, **inventory.settings.get(node, {})})
    prefix = shlex.quote(str(cloud.plan.settings.get("prefix", "/opt/stack")))
    quoted = shlex.quote(node)  # a name of NAME_CHARS: nothing to quote, but never a word of shell
    computes = COMPUTE_SERVICE in own.services
    agents = AGENT_SERVICE in own.services

    def on_node(step: Step) -> Step:
        return replace(step, id=f"{step.id}{hosts.HOST_SEP}{node}", host=node)

    def of(phase: str) -> list[Step]:
        # each service's own deregister would run on the node, which has no admin cloud: the controller's do it
        return [on_node(s) for p in own.phases if p.name == phase for s in p.steps
                if not (s.name == "deregister" and s.service in (COMPUTE_SERVICE, AGENT_SERVICE))]

    fill = {"prefix": prefix, "node": quoted}
    stop: list[Step] = []
    cleanup: list[Step] = []
    if computes:
        stop.append(_controller_step(COMPUTE_SERVICE, "stop", f"servers-gone-{node}", _NO_SERVERS.format(**fill),
                                     controller, f"no server left on {node}; its compute service disabled"))
    stop += of("stop")
    if computes:
        cleanup.append(_controller_step(COMPUTE_SERVICE, "cleanup", f"deregister-{node}",
                                        _DEREGISTER_COMPUTE.format(**fill), controller,
                                        f"{node}'s compute service deleted at the controller (its resource "
                                        "provider and cell mapping with it)"))
    if agents:
        cleanup.append(_controller_step(AGENT_SERVICE, "cleanup", f"deregister-{node}",
                                        _DEREGISTER_AGENTS.format(**fill), controller,
                                        f"{node}'s network agents deleted at the controller"))
    cleanup += of("cleanup")
    if str(inventory.facts[node].get("installer_python", "")).startswith(hosts.NODE_HOME + "/"):
        installer = Step(id=f"node.cleanup.installer{hosts.HOST_SEP}{node}", service="node", phase="cleanup",
                         name="installer", argv=("bash", "-c", _INSTALLER_GONE), shell=_INSTALLER_GONE,
                         timeout=120.0, host=node, description=f"the tui-installer delivered to {node}")
        cleanup.append(replace(installer, fingerprint=planning.fingerprint(installer)))
    if computes or agents:
        cleanup.append(_controller_step(COMPUTE_SERVICE if computes else AGENT_SERVICE, "cleanup", f"gone-{node}",
                                        _GONE.format(**fill), controller,
                                        f"nothing of {node} is left at the controller"))
    phases = tuple(Phase(name, tuple(steps)) for name, steps in (("stop", stop), ("cleanup", cleanup)) if steps)
    return replace(own, phases=phases, inventory=inventory.path, hosts=(controller, node),
                   placement={node: own.services}, choices=cloud.plan.choices)


def finish_removal(cloud: Cloud, node: str) -> None:
    """After a removal run that ended ok: the host out of the inventory."""
    remove_from_inventory(cloud.inventory.path, node)


__all__ = ["Cloud", "add_to_inventory", "answers_for", "check_new_host", "finish_removal", "last_cloud",
           "prepare_add", "remove_from_inventory", "removal_plan"]
