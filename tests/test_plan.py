"""Plan building: dependency closure and order, settings precedence, fingerprints, and the formats.

The ``--format sh`` export is run for real with bash.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tui_installer import catalog, plan, planformat
from tui_installer import hostfacts as settings
from tui_installer.errors import UserError
from tui_installer.model import INSTALL_PHASES, Answers, Plan, Profile, Prompt

FIX = Path(__file__).parent / "fixtures"
#: fixed host facts so plans are the same on every machine
HOST = {"host_ip": "10.0.0.5", "host_name": "node1", "installer_python": "/usr/bin/python3"}


def _profile(name: str) -> Profile:
    return catalog.load_profile(str(FIX / "plan" / f"{name}.yaml"))


def test_all_in_one_phases_and_dependency_order() -> None:
    p = plan.build(catalog.load_profile("all-in-one"), overrides=HOST)
    names = [ph.name for ph in p.phases]
    assert names == [ph for ph in INSTALL_PHASES if ph in names] and len(names) >= 5
    services = catalog.load_services()
    for i, name in enumerate(p.services):
        assert set(services[name].requires) <= set(p.services[:i]), name
    for phase in p.phases:
        order = [p.services.index(s.service) for s in phase.steps if s.service != "system"]
        assert order == sorted(order), phase.name
        for step in phase.steps:
            assert step.id == f"{step.service}.{phase.name}.{step.name}" and step.phase == phase.name
    assert len({s.id for s in p.steps()}) == len(p.steps())


def test_apt_packages_in_one_first_step() -> None:
    p = plan.build(catalog.load_profile("all-in-one"), overrides=HOST)
    packages = next(ph for ph in p.phases if ph.name == "packages")
    apt = packages.steps[0]
    assert apt.id == "system.packages.apt"
    assert apt.argv[:6] == ("apt-get", "install", "-y", "-q", "-o", "Dpkg::Progress-Fancy=0")
    assert apt.env == {"DEBIAN_FRONTEND": "noninteractive"}
    wanted = [pkg for name in p.services for pkg in catalog.load_services()[name].packages]
    assert list(apt.argv[6:]) == list(dict.fromkeys(wanted))
    assert {"mariadb-server", "rabbitmq-server", "memcached", "openvswitch-switch"} <= set(apt.argv)
    assert [s.id for s in p.steps()].count("system.packages.apt") == 1


def test_apt_unless_check_really_detects_installed_packages() -> None:
    installed = plan.apt_step(["bash", "coreutils"]).unless
    missing = plan.apt_step(["bash", "no-such-package-xyz"]).unless
    assert installed and missing
    assert subprocess.run(["bash", "-c", installed]).returncode == 0
    assert subprocess.run(["bash", "-c", missing]).returncode != 0


def test_dependencies_added_with_reasons_and_profile_order_kept() -> None:
    services = catalog.load_services()
    order, added = plan.resolve_services(["glance"], services)
    assert order == ["mariadb", "memcached", "uv", "openstack-base", "keystone", "glance"]
    assert added == {"mariadb": "required by keystone", "memcached": "required by keystone",
                     "uv": "required by openstack-base",
                     "openstack-base": "required by keystone", "keystone": "required by glance"}
    order, added = plan.resolve_services(["memcached", "rabbitmq", "mariadb"], services)
    assert (order, added) == (["memcached", "rabbitmq", "mariadb"], {})
    p = plan.build(Profile(name="x", services=("nova",)), overrides=HOST)
    assert p.added["placement"] == "required by nova" and "nova" not in p.added
    assert p.services.index("keystone") < p.services.index("placement") < p.services.index("nova")


def test_why_required_and_removal_refusal() -> None:
    services = catalog.load_services()
    assert plan.why_required("keystone", ["keystone", "glance", "nova"], services) == ["glance", "nova"]
    assert plan.why_required("rabbitmq", ["keystone", "glance", "rabbitmq"], services) == []
    assert plan.why_required("mariadb", ["nova"], services) == ["nova"]
    profile = catalog.load_profile("all-in-one")
    ok = plan.build(profile, answers=Answers(remove_services=("nova-compute",), source="a.yaml"),
                    overrides=HOST)
    assert "nova-compute" not in ok.services and "neutron-agent" in ok.services
    with pytest.raises(UserError, match=r"a\.yaml: remove_services\[0\]: cannot remove 'glance': "
                                        r"required by nova"):
        plan.build(profile, answers=Answers(remove_services=("glance",), source="a.yaml"))


def test_settings_precedence(tmp_path: Path) -> None:
    profile = _profile("layers")
    (tmp_path / "a.yaml").write_text("settings: {port: 3, label: answers}\n")
    answers = Answers(settings={"port": 3, "label": "answers"}, source=str(tmp_path / "a.yaml"))
    base = replace(profile, settings={})
    assert plan.build(base, overrides=HOST).settings["port"] == 1  # service default
    assert plan.build(profile, overrides=HOST).settings["port"] == 2  # profile
    assert plan.build(profile, answers=answers, overrides=HOST).settings["port"] == 3  # answers
    top = plan.build(profile, answers=answers, overrides={**HOST, "port": "4", "flag": "yes",
                                                          "ratio": "2.5"})
    assert (top.settings["port"], top.settings["flag"], top.settings["ratio"]) == (4, True, 2.5)
    assert top.settings["label"] == "answers"
    assert top.steps()[0].argv == ("echo", "4", "true", "2.5", "answers", "http://10.0.0.5:4/")


def test_overrides_errors_name_the_key() -> None:
    profile = _profile("layers")
    with pytest.raises(UserError, match=r"^--set: unknown setting 'prot' \(did you mean port\?\)$"):
        plan.build(profile, overrides={"prot": "5"})
    with pytest.raises(UserError, match=r"^--set: port=five: expected an integer$"):
        plan.build(profile, overrides={"port": "five"})
    with pytest.raises(UserError, match=r"^--set: flag=maybe: expected a boolean"):
        plan.build(profile, overrides={"flag": "maybe"})


def test_builtin_settings_and_templated_defaults() -> None:
    facts = settings.builtin_settings()
    assert facts["installer_python"] == sys.executable
    assert facts["host_ip"].count(".") == 3
    compute = catalog.load_profile("compute-only")
    with pytest.raises(UserError, match=r"compute-only.yaml:\d+: settings.controller_host: missing "
                                        r"required setting 'controller_host'"):
        plan.build(compute)
    p = plan.build(compute, overrides={"controller_host": "10.9.9.9", "host_name": "n2"})
    assert p.settings["controller_host"] == "10.9.9.9"
    aio = plan.build(catalog.load_profile("all-in-one"), overrides={"host_ip": "10.1.2.3"})
    assert aio.settings["controller_host"] == "10.1.2.3"  # default "{{ host_ip }}"


def test_settings_referring_to_each_other_is_an_error() -> None:
    with pytest.raises(UserError, match=r"^--set label: settings refer to each other: "
                                        r"label -> url -> label$"):
        plan.build(_profile("layers"), overrides={"label": "<{{ url }}>", "url": "{{ label }}"})
    with pytest.raises(UserError, match=r"^--set url: unknown setting \{\{ nope \}\} in template$"):
        plan.build(_profile("layers"), overrides={"url": "{{ nope }}"})


def test_fingerprint_changes_with_inputs_only() -> None:
    step = plan.build(_profile("layers"), overrides=HOST).steps()[0]
    assert step.fingerprint == plan.fingerprint(step) and len(step.fingerprint) == 64
    changed = [replace(step, argv=step.argv + ("x",)), replace(step, env={"A": "1"}),
               replace(step, secret_env={"P": "other_secret"}), replace(step, cwd="/tmp"),
               replace(step, creates="/x"), replace(step, unless="true"),
               replace(step, prompts=(Prompt("x", answer="y"),))]
    prints = {plan.fingerprint(s) for s in changed}
    assert len(prints) == len(changed) and step.fingerprint not in prints
    same = replace(step, timeout=99.0, retries=5, description="other words")
    assert plan.fingerprint(same) == step.fingerprint
    other = plan.build(_profile("layers"), overrides={**HOST, "port": "7"}).steps()[0]
    assert other.fingerprint != step.fingerprint


def test_json_is_stable_documented_and_reads_back() -> None:
    p = plan.build(catalog.load_profile("demo"), overrides=HOST)
    text = plan.to_json(p)
    assert text == plan.to_json(plan.build(catalog.load_profile("demo"), overrides=HOST))
    data = json.loads(text)
    assert list(data) == ["format", "profile", "profile_source", "services", "added", "settings",
                          "secrets", "phases", "endpoints"]
    assert data["format"] == 1 and data["secrets"] == ["hello_password"]
    step = data["phases"][1]["steps"][0]
    assert list(step) == ["id", "service", "phase", "name", "description", "command", "argv", "shell",
                          "env", "secret_env", "cwd", "timeout", "idle_timeout", "retries", "retry_delay",
                          "checks", "prompts", "fingerprint", "after", "locks"]
    assert step["prompts"] == [{"expect": "Password:", "answer": None, "secret": "hello_password"}]
    assert planformat.from_json(text) == p
    golden = (FIX / "demo-plan.json").read_text()
    assert text.replace(p.profile_source, "PROFILE_SOURCE") == golden
    doc = (Path(__file__).parent.parent / "docs" / "PLAN-FORMAT.md").read_text()
    for key in list(data) + list(step):
        assert f"`{key}`" in doc, key


def test_text_shows_commands_and_secret_names_only() -> None:
    p = plan.build(_profile("script"), overrides={**HOST, "work": "/w"})
    text = plan.to_text(p)
    assert "greeter.start.login" in text and "env TOKEN=<secret:greeter_token>" in text
    assert "prompt /Password:/ -> <secret:greeter_password>" in text
    assert "added base: required by greeter" in text


def test_removal_plan_reverse_order_and_purge() -> None:
    profile = catalog.load_profile("all-in-one")
    stop = plan.build_removal(profile, overrides=HOST)
    assert [ph.name for ph in stop.phases] == ["stop"]
    order = [s.service for s in stop.phases[0].steps]
    assert order.index("nova") < order.index("keystone") < order.index("mariadb")
    assert stop.secrets == ()
    purge = plan.build_removal(profile, overrides=HOST, purge=True)
    assert [ph.name for ph in purge.phases] == ["stop", "cleanup"]
    cleanup = [s.service for s in purge.phases[1].steps]
    assert cleanup.index("keystone") > cleanup.index("nova")


# -- the sh export, run for real ------------------------------------------------------------------

def _script(tmp_path: Path) -> tuple[Plan, Path]:
    p = plan.build(_profile("script"), overrides={**HOST, "work": str(tmp_path / "work")})
    script = tmp_path / "plan.sh"
    script.write_text(plan.to_sh(p))
    return p, script


def _run(script: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TUI_SECRET_", "EXPECTED_"))}
    return subprocess.run(["bash", str(script)], env={**clean, **env}, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


SECRETS = {"TUI_SECRET_GREETER_PASSWORD": "pw-Secret-1", "TUI_SECRET_GREETER_TOKEN": "tok-Secret-2",
           "EXPECTED_PASSWORD": "pw-Secret-1", "EXPECTED_TOKEN": "tok-Secret-2"}


def test_sh_export_runs_and_reruns_as_skipped(tmp_path: Path) -> None:
    p, script = _script(tmp_path)
    text = script.read_text()
    assert "pw-Secret-1" not in text and "tok-Secret-2" not in text
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    first = _run(script, **SECRETS)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "==> base.install.dir" in first.stdout and "==> greeter.start.login" in first.stdout
    work = tmp_path / "work"
    assert (work / "greeting").read_text() == "hello world\n" and (work / "done").exists()
    again = _run(script, **SECRETS)
    assert again.returncode == 0
    assert again.stdout.count("--- skip") == len(p.steps()) and "==>" not in again.stdout


def test_sh_export_refuses_without_secrets(tmp_path: Path) -> None:
    _, script = _script(tmp_path)
    result = _run(script, TUI_SECRET_GREETER_TOKEN="x")
    assert result.returncode != 0
    assert "export TUI_SECRET_GREETER_PASSWORD (secret greeter_password) first" in result.stderr
    assert not (tmp_path / "work").exists()


def test_sh_export_wrong_secret_fails_after_retry(tmp_path: Path) -> None:
    _, script = _script(tmp_path)
    result = _run(script, **{**SECRETS, "TUI_SECRET_GREETER_PASSWORD": "wrong"})
    assert result.returncode != 0
    assert "--- retry greeter.start.login (1/1)" in result.stdout
    assert "!!! greeter.start.login failed" in result.stderr
    assert not (tmp_path / "work" / "done").exists()


def test_sh_export_of_the_demo_profile_runs(tmp_path: Path) -> None:
    """The issue's demo profile, exported and run by bash (its marker lives in /tmp by design)."""
    script = tmp_path / "demo.sh"
    script.write_text(plan.to_sh(plan.build(catalog.load_profile("demo"))))
    marker = Path("/tmp/hello-marker")
    existed = marker.exists()
    try:
        result = _run(script, TUI_SECRET_HELLO_PASSWORD="s3cret")
        assert result.returncode == 0, result.stdout + result.stderr
        assert marker.exists() and "==> hello.start.ask" in result.stdout
        assert "==> hello.verify.redacted" in result.stdout
    finally:
        if not existed:
            marker.unlink(missing_ok=True)


