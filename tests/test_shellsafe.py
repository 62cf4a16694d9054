"""Settings can never become shell: every setting of the catalog and of a user profile, hostile values.

Each hostile value is given with ``--set``. Either the plan refuses it (a ``UserError``: one line, no
traceback) or every bash string of the plan that uses the setting runs inert: the steps run for real
through the executor and real bash, with every external command recorded instead of run
(``command_not_found_handle`` over an empty PATH, ``installer_python`` a recorder), and the marker file
the value tries to create never appears, while the literal value arrives in a recorded argument.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from tui_installer import catalog, plan, shellsafe
from tui_installer.errors import UserError
from tui_installer.executor import Executor
from tui_installer.model import Plan, Step

FAKE = {"virt_driver": "fake", "ovs_datapath": "netdev"}
COMPUTE = {**FAKE, "controller_host": "127.0.0.1"}
RECORDER = "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\" >>\"$REC\"; done\n"
BASH_ENV = ("command_not_found_handle() { for a in \"$@\"; do printf '%s\\0' \"$a\" >>\"$REC\"; done; }\n"
            "set() { :; }\n")  # set -e would stop a step at its first recorded (failed) command

PROFILE = """\
name: mine
services: [echoer]
settings: {greeting: hello, target: /tmp/x}
service_definitions:
  echoer:
    phases:
      install:
        - name: plain
          run: "printf '%s\\\\n' {{ greeting }} > /dev/null; logger {{ greeting }} at {{ target }}"
        - name: quoted
          run: |
            msg='{{ greeting }}'; dir="{{ target }}/$(basename "{{ greeting }}")"
            logger "$msg" "$dir" '{{ target }}'
          unless: "logger unless {{ greeting }}"
        - name: argv
          run: [logger, "{{ greeting }}"]
"""


def payloads(marker: Path) -> list[str]:
    m = str(marker)
    return [f"a b; echo >{m} && echo >{m}",
            f"x'; echo >{m}; '\"; echo >{m}; \"$(echo >{m})`echo >{m}`",
            f"line\necho >{m}\n",
            f"\\\"' $(echo >{m}) $HOME *"]


@pytest.fixture()
def sandbox(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "empty").mkdir()
    py = tmp_path / "py"
    py.write_text(RECORDER)
    py.chmod(py.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "bashenv").write_text(BASH_ENV)
    return {"dir": tmp_path, "py": py, "marker": tmp_path / "pwned", "rec": tmp_path / "rec"}


def recorders(p: Plan, box: dict[str, Path]) -> None:
    """The programs the plan runs from its venv (``{{ prefix }}/venv/bin/X``) are recorders too."""
    bin_dir = Path(p.settings.get("prefix", box["dir"] / "prefix")) / "venv" / "bin"
    if not str(bin_dir).startswith(str(box["dir"])):
        return
    bin_dir.mkdir(parents=True, exist_ok=True)
    for program in set(re.findall(r"venv/bin/([\w.-]+)", " ".join(s.display for s in p.steps()))):
        (bin_dir / program).write_text(RECORDER)
        (bin_dir / program).chmod(0o755)


def shell_steps(p: Plan, setting_steps: set[str]) -> list[Step]:
    """Every bash string of the plan's steps that use the setting: ``run`` and ``unless`` as steps."""
    steps = []
    for step in p.steps():
        if step.id not in setting_steps:
            continue
        env = {k: v for k, v in step.env.items() if k != "PATH"}
        if step.shell is not None:
            steps.append(replace(step, argv=("/bin/bash", "-c", step.shell), env=env, cwd=None, prompts=()))
        if step.unless is not None:
            steps.append(replace(step, argv=("/bin/bash", "-c", step.unless), env=env, cwd=None, prompts=()))
    return steps


def users_of(p: Plan, name: str) -> set[str]:
    """The steps whose template names the setting (found with a harmless unique value)."""
    specs = catalog.services_for(catalog.load_profile(p.profile_source or p.profile))
    ids = set()
    for service in p.services:
        for phase, steps in specs[service].phases.items():
            for spec in steps:
                texts = [spec.run] if isinstance(spec.run, str) else list(spec.run)
                texts += [spec.unless or "", spec.cwd or "", spec.creates or "", *spec.env.values()]
                if any(s.name == name for t in texts for s in shellsafe.slots(t)) or any(
                        "{{ " + name + " }}" in t for t in texts):
                    ids.add(f"{service}.{phase}.{spec.name}")
    return ids


def run_inert(p: Plan, name: str, value: str, box: dict[str, Path]) -> bool:
    """Runs every bash string that uses the setting; whether the value reached a command intact (a value
    only compared by a builtin, ``[ "$x" = fake ]``, reaches none)."""
    box["rec"].write_bytes(b"")
    recorders(p, box)
    steps = shell_steps(p, users_of(p, name))
    env = {"PATH": str(box["dir"] / "empty"), "BASH_ENV": str(box["dir"] / "bashenv"), "REC": str(box["rec"])}
    for step in steps:
        Executor().run(step, secrets={s: "not-a-secret-1234" for s in step.secrets},
                       log_path=box["dir"] / "log", extra_env=env)
        assert not box["marker"].exists(), f"{step.id}: {name}={value!r} ran as shell:\n{step.argv[2]}"
    recorded = box["rec"].read_bytes().decode().split("\0")
    argv_values = [a for s in p.steps() if s.shell is None for a in s.argv]
    everything = recorded + argv_values + [v for s in p.steps() for v in s.env.values()]
    split = " ".join(value.split()) in " ".join(recorded)  # a list setting (pip_packages) is split by read
    arrived = split or any(value in a for a in everything)
    return bool(steps) and arrived


