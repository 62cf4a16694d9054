"""The preview API (what clients ask before anything runs): the settings form with types, choices,
descriptions and where each value came from; whether a selection needs the keyring; --set typing."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from tui_installer import preview
from tui_installer.errors import UserError
from tui_installer.model import Answers

TUI_PROFILES = Path(__file__).parent / "tui" / "profiles"


def _form(profile: str, answers: Answers | None = None, overrides: dict[str, str] | None = None
          ) -> dict[str, preview.Field]:
    prof = preview.load_profile(profile)
    return {f.name: f for f in preview.settings_form(prof, prof.services, answers, overrides)}


def test_the_form_has_types_choices_descriptions_and_origins(tmp_path: Path) -> None:
    answers = Answers(profile="all-in-one", settings={"ovs_datapath": "netdev"}, source=str(tmp_path / "a.yaml"))
    form = _form("all-in-one", answers, {"glance_port": "9393"})
    virt = form["virt_driver"]
    assert (virt.type, virt.choices, virt.advanced, virt.service) == ("choice", ("libvirt", "fake"), False,
                                                                      "nova-compute")
    assert virt.description and virt.origin == "default" and virt.value == "libvirt"
    assert (form["region"].origin, form["region"].service) == ("profile", "openstack-base")
    assert (form["ovs_datapath"].origin, form["ovs_datapath"].value, form["ovs_datapath"].base) == \
        ("answers", "netdev", "system")
    assert (form["glance_port"].origin, form["glance_port"].value) == ("--set", 9393)
    assert form["host_ip"].origin == "built-in" and form["host_ip"].type == "ip"
    assert form["controller_host"].value == "{{ host_ip }}", "a value following another reads as written"
    assert form["glance_port"].advanced and form["glance_port"].type == "port"
    assert list(form)[:3] == ["installer_python", "host_name", "host_ip"]


def test_a_default_of_a_profiles_own_service_is_a_default() -> None:
    form = _form(str(TUI_PROFILES / "tuidemo.yaml"))
    assert (form["greeting"].origin, form["greeting"].value) == ("profile", "hello")
    assert (form["slow_seconds"].origin, form["work_dir"].origin) == ("default", "default")


def test_required_fields_and_the_one_validator() -> None:
    form = _form("compute-only")
    host = form["controller_host"]
    assert host.required and host.value is None
    with pytest.raises(ValueError, match="a value is required"):
        preview.check_field(host, "")
    with pytest.raises(ValueError, match="an IP address or a host name"):
        preview.check_field(host, "10.0.0.1; id")
    assert preview.check_field(host, "ctl.example") == "ctl.example"
    assert preview.check_field(form["min_ram_mb"], "") is None, "an emptied number falls back to the base"
    assert preview.check_field(form["pip_uncached_packages"], "") == "", "a string may be empty"
    with pytest.raises(ValueError, match="one of: auto, kvm, qemu"):
        preview.check_field(form["libvirt_virt_type"], "xen")


def test_needs_secrets_from_the_selection_alone() -> None:
    assert preview.needs_secrets(preview.load_profile("demo"))
    assert preview.needs_secrets(preview.load_profile("compute-only")), "even before controller_host is given"
    silent = preview.load_profile(str(TUI_PROFILES / "silent.yaml"))
    assert not preview.needs_secrets(silent)
    with pytest.raises(UserError):
        preview.build_plan(preview.load_profile("compute-only"))  # a plan needs the setting; the answer did not


def test_parse_sets_types_like_install_does() -> None:
    profile = preview.load_profile(str(TUI_PROFILES / "tuidemo.yaml"))
    assert preview.parse_sets(profile, ["slow_seconds=7", "greeting=a=b"]) == {"slow_seconds": 7, "greeting": "a=b"}
    with pytest.raises(UserError, match="^--set: slow_seconds=x: expected an integer$"):
        preview.parse_sets(profile, ["slow_seconds=x"])
    with pytest.raises(UserError, match="expected KEY=VALUE"):
        preview.parse_sets(profile, ["slow_seconds"])
    with pytest.raises(UserError, match="unknown setting 'slow_second'"):
        preview.parse_sets(profile, ["slow_second=1"])


def test_the_settings_command_shows_the_form(tmp_path: Path) -> None:
    """`tui-installer settings`: the CLI's view of the same form, through the same API."""
    import json
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tui_installer", "settings", *args], capture_output=True,
                              text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=60)

    out = run("-p", "compute-only", "--set", "virt_driver=fake")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "openstack-base", "the group with a required setting comes first"
    assert "controller_host *" in out.stdout and "(required)  [profile; host]" in out.stdout
    assert "virt_driver" in out.stdout and "fake  [--set; choice libvirt|fake]" in out.stdout
    assert "keystone_port" not in out.stdout and "advanced settings not shown: --all" in out.stdout
    data = json.loads(run("-p", "all-in-one", "--all", "--format", "json").stdout)
    port = next(f for f in data if f["name"] == "keystone_port")
    assert (port["type"], port["advanced"], port["value"], port["origin"]) == ("port", True, 5000, "default")
    bad = run("-p", "all-in-one", "--set", "glance_port=x")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == "tui-installer: error: --set: glance_port=x: expected a port number (1-65535)\n"


def _profile_with_preflight(tmp_path: Path, steps: str) -> str:
    path = tmp_path / "checked.yaml"
    head = textwrap.dedent("""\
        name: checked
        services: [probe]
        service_definitions:
          probe:
            settings:
              mode: {type: choice, choices: [strict, relaxed], default: strict, description: how strict}
            phases:
              preflight:
        """)
    path.write_text(head + textwrap.indent(textwrap.dedent(steps), " " * 8))
    return str(path)


def test_host_check_runs_the_profiles_own_preflight_steps(tmp_path: Path) -> None:
    """Every preflight step that is not the detailed helper runs for real: its verdict and last line,
    and a failure that names `--set k=v` carries that fix for the host check to offer."""
    marker = tmp_path / "ran"
    profile = _profile_with_preflight(tmp_path, f"""\
        - name: passes
          run: "touch {marker}; echo all good here"
        - name: needs-relaxed
          run: |
            [ {{{{ mode }}}} = relaxed ] || {{ echo "strict mode cannot work on this host;" \\
                "use --set mode=relaxed" >&2; exit 1; }}
        """)
    checks = {c.name: c for c in preview.preflight_checks(profile, tmp_path)}
    assert marker.exists(), "the step really ran"
    assert checks["probe.passes"].status == "pass" and checks["probe.passes"].why == "all good here"
    failed = checks["probe.needs-relaxed"]
    assert failed.status == "fail" and "strict mode cannot work" in failed.why
    assert failed.fix == (("mode", "relaxed"),)


def test_host_check_offers_netdev_where_the_kernel_has_no_openvswitch_module(tmp_path: Path) -> None:
    """all-in-one's default kernel datapath: the check's verdict follows the kernel, and without the
    module it offers the userspace datapath."""
    datapath = {c.name: c for c in preview.preflight_checks("all-in-one", tmp_path)}["openvswitch.datapath"]
    loadable = Path("/sys/module/openvswitch").exists() or subprocess.run(
        ["modprobe", "-n", "openvswitch"], capture_output=True).returncode == 0
    if loadable:
        assert datapath.status == "pass", datapath
    else:
        assert datapath.status == "fail" and datapath.fix == (("ovs_datapath", "netdev"),), datapath