def test_profile_may_add_services_and_override_builtins(tmp_path: Path) -> None:
    path = tmp_path / "custom.yaml"
    path.write_text("""
name: custom
services: [site]
service_definitions:
  memcached:
    description: our own memcached
    settings: {memcached_port: 11211}
    phases:
      start:
        - name: mine
          run: [echo, "memcached on {{ memcached_port }}"]
  site:
    requires: [keystone]
    phases:
      configure:
        - name: conf
          run: [echo, "{{ prefix }}", "{{ keystone_port }}", "{{ host_name }}"]
""")
    p = plan.build(catalog.load_profile(str(path)), overrides=HOST)
    assert p.services == ("mariadb", "memcached", "uv", "openstack-base", "keystone", "site")
    ids = [s.id for s in p.steps()]
    assert "memcached.start.mine" in ids and "memcached.start.service" not in ids
    assert next(s for s in p.steps() if s.id == "site.configure.conf").argv == (
        "echo", "/opt/stack", "5000", "node1")
    # a setting of a service that is not required is not visible
    path.write_text(path.read_text().replace("requires: [keystone]", "requires: [mariadb]"))
    with pytest.raises(UserError, match=r"custom.yaml:17: service_definitions.site.phases.configure\[0\]"
                                        r".run\[1\]: unknown setting \{\{ prefix \}\} in template"):
        catalog.load_profile(str(path))


def test_sh_export_keeps_secrets_out_of_every_argv(tmp_path: Path) -> None:
    """While the script runs, no process's command line holds a secret value (they go through builtins)."""
    _, script = _script(tmp_path)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TUI_SECRET_", "EXPECTED_"))}
    proc = subprocess.Popen(["bash", str(script)], env={**clean, **SECRETS}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    seen = 0
    while proc.poll() is None:
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                text = cmdline.read_bytes()
            except OSError:
                continue
            seen += 1
            assert b"pw-Secret-1" not in text and b"tok-Secret-2" not in text, text
    assert proc.returncode == 0 and seen > 0


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed (apt: shellcheck)")
@pytest.mark.parametrize("profile", ["all-in-one", "demo", str(FIX / "plan" / "script.yaml")])
def test_sh_export_passes_shellcheck(profile: str, tmp_path: Path) -> None:
    script = tmp_path / "plan.sh"
    script.write_text(plan.to_sh(plan.build(catalog.load_profile(profile), overrides=HOST)))
    result = subprocess.run(["shellcheck", "-S", "warning", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
