"""`tui-installer passwords ...` through the real CLI, in real processes (pipes and a real pty)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from tui_installer.secrets import PASSPHRASE_ENV, SecretStore

ROOT = Path(__file__).resolve().parents[1]
PASSPHRASE = "cli-test-passphrase"
VALUE = "Kx7-known-cli-password-93"


def _env(passphrase: str | None = PASSPHRASE) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != PASSPHRASE_ENV}
    env["PYTHONPATH"] = str(ROOT)
    if passphrase is not None:
        env[PASSPHRASE_ENV] = passphrase
    return env


def cli(state: Path, *argv: str, stdin: str = "", passphrase: str | None = PASSPHRASE
        ) -> subprocess.CompletedProcess[str]:
    """Run the CLI with stdin a pipe (never a terminal): it must never wait on a prompt."""
    return subprocess.run([sys.executable, "-m", "tui_installer", "--state-dir", str(state), *argv],
                          input=stdin, capture_output=True, text=True, env=_env(passphrase), timeout=60)


def test_set_list_generate_show_and_no_value_leaks(tmp_path: Path) -> None:
    state = tmp_path / "state"
    outputs = [cli(state, "passwords", "set", "db_password", stdin=VALUE + "\n")]
    outputs.append(cli(state, "passwords", "generate", "rabbit_password", "db_password"))
    assert "generated rabbit_password" in outputs[-1].stdout
    assert "kept db_password" in outputs[-1].stdout
    outputs.append(cli(state, "passwords", "list"))
    assert all(out.returncode == 0 for out in outputs), [out.stderr for out in outputs]
    listed = outputs[-1].stdout.splitlines()
    assert listed[0].startswith("# backend: encrypted file (keyrings.cryptfile")
    assert listed[1:] == ["db_password", "rabbit_password"]
    store = SecretStore.open(state, passphrase=PASSPHRASE)
    generated = store.get("rabbit_password")
    assert store.get("db_password") == VALUE and generated and len(generated) == 24
    for out in outputs:
        for secret in (VALUE, generated, PASSPHRASE):
            assert secret not in out.stdout + out.stderr
    shown = cli(state, "passwords", "show", "rabbit_password")
    assert (shown.returncode, shown.stdout) == (0, generated + "\n")


def test_generate_replace_changes_the_value(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert cli(state, "passwords", "set", "db_password", stdin=VALUE).returncode == 0
    out = cli(state, "passwords", "generate", "--replace", "--length", "32", "db_password")
    assert out.returncode == 0 and "generated db_password" in out.stdout
    value = SecretStore.open(state, passphrase=PASSPHRASE).get("db_password")
    assert value != VALUE and value is not None and len(value) == 32


def test_generate_all_stores_every_secret_the_plan_needs(tmp_path: Path) -> None:
    state = tmp_path / "state"
    plan = subprocess.run([sys.executable, "-m", "tui_installer", "plan", "-p", "all-in-one", "--format",
                           "json"], capture_output=True, text=True, env=_env(), timeout=60, check=True)
    needed = sorted(json.loads(plan.stdout)["secrets"])
    assert len(needed) > 5
    assert cli(state, "passwords", "set", needed[0], stdin=VALUE).returncode == 0
    out = cli(state, "passwords", "generate", "--all", "-p", "all-in-one")
    assert out.returncode == 0, out.stderr
    assert f"kept {needed[0]}" in out.stdout
    assert sorted(line.split()[1] for line in out.stdout.splitlines()) == needed
    store = SecretStore.open(state, passphrase=PASSPHRASE)
    assert store.names() == needed and store.get(needed[0]) == VALUE


@pytest.mark.parametrize(("argv", "stdin", "message"), [
    (["passwords", "set", "DB"], VALUE, "invalid secret name 'DB'"),
    (["passwords", "set", "db_password"], "short\n", "at least 8 are required"),
    (["passwords", "set", "db_password"], "", "the value is empty"),
    (["passwords", "show", "absent_password"], "", "no secret named absent_password"),
    (["passwords", "generate"], "", "name the secrets to generate, or use --all"),
    (["passwords", "generate", "db_password", "-p", "demo"], "", "only go with --all"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, argv: list[str], stdin: str, message: str) -> None:
    out = cli(tmp_path / "state", *argv, stdin=stdin)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and message in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""


def test_no_terminal_and_no_passphrase_never_prompts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    out = cli(state, "passwords", "set", "db_password", stdin=VALUE, passphrase=None)
    assert out.returncode == 2
    assert "passphrase is needed to create the keyring" in out.stderr
    assert PASSPHRASE_ENV in out.stderr and "--keyring-passphrase-file" in out.stderr
    assert not (state / "keyring.cfg").exists()
    assert cli(state, "passwords", "set", "db_password", stdin=VALUE).returncode == 0
    out = cli(state, "passwords", "list", passphrase=None)
    assert out.returncode == 2 and "needed to unlock" in out.stderr


def test_wrong_passphrase_and_passphrase_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert cli(state, "passwords", "set", "db_password", stdin=VALUE).returncode == 0
    out = cli(state, "passwords", "show", "db_password", passphrase="a-wrong-passphrase")
    assert out.returncode == 2 and "wrong passphrase" in out.stderr and VALUE not in out.stdout
    key_file = tmp_path / "key"
    key_file.write_text(PASSPHRASE + "\n")
    key_file.chmod(0o600)
    out = cli(state, "passwords", "show", "db_password", "--keyring-passphrase-file", str(key_file),
              passphrase=None)
    assert (out.returncode, out.stdout) == (0, VALUE + "\n")
    key_file.chmod(0o640)
    out = cli(state, "passwords", "list", "--keyring-passphrase-file", str(key_file), passphrase=None)
    assert out.returncode == 0 and "readable by its group" in out.stderr
    # the TUI hands the passphrase to the detached engine through a pipe on its stdin
    out = cli(state, "passwords", "show", "db_password", "--keyring-passphrase-file", "/dev/stdin",
              stdin=PASSPHRASE + "\n", passphrase=None)
    assert (out.returncode, out.stdout) == (0, VALUE + "\n")


def _spawn(state: Path, *argv: str) -> pexpect.spawn:
    return pexpect.spawn(sys.executable, ["-m", "tui_installer", "--state-dir", str(state), *argv],
                         env=_env(None), encoding="utf-8", timeout=30)


def test_on_a_terminal_the_passphrase_and_value_are_asked_twice_unechoed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    child = _spawn(state, "passwords", "set", "db_password")
    transcript = io.StringIO()
    child.logfile_read = transcript  # everything the terminal showed, prompts and any echo of what was typed
    child.expect("New passphrase for the keyring")
    child.sendline(PASSPHRASE)
    child.expect("Again")
    child.sendline(PASSPHRASE)
    child.expect("Value for db_password")
    child.sendline(VALUE)
    child.expect("Repeat")
    child.sendline(VALUE)
    child.expect("stored db_password")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    seen = transcript.getvalue()
    assert "Repeat" in seen and "stored db_password" in seen
    assert VALUE not in seen and PASSPHRASE not in seen, "a typed secret was echoed on the terminal"
    assert SecretStore.open(state, passphrase=PASSPHRASE).get("db_password") == VALUE


def test_on_a_terminal_values_that_differ_store_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    SecretStore.open(state, passphrase=PASSPHRASE)
    child = _spawn(state, "passwords", "set", "db_password")
    child.expect("Keyring passphrase")
    child.sendline(PASSPHRASE)
    child.expect("Value for db_password")
    child.sendline(VALUE)
    child.expect("Repeat")
    child.sendline(VALUE + "typo")
    child.expect("differ")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    assert SecretStore.open(state, passphrase=PASSPHRASE).names() == []
