"""The OpenStack recipes as data: what the plans of all-in-one and compute-only promise, checked statically.

The real deployment is tested end to end in tests/e2e; these catch recipe mistakes in a second.
"""

from __future__ import annotations

import re

from tui_installer import catalog, plan
from tui_installer.model import Plan
from tui_installer.ops.release import constraints

FAKE = {"virt_driver": "fake", "ovs_datapath": "netdev"}
COMPUTE = {**FAKE, "controller_host": "127.0.0.1", "host_name": "node2"}
PATH = re.compile(r"(/(?:etc|var/lib|var/log|run)/[^\s'\";|)]+)")


def build(profile: str, settings: dict[str, str], removal: bool = False) -> Plan:
    prof = catalog.load_profile(profile)
    if removal:
        return plan.build_removal(prof, overrides=settings, purge=True)
    return plan.build(prof, overrides=settings)


def units_written(p: Plan) -> set[str]:
    return {m.group(1) for s in p.steps() for m in re.finditer(r"write-unit (\S+)", s.display)}


def test_all_in_one_has_every_service_and_phase() -> None:
    p = build("all-in-one", FAKE)
    assert {"keystone", "placement", "glance", "nova", "neutron", "nova-compute", "neutron-agent", "mariadb",
            "rabbitmq", "memcached", "openvswitch", "cinder", "heat", "horizon", "tempest"} <= set(p.services)
    assert [ph.name for ph in p.phases] == ["preflight", "packages", "install", "configure", "init", "start",
                                            "verify"]
    assert units_written(p) == {"keystone", "placement", "glance-api", "nova-api", "nova-conductor",
                                "nova-scheduler", "neutron-api", "neutron-rpc-server", "nova-metadata-api",
                                "neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent",
                                "cinder-api", "cinder-scheduler", "cinder-volume", "heat-api", "heat-engine",
                                "horizon", f"nova-compute-{p.settings['host_name']}",
                                f"neutron-ovs-agent-{p.settings['host_name']}"}


def test_every_unit_written_is_started_and_removed_on_purge() -> None:
    for profile, settings in (("all-in-one", FAKE), ("compute-only", COMPUTE)):
        install, removal = build(profile, settings), build(profile, settings, removal=True)
        started = " ".join(s.display for s in install.steps() if s.phase == "start")
        removed = " ".join(s.display for s in removal.steps() if s.phase == "cleanup")
        for unit in units_written(install):
            assert re.search(rf"\b{re.escape(unit)}\b", started), f"{profile}: {unit} never started"
            assert re.search(rf"\bremove (\$s|{re.escape(unit)})\b", removed) or unit in removed, unit


def test_compute_node_beside_the_controller_writes_nothing_of_the_controllers() -> None:
    """Issue 3, e2e 3: a compute-only node with its own host_name can live on the controller's host."""
    def files(p: Plan) -> set[str]:
        return {m.group(1).rstrip("/") for s in p.steps() if s.phase == "configure"
                for m in PATH.finditer(s.display) if re.search(r"\.(conf|ini|log|json)$", m.group(1))}
    controller, node = build("all-in-one", FAKE), build("compute-only", COMPUTE)
    shared = files(controller) & files(node)
    assert shared == set(), shared
    assert units_written(controller).isdisjoint(units_written(node))
    assert node.settings["ovs_integration_bridge"] != controller.settings["ovs_integration_bridge"]
    assert node.settings["ovs_of_listen_port"] != controller.settings["ovs_of_listen_port"]
    clouds = [s for s in node.steps() if "/etc/openstack/clouds.yaml" in s.display]
    assert clouds and all(s.creates == "/etc/openstack/clouds.yaml" for s in clouds)  # never overwritten


def test_compute_only_beside_the_controller_names_its_bridges_within_15_characters_for_any_host_name() -> None:
    """The same-machine lab mode: bridges named after the agent's OpenFlow port, whatever host_name is."""
    node = build("compute-only", {**COMPUTE, "host_name": "a-compute-node-with-a-rather-long-name.example.org"})
    controller = build("all-in-one", FAKE)
    names = {node.settings["ovs_integration_bridge"], node.settings["ovs_tunnel_bridge"]}
    assert names == {"bri-6634", "brt-6634"}
    assert all(len(n) <= 15 for n in names)
    assert names.isdisjoint({controller.settings["ovs_integration_bridge"], controller.settings["ovs_tunnel_bridge"]})
    other = build("compute-only", {**COMPUTE, "ovs_of_listen_port": "6635"})  # a second node beside them
    assert other.settings["ovs_integration_bridge"] == "bri-6635"


def test_compute_only_refuses_without_controller_host() -> None:
    try:
        build("compute-only", FAKE)
    except Exception as exc:  # UserError
        assert "controller_host" in str(exc)
    else:
        raise AssertionError("compute-only planned without controller_host")


def test_secrets_reach_steps_only_through_the_environment() -> None:
    p = build("all-in-one", FAKE)
    for step in p.steps():
        for var in step.secret_env:
            # a secret variable is used as ${VAR} by a helper (iniconf, dbsetup…), or by the shell inside
            # a heredoc/pipe, never expanded into a command's argv by the shell outside quotes
            for line in (step.shell or "").splitlines():
                if f"${var}" in line and "printf '%s'" not in line and "<<" not in line:
                    assert f"'${{{var}" in line or f"{var}=" in line or "-env" in line, (step.id, line)
    for step in p.steps():
        assert not re.search(r"\s(-p\S|--password[= ]|--bootstrap-password)", step.display), step.id


def test_constraints_pin_the_release() -> None:
    text = constraints("2026.2").read_text()
    for pin in ("keystone===30.0.0", "openstack-placement===16.0.0", "glance===33.0.0", "nova===34.0.0",
                "neutron===29.0.0", "cinder===29.0.0", "openstack-heat===27.0.1", "horizon===27.0.0",
                "tempest===47.0.0"):
        assert pin in text


def test_every_recipe_unit_renders_for_systemd() -> None:
    """The units the recipes define, rendered as a systemd host would get them (no systemd needed)."""
    import shlex

    from tui_installer.ops.servicemgr import Unit, render_systemd
    from tui_installer.ops.servicemgr_cli import _parser

    p = build("all-in-one", FAKE)
    commands = []
    for step in p.steps():
        text = step.display.replace("\\\n", " ")
        commands += [m.group(0) for m in re.finditer(r"write-unit [^\n]+", text)]
    assert len(commands) == 20
    for command in commands:
        args = _parser().parse_args(shlex.split(command))
        env = dict(item.split("=", 1) for item in args.env)
        unit = Unit(args.name, args.argv, env=env, log_file=args.log_file, after=args.after,
                    stop_timeout=args.stop_timeout, description=args.description)
        lines = render_systemd(unit).splitlines()
        assert lines[0] == "[Unit]" and "[Service]" in lines and "[Install]" in lines
        exec_start = next(x for x in lines if x.startswith("ExecStart="))
        assert exec_start.startswith("ExecStart=/opt/stack/venv/bin/"), exec_start
        assert f"StandardOutput=append:{unit.log_file}" in lines and unit.log_file.startswith("/var/log/openstack/")
        assert "{{" not in "\n".join(lines)
