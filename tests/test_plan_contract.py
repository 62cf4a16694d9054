"""The plan's promises that tools/mutation.py found unchecked: a setting's value that cannot stand in a step
is refused with what to do; the apt step's limits; an unknown service with no close name lists the known
ones; which services wait for the apt step; a step waits for what its requirements did in the same phase."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tui_installer import catalog, schema
from tui_installer import plan as planning
from tui_installer.errors import UserError


@pytest.mark.parametrize(("value", "line", "expected"), [
    ("a${HOME}b", False, "setting 'v': '${' cannot stand in a value (helpers would expand ${VAR} from the "
                         "step's environment, where its secrets are)"),
    ("two\nlines", True, "setting 'v': a line break cannot stand here (give a value on one line, without "
                         "control characters)"),
    ("nul\0byte", False, "setting 'v': a NUL character cannot stand here (give a value on one line, without "
                         "control characters)"),
])
def test_a_value_that_cannot_stand_in_a_step_is_refused_with_what_to_do(value: str, line: bool,
                                                                        expected: str) -> None:
    with pytest.raises(UserError) as info:
        planning.render("x={{ v }}", {"v": value}, line=line)
    assert info.value.format() == expected
    assert planning.render("x={{ v }}", {"v": "two\nlines"}) == "x=two\nlines"  # a file's content may
    with pytest.raises(UserError) as info:
        planning.render("{{ w }}", {"v": "x"})
    assert info.value.format() == "setting 'w' has no value in this plan"


def test_the_apt_step_is_one_bounded_retried_transaction() -> None:
    step = planning.apt_step(["curl", "jq=1.6-2.1", "curl"])
    assert (step.id, step.service, step.phase, step.name) == (planning.APT_STEP_ID, "system", "packages", "apt")
    assert step.id == "system.packages.apt"
    assert step.argv[-2:] == ("curl", "jq=1.6-2.1")  # once each
    assert step.timeout == 1800.0 and step.idle_timeout == 600.0  # a stalled mirror is stopped, not waited on
    assert step.retries == 2 and step.retry_delay == 10.0 and step.env["DEBIAN_FRONTEND"] == "noninteractive"


def write_profile(path: Path, services: dict[str, dict[str, Any]]) -> str:
    path.write_text(yaml.safe_dump({"name": "t", "services": list(services), "service_definitions": services}))
    return str(path)


def test_an_unknown_service_without_a_close_name_lists_the_known_ones(tmp_path: Path) -> None:
    path = write_profile(tmp_path / "p.yaml", {"hello": {"phases": {"install": [{"name": "a", "run": "true"}]}}})
    text = Path(path).read_text().replace("- hello", "- hello\n- qqqqqqqqqqqq", 1)
    Path(path).write_text(text)
    with pytest.raises(UserError) as info:
        planning.build(catalog.load_profile(path))
    known = sorted({*catalog.load_services(), "hello"})
    assert info.value.message == "unknown service 'qqqqqqqqqqqq'"
    assert info.value.key == "services[1]" and info.value.hint == "known: " + ", ".join(known)


def test_who_waits_for_the_apt_step(tmp_path: Path) -> None:
    """A service with apt packages, and one that requires it, wait for the apt step after their packages phase;
    a service with neither does not (it may run beside apt)."""
    steps = {"install": [{"name": "one", "run": "true"}, {"name": "two", "run": "true"}]}
    plan = planning.build(catalog.load_profile(write_profile(tmp_path / "p.yaml", {
        "withpkg": {"packages": ["curl"], "phases": steps},
        "needspkg": {"requires": ["withpkg"], "phases": steps},
        "nopkg": {"phases": steps}})))
    after = {s.id: s.after for s in plan.steps()}
    assert planning.APT_STEP_ID in after
    assert after["withpkg.install.one"] == (planning.APT_STEP_ID,)
    assert after["withpkg.install.two"] == ("withpkg.install.one",)
    assert after["nopkg.install.one"] == ()
    assert after["needspkg.install.one"] == ("withpkg.install.two",)  # after its requirement, so after apt


def test_a_step_waits_for_the_last_step_its_requirement_has_in_the_same_phase(tmp_path: Path) -> None:
    plan = planning.build(catalog.load_profile(write_profile(tmp_path / "p.yaml", {
        "base": {"phases": {"install": [{"name": "b1", "run": "true"}],
                            "start": [{"name": "up", "run": "true"}]}},
        "app": {"requires": ["base"], "phases": {"start": [{"name": "up", "run": "true"}]}}})))
    after = {s.id: s.after for s in plan.steps()}
    assert after["app.start.up"] == ("base.start.up",)


def test_an_init_step_waits_for_its_requirement_configured_not_initialised(tmp_path: Path) -> None:
    """Database syncs run side by side: ``init`` waits for what it requires only as far as ``configure``
    (the database server is up after its install); ``start`` still waits for the requirement's init."""
    plan = planning.build(catalog.load_profile(write_profile(tmp_path / "p.yaml", {
        "base": {"phases": {"install": [{"name": "server", "run": "true"}],
                            "configure": [{"name": "conf", "run": "true"}],
                            "init": [{"name": "sync", "run": "true"}, {"name": "bootstrap", "run": "true"}],
                            "start": [{"name": "api", "run": "true"}]}},
        "app": {"requires": ["base"], "phases": {"init": [{"name": "sync", "run": "true"}],
                                                 "start": [{"name": "up", "run": "true"}]}}})))
    after = {s.id: s.after for s in plan.steps()}
    assert after["app.init.sync"] == ("base.configure.conf",)
    assert after["app.start.up"] == ("app.init.sync", "base.start.api")
    assert planning.INIT_NEEDS == "configure"


