"""Recipe templates (``uses``): expansion into ordinary steps, their order, and mistakes named where made."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tui_installer import catalog, plan
from tui_installer.errors import UserError

FAKE = {"virt_driver": "fake", "ovs_datapath": "netdev"}
SERVICE = """\
name: mine
services: [api]
service_definitions:
  api:
    requires: [keystone]
    secrets: [api_db_password, api_password, admin_password]
    settings: {api_port: 8111}
    uses:
      - template: database
        with: {database: apidb, user: apiuser, password_secret: api_db_password}
      - template: uwsgi-api
        with: {name: api, unit: my-api, title: My API, module: "my.wsgi:application", port: "{{ api_port }}",
               config_dir: /etc/my-api, config_env: MY_CONF=/etc/my-api, log_file: api.log%s}
    phases:
      init:
        - name: db-sync
          run: ["true"]
"""


def profile(tmp_path: Path, extra: str = "", text: str = SERVICE) -> str:
    path = tmp_path / "mine.yaml"
    path.write_text(text % extra if "%s" in text else text)
    return str(path)


def steps(path: str, removal: bool = False) -> dict[str, str]:
    prof = catalog.load_profile(path)
    p = plan.build_removal(prof, purge=True) if removal else plan.build(prof)
    return {s.id: s.display for s in p.steps() if s.service == "api"}


def test_templates_expand_into_ordinary_steps_in_their_phases(tmp_path: Path) -> None:
    ids = steps(profile(tmp_path))
    assert list(ids) == ["api.preflight.port-free", "api.configure.uwsgi-ini", "api.configure.unit",
                         "api.init.database", "api.init.db-sync", "api.start.api"]  # database first: true
    assert "dbsetup --user apiuser --password-env DB_PASSWORD apidb" in ids["api.init.database"]
    assert "write-unit my-api --description 'My API'" in ids["api.configure.unit"]
    assert "--env MY_CONF=/etc/my-api --after mariadb.service -- " in ids["api.configure.unit"]  # "" eats a space
    assert ids["api.configure.uwsgi-ini"].endswith("uwsgi.threads=1")
    assert "start my-api --url http://" in ids["api.start.api"] and ":8111/" in ids["api.start.api"]
    removal = steps(profile(tmp_path), removal=True)
    assert list(removal) == ["api.stop.api", "api.cleanup.files"]
    assert "rm -rf /etc/my-api /var/log/openstack/api.log" in removal["api.cleanup.files"]


def test_the_plan_formats_show_the_expanded_steps(tmp_path: Path) -> None:
    path = profile(tmp_path, ", uwsgi_options: uwsgi.x=1")
    for fmt in ("text", "json", "sh"):
        out = subprocess.run([sys.executable, "-m", "tui_installer", "plan", "-p", path, "--format", fmt],
                             capture_output=True, text=True, check=True).stdout
        assert "api.configure.uwsgi-ini" in out.replace("api_configure_uwsgi_ini", "api.configure.uwsgi-ini")
        assert "uwsgi.x=1" in out
    ids = [s["id"] for ph in json.loads(subprocess.run(
        [sys.executable, "-m", "tui_installer", "plan", "-p", path, "--format", "json"],
        capture_output=True, text=True, check=True).stdout)["phases"] for s in ph["steps"]]
    assert "api.init.database" in ids


@pytest.mark.parametrize("extra,message", [
    (", colour: red", r"mine\.yaml:\d+: service_definitions\.api\.uses\[1\]\.with\.colour: unknown parameter"),
    (", remove: [1]", r"uses\[1\]\.with\.remove: wrong type"),
])
def test_a_wrong_parameter_is_named_where_it_was_written(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        catalog.load_profile(profile(tmp_path, extra))


def test_a_missing_parameter_or_template_is_named(tmp_path: Path) -> None:
    text = SERVICE.replace("database: apidb, ", "")
    with pytest.raises(UserError, match=r"mine\.yaml:\d+: service_definitions\.api\.uses\[0\]: template "
                                        "'database' needs database"):
        catalog.load_profile(profile(tmp_path, "", text))
    text = SERVICE.replace("template: database", "template: databse")
    with pytest.raises(UserError, match=r"uses\[0\]\.template: unknown recipe template 'databse'.*known: "):
        catalog.load_profile(profile(tmp_path, "", text))


def test_a_template_step_clashing_with_an_own_step_is_refused(tmp_path: Path) -> None:
    text = SERVICE.replace("- name: db-sync", "- name: database")
    with pytest.raises(UserError, match="duplicate step name 'database'"):
        catalog.load_profile(profile(tmp_path, "", text))


def test_settings_in_parameters_stay_data(tmp_path: Path) -> None:
    """A parameter is recipe text; the settings in it are quoted like any other at plan time."""
    prof = catalog.load_profile(profile(tmp_path))
    p = plan.build(prof, overrides={"api_port": "8112"})
    assert any(":8112/" in s.display for s in p.steps())
    text = SERVICE.replace('"{{ api_port }}"', '"{{ api_dir }}"').replace("{api_port: 8111}", "{api_dir: /x}")
    p = plan.build(catalog.load_profile(profile(tmp_path, "", text)), overrides={"api_dir": "/x; touch /tmp/y"})
    assert "--port '/x; touch /tmp/y':uwsgi" in next(s.display for s in p.steps() if s.id == "api.preflight.port-free")


def test_placement_and_glance_keep_only_what_is_theirs() -> None:
    here = Path(catalog.__file__).parent / "services"
    lines = [ln for ln in (here / "placement.yaml").read_text().splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(lines) <= 40
    for name in ("nova", "neutron", "nova-compute"):
        assert "auth()" not in (here / f"{name}.yaml").read_text(), name
    p = plan.build(catalog.load_profile("all-in-one"), overrides=FAKE)
    ids = {s.id for s in p.steps()}
    for service in ("placement", "glance"):
        for step in ("preflight.port-free", "configure.keystone-auth", "configure.uwsgi-ini", "configure.unit",
                     "init.database", "start.register", "start.api"):
            assert f"{service}.{step}" in ids


def test_mistakes_in_a_templates_steps_are_named_at_its_uses_entry(tmp_path: Path) -> None:
    text = SERVICE.replace('port: "{{ api_port }}"', 'port: "{{ nope }}"')
    with pytest.raises(UserError, match=r"mine\.yaml:11: service_definitions\.api\.uses\[1\]\.run: unknown "
                                        r"setting \{\{ nope \}\}"):
        catalog.load_profile(profile(tmp_path, "", text))
    text = SERVICE.replace('run: ["true"]', "run: 7")  # the own step keeps its own index despite first: true
    with pytest.raises(UserError, match=r"mine\.yaml:17: service_definitions\.api\.phases\.init\[0\]\.run: "):
        catalog.load_profile(profile(tmp_path, "", text))
