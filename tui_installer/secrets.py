"""The secret store: every password the installer uses, in an encrypted keyring file.

Why this shape: on a server reached over SSH there is no desktop keyring, and keyring's default
backend chain may fall back to a file backend that calls ``getpass()`` on the terminal behind a TUI's
back. So we never touch the chain (``keyring.get_keyring``, ``PYTHON_KEYRING_BACKEND``): we build one
``CryptFileKeyring`` (argon2 + AES-GCM) ourselves, on ``<state>/keyring.cfg``, and give it the master
passphrase before its first use (reading ``keyring_key`` would prompt).

Speed: the stock backend runs argon2 (~0.4-0.8 s) on every read and write because each entry gets a
fresh salt. Our subclass derives the key once per (passphrase, salt) and encrypts every entry with the
salt of the keyring's own reference entry (unique nonces per entry), so after the unlock each
operation costs a file rewrite, not a key derivation. The file stays readable by the stock backend.
"""

from __future__ import annotations

import base64
import configparser
import contextlib
import fcntl
import json
import os
import re
import secrets as _random
import string
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar

from keyring.errors import PasswordDeleteError
from keyrings.cryptfile.cryptfile import CryptFileKeyring
from keyrings.cryptfile.escape import escape as escape_for_ini
from keyrings.cryptfile.escape import unescape

from tui_installer.errors import UserError
from tui_installer.statedir import PASSPHRASE_ENV, StateDir

SERVICE = "tui-installer"
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
ALPHABET = string.ascii_letters + string.digits
MIN_LENGTH = 8

# ask(prompt, confirm) -> passphrase; confirm is True when it creates the keyring (ask it twice).
Ask = Callable[[str, bool], "str | None"]

T = TypeVar("T")

_REFERENCE = ("keyring-setting", "password reference")


class _AeadCipher(Protocol):
    """The AES cipher in an authenticated mode (the keyring's GCM), as `encrypt` uses it."""

    nonce: bytes

    def update(self, assoc_data: bytes) -> object: ...
    def encrypt_and_digest(self, plaintext: bytes) -> tuple[bytes, bytes]: ...
    def decrypt_and_verify(self, ciphertext: bytes, received_mac_tag: bytes) -> bytes: ...


class _FastCryptFile(CryptFileKeyring):
    """CryptFileKeyring with a cached key derivation, one salt per keyring and atomic, locked writes."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.file_path = str(path)
        self._keys: dict[tuple[str, bytes], bytes] = {}
        self._salt = self._reference_salt() or os.urandom(16)
        self._lock_fd: int | None = None
        self._thread_lock = threading.RLock()  # the TUI may call from worker threads

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold a flock on the keyring's directory across processes (re-entrant within this object)."""
        with self._thread_lock:
            if self._lock_fd is not None:
                yield
                return
            self._lock_fd = os.open(os.path.dirname(self.file_path), os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(self._lock_fd)
                self._lock_fd = None

    def _reference_salt(self) -> bytes | None:
        """The salt of the reference entry, so that unlocking derives the key every entry uses."""
        try:
            blob = self._config().get(*map(escape_for_ini, _REFERENCE))
            return base64.b64decode(json.loads(base64.b64decode(blob))["salt"])
        except (configparser.Error, ValueError, KeyError, TypeError):
            return None

    def _create_cipher(self, password: str, salt: bytes, nonce: bytes | None = None) -> _AeadCipher:
        from argon2.low_level import Type, hash_secret_raw
        from Crypto.Cipher import AES

        key = self._keys.get((password, salt))
        if key is None:
            key = hash_secret_raw(
                secret=password.encode(self.password_encoding), salt=salt, time_cost=self.time_cost,
                memory_cost=self.memory_cost, parallelism=self.parallelism, hash_len=16, type=Type.ID)
            self._keys[(password, salt)] = key
        mode = self._get_mode(self.aesmode)
        if mode is None:
            raise ValueError(f"invalid AES mode: {self.aesmode}")
        return AES.new(key, mode) if nonce is None else AES.new(key, mode, nonce=nonce)

    def encrypt(self, password: bytes, assoc: bytes | None = None) -> bytes:
        cipher = self._create_cipher(self.keyring_key, self._salt)
        if assoc is not None:
            cipher.update(assoc)
        data, mac = cipher.encrypt_and_digest(password)
        fields = {"salt": self._salt, "data": data, "mac": mac, "nonce": cipher.nonce}
        return json.dumps({k: base64.b64encode(v).decode() for k, v in fields.items()}).encode()

    def usernames(self, service: str) -> list[str]:
        """The entries of ``service``: their names are in the file in clear, only values are encrypted."""
        config = self._config()
        section = escape_for_ini(service)
        return [unescape(o) for o in config.options(section)] if config.has_section(section) else []

    def _config(self) -> configparser.RawConfigParser:
        config = configparser.RawConfigParser()
        config.read(self.file_path)
        return config

    def _rewrite(self, change: Callable[[configparser.RawConfigParser], None]) -> None:
        """Read, change and atomically replace the file, under a lock on its directory."""
        folder = os.path.dirname(self.file_path)
        with self.locked():
            config = self._config()
            change(config)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".keyring.", suffix=".tmp")  # mode 0600
            try:
                with os.fdopen(fd, "w") as out:
                    config.write(out)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.file_path)
            except BaseException:
                os.unlink(tmp)
                raise
            assert self._lock_fd is not None
            os.fsync(self._lock_fd)  # the directory: make the rename durable

    def _write_config_value(self, service: str, key: str, value: str) -> None:
        def change(config: configparser.RawConfigParser) -> None:
            section = escape_for_ini(service)
            if not config.has_section(section):
                config.add_section(section)
            config.set(section, escape_for_ini(key), value)

        self._rewrite(change)

    def delete_password(self, service: str, username: str) -> None:
        def change(config: configparser.RawConfigParser) -> None:
            section, option = escape_for_ini(service), escape_for_ini(username)
            if not config.has_section(section) or not config.remove_option(section, option):
                raise PasswordDeleteError("Password not found")

        self._rewrite(change)


