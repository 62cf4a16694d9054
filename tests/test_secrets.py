"""The secret store against the real CryptFileKeyring backend, on real files in a temporary state dir.

No keyring mocks: every test that opens a store runs argon2 for real (~0.5 s each), so tests share
opens where they can.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import stat
import string
import subprocess
import sys
from pathlib import Path

import keyring
import keyring.core
import pytest
from keyrings.cryptfile.cryptfile import CryptFileKeyring

from tui_installer import secrets
from tui_installer.errors import UserError
from tui_installer.secrets import PASSPHRASE_ENV, SecretStore

PASSPHRASE = "correct-horse-battery"
VALUE = "Zq8-known-test-password-41"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_ambient_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


@pytest.fixture
def store(tmp_path: Path) -> SecretStore:
    return SecretStore.open(tmp_path / "state", passphrase=PASSPHRASE)


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> SecretStore:
    """One store for the validation tests, which must refuse before anything is written."""
    return SecretStore.open(tmp_path_factory.mktemp("state"), passphrase=PASSPHRASE)


def test_set_get_names_delete_and_reopen(store: SecretStore, tmp_path: Path) -> None:
    assert store.names() == [] and store.get("db_password") is None
    store.set("db_password", VALUE)
    store.set("admin_password", VALUE + "x")
    assert store.get("db_password") == VALUE
    assert store.names() == ["admin_password", "db_password"]
    assert store.delete("admin_password") is True
    assert store.delete("admin_password") is False
    again = SecretStore.open(tmp_path / "state", passphrase=PASSPHRASE)
    assert again.names() == ["db_password"]
    assert again.get("db_password") == VALUE and again.get("admin_password") is None
    assert again.values(["db_password", "missing_one"]) == {"db_password": VALUE}


def test_wrong_passphrase_is_refused_on_open(store: SecretStore, tmp_path: Path) -> None:
    store.set("db_password", VALUE)
    before = (tmp_path / "state" / "keyring.cfg").read_bytes()
    with pytest.raises(UserError, match="could not be unlocked: wrong passphrase"):
        SecretStore.open(tmp_path / "state", passphrase="not-the-passphrase")
    assert (tmp_path / "state" / "keyring.cfg").read_bytes() == before


def test_file_and_directory_modes(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    store = SecretStore.open(state, passphrase=PASSPHRASE)
    store.set("db_password", VALUE)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "keyring.cfg").stat().st_mode) == 0o600
    assert [p.name for p in state.iterdir()] == ["keyring.cfg"]  # no temporary file left behind


def test_neither_value_nor_passphrase_in_the_file(store: SecretStore) -> None:
    store.set("db_password", VALUE)
    generated = store.generate("rabbit_password")
    data = store.path.read_bytes()
    for plain in (VALUE, generated, PASSPHRASE):
        assert plain.encode() not in data
    assert b"[Argon2] AES128.GCM" in data  # it really is the encrypted scheme


def test_one_salt_per_keyring_also_after_reopening(store: SecretStore, tmp_path: Path) -> None:
    """A reopened keyring keeps the salt of its reference entry for new entries: one key derivation serves the
    whole file (a fresh salt per open would make every later open derive a key per salt)."""
    import base64
    import configparser

    store.set("db_password", VALUE)
    SecretStore.open(tmp_path / "state", passphrase=PASSPHRASE).set("rabbit_password", VALUE)
    config = configparser.RawConfigParser()
    config.read(store.path)
    entries = [value for _key, value in config.items("tui_2Dinstaller")]
    entries.append(config.get("keyring_2Dsetting", "password_20reference"))  # what unlocking checks the key on
    salts = {json.loads(base64.b64decode(value))["salt"] for value in entries}
    assert len(entries) == 3 and len(salts) == 1, salts


def test_the_stock_backend_reads_our_file(store: SecretStore) -> None:
    """Our faster subclass must keep the file format: the plain CryptFileKeyring can read it."""
    store.set("db_password", VALUE)
    stock = CryptFileKeyring()
    stock.file_path = str(store.path)
    stock.keyring_key = PASSPHRASE
    assert stock.get_password(secrets.SERVICE, "db_password") == VALUE
    stock.set_password(secrets.SERVICE, "other_password", VALUE + "2")
    again = SecretStore.open(store.path.parent, passphrase=PASSPHRASE)
    assert again.get("other_password") == VALUE + "2"


def test_generated_values_are_strong() -> None:
    values = [secrets.generate_value() for _ in range(500)]
    assert all(len(v) == 24 and set(v) <= set(string.ascii_letters + string.digits) for v in values)
    assert len(set(values)) == 500
    pooled = "".join(values)
    assert set(pooled) == set(string.ascii_letters + string.digits)  # the whole alphabet is used
    assert len(secrets.generate_value(40)) == 40
    with pytest.raises(UserError):
        secrets.generate_value(8)


def test_ensure_generates_only_missing_and_is_not_one_kdf_per_name(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The key is derived once per open: counted, not timed (a timer flakes on a loaded machine)."""
    import argon2.low_level

    derive = argon2.low_level.hash_secret_raw
    calls: list[int] = []

    def counting(*args: object, **kwargs: object) -> bytes:
        calls.append(1)
        return derive(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(argon2.low_level, "hash_secret_raw", counting)
    store = SecretStore.open(tmp_path / "state", passphrase=PASSPHRASE)
    store.set("db_password", VALUE)
    after_open = len(calls)
    assert after_open >= 1
    names = [f"service{i}_password" for i in range(15)] + ["db_password"]
    made = store.ensure(names)
    assert made == names[:15]
    assert len(calls) == after_open, f"ensure of 15 names derived the key {len(calls) - after_open} more times"
    assert store.get("db_password") == VALUE
    assert store.ensure(names) == []
    values = SecretStore.open(tmp_path / "state", passphrase=PASSPHRASE).values(names)
    assert len(set(values.values())) == 16


@pytest.mark.parametrize("name", ["", "Db_password", "1password", "db-password", "db password", "a" * 65])
def test_bad_names_are_refused(empty_store: SecretStore, name: str) -> None:
    with pytest.raises(UserError, match="invalid secret name"):
        empty_store.set(name, VALUE)
    with pytest.raises(UserError, match="invalid secret name"):
        empty_store.get(name)
    assert empty_store.names() == []


@pytest.mark.parametrize(("value", "why"), [("", "empty"), ("short12", "at least 8"),
                                            ("two\nlines-value", "line break")])
def test_weak_or_broken_values_are_refused(empty_store: SecretStore, value: str, why: str) -> None:
    with pytest.raises(UserError, match=why):
        empty_store.set("db_password", value)
    assert empty_store.names() == []


def test_passphrase_sources_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    asked: list[bool] = []

    def ask(prompt: str, confirm: bool) -> str:
        assert ("New passphrase" in prompt) == confirm
        asked.append(confirm)
        return PASSPHRASE

    SecretStore.open(state, ask=ask).set("db_password", VALUE)  # the prompt creates the keyring
    assert asked == [True]
    key_file = tmp_path / "passphrase"
    key_file.write_text(f"  {PASSPHRASE}  \nsecond line ignored\n")
    key_file.chmod(0o600)
    monkeypatch.setenv(PASSPHRASE_ENV, "wrong-from-env")
    assert SecretStore.open(state, passphrase_file=key_file, ask=ask).get("db_password") == VALUE
    with pytest.raises(UserError, match="wrong passphrase"):
        SecretStore.open(state, ask=ask)  # the environment beats the prompt
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    assert SecretStore.open(state).get("db_password") == VALUE
    assert asked == [True]


def test_a_passphrase_file_others_can_read_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "passphrase"
    key_file.write_text(PASSPHRASE + "\n")
    key_file.chmod(0o644)
    with pytest.raises(UserError, match="accessible to other users"):
        SecretStore.open(tmp_path / "state", passphrase_file=key_file)
    key_file.write_text("\n")
    key_file.chmod(0o600)
    with pytest.raises(UserError, match="empty"):
        SecretStore.open(tmp_path / "state", passphrase_file=key_file)
    with pytest.raises(UserError, match="cannot read"):
        SecretStore.open(tmp_path / "state", passphrase_file=tmp_path / "absent")


def test_no_passphrase_and_no_prompt_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="passphrase is needed to create"):
        SecretStore.open(tmp_path / "state")
    assert not (tmp_path / "state" / "keyring.cfg").exists()
    with pytest.raises(UserError, match="at least 8"):
        SecretStore.open(tmp_path / "state", passphrase="short")


