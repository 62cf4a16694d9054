"""servicemgr: systemd units rendered without systemd; real daemons started, watched and really stopped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

from tui_installer.ops import servicemgr
from tui_installer.ops.servicemgr import Unit, render_systemd, write_unit


@pytest.fixture()
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"TUI_INSTALLER_UNIT_DIR": str(tmp_path / "units"), "TUI_INSTALLER_PID_DIR": str(tmp_path / "run"),
           "TUI_INSTALLER_SERVICE_MANAGER": "daemon"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def sm(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui_installer.ops.servicemgr", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=timeout)


def procs_with(token: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(token in part for part in proc.info["cmdline"] or []) and proc.status() != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def alive(pid: int | None) -> bool:
    try:
        return pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_systemd_unit_rendered_without_systemd(tmp_path: Path) -> None:
    unit = Unit("nova-api", ["sleep", "--ini", "/etc/nova/nova-api-uwsgi.ini"], prefix="openstack",
                env={"OS_NOVA_CONFIG_FILES": "api-paste.ini;nova.conf", "PCT": "100%", "D": "$HOME"},
                log_file="/var/log/openstack/nova-api.log", description="Compute API", after=["mariadb.service"],
                stop_timeout=15)
    assert write_unit(unit, directory=tmp_path / "units", systemd_dir=tmp_path / "systemd", systemd=True,
                      reload=False)
    text = (tmp_path / "systemd" / "openstack@nova-api.service").read_text()
    assert text == render_systemd(unit)
    lines = text.splitlines()
    exec_line = next(line for line in lines if line.startswith("ExecStart="))
    assert exec_line.startswith("ExecStart=/") and exec_line.split()[0].endswith("/sleep")  # resolved
    assert 'Environment="OS_NOVA_CONFIG_FILES=api-paste.ini;nova.conf"' in lines
    assert 'Environment="PCT=100%%"' in lines and 'Environment="D=$$HOME"' in lines
    assert "StandardOutput=append:/var/log/openstack/nova-api.log" in lines
    assert "After=network-online.target mariadb.service" in lines
    assert {"KillMode=mixed", "TimeoutStopSec=15", "Restart=on-failure", "WantedBy=multi-user.target"} <= set(lines)
    # unchanged unit → nothing written, no reload needed
    assert not write_unit(unit, directory=tmp_path / "units", systemd_dir=tmp_path / "systemd", systemd=True,
                          reload=False)


def test_systemd_quotes_words_with_blanks() -> None:
    unit = Unit("x", ["/bin/sh", "-c", 'echo "a b" $X'])
    exec_line = next(line for line in render_systemd(unit).splitlines() if line.startswith("ExecStart="))
    assert exec_line == 'ExecStart=/bin/sh -c "echo \\"a b\\" $$X"'


def test_detection_follows_pid1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUI_INSTALLER_SERVICE_MANAGER", raising=False)
    comm = Path("/proc/1/comm").read_text().strip()
    assert servicemgr.uses_systemd() == (comm == "systemd" and Path("/run/systemd/system").is_dir())
    monkeypatch.setenv("TUI_INSTALLER_SERVICE_MANAGER", "systemd")
    assert servicemgr.uses_systemd()


def test_stop_kills_what_ignores_sigterm_and_its_setsid_children(dirs: dict[str, str], tmp_path: Path) -> None:
    """Like the OVS agent: SIGTERM ignored, a privsep-like child in a session of its own."""
    token = f"tok{uuid.uuid4().hex}"
    script = (f"trap '' TERM; setsid bash -c \"trap '' TERM; exec -a {token}-child sleep 600\" & "
              f"exec -a {token}-main bash -c \"trap '' TERM; echo started; sleep 600; : {token}\"")
    log = tmp_path / "svc.log"
    assert sm("write-unit", "stubborn", "--log-file", str(log), "--stop-timeout", "1", "--", "bash", "-c",
              script).returncode == 0
    started = sm("start", "stubborn", "--wait", "1")
    assert started.returncode == 0, started.stderr
    assert sm("status", "stubborn").returncode == 0
    assert len(procs_with(token)) >= 2
    again = sm("start", "stubborn")
    assert again.returncode == 0 and "already running" in again.stdout
    t0 = time.monotonic()
    stopped = sm("stop", "stubborn")
    assert stopped.returncode == 0, stopped.stderr
    assert time.monotonic() - t0 < 60, "stop hung: SIGKILL after the 1 s stop timeout did not end it"
    assert procs_with(token) == []
    assert sm("status", "stubborn").returncode == 3
    assert "started" in log.read_text()


def test_service_that_dies_fails_start_with_its_log_tail(dirs: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "bad.log"
    sm("write-unit", "bad", "--log-file", str(log), "--", "bash", "-c", "echo 'config error: no [database]'; exit 3")
    done = sm("start", "bad", "--wait", "2")
    assert done.returncode == 1
    assert "started and died" in done.stderr and "config error: no [database]" in done.stderr
    assert sm("status", "bad").returncode == 3


def test_service_env_is_clean_and_only_what_the_unit_says(dirs: dict[str, str], tmp_path: Path) -> None:
    """A step's secrets (environment variables) must not leak into a long-lived daemon."""
    log = tmp_path / "env.log"
    sm("write-unit", "envdump", "--log-file", str(log), "--env", "OS_X_CONFIG=/etc/x.conf", "--",
       "bash", "-c", "env; sleep 600")
    started = sm("start", "envdump", "--wait", "1", env={"DB_PASSWORD": "s3cret-Value-42"})
    assert started.returncode == 0, started.stderr
    try:
        text = log.read_text()
        assert "OS_X_CONFIG=/etc/x.conf" in text
        assert "s3cret-Value-42" not in text and "DB_PASSWORD" not in text
    finally:
        sm("stop", "envdump")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_start_waits_for_the_url_to_answer(dirs: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    sm("write-unit", "web", "--log-file", str(tmp_path / "web.log"), "--", sys.executable, "-c",
       f"import time, http.server as h; time.sleep(1.5); h.test(h.SimpleHTTPRequestHandler, port={port}, "
       "bind='127.0.0.1')")
    try:
        t0 = time.monotonic()
        done = sm("start", "web", "--url", f"http://127.0.0.1:{port}/", "--timeout", "30")
        assert done.returncode == 0, done.stderr
        assert time.monotonic() - t0 >= 1.5 and "answering" in done.stdout
    finally:
        sm("stop", "web")
    sm("write-unit", "dies", "--log-file", str(tmp_path / "dies.log"), "--", "bash", "-c",
       "sleep 1; echo 'ImportError: no module named nova'; exit 1")
    done = sm("start", "dies", "--url", f"http://127.0.0.1:{free_port()}/", "--timeout", "30")
    assert done.returncode == 1 and "ImportError: no module named nova" in done.stderr


def test_two_services_start_and_stop_together(dirs: dict[str, str], tmp_path: Path) -> None:
    token = f"tok{uuid.uuid4().hex}"
    for name in ("a", "b"):
        sm("write-unit", name, "--stop-timeout", "20", "--", "bash", "-c", f"sleep 600; : {token}")
    assert sm("start", "a", "b", "--wait", "1").returncode == 0
    assert len(procs_with(token)) == 2
    t0 = time.monotonic()
    assert sm("stop", "a", "b").returncode == 0
    assert procs_with(token) == []
    assert time.monotonic() - t0 < 60, "stop hung (both services answer SIGTERM at once)"


def test_remove_deletes_the_definition(dirs: dict[str, str]) -> None:
    sm("write-unit", "gone", "--", "sleep", "600")
    assert sm("start", "gone", "--wait", "0.5").returncode == 0
    assert sm("remove", "gone").returncode == 0
    assert not (Path(dirs["TUI_INSTALLER_UNIT_DIR"]) / "gone.json").exists()
    assert "no service named" in sm("status", "gone").stderr


def test_start_restarts_a_service_whose_config_changed(dirs: dict[str, str], tmp_path: Path) -> None:
    """A re-run that rewrote a config file must not leave the old process serving the old settings."""
    conf = tmp_path / "svc.conf"
    conf.write_text("[DEFAULT]\ndebug = false\n")
    sm("write-unit", "cfg", "--", "bash", "-c", 'sleep 600; : "$0"', str(conf))
    assert sm("start", "cfg", "--wait", "0.5").returncode == 0
    pid = servicemgr.supervisor.running_pid(servicemgr.load_unit("cfg"))
    again = sm("start", "cfg", "--wait", "0.5")
    assert "already running" in again.stdout and "restarting" not in again.stdout
    time.sleep(1.1)
    conf.write_text("[DEFAULT]\ndebug = true\n")
    future = time.time() + 2
    os.utime(conf, (future, future))
    restarted = sm("start", "cfg", "--wait", "0.5")
    try:
        assert "restarting" in restarted.stdout, restarted.stdout + restarted.stderr
        new_pid = servicemgr.supervisor.running_pid(servicemgr.load_unit("cfg"))
        assert new_pid and new_pid != pid and not alive(pid)
    finally:
        sm("stop", "cfg")


def test_list_shows_every_service_and_fails_when_one_is_down(dirs: dict[str, str]) -> None:
    sm("write-unit", "up", "--", "sleep", "600")
    sm("write-unit", "down", "--", "sleep", "600")
    assert sm("start", "up", "--wait", "0.3").returncode == 0
    try:
        listed = sm("list")
        assert listed.returncode == 3
        assert "down: stopped" in listed.stdout and "up: running (pid" in listed.stdout
    finally:
        sm("stop", "up")


def test_stop_kills_an_orphan_left_in_the_service_session(dirs: dict[str, str], tmp_path: Path) -> None:
    """A process the service's tree let go of (its parent exited: re-parented to init) is no one's child
    any more; only the service's session finds it, and stop must kill it too."""
    token = f"tok{uuid.uuid4().hex}"
    script = f"( bash -c \"sleep 600; : {token}-orphan\" & ) ; exec bash -c \"sleep 600; : {token}-main\""
    assert sm("write-unit", "orphans", "--stop-timeout", "2", "--", "bash", "-c", script).returncode == 0
    assert sm("start", "orphans", "--wait", "1").returncode == 0
    try:
        orphans = [p for p in procs_with(f"{token}-orphan") if p.name() == "bash"]
        main = servicemgr.supervisor.running_pid(servicemgr.load_unit("orphans"))
        assert orphans and main and all(p.ppid() != main for p in orphans), "the test needs a real orphan"
        assert all(os.getsid(p.pid) == os.getsid(main) for p in orphans)
        assert sm("stop", "orphans").returncode == 0
        assert procs_with(token) == [], "a process of the service's session outlived stop"
    finally:
        for proc in procs_with(token):
            proc.kill()
