"""Supervision without systemd: ``start-stop-daemon`` to start, the whole session to stop.

``start-stop-daemon --background`` makes the service a session leader, so its pid is also its session
id. Everything it spawns (uWSGI workers, privsep-helper, ovsdb clients) stays in that session even when
re-parented to init, which lets ``stop`` find and kill all of it: SIGTERM, a grace period, then SIGKILL.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from tui_installer.ops.servicemgr import Unit

BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def run_dir() -> Path:
    from tui_installer.ops.servicemgr import RUN_DIR

    return Path(os.environ.get("TUI_INSTALLER_PID_DIR") or RUN_DIR)


def pid_file(unit: Unit) -> Path:
    return run_dir() / f"{unit.name}.pid"


def _read_pid(unit: Unit) -> int | None:
    try:
        return int(pid_file(unit).read_text().strip())
    except (OSError, ValueError):
        return None


def state_file(unit: Unit) -> Path:
    return run_dir() / f"{unit.name}.state"


def _read_state(unit: Unit) -> dict[str, Any]:
    """What we know of the running instance: pid, its start time, and every session it used."""
    try:
        data = json.loads(state_file(unit).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _alive(pid: int | None, create_time: float | None) -> psutil.Process | None:
    if not pid:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        if create_time is not None and abs(proc.create_time() - create_time) > 0.5:
            return None  # the pid was reused by another process
        return proc
    except psutil.Error:
        return None


def running_pid(unit: Unit) -> int | None:
    """The service's pid if the process we started is alive (not a reused pid)."""
    state = _read_state(unit)
    proc = _alive(_read_pid(unit), state.get("create_time"))
    return proc.pid if proc and state else None


def service_env(unit: Unit) -> dict[str, str]:
    """A clean environment, as systemd gives: the step's own variables (secrets!) are not inherited."""
    try:
        home = pwd.getpwnam(unit.user).pw_dir
    except KeyError:
        home = "/"
    return {"PATH": BASE_PATH, "LANG": "C.UTF-8", "HOME": home, "PYTHONUNBUFFERED": "1", **unit.env}


def start_argv(unit: Unit) -> list[str]:
    argv = ["start-stop-daemon", "--start", "--background", "--make-pidfile",
            "--pidfile", str(pid_file(unit)), "--chdir", unit.chdir, "--startas", unit.argv[0]]
    if unit.log_file:
        argv += ["--output", unit.log_file]
    if unit.user != "root" or unit.group:
        argv += ["--chuid", unit.user + (f":{unit.group}" if unit.group else "")]
    return argv + ["--", *unit.argv[1:]]


def start(unit: Unit, *, wait: float = 3.0) -> int:
    """Start ``unit`` unless it runs; fail (with the log's tail) if it dies within ``wait`` seconds."""
    return launch(unit) or watch([unit], wait)


def launch(unit: Unit) -> int:
    """Start ``unit`` in the background unless it already runs; does not wait."""
    if running_pid(unit):
        print(f"{unit.name}: already running (pid {running_pid(unit)})")
        return 0
    run_dir().mkdir(parents=True, exist_ok=True)
    if unit.log_file:
        Path(unit.log_file).parent.mkdir(parents=True, exist_ok=True)
    _kill_all(unit, timeout=1.0)  # leftovers of a dead instance (a held port, …)
    rc = subprocess.run(start_argv(unit), env=service_env(unit)).returncode
    if rc != 0:
        print(f"{unit.name}: start-stop-daemon exited {rc}", file=sys.stderr)
        return 1
    _record_state(unit)
    return 0


def watch(units: list[Unit], wait: float) -> int:
    """Fail (with the log's tail) if one of ``units`` dies within ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        time.sleep(0.2)
        for unit in units:
            if not running_pid(unit):
                return _died(unit)
    for unit in units:
        _record_state(unit)  # again: the service may have called setsid() itself (nova does)
        print(f"{unit.name}: running (pid {running_pid(unit)}), log {unit.log_file}")
    return 0


def _record_state(unit: Unit) -> None:
    """Remember the process start-stop-daemon made (it writes the pid file after forking)."""
    state = _read_state(unit) if state_file(unit).exists() else {}
    for _ in range(100):
        proc = _alive(_read_pid(unit), None)
        if proc:
            try:
                sids = set(state.get("sids", [])) | {os.getsid(proc.pid)}
                state = {"pid": proc.pid, "create_time": proc.create_time(), "sids": sorted(sids)}
                state_file(unit).write_text(json.dumps(state) + "\n")
                return
            except (OSError, psutil.Error):
                pass
        time.sleep(0.02)


def _died(unit: Unit) -> int:
    print(f"{unit.name}: started and died; last lines of {unit.log_file}:", file=sys.stderr)
    for line in tail(unit.log_file):
        print("  " + line, file=sys.stderr)
    return 1


def tail(path: str | None, lines: int = 20) -> list[str]:
    if not path or not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as fh:
        return [line.rstrip("\n") for line in deque(fh, maxlen=lines)]


def stop(unit: Unit) -> int:
    """Stop the service and every process it left; 0 even if it was not running."""
    killed = _kill_all(unit, timeout=unit.stop_timeout)
    print(f"{unit.name}: stopped ({killed} processes)" if killed else f"{unit.name}: not running")
    return 0


def _kill_all(unit: Unit, *, timeout: float) -> int:
    """Stop like systemd's ``KillMode=mixed``: SIGTERM the main process and give it ``timeout`` to shut
    down its own children; then SIGKILL whatever is left of its tree and sessions (privsep-helper)."""
    state = _read_state(unit)
    main = _alive(_read_pid(unit), state.get("create_time")) if state else None
    sids = set(state.get("sids", []))
    if main:
        try:
            sids.add(os.getsid(main.pid))
        except OSError:
            pass
    targets = _targets(main, sids)
    first = [main] if main else targets
    for proc in first:
        _signal(proc, "terminate")
    psutil.wait_procs(first, timeout=timeout)
    rest = {p.pid: p for p in targets + _targets(None, sids) if p.is_running()}
    _, alive = psutil.wait_procs(list(rest.values()), timeout=1)
    for proc in alive:
        _signal(proc, "kill")
    psutil.wait_procs(alive, timeout=5)
    pid_file(unit).unlink(missing_ok=True)
    state_file(unit).unlink(missing_ok=True)
    return len(targets)


def _targets(main: psutil.Process | None, sids: set[int]) -> list[psutil.Process]:
    found: dict[int, psutil.Process] = {}
    if main and main.is_running():
        found[main.pid] = main
        try:
            found.update((c.pid, c) for c in main.children(recursive=True))
        except psutil.Error:
            pass
    for sid in sids:
        found.update((p.pid, p) for p in session_members(sid))
    return list(found.values())


def session_members(sid: int) -> list[psutil.Process]:
    """Every live process of session ``sid`` (children re-parented to init included)."""
    if sid <= 1 or sid == os.getsid(0):
        return []
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == sid and proc.pid != os.getpid():
                members.append(proc)
        except (OSError, psutil.Error):
            continue
    return members


def _signal(proc: psutil.Process, how: str) -> None:
    try:
        getattr(proc, how)()
    except psutil.Error:
        pass
