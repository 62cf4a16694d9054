"""The inventory and the plan for several hosts (tui_installer/hosts.py), without hosts: a bad inventory is
one line and exit 2; the plan holds one step per (step, host) in order; the playbook of a step never
lets Ansible template a setting's value; no inventory is the one-host plan of before."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tui_installer import catalog, hosts, plan
from tui_installer.model import Answers

CLI = [sys.executable, "-m", "tui_installer"]
GOOD = """[controller]
ctl ansible_host=192.0.2.10

[compute]
cmp1 ansible_host=192.0.2.11
cmp2 ansible_host=192.0.2.12
"""


def _plan(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "plan", *args], capture_output=True, text=True, cwd=cwd)


def test_inventory_read_by_ansible_controller_first(tmp_path: Path) -> None:
    path = tmp_path / "inventory.ini"
    path.write_text(GOOD)
    inventory = hosts.load_inventory(path)
    assert inventory.hosts == ("ctl", "cmp1", "cmp2")
    assert inventory.groups == {"controller": ("ctl",), "compute": ("cmp1", "cmp2")}
    yaml_path = tmp_path / "inventory.yaml"
    yaml_path.write_text(yaml.safe_dump({"all": {"children": {
        "controller": {"hosts": {"ctl": {"ansible_host": "192.0.2.10"}}},
        "compute": {"hosts": {"cmp1": {"ansible_host": "192.0.2.11", "tui_installer_python": "/opt/py"}}}}}}))
    inventory = hosts.load_inventory(yaml_path)
    assert inventory.hosts == ("ctl", "cmp1")
    # each host's built-ins: its name, the address Ansible reaches it at, the Python of the installer there
    # (its venv, made by deliver_installer; a host var tui_installer_python overrides it)
    assert inventory.facts["cmp1"] == {"host_name": "cmp1", "host_ip": "192.0.2.11", "installer_python": "/opt/py"}
    assert inventory.facts["ctl"]["installer_python"] == hosts.NODE_PYTHON == "/opt/tui-installer/venv/bin/python"


def test_a_host_without_an_address_is_named(tmp_path: Path) -> None:
    path = tmp_path / "inventory.ini"
    path.write_text("[controller]\nno-such-host.invalid\n")
    result = _plan("-p", "demo", "--inventory", str(path))
    assert result.returncode == 2 and "host no-such-host.invalid" in result.stderr and "ansible_host" in result.stderr


@pytest.mark.parametrize(("text", "says"), [
    ("[compute]\ncmp1\n", "group controller must hold exactly one host (it holds 0)"),
    ("[controller]\na\nb\n", "group controller must hold exactly one host (it holds 2)"),
    ("[controller]\nctl\n[storage]\nst1\n", "host st1 is in neither group controller nor compute"),
    ("[controller\nctl\n", "not a readable Ansible inventory"),
])
def test_a_bad_inventory_is_one_line_naming_the_file_and_exit_2(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "bad.ini"
    path.write_text(text)
    result = _plan("-p", "demo", "--inventory", str(path))
    assert result.returncode == 2, result.stderr
    assert says in result.stderr and str(path) in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2 and "Traceback" not in result.stderr


def test_a_missing_inventory_is_named(tmp_path: Path) -> None:
    result = _plan("-p", "demo", "--inventory", str(tmp_path / "nope.ini"))
    assert result.returncode == 2 and "inventory file not found" in result.stderr and "nope.ini" in result.stderr


def test_plan_has_each_step_on_each_host_in_order_and_keeps_it_in_json(tmp_path: Path) -> None:
    path = tmp_path / "inventory.ini"
    path.write_text(GOOD)
    result = _plan("-p", "demo", "--inventory", str(path), "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    ids = [s["id"] for p in data["phases"] for s in p["steps"]]
    assert ids[:3] == ["hello.install.marker@ctl", "hello.install.marker@cmp1", "hello.install.marker@cmp2"]
    assert len(ids) == 9 and data["hosts"] == ["ctl", "cmp1", "cmp2"] and data["inventory"] == str(path)
    assert [s["host"] for s in data["phases"][0]["steps"]] == ["ctl", "cmp1", "cmp2"]


def test_the_inventory_in_an_answers_file_is_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "inv.ini").write_text(GOOD)
    (tmp_path / "answers.yaml").write_text("profile: demo\ninventory: inv.ini\n")
    result = _plan("-a", str(tmp_path / "answers.yaml"), "--format", "json", cwd=Path("/"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["inventory"] == str(tmp_path / "inv.ini")


def test_without_an_inventory_the_plan_is_the_one_host_plan() -> None:
    result = _plan("-p", "demo", "--format", "json")
    data = json.loads(result.stdout)
    assert "inventory" not in data and "hosts" not in data
    assert all("host" not in s and "@" not in s["id"] for p in data["phases"] for s in p["steps"])


def test_step_playbook_marks_every_literal_unsafe_and_names_secrets_only_as_prompts() -> None:
    """A value holding ``{{ }}`` reaches the node as text: Ansible templates only our secret references."""
    demo = plan.build(catalog.load_profile("demo"), answers=Answers(settings={"greeting": "x"}))
    step = next(s for s in demo.steps() if s.name == "ask")
    text = yaml.dump(hosts.step_play(step), Dumper=hosts._Dumper, sort_keys=False)
    play = yaml.load(text, Loader=_UnsafeLoader)[0]
    assert play["vars_prompt"] == [{"name": "tui_secret_hello_password", "prompt": "tui-secret <hello_password>",
                                    "private": True}]
    args = play["tasks"][0]["tui_step"]
    assert args["secret_env"] == {"HELLO_EXPECTED": "{{ tui_secret_hello_password }}"}
    assert args["prompt_answer"] == ["{{ tui_secret_hello_password }}"]
    # every literal Ansible could template (a "{") is !unsafe; the rest is a plain string
    assert all(isinstance(a, Unsafe) or "{" not in a for a in args["argv"]) and args["step"] == "hello.start.ask"
    templated = yaml.dump(hosts._Unsafe("{{ x }}"), Dumper=hosts._Dumper)
    assert isinstance(yaml.load(templated, Loader=_UnsafeLoader), Unsafe)
    assert not isinstance(args["secret_env"]["HELLO_EXPECTED"], Unsafe)


def test_a_literal_that_reads_as_a_number_stays_text_for_ansible() -> None:
    """Ansible 2.19 resolves an !unsafe scalar's type even quoted: `install -m 0750` became mode 488."""
    from ansible.parsing.yaml.loader import AnsibleLoader

    step = next(s for s in plan.build(catalog.load_profile("multi-node"), overrides={"virt_driver": "fake"}).steps()
                if s.id == "openstack-base.install.log-dir")
    assert "0750" in step.argv
    text = yaml.dump(hosts.step_play(step), Dumper=hosts._Dumper, sort_keys=False)
    args = AnsibleLoader(text).get_single_data()[0]["tasks"][0]["tui_step"]
    assert args["argv"] == list(step.argv) and all(type(a).__name__.endswith("Str") for a in args["argv"])


