"""The schema's promises that tools/mutation.py found unchecked: each bad input names its exact key and says what
to do; what a valid file says reaches the model (a step's retries, a service's description, an answers file's
paths made absolute next to it) and an answers file written by ``dump_answers`` reads back the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tui_installer import schema
from tui_installer.errors import UserError
from tui_installer.model import Answers


def hello(step: dict[str, Any], **service: Any) -> dict[str, Any]:
    return {"secrets": ["hello_password"], "phases": {"install": [{"name": "a", "run": "true", **step}]},
            **service}


STEP = "phases.install[0]"

#: (service definition, the whole error line after "svc.yaml: ")
BAD_SERVICES = {
    "timeout-not-a-number": (hello({"timeout": "soon"}),
                             f"{STEP}.timeout: wrong type: expected a number, got string"),
    "prompt-without-expect": (hello({"prompts": [{"answer": "y"}]}), f"{STEP}.prompts[0]: missing key 'expect'"),
    "prompt-answer-template": (hello({"prompts": [{"expect": "y/n", "answer": "{{ no such }}"}]}),
                               f"{STEP}.prompts[0].answer: malformed template '{{{{ no such }}}}' "
                               "(use {{ setting_name }})"),
    "bad-step-name": (hello({"name": "Install It"}),
                      f"{STEP}.name: invalid step name 'Install It' (must match [a-z][a-z0-9_-]*)"),
    "env-template": (hello({"env": {"GREETING": "{{ not a name }}"}}),
                     f"{STEP}.env.GREETING: malformed template '{{{{ not a name }}}}' (use {{{{ setting_name }}}})"),
    "env-secret-unknown-key": (hello({"env": {"PW": {"secrett": "hello_password"}}}),
                               f"{STEP}.env.PW.secrett: unknown key (expected one of: secret)"),
    "env-secret-undeclared": (hello({"env": {"PW": {"secret": "other_password"}}}),
                              f"{STEP}.env.PW.secret: secret 'other_password' is not declared "
                              "(add it to svc's secrets)"),
    "after-not-a-step-id": (hello({"after": ["keystone"]}),
                            f"{STEP}.after[0]: invalid step id 'keystone' "
                            r"(must match [a-z][a-z0-9_-]*\.[a-z]+\.[a-z][a-z0-9_-]*)"),
    "description-not-a-string": (hello({}, description=["a", "list"]),
                                 "description: wrong type: expected a string, got list"),
    "step-description-not-a-string": (hello({"description": 3}),
                                      f"{STEP}.description: wrong type: expected a string, got integer"),
    "bad-package": (hello({}, packages=["ok", "Not OK"]),
                    "packages[1]: invalid package name 'Not OK' "
                    "(must match [a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?)"),
}


@pytest.mark.parametrize("name", sorted(BAD_SERVICES))
def test_a_bad_service_names_the_key_and_what_is_wrong(name: str) -> None:
    value, expected = BAD_SERVICES[name]
    with pytest.raises(UserError) as info:
        schema.parse_service("svc", value, "svc.yaml")
    assert info.value.format() == f"svc.yaml: {expected}"


@pytest.mark.parametrize(("profile", "expected"), [
    ({"name": "p", "description": {"a": 1}}, "description: wrong type: expected a string, got mapping"),
    ({"name": "Bad Name"}, "name: invalid profile name 'Bad Name' (must match [a-z][a-z0-9_-]*)"),
    ({"name": "p", "settings": {"Port": 1}}, "settings.Port: invalid setting name 'Port' (must match "
                                             "[a-z_][a-z0-9_]*)"),
    ({"name": "p", "service_definitions": {"Svc": {}}},
     "service_definitions.Svc: invalid service name 'Svc' (must match [a-z][a-z0-9_-]*)"),
])
def test_a_bad_profile_names_the_key_and_what_is_wrong(profile: dict[str, Any], expected: str) -> None:
    with pytest.raises(UserError) as info:
        schema.parse_profile(profile, "p.yaml")
    assert info.value.format() == f"p.yaml: {expected}"


def test_what_a_valid_service_says_reaches_the_model() -> None:
    spec = schema.parse_service("svc", hello({"retries": 2, "retry_delay": 1.5, "after": ["db.install.schema"],
                                              "description": "installs it"}, description="the service"),
                                "svc.yaml")
    assert spec.description == "the service"
    step = spec.phases["install"][0]
    assert (step.retries, step.retry_delay, step.after, step.description) == \
        (2, 1.5, ("db.install.schema",), "installs it")


def test_answers_paths_are_made_absolute_next_to_the_answers_file(tmp_path: Path) -> None:
    sub = tmp_path / "site"
    sub.mkdir()
    answers = sub / "answers.yaml"
    for profile, expected in [("mine.yaml", str(sub / "mine.yaml")), ("mine.yml", str(sub / "mine.yml")),
                              ("../profiles/mine", str(tmp_path / "profiles" / "mine")),
                              ("all-in-one", "all-in-one")]:
        answers.write_text(f"profile: {profile}\ninventory: hosts.ini\nremove_services: [heat]\n")
        loaded = schema.load_answers(answers)
        assert loaded.profile == expected
        assert loaded.inventory == str(sub / "hosts.ini") and loaded.remove_services == ("heat",)
    answers.write_text("profile: p\nadd_services: [Heat]\n")
    with pytest.raises(UserError) as info:
        schema.load_answers(answers)
    assert info.value.format() == (f"{answers}:2: add_services[0]: invalid service name 'Heat' "
                                   "(must match [a-z][a-z0-9_-]*)")


def test_dumped_answers_read_back_the_same(tmp_path: Path) -> None:
    full = Answers(profile="/srv/p.yaml", add_services=("heat",), remove_services=("horizon", "cinder"),
                   settings={"region": "RegionTwo", "port": 5001}, inventory="/srv/hosts.ini")
    path = tmp_path / "a.yaml"
    path.write_text(schema.dump_answers(full))
    back = schema.load_answers(path)
    assert (back.profile, back.add_services, back.remove_services, back.settings, back.inventory) == \
        (full.profile, full.add_services, full.remove_services, full.settings, full.inventory)
    empty = schema.dump_answers(Answers(profile="demo"))
    assert empty == "profile: demo\n"  # nothing written for what was not chosen
