"""What the secret store tells an operator, to the whole line (message, file and what to do), checked without
deriving a key (fast): bad names and values, the passphrase file's checks and warning, where the passphrase is
looked for and what the prompt says. The store itself (real keyring files) is tests/test_secrets.py."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tui_installer import secrets
from tui_installer.errors import UserError
from tui_installer.statedir import PASSPHRASE_ENV, StateDir


def message(exc: pytest.ExceptionInfo[UserError]) -> str:
    return exc.value.format()


def test_a_bad_secret_name_says_what_a_name_is() -> None:
    with pytest.raises(UserError) as info:
        secrets.check_name("Db-Password")
    assert message(info) == ("invalid secret name 'Db-Password' (use lowercase letters, digits and _, starting "
                             "with a letter, at most 64 chars)")
    assert secrets.check_name("db_password") == "db_password"


@pytest.mark.parametrize(("value", "expected"), [
    ("", "secret db_password: the value is empty"),
    ("short12", "secret db_password: the value is 7 characters, at least 8 are required (or let `passwords "
                "generate` make a strong one)"),
    ("two\nlines-value", "secret db_password: the value contains a line break or NUL byte (it is written into "
                         "config files and prompts, one line each)"),
    ("nul\0in-the-value", "secret db_password: the value contains a line break or NUL byte (it is written into "
                          "config files and prompts, one line each)"),
])
def test_a_weak_or_broken_value_says_why_and_what_to_do(value: str, expected: str) -> None:
    with pytest.raises(UserError) as info:
        secrets.check_value("db_password", value)
    assert message(info) == expected


def test_generated_values_have_the_length_asked_for() -> None:
    assert len(secrets.generate_value()) == 24 and len(secrets.generate_value(40)) == 40
    with pytest.raises(UserError) as info:
        secrets.generate_value(15)
    assert message(info) == "generated secrets must be at least 16 characters, not 15"


def test_the_passphrase_file_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "passphrase"
    key.write_text("  the passphrase  \nsecond line\n")
    key.chmod(0o600)
    assert secrets.read_passphrase_file(key) == "the passphrase"
    assert capsys.readouterr().err == ""
    key.chmod(0o640)
    assert secrets.read_passphrase_file(key) == "the passphrase"
    assert capsys.readouterr().err == (f"tui-installer: warning: {key}: the keyring passphrase file is readable "
                                       f"by its group (chmod 600 {key})\n")
    key.chmod(0o604)
    with pytest.raises(UserError) as info:
        secrets.read_passphrase_file(key)
    assert message(info) == f"{key}: the keyring passphrase file is accessible to other users (chmod 600 {key})"
    key.chmod(0o600)
    key.write_text("\n")
    with pytest.raises(UserError) as info:
        secrets.read_passphrase_file(key)
    assert message(info) == f"{key}: the keyring passphrase file is empty (the passphrase is its first line)"
    with pytest.raises(UserError) as info:
        secrets.read_passphrase_file(tmp_path / "absent")
    assert message(info).startswith(f"{tmp_path / 'absent'}: cannot read the keyring passphrase file: ")


def test_where_the_passphrase_comes_from_and_what_the_prompt_says(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    path = tmp_path / "keyring.cfg"
    asked: list[tuple[str, bool]] = []

    def ask(prompt: str, new: bool) -> str:
        asked.append((prompt, new))
        return "typed"

    key = tmp_path / "passphrase"
    key.write_text("from-file\n")
    key.chmod(0o600)
    find = secrets._find_passphrase
    assert find(path, False, "given", key, ask) == "given"
    assert find(path, False, None, key, ask) == "from-file"
    monkeypatch.setenv(PASSPHRASE_ENV, "from-env")
    assert find(path, False, None, None, ask) == "from-env" and asked == []
    monkeypatch.delenv(PASSPHRASE_ENV)
    assert find(path, True, None, None, ask) == "typed"
    assert find(path, False, None, None, ask) == "typed"
    assert asked == [(f"New passphrase for the keyring {path}: ", True), ("Keyring passphrase: ", False)]
    for new, verb in ((True, "create"), (False, "unlock")):
        with pytest.raises(UserError) as info:
            find(path, new, None, None, None)
        assert message(info) == (f"{path}: a passphrase is needed to {verb} the keyring (use "
                                 f"--keyring-passphrase-file FILE or set {PASSPHRASE_ENV}, or run on a terminal)")
    assert not os.path.exists(path)


def test_the_shortest_generated_value_is_sixteen_characters() -> None:
    assert len(secrets.generate_value(16)) == 16


def test_a_new_keyring_with_a_short_passphrase_is_refused_naming_its_file(tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        secrets.SecretStore.open(tmp_path / "state", passphrase="x" * (secrets.MIN_LENGTH - 1))
    keyring = StateDir.open(tmp_path / "state").keyring_file
    assert message(info) == f"{keyring}: a new keyring needs a passphrase of at least {secrets.MIN_LENGTH} characters"


def test_a_keyring_that_cannot_be_written_or_read_is_one_line_naming_it(tmp_path: Path) -> None:
    """What the store's calls into the keyring file turn an OS or parse error into (the real files:
    tests/test_secrets.py)."""
    store = object.__new__(secrets.SecretStore)
    store.path = tmp_path / "keyring.cfg"

    def full() -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def damaged() -> None:
        raise ValueError("bad padding")

    with pytest.raises(UserError) as info:
        store._call(full)
    assert message(info) == f"{store.path}: cannot write the keyring: No space left on device"
    with pytest.raises(UserError) as info:
        store._call(damaged)
    assert message(info) == f"{store.path}: the keyring is damaged or unreadable: bad padding"
