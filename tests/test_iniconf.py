"""iniconf and dbsetup: config files with secrets from the environment, never from argv."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tui_installer.ops.dbsetup import create_sql
from tui_installer.ops.iniconf import ConfError, expand, render_ini

SECRET = "p@ss/w:rd$x'1"


def iniconf(*args: str, env: dict[str, str] | None = None, stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui_installer.ops.iniconf", *args], capture_output=True, text=True,
                          input=stdin, env={**os.environ, **(env or {})}, timeout=30)


def test_edit_keeps_other_lines_and_sets_in_place() -> None:
    old = "# comment\n[DEFAULT]\ndebug = false\n# keep me\n\n[database]\nconnection = sqlite://\n"
    new = render_ini(old, ["DEFAULT.debug=true", "DEFAULT.log_file=/x.log", "cache.enabled=true",
                           "database.connection=mysql://"], {})
    assert new == ("# comment\n[DEFAULT]\ndebug = true\n# keep me\nlog_file = /x.log\n\n[database]\n"
                   "connection = mysql://\n\n[cache]\nenabled = true\n")
    assert render_ini(new, ["DEFAULT.debug=true"], {}) == new


def test_section_names_may_hold_dots_and_colons() -> None:
    text = render_ini("", ["filter:authtoken.paste.filter_factory=x", "a.b.c=1"], {})
    assert "[filter:authtoken.paste]\nfilter_factory = x" in text and "[a.b]\nc = 1" in text


def test_expand_filters_and_oslo_escaping() -> None:
    env = {"PW": SECRET}
    assert expand("u:${PW:url}@h", env) == "u:p%40ss%2Fw%3Ard%24x%271@h"
    assert expand("${PW}", env, oslo=True) == "p@ss/w:rd$$x'1"  # oslo.config reads $$ as a literal $
    assert expand("${PW:raw}", env, oslo=True) == SECRET
    assert expand("x=${PW:sh}", env) == "x='p@ss/w:rd$x'\"'\"'1'"
    assert expand("${PW:json}", env) == '"p@ss/w:rd$x\'1"'
    assert expand("$state_path/lock", env, oslo=True) == "$state_path/lock"  # oslo's own references stay
    with pytest.raises(ConfError, match="MISSING"):
        expand("${MISSING}", env)


def test_cli_writes_0640_atomically_and_idempotently(tmp_path: Path) -> None:
    conf = tmp_path / "etc" / "svc.conf"
    args = [str(conf), "database.connection=mysql+pymysql://svc:${DB_PASSWORD:url}@127.0.0.1/svc"]
    first = iniconf(*args, env={"DB_PASSWORD": SECRET})
    assert first.returncode == 0 and first.stdout.startswith("updated:")
    assert SECRET not in first.stdout + first.stderr
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert "svc:p%40ss%2Fw%3Ard%24x%271@127.0.0.1" in conf.read_text()
    inode = conf.stat().st_ino
    again = iniconf(*args, env={"DB_PASSWORD": SECRET})
    assert again.stdout.startswith("unchanged:") and conf.stat().st_ino == inode
    assert list(conf.parent.iterdir()) == [conf]  # no temporary file left behind


def test_cli_missing_variable_is_exit_2_and_file_untouched(tmp_path: Path) -> None:
    conf = tmp_path / "x.conf"
    done = iniconf(str(conf), "a.b=${NOPE_NOT_SET}")
    assert done.returncode == 2 and "NOPE_NOT_SET is not set" in done.stderr
    assert not conf.exists()


def test_cli_text_mode_and_mode_0600(tmp_path: Path) -> None:
    target = tmp_path / "admin-openrc"
    done = iniconf("--text", "--mode", "0600", str(target), env={"ADMIN_PASSWORD": SECRET},
                   stdin="export OS_PASSWORD=${ADMIN_PASSWORD:sh}\nexport PATH=/v/bin:$PATH\n")
    assert done.returncode == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    sourced = subprocess.run(["bash", "-c", f". {target}; printf %s \"$OS_PASSWORD\""], capture_output=True,
                             text=True)
    assert sourced.stdout == SECRET


def test_uwsgi_preset(tmp_path: Path) -> None:
    target = tmp_path / "api-uwsgi.ini"
    iniconf("--preset", "uwsgi", "--replace", "--mode", "0644", str(target), "uwsgi.module=x.wsgi:application")
    text = target.read_text()
    assert "need-app = true" in text and "add-header = Connection: close" in text
    assert text.index("master") < text.index("module = x.wsgi:application")


def test_dbsetup_sql_escapes_the_password() -> None:
    sql = create_sql("nova", "a'b\\c", ["nova_api", "nova"], ("localhost",))
    assert "IDENTIFIED BY 'a''b\\\\c';" in sql
    assert "GRANT ALL PRIVILEGES ON `nova_api`.* TO 'nova'@'localhost';" in sql
    with pytest.raises(ValueError):
        create_sql("nova; DROP", "x", ["nova"], ("localhost",))
