"""The state directory is refused, with one line and exit 2, wherever root could be led astray: not ours,
writable by others (the directory or a folder above it), a file, a dangling link, a read-only filesystem,
a folder where the keyring file goes; and links planted inside are never followed. Real files, real links,
real mounts (the tests run as root, like the installer)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tui_installer.errors import UserError
from tui_installer.statedir import StateDir

NOBODY = 65534
PROFILE = textwrap.dedent("""\
    name: tiny
    description: one harmless step
    services: [tiny]
    service_definitions:
      tiny:
        phases:
          install:
            - name: hello
              run: echo hello
    """)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="ownership checks need root (as the installer runs)")


def cli(state: Path, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TUI_INSTALLER_KEYRING_PASSPHRASE": "a-long-enough-passphrase"}
    return subprocess.run([sys.executable, "-m", "tui_installer", "--state-dir", str(state), *argv],
                          input=stdin, capture_output=True, text=True, env=env, timeout=60)


def refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """The one line a refusal prints (exit 2, no traceback), after checking it names ``words``."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(PROFILE)
    return path


def install(state: Path, profile: Path) -> subprocess.CompletedProcess[str]:
    return cli(state, "install", "-p", str(profile), "--yes", "--quiet")


def test_a_safe_state_dir_is_created_private_and_a_readable_one_tightened(tmp_path: Path, profile: Path) -> None:
    state = tmp_path / "new" / "state"
    assert install(state, profile).returncode == 0
    assert state.stat().st_mode & 0o777 == 0o700
    state.chmod(0o755)  # ours, readable by others: tightened, not refused
    assert install(state, profile).returncode == 0
    assert state.stat().st_mode & 0o777 == 0o700


def test_a_link_we_own_to_a_directory_we_own_is_fine(tmp_path: Path, profile: Path) -> None:
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert install(tmp_path / "link", profile).returncode == 0
    assert StateDir(tmp_path / "real").last_run() is not None


def test_state_dir_of_another_user_is_refused(tmp_path: Path, profile: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, NOBODY, NOBODY)
    refused(install(state, profile), str(state), f"uid {NOBODY}", "chown")
    assert list(state.iterdir()) == []
    assert (state.stat().st_uid, state.stat().st_mode & 0o777) == (NOBODY, 0o700)  # left as it was


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_state_dir_writable_by_others_is_refused(tmp_path: Path, profile: Path, mode: int) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(mode)
    refused(install(state, profile), str(state), "writable by group or others", "chmod 700")
    assert list(state.iterdir()) == []


def test_a_folder_above_writable_by_others_is_refused_unless_sticky(tmp_path: Path, profile: Path) -> None:
    above = tmp_path / "shared"
    above.mkdir()
    above.chmod(0o777)
    refused(install(above / "state", profile), str(above), "writable by group or others", "chmod go-w")
    assert not (above / "state").exists()
    above.chmod(0o1777)  # like /tmp: others cannot replace our entry in it
    assert install(above / "state", profile).returncode == 0


def test_a_folder_above_owned_by_another_user_is_refused(tmp_path: Path, profile: Path) -> None:
    above = tmp_path / "theirs"
    above.mkdir(mode=0o755)
    os.chown(above, NOBODY, NOBODY)
    refused(install(above / "state", profile), str(above), f"uid {NOBODY}")


def test_a_link_planted_by_another_user_is_refused(tmp_path: Path, profile: Path) -> None:
    sticky = tmp_path / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)
    (tmp_path / "target").mkdir(mode=0o700)
    link = sticky / "state"
    link.symlink_to(tmp_path / "target")
    os.lchown(link, NOBODY, NOBODY)
    refused(install(link, profile), str(link), f"uid {NOBODY}")
    assert list((tmp_path / "target").iterdir()) == []


def test_state_dir_that_is_a_file_or_a_dangling_link(tmp_path: Path, profile: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("not a directory\n")
    refused(install(a_file, profile), str(a_file), "is not a directory")
    refused(cli(a_file, "status"), "is not a directory")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    refused(install(dangling, profile), str(dangling), "dangling symbolic link")
    refused(cli(dangling, "passwords", "set", "x_password", stdin="secret-value\n"), "dangling symbolic link")
    assert not (tmp_path / "nowhere").exists()


def test_planted_engine_lock_link_is_not_followed(tmp_path: Path, profile: Path) -> None:
    state, victim = tmp_path / "state", tmp_path / "victim"
    state.mkdir(mode=0o700)
    victim.write_text("precious\n")
    (state / "engine.lock").symlink_to(victim)
    refused(install(state, profile), "engine.lock", "symbolic link")
    assert victim.read_text() == "precious\n"


def test_planted_runs_link_is_not_followed(tmp_path: Path, profile: Path) -> None:
    state, elsewhere = tmp_path / "state", tmp_path / "elsewhere"
    state.mkdir(mode=0o700)
    elsewhere.mkdir()
    (state / "runs").symlink_to(elsewhere)
    refused(install(state, profile), str(state / "runs"), "symbolic link", "remove it")
    assert list(elsewhere.iterdir()) == []


def test_planted_last_run_and_keyring_links_are_not_followed(tmp_path: Path, profile: Path) -> None:
    state, victim = tmp_path / "state", tmp_path / "victim"
    state.mkdir(mode=0o700)
    victim.write_text("precious\n")
    (state / "last-run").symlink_to(victim)
    assert StateDir.open(state).last_run() is None  # not read through the link
    assert install(state, profile).returncode == 0  # and replaced, not written through
    assert victim.read_text() == "precious\n" and not (state / "last-run").is_symlink()
    (state / "keyring.cfg").symlink_to(victim)
    refused(cli(state, "passwords", "set", "x_password", stdin="secret-value\n"), "keyring.cfg", "symbolic link")
    assert victim.read_text() == "precious\n"


def test_keyring_that_is_a_directory(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "keyring.cfg").mkdir(parents=True)
    state.chmod(0o700)
    started = time.monotonic()
    line = refused(cli(state, "passwords", "set", "x_password", stdin="secret-value\n"), "keyring.cfg", "a folder")
    assert "move it away" in line
    assert time.monotonic() - started < 5


def test_the_tui_refuses_a_keyring_folder_before_it_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui_installer.screens import app

    def started(self: object) -> int:
        raise AssertionError("the TUI started on a state directory it cannot use")

    monkeypatch.setattr(app.InstallerApp, "run", started)
    state = tmp_path / "state"
    (state / "keyring.cfg").mkdir(parents=True)
    state.chmod(0o700)
    with pytest.raises(UserError, match="keyring.cfg is a folder, not a file"):
        app.run_tui(argparse.Namespace(state_dir=str(state)))


def test_status_reads_a_read_only_state_dir(read_only_dir: Path) -> None:
    """A read-only copy can still be looked at: status says there is no run, exits 0, creates nothing."""
    done = cli(read_only_dir, "status")
    assert (done.returncode, done.stderr, done.stdout) == (0, "", f"no runs in {read_only_dir}\n")
    assert list(read_only_dir.iterdir()) == []


@pytest.fixture
def read_only_dir(tmp_path: Path):
    mount = tmp_path / "ro"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_state_dir_on_a_read_only_filesystem(read_only_dir: Path, profile: Path) -> None:
    refused(install(read_only_dir, profile), str(read_only_dir), "read-only filesystem")
    refused(install(read_only_dir / "state", profile), "cannot create the state directory", "Read-only")


def test_open_refuses_in_process_too(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o777)
    with pytest.raises(UserError, match="writable by group or others"):
        StateDir.open(state)
