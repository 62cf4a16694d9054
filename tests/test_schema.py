"""Every bad input gives one precise line: file:line: key: message. Good inputs load into the model."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tui_installer import catalog, plan, schema
from tui_installer.errors import UserError
from tui_installer.model import ALL_PHASES, Prompt

BAD = Path(__file__).parent / "fixtures" / "bad"
SD = "service_definitions"

#: fixture -> the whole error line (after "<path>:")
EXPECTED = {
    "malformed": "3: malformed YAML: expected ',' or ']', but got ':'",
    "unknown-key": f"9: {SD}.hello.phases.install[0].tmeout: unknown key (expected one of: name, run, "
                   "env, cwd, timeout, idle_timeout, retries, retry_delay, creates, unless, prompts, "
                   "description, after, locks, role)",
    "unknown-profile-key": "2: service: unknown key (expected one of: name, description, services, "
                           "settings, service_definitions)",
    "wrong-type": f"9: {SD}.hello.phases.install[0].retries: wrong type: expected an integer, got string",
    "wrong-type-run": f"8: {SD}.hello.phases.install[0].run: wrong type: expected an argv list or a "
                      "shell string, got mapping",
    "unknown-service": "5: services[1]: unknown service 'keystoen' (did you mean keystone?)",
    "unknown-required": f"5: {SD}.hello.requires[1]: unknown service 'nosuch'",
    "cycle": f"9: {SD}.c.requires[0]: dependency cycle: a -> b -> c -> a",
    "missing-setting": f"7: {SD}.hello.settings.target: missing required setting 'target' (needed by "
                       "hello: give it with --set target=VALUE, in the profile or an answers file)",
    "duplicate-step": f"11: {SD}.hello.phases.install[2].name: duplicate step name 'a' (first at line 7)",
    "undeclared-secret-env": f"12: {SD}.hello.phases.start[0].env.PASSWORD.secret: secret "
                             "'hello_pasword' is not declared (add it to hello's secrets)",
    "undeclared-secret-prompt": f"10: {SD}.hello.phases.start[0].prompts[0].secret: secret "
                                "'hello_password' is not declared (add it to hello's secrets)",
    "unknown-template": f"9: {SD}.hello.phases.install[0].run: unknown setting {{{{ gretting }}}} in "
                        "template (declare it in hello's settings)",
    "unknown-phase": f"9: {SD}.hello.phases.instal: unknown phase 'instal' (expected one of: preflight, "
                     "packages, install, configure, init, start, verify, stop, cleanup)",
    "bad-secret-name": f"5: {SD}.hello.secrets[0]: invalid secret name 'Hello-Password' "
                       "(must match [a-z][a-z0-9_]*)",
    "duplicate-key": f"6: {SD}.hello.description: duplicate key (first at line 5)",
    "prompt-both": f"10: {SD}.hello.phases.start[0].prompts[0]: a prompt needs exactly one of 'answer' "
                   "or 'secret'",
    "missing-run": f"7: {SD}.hello.phases.start[0]: missing key 'run'",
    "bad-regex": f"9: {SD}.hello.phases.start[0].prompts[0].expect: invalid regular expression: "
                 "missing ), unterminated subpattern at position 0",
    "conflicting-default": f"7: {SD}.hello.settings.prefix: default '/srv/stack' differs from "
                           "'/opt/stack' in openstack-base (settings are shared: declare the same default, or "
                           "declare it in one service and require that service)",
    "bad-settings-type": "4: settings.keystone_port: expected a port number (1-65535), got 'five thousand'",
    "relative-creates": f"9: {SD}.hello.phases.install[0].creates: must be an absolute path, got 'marker'",
    "bad-package": f"7: {SD}.hello.packages[1]: invalid package name 'curl; rm -rf /' (must match "
                   "[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?)",
    "zero-timeout": f"9: {SD}.hello.phases.install[0].timeout: must be more than 0 seconds (leave it out "
                    "for no limit)",
    "answers-unknown-key": "2: add_service: unknown key (expected one of: profile, add_services, "
                           "remove_services, settings, inventory)",
    "answers-remove-needed": "3: remove_services[0]: cannot remove 'memcached': required by placement, "
                             "glance, nova, neutron, neutron-network-node, cloud-networks, cinder, heat, horizon",
    "answers-unknown-service": "2: add_services[1]: unknown service 'glanse' (did you mean glance?)",
    "alias-bomb": "8: too large: more than 10000 values (aliases counted expanded) (a profile, service or "
                  "answers file is a few hundred lines)",
    "too-deep": "5: too large: nested deeper than 64 levels (a profile, service or answers file is a few "
                "hundred lines)",
}


def _plan_from(path: Path) -> None:
    if path.name.startswith("answers-"):
        answers = schema.load_answers(path)
        assert answers.profile is not None
        plan.build(catalog.load_profile(answers.profile), answers=answers)
    else:
        plan.build(catalog.load_profile(str(path)))


def test_every_bad_fixture_is_covered() -> None:
    assert sorted(p.stem for p in BAD.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_input_gives_one_precise_line(name: str) -> None:
    path = BAD / f"{name}.yaml"
    with pytest.raises(UserError) as info:
        _plan_from(path)
    assert info.value.format() == f"{path}:{EXPECTED[name]}"
    assert "\n" not in info.value.format()
    assert info.value.file == str(path) and info.value.line == int(EXPECTED[name].split(":")[0])


def test_cli_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    """Through the real CLI: no traceback, exit code 2, the same line on stderr."""
    path = BAD / "cycle.yaml"
    proc = subprocess.run([sys.executable, "-m", "tui_installer", "plan", "-p", str(path)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"{path}:{EXPECTED['cycle']}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_file_and_unknown_preset() -> None:
    with pytest.raises(UserError, match=r"/nonexistent/x.yaml: cannot read: No such file"):
        catalog.load_profile("/nonexistent/x.yaml")
    with pytest.raises(UserError, match=r"unknown profile 'no-such' \(presets: all-in-one, compute-only"):
        catalog.load_profile("no-such")


def test_builtin_services_and_presets_load() -> None:
    services = catalog.load_services()
    for name in ("mariadb", "rabbitmq", "memcached", "openvswitch", "keystone", "placement", "glance",
                 "nova", "neutron"):
        assert name in services and services[name].description
        assert set(services[name].phases) <= set(ALL_PHASES)
    assert services["nova"].requires == ("keystone", "placement", "rabbitmq", "glance")
    names = {p.name: p for p in catalog.list_profiles()}
    assert {"all-in-one", "compute-only", "demo"} <= set(names)
    assert names["demo"].description == "three steps, a prompt and a secret (shown redacted in the log)"
    assert Path(names["demo"].source).is_file()


def test_demo_profile_from_the_issue_loads() -> None:
    profile = catalog.load_profile("demo")
    hello = profile.service_definitions["hello"]
    assert profile.services == ("hello",) and profile.settings == {"greeting": "hi"}
    assert hello.secrets == ("hello_password",)
    ask = hello.phases["start"][0]
    assert ask.prompts == (Prompt("Password:", secret="hello_password"),)
    assert (ask.retries, ask.timeout) == (1, 30.0)
    assert hello.phases["install"][0].creates == "/tmp/hello-marker"


def test_step_keys_into_the_model(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("""
name: full
services: [svc]
service_definitions:
  svc:
    secrets: [db_password]
    settings: {port: 80, dir: /srv}
    phases:
      configure:
        - name: all-keys
          description: every key a step may have
          run: [echo, "{{ port }}"]
          env: {A: "{{ dir }}/a", N: 5, P: {secret: db_password}}
          cwd: "{{ dir }}"
          timeout: 10
          idle_timeout: 5
          retries: 2
          retry_delay: 0.5
          creates: /srv/x
          unless: "test -e /srv/y"
          prompts: [{expect: "Name:", answer: "{{ port }}"}, {expect: "Pass", secret: db_password}]