class Unsafe(str):
    pass


class _UnsafeLoader(yaml.SafeLoader):
    pass


_UnsafeLoader.add_constructor("!unsafe", lambda loader, node: Unsafe(loader.construct_scalar(node)))


def test_plan_format_ansible_needs_a_new_directory(tmp_path: Path) -> None:
    no_dir = _plan("-p", "demo", "--format", "ansible")
    assert no_dir.returncode == 2 and "--format ansible writes a directory" in no_dir.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    full = _plan("-p", "demo", "--format", "ansible", "-o", str(tmp_path / "full"))
    assert full.returncode == 2 and "not empty" in full.stderr
    stray = _plan("-p", "demo", "--format", "json", "-o", str(tmp_path / "o"))
    assert stray.returncode == 2 and "--output is for --format ansible" in stray.stderr
    ok = _plan("-p", "demo", "--format", "ansible", "-o", str(tmp_path / "out"))
    assert ok.returncode == 0, ok.stderr
    assert "localhost ansible_connection=local" in (tmp_path / "out" / "inventory").read_text()
    site = (tmp_path / "out" / "site.yml").read_text()
    assert site.count("tui_step:") == 3 and "hello.start.ask" in site


def _multi_node(tmp_path: Path, inventory: str) -> dict[str, Any]:
    path = tmp_path / "inventory.ini"
    path.write_text(inventory)
    result = _plan("-p", "multi-node", "--inventory", str(path), "--format", "json", "--set", "virt_driver=fake")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_services_are_placed_by_role_and_computes_get_only_what_they_need(tmp_path: Path) -> None:
    data = _multi_node(tmp_path, GOOD)
    compute = ["timesync", "uv", "openstack-base", "openvswitch", "neutron-agent", "nova-compute"]
    assert data["placement"]["cmp1"] == data["placement"]["cmp2"] == compute
    controller = data["placement"]["ctl"]
    assert {"mariadb", "rabbitmq", "keystone", "nova", "neutron"} <= set(controller)
    assert "nova-compute" not in controller and "neutron-agent" not in controller
    steps = [s for p in data["phases"] for s in p["steps"]]
    on = {host: [s for s in steps if s["host"] == host] for host in data["hosts"]}
    assert {s["service"] for s in on["cmp1"]} == set(compute) | {"system"}
    # least secrets: a compute host's steps name the rabbit and nova passwords, never the admin's
    names = {v for s in on["cmp1"] for v in s["secret_env"].values()} | \
        {p["secret"] for s in on["cmp1"] for p in s["prompts"] if p["secret"]}
    assert names == {"rabbit_password", "nova_password"}
    assert not any("clouds.yaml" in s["command"] for s in on["cmp1"])
    # wiring: each compute talks to the controller's address; the controller maps and checks the computes
    conf = next(s for s in on["cmp2"] if s["id"] == "nova-compute.configure.compute-conf@cmp2")
    assert "@192.0.2.10:" in conf["command"] and "DEFAULT.my_ip=192.0.2.12" in conf["command"]
    check = next(s for s in on["ctl"] if s["id"] == "nova.verify.computes@ctl")
    assert "cmp1 cmp2" in check["command"] and "discover_hosts" in check["command"]
    # the controller's API is up before any compute starts (the one-host order, phase by phase)
    ids = [s["id"] for s in steps]
    assert ids.index("nova.start.conductor-scheduler@ctl") < ids.index("nova-compute.start.compute@cmp1") \
        < ids.index("nova-compute.start.compute@cmp2") < ids.index("nova.verify.computes@ctl")
    # on their own hosts, the standard bridge names
    agent = next(s for s in on["cmp1"] if s["id"] == "neutron-agent.configure.agent-conf@cmp1")
    assert "ovs.integration_bridge=br-int ovs.tunnel_bridge=br-tun" in agent["command"]