def test_a_purge_cleans_up_in_order_dependents_first_after_every_stop(tmp_path: Path) -> None:
    """In a removal a cleanup step waits for the step before it in its service, for the cleanup of every
    service that requires its service, and for every stop step."""
    plan = planning.build_removal(catalog.load_profile(write_profile(tmp_path / "p.yaml", {
        "base": {"phases": {"stop": [{"name": "s", "run": "true"}],
                            "cleanup": [{"name": "c1", "run": "true"}, {"name": "c2", "run": "true"}]}},
        "app": {"requires": ["base"], "phases": {"stop": [{"name": "s", "run": "true"}],
                                                 "cleanup": [{"name": "c", "run": "true"}]}}})), purge=True)
    up: dict[str, set[str]] = {}
    for step in plan.steps():
        up[step.id] = set(step.after).union(*(up[d] for d in step.after))
    assert up["base.cleanup.c2"] >= {"base.cleanup.c1", "app.cleanup.c", "base.stop.s", "app.stop.s"}
    assert up["base.cleanup.c1"] >= {"app.cleanup.c", "base.stop.s", "app.stop.s"}
    assert "base.stop.s" in up["app.cleanup.c"] and "app.stop.s" in up["base.stop.s"]


def test_an_unknown_service_in_an_answers_file_names_that_file_and_line(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text("profile: demo\nremove_services: []\nadd_services:\n  - heat\n  - keystoen\n")
    with pytest.raises(UserError) as info:
        planning.build(catalog.load_profile("demo"), answers=schema.load_answers(answers))
    assert info.value.format() == (f"{answers}:5: add_services[1]: unknown service 'keystoen' "
                                   "(did you mean keystone?)")


def test_a_value_typed_at_a_prompt_is_one_line() -> None:
    """``render(..., line=True)`` (a prompt's answer: a line break would answer a second question)."""
    assert planning.render("{{ x }}!", {"x": "plain value"}, line=True) == "plain value!"
    for broken in ("two\nlines", "carriage\rreturn"):
        with pytest.raises(UserError) as info:
            planning.render("{{ x }}", {"x": broken}, line=True)
        assert "a line break cannot stand here" in str(info.value)
    assert planning.render("{{ x }}", {"x": "two\nlines"}) == "two\nlines"  # argv and env may hold them