def check_name(name: str) -> str:
    """Secret names are lowercase identifiers: the ini-based backends fold case, configs need plain names."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise UserError(f"invalid secret name {name!r}",
                        hint="use lowercase letters, digits and _, starting with a letter, at most 64 chars")
    return name


def check_value(name: str, value: str) -> str:
    """Refuse values that would be weak or break the config files and prompts they are written into."""
    if not value:
        raise UserError(f"secret {name}: the value is empty")
    if len(value) < MIN_LENGTH:
        raise UserError(f"secret {name}: the value is {len(value)} characters, at least {MIN_LENGTH} "
                        "are required", hint="or let `passwords generate` make a strong one")
    if any(c in value for c in "\n\r\0"):
        raise UserError(f"secret {name}: the value contains a line break or NUL byte",
                        hint="it is written into config files and prompts, one line each")
    return value


def generate_value(length: int = 24) -> str:
    """A strong random value from letters and digits: safe in INI files, URLs and shell words."""
    if length < 16:
        raise UserError(f"generated secrets must be at least 16 characters, not {length}")
    return "".join(_random.choice(ALPHABET) for _ in range(length))


def read_passphrase_file(path: str | os.PathLike[str]) -> str:
    """The first line of a passphrase file; refused if other users may read it (as ssh does for keys)."""
    file = Path(path)
    try:
        mode = file.stat().st_mode
        with file.open(encoding="utf-8") as handle:
            first = handle.readline().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the keyring passphrase file: {exc}", file=str(file)) from None
    if mode & 0o007:
        raise UserError("the keyring passphrase file is accessible to other users", file=str(file),
                        hint=f"chmod 600 {file}")
    if mode & 0o040:
        _warn(f"{file}: the keyring passphrase file is readable by its group (chmod 600 {file})")
    if not first:
        raise UserError("the keyring passphrase file is empty (the passphrase is its first line)",
                        file=str(file))
    return first


class SecretStore:
    """Named secrets in one encrypted keyring file; decrypted values are cached for this process."""

    def __init__(self, backend: _FastCryptFile, path: Path) -> None:
        self._backend = backend
        self.path = path
        self._cache: dict[str, str] = {}

    @property
    def backend_name(self) -> str:
        return f"encrypted file (keyrings.cryptfile, argon2+AES) at {self.path}"

    @classmethod
    def open(cls, state_dir: str | os.PathLike[str], passphrase: str | None = None,
             passphrase_file: str | os.PathLike[str] | None = None, ask: Ask | None = None) -> SecretStore:
        """Unlock (or create) the state directory's keyring file. Never prompts unless ``ask`` is given."""
        path = StateDir.open(state_dir).keyring_file
        new = not _initialised(path)
        key = _find_passphrase(path, new, passphrase, passphrase_file, ask)
        if new and len(key) < MIN_LENGTH:
            raise UserError(f"a new keyring needs a passphrase of at least {MIN_LENGTH} characters",
                            file=str(path))
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
        os.fchmod(fd, 0o600)
        os.close(fd)
        backend = _FastCryptFile(path)
        _unlock(backend, key, path)
        return cls(backend, path)

    def get(self, name: str) -> str | None:
        check_name(name)
        if name not in self._cache:
            value = self._call(self._backend.get_password, SERVICE, name)
            if value is None:
                return None
            self._cache[name] = value
        return self._cache[name]

    def set(self, name: str, value: str) -> None:
        check_value(check_name(name), value)
        self._store(name, value)

    def delete(self, name: str) -> bool:
        """Forget a secret; False when it was not stored."""
        check_name(name)
        try:
            self._call(self._backend.delete_password, SERVICE, name)
        except PasswordDeleteError:
            return False
        finally:
            self._cache.pop(name, None)
        return True

    def names(self) -> list[str]:
        """Read from the file each time (no decryption): always current, even after another process wrote.

        Not an index entry: that would be a second read-modify-write that concurrent writers could lose.
        """
        return sorted(self._call(self._backend.usernames, SERVICE))

    def generate(self, name: str, length: int = 24) -> str:
        """Make, store and return a new strong value (replacing any stored one)."""
        value = generate_value(length)
        self._store(check_name(name), value)
        return value

    def ensure(self, names: Iterable[str]) -> list[str]:
        """Generate every secret of ``names`` that is not stored yet; return the names generated."""
        wanted = [check_name(n) for n in dict.fromkeys(names)]
        with self._backend.locked():  # another process generating the same names must not win later
            have = set(self.names())
            missing = [n for n in wanted if n not in have]
            for name in missing:
                self._store(name, generate_value())
        return missing

    def values(self, names: Iterable[str]) -> dict[str, str]:
        """The stored values of ``names`` (missing ones left out), e.g. for the executor's redactor."""
        found = {n: self.get(n) for n in names}
        return {n: v for n, v in found.items() if v is not None}

    def _store(self, name: str, value: str) -> None:
        self._call(self._backend.set_password, SERVICE, name, value)
        self._cache[name] = value

    def _call(self, method: Callable[..., T], *args: str) -> T:
        """Turn a damaged file into a UserError naming it, not a traceback."""
        try:
            return method(*args)
        except (configparser.Error, ValueError) as exc:
            raise UserError(f"the keyring is damaged or unreadable: {exc}", file=str(self.path)) from None
        except OSError as exc:
            raise UserError(f"cannot write the keyring: {exc.strerror}", file=str(self.path)) from None


