"""The headless install through the real CLI, real executor, real keyring: the demo profile, redaction,
re-run as all-skipped, resume after a real ``kill -9``, and clear errors for bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

PASSWORD = "Known-Test-Passw0rd-4f9c"
PASSPHRASE = "test-keyring-passphrase"


def cli(*args: str, state: Path, env: dict[str, str] | None = None, stdin: str | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "TUI_INSTALLER_KEYRING_PASSPHRASE": PASSPHRASE, **(env or {})}
    return subprocess.run([sys.executable, "-m", "tui_installer", "--state-dir", str(state), *args],
                          input=stdin, capture_output=True, text=True, env=full_env, timeout=timeout)


def artefacts(state: Path) -> list[Path]:
    return [p for p in state.rglob("*") if p.is_file()]


@pytest.fixture
def demo_clean():
    marker = Path("/tmp/hello-marker")
    marker.unlink(missing_ok=True)
    yield marker
    marker.unlink(missing_ok=True)


def test_demo_installs_reruns_all_skipped_and_never_leaks(tmp_path, demo_clean):
    state = tmp_path / "state"
    stored = cli("passwords", "set", "hello_password", state=state, stdin=PASSWORD + "\n")
    assert stored.returncode == 0, stored.stderr
    first = cli("install", "-p", "demo", "--yes", state=state)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "ok   hello.start.ask" in first.stdout
    run = (state / "last-run").read_text().strip()
    log = (state / "runs" / run / "logs" / "hello.verify.redacted.log").read_text()
    assert "hi, the password is ***" in log, log
    assert demo_clean.exists()
    assert oct(state.stat().st_mode & 0o777) == "0o700"

    again = cli("install", "-p", "demo", "--yes", state=state)
    assert again.returncode == 0, again.stderr
    assert "ok   " not in again.stdout
    assert "skip hello.start.ask (done in an earlier run)" in again.stdout

    for path in artefacts(state):
        assert PASSWORD.encode() not in path.read_bytes(), f"password leaked into {path}"
        assert PASSPHRASE.encode() not in path.read_bytes(), f"passphrase leaked into {path}"
        if True:  # every artefact: logs, journal, events, plan, keyring
            assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
    assert PASSWORD not in first.stdout + first.stderr + again.stdout + again.stderr


def test_wrong_password_fails_naming_the_step_and_log(tmp_path, demo_clean):
    state = tmp_path / "state"
    cli("passwords", "set", "hello_password", state=state, stdin=PASSWORD + "\n")
    demo = (Path(__file__).parents[1] / "profiles" / "demo.yaml").read_text()
    profile = write_profile(tmp_path, demo.replace('\\"$HELLO_EXPECTED\\"', '\\"something-else\\"'))
    assert "something-else" in profile.read_text()
    result = cli("install", "-p", str(profile), "--yes", state=state)
    assert result.returncode == 1
    assert "FAIL hello.start.ask" in result.stdout
    assert "log: " in result.stdout and "hello.start.ask.log" in result.stdout
    status = cli("status", state=state)
    assert "failed" in status.stdout and "hello.start.ask" in status.stdout


def write_profile(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_resume_after_kill_9_mid_step(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    profile = write_profile(tmp_path, f"""
        name: killme
        description: resume after a kill
        services: [k]
        service_definitions:
          k:
            phases:
              install:
                - name: first
                  run: "echo once >> {work}/first.log"
                - name: slow
                  run: "if [ -f {work}/slow.started ]; then exit 0; fi; touch {work}/slow.started; sleep 60"
                - name: last
                  run: "touch {work}/last"
        """)
    state = tmp_path / "state"
    env = {**os.environ, "TUI_INSTALLER_KEYRING_PASSPHRASE": PASSPHRASE}
    proc = subprocess.Popen([sys.executable, "-m", "tui_installer", "--state-dir", str(state), "install",
                             "-p", str(profile), "--yes"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for(lambda: (work / "slow.started").exists())

    def slow_is_running() -> bool:
        run = (state / "last-run").read_text().strip()
        steps = json.loads((state / "runs" / run / "journal.json").read_text())["steps"]
        return steps["k.install.slow"]["status"] == "running"

    wait_for(slow_is_running, timeout=5)  # a running step reaches the journal within the ticker's period
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)

    run_id = (state / "last-run").read_text().strip()
    journal = json.loads((state / "runs" / run_id / "journal.json").read_text())  # consistent JSON
    assert journal["steps"]["k.install.first"]["status"] == "ok"
    assert journal["steps"]["k.install.slow"]["status"] == "running"
    status = cli("status", state=state)
    assert "interrupted" in status.stdout

    resumed = cli("install", "-p", str(profile), "--yes", state=state)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "skip k.install.first (done in an earlier run)" in resumed.stdout
    assert "ok   k.install.slow" in resumed.stdout
    assert (work / "first.log").read_text() == "once\n"
    assert (work / "last").exists()


BAD_INPUTS = {
    "malformed": ("name: x\nservices: [a\n", "malformed YAML"),
    "unknown_key": ("name: x\nservices: [mariadb]\ncolour: blue\n", "colour"),
    "wrong_type": ("name: x\nservices: mariadb\n", "services"),
    "unknown_service": ("name: x\nservices: [nosuch]\n", "nosuch"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_profile_is_one_clear_line_exit_2(tmp_path, case):
    body, expected = BAD_INPUTS[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(body)
    result = cli("plan", "-p", str(path), state=tmp_path / "state")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and expected.lower() in lines[0].lower()


def test_bad_flags_are_clear(tmp_path):
    state = tmp_path / "state"
    for args, expected in [(("plan",), "no profile given"), (("plan", "-p", "no-such-preset"), "no-such-preset"),
                           (("plan", "-p", "demo", "--set", "nokey"), "KEY=VALUE"),
                           (("install", "-p", "demo", "--yes", "--on-failure", "often"), "--on-failure")]:
        result = cli(*args, state=state)
        assert result.returncode == 2, (args, result.stderr)
        assert expected in result.stderr and "Traceback" not in result.stderr


def test_install_without_passphrase_and_terminal_does_not_hang(tmp_path, demo_clean):
    env = {k: v for k, v in os.environ.items() if k != "TUI_INSTALLER_KEYRING_PASSPHRASE"}
    result = subprocess.run([sys.executable, "-m", "tui_installer", "--state-dir", str(tmp_path / "s"),
                             "install", "-p", "demo", "--yes"], capture_output=True, text=True, env=env,
                            stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 2
    assert "passphrase" in result.stderr.lower() and "Traceback" not in result.stderr


def test_profiles_lists_presets(tmp_path):
    result = cli("profiles", state=tmp_path / "state")
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert {"all-in-one", "compute-only", "demo"} <= set(names)


def test_steps_never_see_the_keyring_passphrase(tmp_path):
    profile = write_profile(tmp_path, """
        name: peek
        description: a step that prints its environment
        services: [p]
        service_definitions:
          p:
            phases:
              install:
                - name: env
                  run: "env; echo passphrase=$TUI_INSTALLER_KEYRING_PASSPHRASE"
        """)
    state = tmp_path / "state"
    result = cli("install", "-p", str(profile), "--yes", state=state)
    assert result.returncode == 0, result.stderr
    for path in artefacts(state):
        assert PASSPHRASE.encode() not in path.read_bytes(), f"passphrase reached {path}"
    assert "passphrase=\n" in next(state.rglob("p.install.env.log")).read_text().replace("\r", "")


def test_uninstall_without_profile_removes_what_was_installed_with_its_settings(tmp_path):
    marker = tmp_path / "chosen-marker"
    profile = write_profile(tmp_path, f"""
        name: un
        description: uninstall takes the last install's choices
        services: [u]
        settings: {{where: {tmp_path}/default-marker}}
        service_definitions:
          u:
            phases:
              install:
                - name: touch
                  run: "touch {{{{ where }}}}"
              stop:
                - name: rm
                  run: "rm {{{{ where }}}}"
        """)
    state = tmp_path / "state"
    assert cli("uninstall", "--yes", state=state).returncode == 2  # nothing installed: asks for -p
    ok = cli("install", "-p", str(profile), "--set", f"where={marker}", "--yes", state=state)
    assert ok.returncode == 0 and marker.exists(), ok.stdout + ok.stderr
    removed = cli("uninstall", "--yes", state=state)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert "uninstalling what run" in removed.stdout and not marker.exists()


def test_readme_demo_profile_is_the_shipped_one() -> None:
    """The README shows the demo profile as a user runs it: the block must be the file, to the byte."""
    root = Path(__file__).parents[1]
    readme = (root / "README.md").read_text()
    start = readme.index("```yaml\nname: demo\n") + len("```yaml\n")
    block = readme[start:readme.index("```", start)]
    assert block == (root / "profiles" / "demo.yaml").read_text()