""")
    step = catalog.load_profile(str(path)).service_definitions["svc"].phases["configure"][0]
    assert step.run == ("echo", "{{ port }}")
    assert step.env == {"A": "{{ dir }}/a", "N": "5"} and step.secret_env == {"P": "db_password"}
    assert (step.cwd, step.timeout, step.idle_timeout, step.retries, step.retry_delay) == (
        "{{ dir }}", 10.0, 5.0, 2, 0.5)
    assert (step.creates, step.unless) == ("/srv/x", "test -e /srv/y")
    assert step.prompts[1] == Prompt("Pass", secret="db_password")


def test_answers_profile_path_is_relative_to_the_answers_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "answers.yaml").write_text("profile: ../my.yaml\nsettings: {greeting: yo}\n")
    answers = schema.load_answers(tmp_path / "sub" / "answers.yaml")
    assert answers.profile == str((tmp_path / "my.yaml").resolve())
    again = tmp_path / "again.yaml"
    again.write_text(schema.dump_answers(answers))
    assert replace(schema.load_answers(again), source="") == replace(answers, source="")


def test_every_key_is_documented() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "SERVICE-FORMAT.md").read_text()
    for key in schema.SERVICE_KEYS + schema.STEP_KEYS + schema.PROFILE_KEYS + schema.ANSWERS_KEYS:
        assert f"`{key}`" in doc, key