def keyring_exists(path: Path) -> bool:
    """Whether a keyring was made at ``path`` (read-only commands say "no secrets" otherwise)."""
    return _initialised(path)


def _initialised(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def _find_passphrase(path: Path, new: bool, passphrase: str | None,
                     passphrase_file: str | os.PathLike[str] | None, ask: Ask | None) -> str:
    """Argument, then file, then environment, then (only if allowed) the caller's prompt."""
    if passphrase:
        return passphrase
    if passphrase_file:
        return read_passphrase_file(passphrase_file)
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    if ask is not None:
        try:
            answer = ask(f"New passphrase for the keyring {path}: " if new else "Keyring passphrase: ", new)
        except EOFError:
            answer = None
        if answer and answer.strip():
            return answer
        raise UserError("no keyring passphrase given", file=str(path))
    verb = "create" if new else "unlock"
    raise UserError(f"a passphrase is needed to {verb} the keyring", file=str(path),
                    hint=f"use --keyring-passphrase-file FILE or set {PASSPHRASE_ENV}, or run on a terminal")


def _unlock(backend: _FastCryptFile, key: str, path: Path) -> None:
    """Setting ``keyring_key`` creates a new file or checks the key against its reference entry.

    Under the lock, so that two processes creating the keyring at once cannot both write a reference.
    """
    try:
        with backend.locked():
            backend.keyring_key = key
    except ValueError as exc:
        if "MAC check" in str(exc) or "Incorrect" in str(exc):
            raise UserError(f"the keyring at {path} could not be unlocked: wrong passphrase") from None
        raise UserError(f"the keyring at {path} is not usable: {exc}") from None
    except (configparser.Error, OSError) as exc:
        raise UserError(f"the keyring at {path} is not usable: {exc}") from None


def _warn(message: str) -> None:
    print(f"tui-installer: warning: {message}", file=sys.stderr)