def past_the_types(p: Plan, name: str, value: str) -> Plan:
    """The plan's steps rendered with a value its setting's type refuses: the quoting must hold on its own."""
    specs = catalog.services_for(catalog.load_profile(p.profile_source or p.profile))
    values = {**p.settings, name: value}

    def again(step: Step) -> Step:
        if step.service not in specs:  # the apt step: no template
            return step
        spec = next(s for s in specs[step.service].phases[step.phase] if s.name == step.name)
        return plan._step(step.service, step.phase, spec, values)

    return replace(p, settings=values, phases=tuple(replace(ph, steps=tuple(again(s) for s in ph.steps))
                                                    for ph in p.phases))


def check_every_setting(profile: str, base: dict[str, str], box: dict[str, Path]) -> int:
    prof = catalog.load_profile(profile)
    stubs = {"installer_python": str(box["py"]), "prefix": str(box["dir"] / "prefix")}
    harmless = plan.build(prof, overrides={**base, **stubs})
    arrived = 0
    for name in [n for n in harmless.settings if n not in stubs]:
        for value in payloads(box["marker"]):
            try:
                p = plan.build(prof, overrides={**base, **stubs, name: value})
            except UserError as exc:  # refused by its type, in one line; the quoting is tested past it
                assert "\n" not in str(exc).strip() or name in str(exc), exc
                try:
                    p = past_the_types(harmless, name, value)
                except UserError:
                    continue
            arrived += run_inert(p, name, value, box)
    return arrived


@pytest.mark.parametrize("profile,base", [("all-in-one", FAKE), ("compute-only", COMPUTE)])
def test_no_setting_of_the_catalog_runs_as_shell(profile: str, base: dict[str, str],
                                                 sandbox: dict[str, Path]) -> None:
    assert check_every_setting(profile, base, sandbox) > 20  # string settings do reach the steps


def test_no_setting_of_a_user_profile_runs_as_shell(tmp_path: Path, sandbox: dict[str, Path]) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(PROFILE)
    assert check_every_setting(str(path), {}, sandbox) >= 6  # a line break is refused by the type check


def test_the_literal_value_arrives_in_every_quoting_context(sandbox: dict[str, Path]) -> None:
    """The same hostile value, bare, in single and in double quotes, in $( ): four intact arguments."""
    for value in payloads(sandbox["marker"]):
        script = plan.render_shell("logger {{ v }} '{{ v }}' \"{{ v }}\" \"$(printf '%s' x{{ v }})\"",
                                   {"v": value})
        sandbox["rec"].write_bytes(b"")
        env = {"PATH": str(sandbox["dir"] / "empty"), "BASH_ENV": str(sandbox["dir"] / "bashenv"),
               "REC": str(sandbox["rec"])}
        step = Step(id="t.install.x", service="t", phase="install", name="x", argv=("/bin/bash", "-c", script))
        Executor().run(step, secrets={}, log_path=sandbox["dir"] / "log", extra_env=env)
        assert not sandbox["marker"].exists()
        assert sandbox["rec"].read_bytes().decode().split("\0")[:5] == ["logger", value, value, value,
                                                                         ("x" + value).rstrip("\n")]  # $( ) strips


@pytest.mark.parametrize("template,why", [
    ("cat <<EOF\n{{ v }}\nEOF", "heredoc body"), ("echo `{{ v }}`", "backticks"),
    ("echo ok # {{ v }}", "comment"), ("echo ${X:-{{ v }}}", "${...}"), ("echo $(( {{ v }} + 1 ))", "arithmetic"),
    ("[[ {{ v }} -eq 1 ]]", "[[ ... ]]"), ("bash -c 'echo {{ v }}'", "nested shell"), ("eval {{ v }}", "nested"),
    # bash evaluates these as arithmetic, where a[$(cmd)] runs cmd even from a quoted value
    ("let 'x={{ v }}'", "arithmetic"), ("declare -i n={{ v }}", "arithmetic"), ("arr[{{ v }}]=1", "arithmetic"),
    ("echo $[ {{ v }} ]", "arithmetic"), ('echo "$(case $x in a) echo {{ v }};; esac)"', "case inside"),
])
def test_contexts_no_quoting_protects_take_numbers_only(template: str, why: str) -> None:
    assert plan.render_shell(template, {"v": 42}).count("42") == 1
    with pytest.raises(UserError, match=why.replace("$", r"\$").replace("[", r"\[").replace("(", r"\(")):
        plan.render_shell(template, {"v": "x; touch /tmp/nothing"}, "s.install.x")


def test_a_string_setting_in_a_heredoc_is_refused_when_the_service_loads(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(PROFILE.replace('run: [logger, "{{ greeting }}"]', 'run: "cat <<EOF\\n{{ greeting }}\\nEOF"'))
    with pytest.raises(UserError, match=r"bad\.yaml:\d+: .*phases\.install\[2\]\.run: \{\{ greeting \}\} is in "
                                        "a heredoc body"):
        catalog.load_profile(str(path))


def test_prompt_answers_take_one_line_only() -> None:
    with pytest.raises(UserError, match="line break"):
        plan.render("{{ v }}", {"v": "yes\nrm -rf /"}, line=True)
    assert plan.render("{{ v }}", {"v": "a'b"}, line=True) == "a'b"
    assert os.sep == "/"


def test_a_value_cannot_pull_a_secret_from_the_steps_environment() -> None:
    """iniconf expands ${VAR} in its arguments from its environment, where the step's secrets are."""
    for render in (plan.render, plan.render_shell):
        with pytest.raises(UserError, match=r"'\$\{' cannot stand in a value"):
            render("a.b={{ v }}", {"v": "${ADMIN_PASSWORD}"})
    assert plan.render_shell("a.b={{ v }}", {"v": "$HOME"}) == "a.b='$HOME'"
