"""`node add` / `node remove` without hosts (tui_installer/nodes.py): the operator's inventory file edited in
place (comments and group vars kept, a bad edit put back), the plan remembering the operator's own choices
so every host's plan can be built again, the removal plan's order and where each step runs, and the resume
base forgetting a removed host. The same commands against lab hosts: tests/test_multihost.py and, with
OpenStack, tests/test_multinode.py."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tui_installer import catalog, hosts, journal, nodes, planformat
from tui_installer import plan as planning
from tui_installer.cli.install import load_plan
from tui_installer.errors import UserError
from tui_installer.model import Answers, Phase, Plan, Step
from tui_installer.statedir import StateDir, history

CLI = [sys.executable, "-m", "tui_installer"]
INVENTORY = """# the lab's hosts
[controller]
ctl ansible_host=192.0.2.10

[compute]
cmp1 ansible_host=192.0.2.11   # the first compute
; a comment in the group

[compute:vars]
tui_set_pip_packages="nova neutron"
"""


def _inventory(tmp_path: Path, text: str = INVENTORY) -> Path:
    path = tmp_path / "inventory.ini"
    path.write_text(text)
    path.chmod(0o640)
    return path


def test_a_host_is_added_under_compute_keeping_comments_group_vars_and_mode(tmp_path: Path) -> None:
    path = _inventory(tmp_path)
    nodes.add_to_inventory(str(path), hosts.HostSpec(name="cmp2", address="192.0.2.12", key="", user="root"))
    text = path.read_text()
    assert text.splitlines()[:6] == INVENTORY.splitlines()[:6]  # the host line after the group's last host
    assert "cmp2 ansible_host=192.0.2.12 ansible_user=root" in text.splitlines()[6]
    assert "[compute:vars]\ntui_set_pip_packages=\"nova neutron\"" in text
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    inventory = hosts.load_inventory(path)
    assert inventory.groups["compute"] == ("cmp1", "cmp2")
    assert inventory.settings["cmp2"] == {"pip_packages": "nova neutron"}, "the group vars reach the new host"


def test_a_host_is_removed_and_the_rest_stays(tmp_path: Path) -> None:
    path = _inventory(tmp_path)
    nodes.add_to_inventory(str(path), hosts.HostSpec(name="cmp2", address="192.0.2.12"))
    nodes.remove_from_inventory(str(path), "cmp1")
    assert hosts.load_inventory(path).hosts == ("ctl", "cmp2")
    assert "# the lab's hosts" in path.read_text() and "[compute:vars]" in path.read_text()


def test_an_inventory_without_a_compute_group_gets_one(tmp_path: Path) -> None:
    path = _inventory(tmp_path, "[controller]\nctl ansible_host=192.0.2.10\n")
    nodes.add_to_inventory(str(path), hosts.HostSpec(name="cmp1", address="192.0.2.11"))
    assert hosts.load_inventory(path).groups["compute"] == ("cmp1",)


def test_an_edit_ansible_reads_otherwise_is_put_back(tmp_path: Path) -> None:
    # cmp1 is in another group too: without its line under [compute] Ansible finds it in neither of ours
    text = INVENTORY + "\n[extra]\ncmp1\n"
    path = _inventory(tmp_path, text)
    with pytest.raises(UserError, match="host cmp1 is in neither group controller nor compute"):
        nodes.remove_from_inventory(str(path), "cmp1")
    assert path.read_text() == text


def test_a_yaml_inventory_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("all:\n  children:\n    controller:\n      hosts:\n        ctl: {ansible_host: 192.0.2.10}\n")
    with pytest.raises(UserError, match="not an INI inventory") as error:
        nodes.add_to_inventory(str(path), hosts.HostSpec(name="cmp1", address="192.0.2.11"))
    assert "add or remove the host in the inventory yourself" in str(error.value.hint)


def _plan(tmp_path: Path, *sets: str) -> Plan:
    args = argparse.Namespace(answers=None, profile="multi-node", set=list(sets),
                              inventory=str(_inventory(tmp_path)))
    return load_plan(args)


def test_an_inventory_plan_keeps_the_operators_choices_and_answers_rebuild_every_host(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "virt_driver=fake", "region=Lab")
    assert plan.choices == {"virt_driver": "fake", "region": "Lab"}
    assert "virt_driver" not in plan.settings, "the controller's settings lack a compute-only service's"
    back = planformat.from_json(planformat.to_json(plan))
    assert back.choices == plan.choices
    # the run's plan.json read back as answers: the choices, not the controller's built-ins and wiring
    state = StateDir.open(tmp_path / "state")
    run = state.run("20260101-000000.000000-1")
    run.create(plan)
    answers = history.answers_of(run)
    assert answers.settings == {"virt_driver": "fake", "region": "Lab"} and answers.inventory == plan.inventory
    again = load_plan(argparse.Namespace(answers=None, profile="multi-node", set=[], inventory=plan.inventory))
    # the same steps, fingerprint for fingerprint, from those answers
    profile = catalog.load_profile("multi-node")
    same = hosts.plan_for_hosts(
        lambda roles, wiring: planning.build(profile, answers=answers, overrides=wiring, roles=roles),
        hosts.load_inventory(plan.inventory or ""))
    assert [(s.id, s.fingerprint) for s in same.steps()] == [(s.id, s.fingerprint) for s in plan.steps()]
    assert [(s.id, s.fingerprint) for s in again.steps()] != [(s.id, s.fingerprint) for s in plan.steps()], \
        "without the choices (virt_driver=fake) the compute's steps differ: the test would prove nothing"


def test_the_removal_plan_runs_each_part_where_it_belongs(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "virt_driver=fake")
    assert plan.choices is not None
    answers = Answers(profile="multi-node", settings=dict(plan.choices), inventory=plan.inventory)
    cloud = nodes.Cloud(run=None, plan=plan, answers=answers,  # type: ignore[arg-type]
                        inventory=hosts.load_inventory(plan.inventory or ""))
    profile = catalog.load_profile("multi-node")
    removal = nodes.removal_plan(cloud, "cmp1", lambda roles, wiring: planning.build_removal(
        profile, answers=answers, overrides=wiring, purge=True, roles=roles))
    where = [(s.id, s.host) for s in removal.steps()]
    ids = [i for i, _h in where]
    assert ids[0] == "nova-compute.stop.servers-gone-cmp1@ctl", "no server left, before anything stops"
    assert ids[-1] == "nova-compute.cleanup.gone-cmp1@ctl", "nothing of the host left, checked last"
    assert ids.index("nova-compute.stop.compute@cmp1") < ids.index("nova-compute.cleanup.deregister-cmp1@ctl")
    assert ids.index("neutron-agent.cleanup.deregister-cmp1@ctl") < ids.index("neutron-agent.cleanup.files@cmp1")
    assert ids.index("node.cleanup.installer@cmp1") == len(ids) - 2, "the node's tui-installer goes last there"
    assert {h for i, h in where if i.endswith("@ctl")} == {"ctl"}
    assert {h for i, h in where if i.endswith("@cmp1")} == {"cmp1"}
    # the node's own deregister steps (no admin cloud there) are the controller's
    assert "nova-compute.cleanup.deregister@cmp1" not in ids and "neutron-agent.cleanup.deregister@cmp1" not in ids
    # the controller's steps run with its admin cloud and the node's name, quoted as a word
    gone = removal.steps()[-1]
    assert gone.env == {"OS_CLOUD": "admin"} and "--host cmp1 " in (gone.shell or "")
    # the node's steps are built with its own built-ins (host_name=cmp1), not the controller's
    files = next(s for s in removal.steps() if s.id == "nova-compute.cleanup.files@cmp1")
    assert "nova-compute-cmp1" in (files.shell or "") and "nova-compute-ctl" not in (files.shell or "")
    with pytest.raises(UserError, match="host ctl is the controller"):
        nodes.removal_plan(cloud, "ctl", lambda roles, wiring: plan)
    with pytest.raises(UserError, match="host nope is not in the inventory"):
        nodes.removal_plan(cloud, "nope", lambda roles, wiring: plan)


def _step(sid: str, host: str) -> Step:
    step = Step(id=f"{sid}@{host}", service=sid.split(".")[0], phase=sid.split(".")[1], name=sid.split(".")[2],
                argv=("true",), host=host)
    return replace(step, fingerprint=planning.fingerprint(step))


def _run(state: StateDir, plan: Plan, kind: str, node: str | None = None, done: bool = True) -> None:
    run = state.run(f"20260101-0000{len(list(state.runs_newest_first())):02d}.000000-1")
    run.create(plan)
    record = journal.Journal.create(run.journal_file, run.id, plan, kind, node=node)
    for step in plan.steps():
        record.update(step.id, status=journal.OK if done else journal.FAILED, finished=time.time())
    record.finish("ok")
    time.sleep(0.01)


def test_the_resume_base_forgets_a_removed_host_until_it_is_installed_again(tmp_path: Path) -> None:
    state = StateDir.open(tmp_path / "state")
    steps = (_step("agent.install.a", "cmp1"), _step("agent.install.a", "cmp2"), _step("ctl.verify.v", "ctl"))
    plan = Plan(profile="p", profile_source="", services=("agent", "ctl"), added={}, settings={}, secrets=(),
                phases=(Phase("install", steps[:2]), Phase("verify", steps[2:])), inventory="/x", hosts=("ctl",))
    _run(state, plan, "install")
    assert set(history.resume_base(state, "p").steps) == {s.id for s in steps}  # type: ignore[union-attr]
    removal = Plan(profile="p", profile_source="", services=("agent",), added={}, settings={}, secrets=(),
                   phases=(Phase("cleanup", (_step("agent.cleanup.files", "cmp1"),)),))
    _run(state, removal, "remove-node", node="cmp1", done=False)  # even a removal that failed half-way
    base = history.resume_base(state, "p")
    assert base is not None and set(base.steps) == {"agent.install.a@cmp2", "ctl.verify.v@ctl"}
    assert journal.load(base.path).steps.keys() == {s.id for s in steps}, "the install's own journal is kept"
    _run(state, plan, "install")  # installed again: the newest install is the base, whole
    assert set(history.resume_base(state, "p").steps) == {s.id for s in steps}  # type: ignore[union-attr]


def test_node_commands_without_a_cloud_on_an_inventory_say_what_to_do(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "TUI_INSTALLER_KEYRING_PASSPHRASE": "node-test-passphrase"}
    result = subprocess.run([*CLI, "node", "remove", "cmp1", "--yes", "--state-dir", str(state)],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr
    assert f"no install has run in {state}" in result.stderr and "--inventory" in result.stderr
    # an all-in-one: nothing to grow
    done = subprocess.run([*CLI, "install", "-p", "demo", "--yes", "--set", "greeting=x", "--state-dir", str(state)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    result = subprocess.run([*CLI, "node", "add", "cmp1", "--address", "192.0.2.11", "--yes", "--state-dir",
                             str(state)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2 and "installed on this machine alone" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    journal_files = list((state / "runs").glob("*/journal.json"))
    assert len(journal_files) == 1 and json.loads(journal_files[0].read_text())["state"] == "ok"
