"""Preflight checks on the real host: a real listening socket, the real os-release parser."""

from __future__ import annotations

import socket
import subprocess
import sys

import psutil

from tui_installer.ops import preflight


def test_port_taken_by_someone_else_fails_and_names_the_holder():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        me = psutil.Process().name()
        taken = preflight.check_port(port)
        assert taken.status == preflight.FAIL and me in taken.detail
        ours = preflight.check_port(port, allowed=(me,))
        assert ours.status == preflight.PASS
    assert preflight.check_port(port).status == preflight.PASS


def test_distro_support_matrix():
    assert preflight.check_distro({"ID": "debian", "VERSION_ID": "12"}).status == preflight.PASS
    assert preflight.check_distro({"ID": "ubuntu", "VERSION_ID": "20.04"}).status == preflight.WARN
    assert preflight.check_distro({"ID": "fedora", "VERSION_ID": "40"}).status == preflight.FAIL


def test_too_little_ram_and_an_unresolvable_name_fail():
    assert preflight.check_ram(10**9).status == preflight.FAIL
    assert preflight.check_ram(1).status == preflight.PASS
    assert preflight.check_hostname("no-such-host.invalid").status == preflight.FAIL


def test_cli_exits_1_with_the_reason_on_stderr():
    result = subprocess.run([sys.executable, "-m", "tui_installer.ops.preflight", "--min-ram-mb", str(10**9)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "FAIL ram" in result.stdout and "preflight refused: ram" in result.stderr
