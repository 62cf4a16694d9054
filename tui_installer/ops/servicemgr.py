"""One interface to run the cloud's long-lived processes, with or without systemd.

On a systemd host every service becomes a unit ``<prefix>@<name>.service`` (as DevStack's
``devstack@*``), enabled so the cloud comes back after a reboot. Where PID 1 is not systemd (containers,
CI), ``start-stop-daemon`` runs it in its own session with a pid file and a log file, and ``stop`` kills
the whole session: the neutron OVS agent ignores SIGTERM and leaves privsep-helper children behind.

Either way the service's definition (argv, env, user, log file) is kept as JSON in the unit directory
(default ``/etc/tui-installer/units``), so that steps can say just ``start NAME``. Steps call this as
``python -m tui_installer.ops.servicemgr start NAME`` with the installer's own interpreter. Infrastructure
packaged by the distribution (mariadb, rabbitmq-server, …) goes through ``system start NAME``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from tui_installer.ops import supervisor

UNIT_DIR_ENV = "TUI_INSTALLER_UNIT_DIR"
MANAGER_ENV = "TUI_INSTALLER_SERVICE_MANAGER"  # "systemd" | "daemon": overrides detection
DEFAULT_UNIT_DIR = "/etc/tui-installer/units"
SYSTEMD_DIR = "/etc/systemd/system"
RUN_DIR = "/run/tui-installer"
DEFAULT_PREFIX = "openstack"


@dataclass
class Unit:
    """What it takes to run one service: the same data renders a systemd unit or a daemon start."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    user: str = "root"
    group: str | None = None
    log_file: str | None = None
    chdir: str = "/"
    description: str = ""
    after: list[str] = field(default_factory=list)
    stop_timeout: float = 30.0
    prefix: str = DEFAULT_PREFIX

    @property
    def unit_name(self) -> str:
        return f"{self.prefix}@{self.name}.service"


def uses_systemd() -> bool:
    """True when PID 1 is systemd (``/run/systemd/system`` exists and ``/proc/1/comm`` says so)."""
    forced = os.environ.get(MANAGER_ENV)
    if forced:
        return forced == "systemd"
    try:
        comm = Path("/proc/1/comm").read_text().strip()
    except OSError:
        return False
    return Path("/run/systemd/system").is_dir() and comm == "systemd"


def unit_dir() -> Path:
    return Path(os.environ.get(UNIT_DIR_ENV) or DEFAULT_UNIT_DIR)


