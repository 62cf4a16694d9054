"""Typed settings: the one validator (``settingtypes.check``) and where its verdicts surface.

Every source of a value goes through it: a service default, a profile, an answers file, ``--set`` (and
the TUI's form, tests/tui). A refused value names the file, the line and the key.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_installer import catalog, plan, schema, settingtypes
from tui_installer.errors import UserError
from tui_installer.model import SettingDef

HOST = {"host_ip": "10.0.0.5", "host_name": "node1", "installer_python": "/usr/bin/python3"}

GOOD = [
    ("string", "hello world", "hello world"), ("string", 2026.2, "2026.2"),
    ("integer", 7, 7), ("integer", "7", 7), ("number", "2.5", 2.5), ("number", 8, 8),
    ("port", 5000, 5000), ("port", "65535", 65535), ("boolean", "yes", True), ("boolean", False, False),
    ("ip", "10.0.0.5", "10.0.0.5"), ("ip", "::1", "::1"), ("hostname", "node-1.example", "node-1.example"),
    ("host", "db.local", "db.local"), ("host", "127.0.0.1", "127.0.0.1"),
    ("cidr", "10.0.0.0/24", "10.0.0.0/24"), ("path", "/var/lib/glance-2", "/var/lib/glance-2"),
]
BAD = [
    ("string", "two\nlines"), ("string", True), ("integer", "5k"), ("integer", 2.5), ("integer", True),
    ("number", "many"), ("port", 0), ("port", "70000"), ("port", "$(id)"), ("boolean", "maybe"),
    ("ip", "10.0.0.300"), ("ip", "localhost"), ("hostname", "a;b"), ("hostname", "-lead"),
    ("hostname", "10.0.0.1"), ("hostname", "a b"), ("host", "x`id`"), ("cidr", "10.0.0.1/24"),
    ("cidr", "10.0.0.0"), ("path", "relative/dir"), ("path", "/tmp/x\n"), ("path", "/var/lib/x y"),
    ("path", "/x;id"), ("path", "/x$(id)"), ("path", "/x'y"), ("choice", "xen"),
]


@pytest.mark.parametrize(("kind", "value", "typed"), GOOD)
def test_values_that_fit_their_type_are_typed(kind: str, value: object, typed: object) -> None:
    setting = SettingDef("s", None, kind, choices=("kvm", "qemu") if kind == "choice" else ())
    assert settingtypes.check(setting, value) == typed


@pytest.mark.parametrize(("kind", "value"), BAD)
def test_values_that_do_not_fit_are_refused(kind: str, value: object) -> None:
    setting = SettingDef("s", None, kind, choices=("kvm", "qemu") if kind == "choice" else ())
    with pytest.raises(ValueError, match="^expected "):
        settingtypes.check(setting, value)


def test_bounds_pattern_templates_and_null() -> None:
    workers = SettingDef("w", 2, "integer", min=1, max=8)
    assert settingtypes.check(workers, "8") == 8
    with pytest.raises(ValueError, match=r"expected an integer \(>= 1, <= 8\)"):
        settingtypes.check(workers, 0)
    region = SettingDef("r", "RegionOne", "string", pattern="[A-Za-z0-9_-]+")
    with pytest.raises(ValueError, match="text matching"):
        settingtypes.check(region, "Region One")
    assert settingtypes.check(SettingDef("h", None, "ip"), "{{ host_ip }}") == "{{ host_ip }}"
    assert settingtypes.check(SettingDef("h", None, "ip"), None) is None


def _service(tmp_path: Path, settings: str) -> Path:
    path = tmp_path / "svc.yaml"
    path.write_text("description: test\nsettings:\n" + settings)
    return path


@pytest.mark.parametrize(("settings", "error"), [
    ("  p: {type: porte, default: 1}\n", r"svc.yaml:3: settings.p.type: unknown type 'porte' \(expected one of"),
    ("  p: {type: port, default: 0}\n", r"svc.yaml:3: settings.p.default: the default does not fit: expected a port"),
    ("  d: {type: choice, default: a}\n", r"svc.yaml:3: settings.d.choices: type choice needs choices"),
    ("  d:\n    type: string\n    descripton: x\n", r"svc.yaml:5: settings.d.descripton: unknown key"),
    ("  d: {default: 1, advanced: yes please}\n", r"svc.yaml:3: settings.d.advanced: wrong type: expected a boolean"),
    ("  d: [1]\n", r"svc.yaml:3: settings.d: wrong type: expected a default"),
    ("  d: {type: integer, default: 3, min: true}\n", r"svc.yaml:3: settings.d.min: wrong type: expected a number"),
    ("  d: {type: string, default: a, pattern: '(['}\n", r"svc.yaml:3: settings.d.pattern: invalid regular"),
])
def test_bad_declarations_name_file_line_key(tmp_path: Path, settings: str, error: str) -> None:
    with pytest.raises(UserError, match=error):
        schema.load_service_file(_service(tmp_path, settings))


def test_untyped_settings_take_the_type_of_their_default(tmp_path: Path) -> None:
    spec = schema.load_service_file(_service(tmp_path, "  n: 3\n  f: true\n  s: text\n  r: null\n"))
    assert {n: d.type for n, d in spec.setting_defs.items()} == {"n": "integer", "f": "boolean", "s": "string",
                                                                 "r": "string"}
    assert spec.settings == {"n": 3, "f": True, "s": "text", "r": None}
    typed = schema.load_service_file(_service(tmp_path, "  w: {type: integer, default: '4', min: 1}\n"))
    assert typed.settings == {"w": 4} and typed.setting_defs["w"].min == 1, "a default is typed too"


def _aio(tmp_path: Path, settings: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(f"name: p\nservices: [nova-compute]\nsettings:\n{settings}")
    return path


def test_every_source_of_a_value_goes_through_the_validator(tmp_path: Path) -> None:
    profile = catalog.load_profile(str(_aio(tmp_path, "  virt_driver: xen\n")))
    with pytest.raises(UserError, match=r"p.yaml:4: settings.virt_driver: expected one of: libvirt, fake, got 'xen'"):
        plan.build(profile, overrides=HOST)
    good = catalog.load_profile(str(_aio(tmp_path, "  virt_driver: fake\n")))
    answers = tmp_path / "a.yaml"
    answers.write_text("profile: p.yaml\nsettings:\n  rabbit_port: '99999'\n")
    with pytest.raises(UserError, match=r"a.yaml:3: settings.rabbit_port: expected a port number"):
        plan.build(good, answers=schema.load_answers(answers), overrides=HOST)
    with pytest.raises(UserError, match=r"^--set: host_ip=10.0.0.5; id: expected an IP address$"):
        plan.build(good, overrides={**HOST, "host_ip": "10.0.0.5; id"})
    with pytest.raises(UserError, match=r"^--set: prefix=opt: expected an absolute path"):
        plan.build(good, overrides={**HOST, "prefix": "opt"})
    assert plan.build(good, overrides={**HOST, "rabbit_port": "5673"}).settings["rabbit_port"] == 5673


def test_a_template_value_is_checked_once_filled_in(tmp_path: Path) -> None:
    profile = catalog.load_profile(str(_aio(tmp_path, '  virt_driver: fake\n  controller_host: "{{ region }}!"\n')))
    with pytest.raises(UserError, match=r"p.yaml:5: settings.controller_host: expected an IP address or a host "
                                        r"name, got 'RegionOne!' once filled in"):
        plan.build(profile, overrides=HOST)


def test_shared_settings_must_agree_on_their_type(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nservices: [x]\nservice_definitions:\n  x:\n    requires: [rabbitmq]\n"
                    "    settings:\n      rabbit_port: {type: integer, default: 5672}\n")
    with pytest.raises(UserError, match=r"settings.rabbit_port: type integer differs from port in"):
        catalog.services_for(catalog.load_profile(str(path)))


def test_endpoints_come_from_declarations(tmp_path: Path) -> None:
    p = plan.build(catalog.load_profile("all-in-one"), overrides={**HOST, "virt_driver": "fake"})
    urls = {e.name: e.url for e in p.endpoints}
    assert urls == {"identity": "http://10.0.0.5:5000/v3", "placement": "http://10.0.0.5:8778",
                    "image": "http://10.0.0.5:9292", "compute": "http://10.0.0.5:8774/v2.1",
                    "network": "http://10.0.0.5:9696", "block-storage": "http://10.0.0.5:8776/v3",
                    "orchestration": "http://10.0.0.5:8004/v1", "dashboard": "http://10.0.0.5:8080/auth/login/"}
    assert "memcached" not in {e.service for e in p.endpoints}  # a *_port is not an API by its name
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nservices: [x]\nservice_definitions:\n  x:\n    settings: {x_dir: /srv}\n"
                    "    endpoints:\n      - {name: api, port: x_dir}\n")
    with pytest.raises(UserError, match=r"p.yaml:7: service_definitions.x.endpoints\[0\].port: setting 'x_dir' "
                                        r"is not of type port"):
        catalog.services_for(catalog.load_profile(str(path)))


def test_every_builtin_setting_is_described() -> None:
    for spec in catalog.load_services().values():
        for name, setting in spec.setting_defs.items():
            assert setting.description, f"{spec.name}: {name} has no description"
            assert len(setting.description) <= 100 and "\n" not in setting.description, name
