"""The published JSON Schema (tui_installer/schemas) against a real validator: it is what
``formatschema`` builds from the validator's own names, every shipped service, profile and answers
fixture passes it, and files our validator refuses for their shape are refused by it too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tui_installer import catalog, formatschema, plan, schema
from tui_installer.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "tui_installer" / "schemas"
BAD = ROOT / "tests" / "fixtures" / "bad"
HOST = {"host_ip": "10.0.0.5", "host_name": "node1", "installer_python": "/usr/bin/python3"}
#: bad fixtures whose mistake is one of shape (a schema can see it); the others need the catalog
SHAPE_MISTAKES = ["unknown-key", "unknown-profile-key", "wrong-type", "wrong-type-run", "missing-run",
                  "prompt-both", "relative-creates", "zero-timeout", "bad-secret-name", "bad-package",
                  "unknown-phase", "answers-unknown-key"]


def validator(kind: str) -> jsonschema.protocols.Validator:
    document = json.loads((SCHEMAS / formatschema.FILES[kind]).read_text())
    cls = jsonschema.validators.validator_for(document)
    cls.check_schema(document)
    return cls(document)


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_shipped_schemas_are_what_the_validator_builds() -> None:
    """Regenerate with `python -m tui_installer.formatschema tui_installer/schemas` when this fails."""
    for name, document in formatschema.documents().items():
        assert (SCHEMAS / name).read_text() == formatschema.text(document), name


def test_every_shipped_service_and_profile_passes() -> None:
    services = sorted((ROOT / "tui_installer" / "services").glob("*.yaml"))
    profiles = sorted((ROOT / "profiles").glob("*.yaml")) + sorted((ROOT / "tests" / "tui" / "profiles").glob("*.yaml"))
    profiles += sorted((ROOT / "tests" / "fixtures" / "plan").glob("*.yaml"))
    assert len(services) >= 12 and len(profiles) >= 5
    for path in services:
        validator("service").validate(load(path))
    for path in profiles:
        validator("profile").validate(load(path))


def test_answers_fixtures_pass_both() -> None:
    files = sorted((ROOT / "tests" / "fixtures" / "answers").glob("*.yaml"))
    assert len(files) >= 2
    for path in files:
        validator("answers").validate(load(path))
        answers = schema.load_answers(path)
        built = plan.build(catalog.load_profile(str(answers.profile)), answers=answers, overrides=HOST)
        assert built.settings.items() >= {k: v for k, v in answers.settings.items() if k != "keystone_port"}.items()


@pytest.mark.parametrize("name", SHAPE_MISTAKES)
def test_shape_mistakes_fail_the_schema_and_our_validator(name: str) -> None:
    path = BAD / f"{name}.yaml"
    kind = "answers" if name.startswith("answers-") else "profile"
    with pytest.raises(jsonschema.ValidationError):
        validator(kind).validate(load(path))
    with pytest.raises(UserError):
        if kind == "answers":
            schema.load_answers(path)
        else:
            catalog.services_for(catalog.load_profile(str(path)))


@pytest.mark.parametrize("settings", [
    {"p": {"type": "porte", "default": 1}},
    {"d": {"type": "choice", "default": "a"}},
    {"d": {"default": 1, "advanced": "yes please"}},
    {"d": {"default": 1, "descripton": "typo"}},
    {"Bad-Name": 1},
])
def test_bad_setting_declarations_fail_both(tmp_path: Path, settings: dict[str, Any]) -> None:
    data = {"description": "x", "settings": settings}
    with pytest.raises(jsonschema.ValidationError):
        validator("service").validate(data)
    path = tmp_path / "svc.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(UserError):
        schema.load_service_file(path)


def test_the_schemas_ship_in_the_package() -> None:
    from importlib import resources

    folder = resources.files("tui_installer.schemas")
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".json")) == sorted(formatschema.FILES.values())