def test_a_controller_that_is_also_a_compute_runs_both(tmp_path: Path) -> None:
    data = _multi_node(tmp_path, "[controller]\nctl ansible_host=192.0.2.10\n"
                                 "[compute]\nctl\ncmp1 ansible_host=192.0.2.11\n")
    assert data["hosts"] == ["ctl", "cmp1"]
    assert {"keystone", "nova", "nova-compute", "neutron-agent"} <= set(data["placement"]["ctl"])
    ids = {s["id"] for p in data["phases"] for s in p["steps"]}
    assert "nova-compute.verify.hypervisor@ctl" in ids and "nova-compute.verify.hypervisor@cmp1" not in ids


def test_text_plan_lists_each_hosts_services(tmp_path: Path) -> None:
    path = tmp_path / "inventory.ini"
    path.write_text(GOOD)
    result = _plan("-p", "multi-node", "--inventory", str(path), "--set", "virt_driver=fake")
    assert result.returncode == 0, result.stderr
    assert "  cmp1: timesync, uv, openstack-base, openvswitch, neutron-agent, nova-compute\n" in result.stdout


def test_a_bad_role_is_one_line(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text("name: p\nservices: [s]\nservice_definitions:\n  s:\n    role: network\n")
    result = _plan("-p", str(profile))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") <= 2 and "role must be one of controller, compute, all" in result.stderr
    assert f"{profile}:" in result.stderr


def test_the_node_wheel_holds_the_package_and_installs(tmp_path: Path) -> None:
    """The wheel delivered to the nodes: the installer's own files, step-side requirements only, and pip
    installs it (an offline venv, no dependencies) so that the helpers run from it."""
    import zipfile

    wheel = hosts.build_wheel(tmp_path / "wheel")
    names = zipfile.ZipFile(wheel).namelist()
    assert "tui_installer/ops/servicemgr.py" in names and "tui_installer/services/nova.yaml" in names
    assert not any("__pycache__" in n for n in names)
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Requires-Dist: psutil" in meta and "textual" not in meta.lower()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    subprocess.run([venv / "bin/pip", "install", "-q", "--no-index", "--no-deps", str(wheel)], check=True)
    out = subprocess.run([venv / "bin/python", "-c", "import tui_installer.ops.iniconf, tui_installer; "
                          "print(tui_installer.__file__)"], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.startswith(str(venv))


def test_group_vars_set_a_hosts_own_settings_and_set_still_wins(tmp_path: Path) -> None:
    path = tmp_path / "inventory.ini"
    path.write_text(GOOD + '[compute:vars]\ntui_set_pip_packages="nova neutron pyroute2"\n')
    result = _plan("-p", "multi-node", "--inventory", str(path), "--format", "json", "--set", "virt_driver=fake")
    steps = [s for p in json.loads(result.stdout)["phases"] for s in p["steps"] if s["name"] == "pip"]
    words = {s["host"]: "'nova neutron pyroute2'" in s["command"] for s in steps}
    assert words == {"ctl": False, "cmp1": True, "cmp2": True}
    result = _plan("-p", "multi-node", "--inventory", str(path), "--format", "json", "--set", "virt_driver=fake",
                   "--set", "pip_packages=nova")
    steps = [s for p in json.loads(result.stdout)["phases"] for s in p["steps"] if s["name"] == "pip"]
    assert all("<<<'nova' ||" in s["command"] for s in steps)


def test_the_ansible_export_of_an_inventory_runs_each_step_on_its_hosts(tmp_path: Path) -> None:
    (tmp_path / "inventory.ini").write_text(GOOD)
    out = tmp_path / "export"
    result = subprocess.run([*CLI, "plan", "-p", "multi-node", "--inventory", str(tmp_path / "inventory.ini"),
                             "--set", "virt_driver=fake", "--format", "ansible", "-o", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    tasks = yaml.load((out / "site.yml").read_text(), Loader=_UnsafeLoader)[0]["tasks"]
    where: dict[str, list[str]] = {}
    for task in tasks:
        if "tui_step" in task:
            where.setdefault(task["name"], []).append(task["when"])
    assert where["configure: keystone.configure.keystone-conf"] == ['inventory_hostname in ["ctl"]']
    assert where["preflight: nova-compute.preflight.virt-driver"] == ['inventory_hostname in ["cmp1", "cmp2"]']
    assert where["preflight: openstack-base.preflight.host"] == ['inventory_hostname in ["ctl", "cmp1", "cmp2"]']
    # a step reading differently per host (its address) is a task per host
    confs = [t for t in tasks if t["name"] == "configure: nova-compute.configure.compute-conf"]
    assert [t["when"] for t in confs] == ['inventory_hostname in ["cmp1"]', 'inventory_hostname in ["cmp2"]']
    assert "DEFAULT.my_ip=192.0.2.12" in confs[1]["tui_step"]["argv"][-1]
    # tui-installer reaches the nodes first, from the wheel beside the playbook
    assert [t["name"] for t in tasks[1:4]] == [f"tui-installer on the node: {n}" for n in ("home", "wheel", "venv")]
    assert tasks[2]["ansible.builtin.copy"]["src"].startswith("files/tui_installer-")
    assert (out / tasks[2]["ansible.builtin.copy"]["src"]).is_file()
