"""A re-run with a changed setting reaches the running service: the configuration step runs again (its
fingerprint changed), so the service's start step runs again too and servicemgr restarts the real daemon
on the new configuration; a re-run with nothing changed leaves the same process running."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

PASSPHRASE = "test-keyring-passphrase"

DAEMON = textwrap.dedent("""\
    import configparser, os, sys, time
    config = configparser.ConfigParser()
    config.read(sys.argv[1])
    with open(sys.argv[2], "a") as out:
        out.write(f"{os.getpid()} {config['main']['greeting']}\\n")
    while True:
        time.sleep(60)
""")


def _profile(tmp: Path) -> Path:
    (tmp / "daemon.py").write_text(DAEMON)
    profile = tmp / "greeter.yaml"
    profile.write_text(textwrap.dedent(f"""\
        name: greeter
        description: a daemon that reads its greeting once, at start
        services: [greeter]
        settings: {{greeting: hello}}
        service_definitions:
          greeter:
            phases:
              configure:
                - name: ini
                  run: >-
                    {{{{ installer_python }}}} -m tui_installer.ops.iniconf --mode 0644 --replace
                    {tmp}/greeter.ini main.greeting={{{{ greeting }}}}
                - name: unit
                  run: >-
                    {{{{ installer_python }}}} -m tui_installer.ops.servicemgr write-unit greeter
                    --description greeter -- {sys.executable} {tmp}/daemon.py {tmp}/greeter.ini {tmp}/starts
              start:
                - name: daemon
                  run: "{{{{ installer_python }}}} -m tui_installer.ops.servicemgr start greeter --wait 1"
              stop:
                - name: daemon
                  run: "{{{{ installer_python }}}} -m tui_installer.ops.servicemgr stop greeter"
        """))
    return profile


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TUI_INSTALLER_KEYRING_PASSPHRASE": PASSPHRASE,
           "TUI_INSTALLER_UNIT_DIR": str(tmp / "units"), "TUI_INSTALLER_PID_DIR": str(tmp / "run"),
           "TUI_INSTALLER_SERVICE_MANAGER": "daemon"}
    done = subprocess.run([sys.executable, "-m", "tui_installer", "--state-dir", str(tmp / "state"), *args],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _starts(tmp: Path) -> list[tuple[int, str]]:
    lines = (tmp / "starts").read_text().split("\n")
    return [(int(pid), word) for pid, word in (line.split() for line in lines if line)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_changed_setting_restarts_the_running_service(tmp_path):
    profile = str(_profile(tmp_path))
    try:
        _cli(tmp_path, "install", "-p", profile, "--yes")
        [(first, word)] = _starts(tmp_path)
        assert word == "hello" and _alive(first)

        same = _cli(tmp_path, "install", "-p", profile, "--yes")
        assert "skip greeter.start.daemon (done in an earlier run)" in same.stdout, same.stdout
        assert _starts(tmp_path) == [(first, "hello")] and _alive(first)

        time.sleep(1.1)  # the config's mtime must be newer than the process's start (1 s resolution)
        changed = _cli(tmp_path, "install", "-p", profile, "--yes", "--set", "greeting=bonjour")
        assert "ok   greeter.configure.ini" in changed.stdout, changed.stdout
        assert "ok   greeter.start.daemon" in changed.stdout, changed.stdout
        starts = _starts(tmp_path)
        assert [word for _, word in starts] == ["hello", "bonjour"], starts
        second = starts[1][0]
        assert second != first and _alive(second) and not _alive(first)

        again = _cli(tmp_path, "install", "-p", profile, "--yes", "--set", "greeting=bonjour")
        assert "skip greeter.start.daemon (done in an earlier run)" in again.stdout, again.stdout
        assert len(_starts(tmp_path)) == 2 and _alive(second)
    finally:
        _cli(tmp_path, "uninstall", "-p", profile, "--yes")
    for pid, _ in _starts(tmp_path):
        assert not _alive(pid)