def test_a_damaged_file_is_a_user_error(store: SecretStore) -> None:
    store.set("db_password", VALUE)
    store.path.write_text(store.path.read_text().replace("[tui_2Dinstaller]", "[tui_2Dinstaller"))
    with pytest.raises(UserError, match="keyring"):
        SecretStore.open(store.path.parent, passphrase=PASSPHRASE).get("db_password")
    with pytest.raises(UserError) as info:  # damaged under an open store: the operator's line names the file
        store.names()
    assert info.value.file == str(store.path) and "the keyring is damaged or unreadable" in info.value.message


def test_a_damaged_reference_entry_is_not_called_a_wrong_passphrase(store: SecretStore, tmp_path: Path) -> None:
    """Unlocking checks the key on the reference entry; if that entry is garbage the keyring is unusable, and
    the operator must not be sent looking for another passphrase."""
    store.set("db_password", VALUE)
    text = store.path.read_text()
    start = text.index("password_20reference = ") + len("password_20reference = ")
    end = text.index("\n", start)
    store.path.write_text(text[:start] + "bm90IGpzb24=" + text[end:])  # base64 of "not json"
    with pytest.raises(UserError) as info:
        SecretStore.open(tmp_path / "state", passphrase=PASSPHRASE)
    assert "is not usable" in info.value.message and "wrong passphrase" not in info.value.message, info.value