def render_systemd(unit: Unit) -> str:
    """The systemd unit file for ``unit``; testable on any host."""
    after = " ".join(["network-online.target", *unit.after])
    lines = ["[Unit]", f"Description={unit.description or unit.name} (tui-installer)",
             f"After={after}", f"Wants={after}", "", "[Service]", "Type=simple",
             f"ExecStart={_systemd_quote(unit.argv)}", f"User={unit.user}"]
    if unit.group:
        lines.append(f"Group={unit.group}")
    lines.append(f"WorkingDirectory={unit.chdir}")
    lines += [f'Environment="{k}={_escape_env(v)}"' for k, v in sorted(unit.env.items())]
    if unit.log_file:
        lines += [f"StandardOutput=append:{unit.log_file}", f"StandardError=append:{unit.log_file}"]
    lines += ["KillMode=mixed", f"TimeoutStopSec={int(unit.stop_timeout)}", "Restart=on-failure",
              "RestartSec=2", "", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def _systemd_quote(argv: list[str]) -> str:
    """ExecStart words: specifiers and variables escaped, words with blanks or quotes double-quoted."""
    words = [_escape_env(a) for a in argv]
    return " ".join(w if w and not any(c in w for c in " \t\"'\\") else json.dumps(w) for w in words)


def _escape_env(value: str) -> str:
    """systemd expands ``%`` specifiers and ``$`` in ExecStart: escape both."""
    return value.replace("%", "%%").replace("$", "$$")


def write_unit(unit: Unit, *, directory: Path | None = None, systemd_dir: Path | None = None,
               systemd: bool | None = None, reload: bool = True) -> bool:
    """Record ``unit`` (JSON) and, on systemd, its unit file; True if anything changed.

    ``systemd=True, systemd_dir=tmp, reload=False`` renders the unit file on any host (tests)."""
    directory = directory or unit_dir()
    unit.argv[0] = _absolute(unit.argv[0], unit.env.get("PATH"))
    changed = _write_if_changed(directory / f"{unit.name}.json", json.dumps(asdict(unit), indent=2) + "\n")
    if systemd if systemd is not None else uses_systemd():
        target = (systemd_dir or Path(SYSTEMD_DIR)) / unit.unit_name
        if _write_if_changed(target, render_systemd(unit)):
            changed = True
            if reload:
                _run(["systemctl", "daemon-reload"])
    if unit.log_file:
        Path(unit.log_file).parent.mkdir(parents=True, exist_ok=True)
    return changed


def _absolute(program: str, path: str | None) -> str:
    """systemd and start-stop-daemon want an absolute program path: resolve it now, once."""
    if os.path.isabs(program):
        return program
    found = shutil.which(program, path=path or os.environ.get("PATH"))
    if not found:
        raise SystemExit(f"servicemgr: program {program!r} not found in PATH")
    return found


def _write_if_changed(path: Path, content: str) -> bool:
    if path.exists() and path.read_text() == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(content)
    tmp.chmod(0o644)
    os.replace(tmp, path)
    return True


def load_unit(name: str, directory: Path | None = None) -> Unit:
    path = (directory or unit_dir()) / f"{name}.json"
    try:
        return Unit(**json.loads(path.read_text()))
    except FileNotFoundError:
        raise SystemExit(f"servicemgr: no service named {name!r} ({path} missing)") from None


def _run(argv: list[str], check: bool = True) -> int:
    return subprocess.run(argv, check=check).returncode


def start(names: str | list[str], *, wait: float = 3.0, tcp: str | None = None,
          timeout: float = 90.0) -> int:
    """Start (and enable) services; they must stay up ``wait`` seconds, or with ``tcp`` (HOST:PORT or a
    URL) until it answers. Several names are started together and watched once: faster than in turn."""
    names = [names] if isinstance(names, str) else names
    units = [load_unit(n) for n in names]
    stale = [u for u in units if _stale(u)]
    if stale:
        print(f"restarting (configuration newer than the process): {', '.join(u.name for u in stale)}")
        stop([u.name for u in stale])
    if uses_systemd():
        rc = _run(["systemctl", "enable", "--now", *[u.unit_name for u in units]], check=False)
    else:
        rc = max(supervisor.launch(u) for u in units)
        rc = rc or supervisor.watch(units, 0.5 if tcp else wait)
    if rc != 0 or not tcp:
        return int(rc)
    return max(wait_tcp(n, tcp, timeout) for n in names)


def _main_pid(unit: Unit) -> int | None:
    if not uses_systemd():
        return supervisor.running_pid(unit)
    out = subprocess.run(["systemctl", "show", "-p", "MainPID", "--value", unit.unit_name],
                         capture_output=True, text=True).stdout.strip()
    return int(out) if out.isdigit() and int(out) > 0 else None


def watched_files(unit: Unit) -> list[Path]:
    """The unit's definition and every existing file (or file of a directory) its argv and env name."""
    words = [w for arg in [*unit.argv[1:], *unit.env.values()] for w in arg.split(";")]
    files = [unit_dir() / f"{unit.name}.json"]
    for word in words:
        path = Path(word)
        if path.is_absolute() and path.is_file():
            files.append(path)
        elif path.is_absolute() and path.is_dir() and str(path).startswith("/etc/"):
            files.extend(p for p in path.iterdir() if p.is_file())
    return files


def _stale(unit: Unit) -> bool:
    """Running, but started before its configuration last changed: a re-run changed a setting."""
    pid = _main_pid(unit)
    if not pid:
        return False
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        return False
    return any(f.exists() and f.stat().st_mtime > started + 1 for f in watched_files(unit))


def wait_tcp(name: str, address: str, timeout: float) -> int:
    """Wait for ``address`` to accept a connection while the service stays up (uWSGI loads lazily)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(address):
            print(f"{name}: answering on {address}")
            return 0
        time.sleep(0.5)
        if status(name, quiet=True) != 0:
            unit = load_unit(name)
            print(f"{name}: started and died before listening on {address}; last lines of {unit.log_file}:",
                  file=sys.stderr)
            for line in supervisor.tail(unit.log_file):
                print("  " + line, file=sys.stderr)
            return 1
    print(f"{name}: not listening on {address} after {timeout:.0f}s", file=sys.stderr)
    return 1


def _answers(address: str) -> bool:
    """A URL answers with any HTTP status below 500 (401 means the app loaded); HOST:PORT connects."""
    if address.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(address, timeout=5):
                return True
        except urllib.error.HTTPError as exc:
            return exc.code < 500
        except OSError:
            return False
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
        return True
    except OSError:
        return False


def stop(names: str | list[str]) -> int:
    """Stop services; several at once in parallel (each may need its grace period)."""
    names = [names] if isinstance(names, str) else names
    units = [load_unit(n) for n in names]
    if uses_systemd():
        return _run(["systemctl", "stop", *[u.unit_name for u in units]], check=False)
    with ThreadPoolExecutor(max_workers=max(1, len(units))) as pool:
        return max(pool.map(supervisor.stop, units))


def status(name: str, *, quiet: bool = False) -> int:
    """0 when running, 3 when stopped (the LSB convention ``service X status`` follows)."""
    unit = load_unit(name)
    if uses_systemd():
        rc = subprocess.run(["systemctl", "is-active", "--quiet", unit.unit_name]).returncode
        pid = None if rc else 0
    else:
        pid = supervisor.running_pid(unit)
    if not quiet:
        print(f"{name}: stopped" if pid is None else f"{name}: running" + (f" (pid {pid})" if pid else ""))
    return 3 if pid is None else 0


def restart(name: str) -> int:
    if uses_systemd():
        return _run(["systemctl", "restart", load_unit(name).unit_name], check=False)
    stop(name)
    return start(name)


def enable(name: str) -> int:
    """Start at boot: a unit on systemd; without it there is no boot hook, so just start it."""
    if uses_systemd():
        return _run(["systemctl", "enable", load_unit(name).unit_name], check=False)
    return start(name)


def remove(name: str) -> int:
    """Stop the service and delete what ``write_unit`` created."""
    path = unit_dir() / f"{name}.json"
    if not path.exists():
        return 0
    unit = load_unit(name)
    stop(name)
    if uses_systemd():
        _run(["systemctl", "disable", unit.unit_name], check=False)
        Path(SYSTEMD_DIR, unit.unit_name).unlink(missing_ok=True)
        _run(["systemctl", "daemon-reload"], check=False)
    path.unlink()
    return 0


def system(action: str, name: str) -> int:
    """Distribution services (mariadb, rabbitmq-server, memcached, openvswitch-switch).

    Stopping one that is not installed is a success: an uninstall may run on a machine never installed."""
    if action == "stop" and not _installed(name):
        print(f"{name}: not installed, nothing to stop")
        return 0
    if uses_systemd():
        verb = {"start": ["enable", "--now"], "stop": ["disable", "--now"]}.get(action, [action])
        return _run(["systemctl", *verb, name], check=False)
    return _run(["service", name, action], check=False)


def _installed(name: str) -> bool:
    if uses_systemd():
        return subprocess.run(["systemctl", "cat", name], capture_output=True).returncode == 0
    return Path("/etc/init.d", name).exists()


if __name__ == "__main__":
    from tui_installer.ops.servicemgr_cli import main

    sys.exit(main())
