"""Naming the cause of a failed step: from real failing commands where that is safe on a shared host,
from the exact lines the tools print otherwise (apt lock, mirrors, pip resolver: recorded output)."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path

import pytest

from tui_installer.executor import Executor, Result
from tui_installer.failures import name_cause
from tui_installer.model import Step


def result(exit_code: int | None = 1, sig: int | None = None, timed_out: str | None = None,
           cancelled: bool = False, answered_wrong: bool = False) -> Result:
    return Result(exit_code, sig, timed_out, cancelled, 1.0, [], 1, answered_wrong=answered_wrong)


def run_real(tmp_path: Path, argv: tuple[str, ...]) -> tuple[Result, str | None]:
    step = Step(id="t.install.x", service="t", phase="install", name="x", argv=argv)
    r = Executor().run(step, secrets={}, log_path=tmp_path / "x.log")
    return r, name_cause(r.tail, r)


def test_real_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code = f"import socket; s = socket.socket(); s.bind(('127.0.0.1', {port}))"
        r, cause = run_real(tmp_path, (sys.executable, "-c", code))
    assert r.exit_code == 1 and cause and "already in use" in cause and "ss -ltnp" in cause


def test_real_out_of_disk(tmp_path: Path) -> None:
    r, cause = run_real(tmp_path, ("bash", "-c", "echo data > /dev/full"))
    assert r.exit_code == 1 and cause and cause.startswith("out of disk space")


def test_real_out_of_memory(tmp_path: Path) -> None:
    r, cause = run_real(tmp_path, (sys.executable, "-c", "bytearray(1 << 50)"))
    assert r.exit_code == 1 and cause and cause.startswith("out of memory")


def test_real_command_not_found(tmp_path: Path) -> None:
    r, cause = run_real(tmp_path, ("bash", "-c", "keystone-manage-missing db_sync"))
    assert r.exit_code == 127 and cause and "keystone-manage-missing" in cause


def test_real_permission_denied(tmp_path: Path) -> None:
    script = tmp_path / "not-executable.sh"
    script.write_text("echo hi\n")
    r, cause = run_real(tmp_path, ("bash", "-c", str(script)))
    assert r.exit_code == 126 and cause and cause.startswith("permission denied")


def test_real_sigkill_points_at_the_oom_killer(tmp_path: Path) -> None:
    r, cause = run_real(tmp_path, ("bash", "-c", "kill -9 $$"))
    assert r.signal == signal.SIGKILL and cause and "dmesg" in cause


APT_LOCK = ["E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)",
            "N: Be aware that removing the lock file is not a solution and may break your system.",
            "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process "
            "using it?"]


@pytest.mark.parametrize(("tail", "expect"), [
    (APT_LOCK, "another apt/dpkg process holds the lock (/var/lib/dpkg/lock-frontend)"),
    (["E: dpkg was interrupted, you must manually run 'dpkg --configure -a' to correct the problem."],
     "dpkg --configure -a"),
    (["Reading package lists...", "E: Unable to locate package mariadb-servr"], "mariadb-servr"),
    (["Err:1 http://deb.debian.org/debian bookworm/main amd64 rabbitmq-server all 3.10.8-1.1",
      "  Temporary failure resolving 'deb.debian.org'",
      "E: Failed to fetch http://deb.debian.org/debian/pool/main/r/rabbitmq-server/x.deb"],
     "cannot resolve deb.debian.org"),
    (["E: Failed to fetch http://deb.debian.org/debian/pool/main/m/memcached/m.deb  404  Not Found",
      "E: Unable to fetch some archives, maybe run apt-get update or try with --fix-missing?"],
     "a package download failed (http://deb.debian.org/debian/pool/main/m/memcached/m.deb)"),
    (["ERROR: Cannot install keystone==30.0.0 and oslo.db==1.0 because these package versions have "
      "conflicting dependencies.", "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io"],
     "dependency conflict"),
    (["ERROR: No matching distribution found for nova==99.0.0"], "no release of nova==99.0.0"),
    (["OSError: [Errno 98] Address already in use"], "already in use"),
    (["bind(): Address already in use [core/socket.c line 769]"], "already in use"),
    (["nova-api: started and died before listening on 127.0.0.1:8774; last lines of /var/log/nova/api.log:",
      "  ImportError: cannot import name 'x'"], "the service nova-api started and died"),
    (["keystone: started and died; last lines of /opt/stack/logs/keystone.log:",
      "  bind(): Address already in use [core/socket.c line 769]"], "a port is already in use"),
])
def test_recorded_outputs(tail: list[str], expect: str) -> None:
    cause = name_cause(tail, result(100))
    assert cause and expect in cause, cause
    assert cause.endswith("then Retry")


def test_result_facts() -> None:
    assert "wrong" in (name_cause(["Password: Sorry"], result(None, 15, answered_wrong=True)) or "")
    assert "idle timeout" in (name_cause(["waiting..."], result(None, 15, timed_out="idle")) or "")
    assert "longer than its timeout" in (name_cause([], result(None, 15, timed_out="overall")) or "")
    assert name_cause(["x"], result(None, 15, cancelled=True)) == "cancelled by the operator"


def test_an_output_cause_beats_a_timeout() -> None:
    assert "lock" in (name_cause(APT_LOCK, result(None, 15, timed_out="overall")) or "")


def test_nothing_recognised() -> None:
    assert name_cause(["something odd happened"], result(1)) is None
    assert name_cause([], result(2)) is None