def test_an_existing_keyring_others_can_read_is_made_private_on_open(store: SecretStore, tmp_path: Path) -> None:
    store.set("db_password", VALUE)
    store.path.chmod(0o644)
    SecretStore.open(tmp_path / "state", passphrase=PASSPHRASE)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_the_default_keyring_chain_is_never_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever PYTHON_KEYRING_BACKEND says and whatever backends are installed, we never ask keyring."""

    def tripwire(*_: object) -> None:
        raise AssertionError("the default keyring chain or a prompt was used")

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    for module in (keyring, keyring.core):
        monkeypatch.setattr(module, "get_keyring", tripwire)
        monkeypatch.setattr(module, "set_keyring", tripwire)
    monkeypatch.setattr(getpass, "getpass", tripwire)  # nor does the backend ever prompt
    store = SecretStore.open(tmp_path / "state", passphrase=PASSPHRASE)
    store.set("db_password", VALUE)
    assert SecretStore.open(tmp_path / "state", passphrase=PASSPHRASE).get("db_password") == VALUE
    assert "cryptfile" in store.backend_name and str(store.path) in store.backend_name


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    """Two processes adding secrets at once: the directory lock and atomic replace keep both sets."""
    state = tmp_path / "state"
    SecretStore.open(state, passphrase=PASSPHRASE)
    code = ("import sys; from tui_installer.secrets import SecretStore as S\n"
            "s = S.open(sys.argv[1])\n"
            "for i in range(30): s.set(f'{sys.argv[2]}{i}', 'v' * 20)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), PASSPHRASE_ENV: PASSPHRASE}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(state), prefix], env=env)
             for prefix in ("a", "b")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    again = SecretStore.open(state, passphrase=PASSPHRASE)
    expected = sorted(f"{p}{i}" for p in "ab" for i in range(30))
    assert again.names() == expected
    assert set(again.values(expected).values()) == {"v" * 20}


def test_concurrent_ensure_agrees_on_one_value_per_name(tmp_path: Path) -> None:
    """Two processes ensuring the same names: each generated name is made once, and what each process
    holds in memory is what the file holds."""
    state = tmp_path / "state"
    SecretStore.open(state, passphrase=PASSPHRASE)
    names = [f"service{i}_password" for i in range(40)]
    code = ("import hashlib, json, sys; from tui_installer.secrets import SecretStore as S\n"
            "s = S.open(sys.argv[1]); names = sys.argv[2:]\n"
            "made = s.ensure(names)\n"
            "digest = hashlib.sha256(json.dumps(s.values(names), sort_keys=True).encode()).hexdigest()\n"
            "print(json.dumps([made, digest]))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), PASSPHRASE_ENV: PASSPHRASE}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(state), *names], env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    results = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    made = [name for result in results for name in result[0]]
    assert sorted(made) == sorted(names)
    stored = SecretStore.open(state, passphrase=PASSPHRASE).values(names)
    digest = hashlib.sha256(json.dumps(stored, sort_keys=True).encode()).hexdigest()
    assert [result[1] for result in results] == [digest, digest]


def test_an_empty_or_closed_prompt_is_a_user_error(tmp_path: Path) -> None:
    def closed(prompt: str, confirm: bool) -> str:
        raise EOFError

    for ask in (closed, lambda prompt, confirm: "  "):
        with pytest.raises(UserError, match="no keyring passphrase given"):
            SecretStore.open(tmp_path / "state", ask=ask)


def test_threads_sharing_one_store_lose_nothing(store: SecretStore) -> None:
    """The TUI calls the store from worker threads: the lock must hold between threads too."""
    import threading

    def work(prefix: str) -> None:
        for i in range(20):
            store.set(f"{prefix}{i}", VALUE)

    threads = [threading.Thread(target=work, args=(p,)) for p in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(SecretStore.open(store.path.parent, passphrase=PASSPHRASE).names()) == 80
