"""The real pexpect executor against small real scripts (tests/scripts/) and inline bash."""

from __future__ import annotations

import os
import signal
import stat
import sys
import threading
import time
from pathlib import Path

import pexpect
import psutil
import pytest

from tui_installer import proctree
from tui_installer.executor import Executor, MissingSecretError, Result, run_check
from tui_installer.model import Prompt, Step

SCRIPTS = Path(__file__).parent / "scripts"
SECRET = "Tr0ub4dor&3-horse/staple"


def step(cmd: str | list[str], **kw) -> Step:
    argv = ("bash", "-c", cmd) if isinstance(cmd, str) else tuple(cmd)
    return Step(id="test.install.x", service="test", phase="install", name="x", argv=argv,
                shell=cmd if isinstance(cmd, str) else None, **kw)


def run(tmp_path: Path, s: Step, secrets: dict[str, str] | None = None, **kw) -> tuple[Result, list[str]]:
    lines: list[str] = []
    kw.setdefault("on_output", lines.append)
    result = Executor(kill_grace=1.0).run(s, secrets=secrets or {}, log_path=tmp_path / "step.log", **kw)
    return result, lines


def gone(pid: int) -> bool:
    try:
        return not proctree.running(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return True


def test_prompt_answered_from_secret(tmp_path: Path) -> None:
    s = step([str(SCRIPTS / "ask_password.sh")], secret_env={"EXPECTED": "pw"},
             prompts=(Prompt(expect=r"Password:", secret="pw"),))
    result, lines = run(tmp_path, s, {"pw": SECRET})
    assert result.ok, result
    assert lines[-1] == "Password: welcome"


def test_prompt_answered_with_literal(tmp_path: Path) -> None:
    s = step("printf 'Continue? [y/N] '; read -r a; [ \"$a\" = y ] && echo yes-given",
             prompts=(Prompt(expect=r"\[y/N\]", answer="y"),))
    result, lines = run(tmp_path, s)
    assert result.ok and lines == ["Continue? [y/N] yes-given"]


def test_wrong_answer_is_a_failure_not_a_hang(tmp_path: Path) -> None:
    s = step([str(SCRIPTS / "ask_password.sh")], env={"EXPECTED": "the-right-one"}, timeout=60,
             prompts=(Prompt(expect=r"Password:", secret="pw"),))
    result, lines = run(tmp_path, s, {"pw": SECRET})
    assert not result.ok and result.answered_wrong
    assert not result.timed_out and result.duration < 30, "hung: the wrong answer was not detected (timeout 60)"
    assert lines.count("Password: Sorry, try again.") == 3  # answered 3 times, the 4th prompt stops it
    assert gone(result.pid)


def test_overall_timeout(tmp_path: Path) -> None:
    result, lines = run(tmp_path, step("echo started; sleep 30", timeout=0.5))
    assert result.timed_out == "overall" and not result.ok
    assert 0.5 <= result.duration < 20, "hung: the 0.5 s timeout did not stop `sleep 30`"
    assert lines == ["started"] and result.signal == signal.SIGTERM


def test_idle_timeout_and_output_keeps_a_step_alive(tmp_path: Path) -> None:
    result, _ = run(tmp_path, step("echo hi; sleep 30", idle_timeout=0.5))
    assert result.timed_out == "idle" and 0.5 <= result.duration < 20, "hung past the idle timeout"
    # ticks 0.2 s apart keep alive a step whose idle timeout is 1.5 s (7x the gap: a loaded machine may delay
    # a tick, not by that much), and the step lasts past that timeout
    busy = "for i in 1 2 3 4 5 6 7 8 9 10; do echo tick $i; sleep 0.2; done"
    result, lines = run(tmp_path, step(busy, idle_timeout=1.5))
    assert result.ok and len(lines) == 10 and result.duration > 1.5


@pytest.mark.parametrize("code", [0, 1, 3, 100, 255])
def test_exit_codes(tmp_path: Path, code: int) -> None:
    result, _ = run(tmp_path, step(f"exit {code}"))
    assert result.exit_code == code and result.signal is None and result.ok == (code == 0)


def test_command_not_found(tmp_path: Path) -> None:
    result, _ = run(tmp_path, step("no-such-command-xyz"))
    assert result.exit_code == 127
    assert any("no-such-command-xyz" in x and "not found" in x for x in result.tail)
    result, _ = run(tmp_path, step(["/no/such/binary"]))
    assert result.exit_code == 127 and result.error and result.pid is None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGSEGV])
def test_killed_by_signal_is_recorded(tmp_path: Path, sig: signal.Signals) -> None:
    result, _ = run(tmp_path, step(f"echo bye; kill -{int(sig)} $$"))
    assert result.signal == sig and result.exit_code is None and not result.ok


def runaway_pids(path: Path) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in path.read_text().splitlines())}


def start_in_thread(tmp_path: Path, s: Step, ready: str = "ready", secrets: dict[str, str] | None = None):
    seen = threading.Event()
    cancel = threading.Event()
    box: dict[str, Result] = {}

    def on_output(line: str) -> None:
        if line == ready:
            seen.set()

    def target() -> None:
        box["r"] = Executor(kill_grace=1.0).run(s, secrets=secrets or {}, log_path=tmp_path / "s.log",
                                                on_output=on_output, cancel=cancel)

    thread = threading.Thread(target=target)
    thread.start()
    if not seen.wait(10):
        cancel.set()  # never leave the step (and this thread) running: pytest would wait for it at exit
        thread.join(30)
        pytest.fail("the script never got ready")
    return thread, cancel, box


def test_cancel_kills_setsid_nohup_and_double_forked_grandchildren(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    thread, cancel, box = start_in_thread(tmp_path, step([str(SCRIPTS / "runaway.sh"), str(pids_file)]))
    try:
        pids = runaway_pids(pids_file)
        assert set(pids) == {"setsid", "nohup", "double"}
        # it leaves the step's session: `setsid` calls setsid() a moment after the shell started it (under
        # load, after the script said "ready"), so wait for it
        deadline = time.monotonic() + 30
        while os.getsid(pids["setsid"]) != pids["setsid"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert os.getsid(pids["setsid"]) == pids["setsid"]
        assert not any(gone(p) for p in pids.values())
    finally:
        t0 = time.monotonic()
        cancel.set()
        thread.join(15)
    assert not thread.is_alive()
    result = box["r"]
    assert result.cancelled and not result.ok
    assert time.monotonic() - t0 < 20, "hung: cancel did not end the step's tree"
    assert [name for name, pid in pids.items() if not gone(pid)] == []
    assert gone(result.pid)


def test_timeout_kills_the_tree_too(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    result, _ = run(tmp_path, step([str(SCRIPTS / "runaway.sh"), str(pids_file)], timeout=1.5))
    assert result.timed_out == "overall"
    assert all(gone(pid) for pid in runaway_pids(pids_file).values())


def test_a_daemon_started_by_a_successful_step_survives(tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"
    # (the short sleep lets setsid leave the pty's session: a process still in it gets SIGHUP when
    # the session leader exits, as on any terminal)
    result, _ = run(tmp_path, step(f"setsid sleep 1000 >/dev/null 2>&1 </dev/null & echo $! > {pid_file}; "
                                   "sleep 0.2"))
    pid = int(pid_file.read_text())
    try:
        assert result.ok
        time.sleep(0.3)
        assert not gone(pid)
    finally:
        os.kill(pid, signal.SIGKILL)


def test_one_megabyte_with_redraws_and_invalid_utf8(tmp_path: Path) -> None:
    n = 13_000  # about 1.3 MB written, 1.08 MB after the redraws are reduced
    result, lines = run(tmp_path, step([sys.executable, str(SCRIPTS / "noisy.py"), str(n)]))
    assert result.ok and result.lines == n and len(lines) == n
    assert lines[0] == "line 0 done" and lines[12990] == "line 12990 done"
    assert lines[7] == "line 7 bad \ufffd\ufffd\ufffd( end"
    assert lines[1] == "line 1 " + "x" * 90
    log = (tmp_path / "step.log").read_text(encoding="utf-8")
    body = log.splitlines()[1:-1]  # the command header and the exit footer
    assert body == lines
    assert "10%" not in log and "\r" not in log
    assert (tmp_path / "step.log").stat().st_size > 1_000_000


def test_long_line_is_cut_and_continues(tmp_path: Path) -> None:
    size = 300_000
    result, lines = run(tmp_path, step(f"head -c {size} /dev/zero | tr '\\0' a; echo; echo after"))
    assert result.ok and lines[-1] == "after"
    pieces = lines[:-1]
    assert "".join(pieces) == "a" * size and max(map(len, pieces)) <= 64 * 1024
    assert result.tail[-1] == "after" and result.tail[0] == "a" * 4096 + " [...]"  # the tail stays small


def test_ansi_escapes_are_dropped(tmp_path: Path) -> None:
    result, lines = run(tmp_path, step(r"printf '\033[1;31mred\033[0m plain\033]0;title\007\n'"))
    assert lines == ["red plain"]


def test_secret_never_reaches_log_output_or_tail(tmp_path: Path) -> None:
    from urllib.parse import quote

    # echoed by the prompt script, printed from the environment, URL-quoted, and dribbled out one
    # character at a time so that it spans several reads
    script = (f"{SCRIPTS / 'ask_password.sh'}; echo \"env: $DB_PASSWORD\"; "
              f"echo 'url: mysql://u:{quote(SECRET, safe='')}@db/x'; "
              "for ((i=0; i<${#DB_PASSWORD}; i++)); do printf %s \"${DB_PASSWORD:i:1}\"; sleep 0.01; done; "
              "echo; exit 1")
    s = step(script, env={"ECHO_BACK": "1"}, secret_env={"EXPECTED": "pw", "DB_PASSWORD": "pw"},
             prompts=(Prompt(expect="Password:", secret="pw"),))
    result, lines = run(tmp_path, s, {"pw": SECRET})
    assert result.exit_code == 1
    assert "Password: you typed: ***" in lines and "env: ***" in lines and "***" in lines
    assert "url: mysql://u:***@db/x" in lines
    log = (tmp_path / "step.log").read_bytes()
    for form in (SECRET, quote(SECRET, safe="")):
        assert form.encode() not in log
        assert not any(form in x for x in lines + result.tail)


def test_secret_is_not_in_any_argv(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    s = step(f"echo $$ > {pids_file}; sleep 30 & wait_pid=$!; echo ready; wait $wait_pid",
             secret_env={"DB_PASSWORD": "pw"})
    thread, cancel, box = start_in_thread(tmp_path, s, secrets={"pw": SECRET})
    try:
        shell = int(pids_file.read_text())
        procs = [psutil.Process(shell)] + psutil.Process(shell).children(recursive=True)
        assert len(procs) >= 2
        for proc in procs:
            cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
            assert SECRET.encode() not in cmdline
        # the secret did reach the process, through its environment
        assert proc.environ()["DB_PASSWORD"] == SECRET  # noqa: B023 - the last child
    finally:
        cancel.set()
        thread.join(10)


def test_log_file_is_created_0600_and_reset_to_0600(tmp_path: Path) -> None:
    result, _ = run(tmp_path, step("echo hi"))
    assert stat.S_IMODE((tmp_path / "step.log").stat().st_mode) == 0o600
    (tmp_path / "step.log").chmod(0o644)
    run(tmp_path, step("echo again"))
    assert stat.S_IMODE((tmp_path / "step.log").stat().st_mode) == 0o600
    assert (tmp_path / "step.log").read_text().count("$ echo") == 2  # appended: one log per step


def test_missing_secret_is_refused_before_running(tmp_path: Path) -> None:
    with pytest.raises(MissingSecretError):
        run(tmp_path, step("touch x", secret_env={"P": "absent"}, cwd=str(tmp_path)))
    assert not (tmp_path / "x").exists()


def test_quiet_defaults_step_env_and_cwd(tmp_path: Path) -> None:
    """The engine's variables (extra_env) reach the step; the step's own env wins over them."""
    result, lines = run(tmp_path, step('echo "$DEBIAN_FRONTEND $PIP_PROGRESS_BAR $MINE $X $(pwd)"',
                                       env={"MINE": "mine"}, cwd=str(tmp_path)),
                        extra_env={"X": "from-engine", "MINE": "overridden"})
    assert lines == [f"noninteractive off mine from-engine {tmp_path}"]


def test_broken_listener_does_not_break_the_step(tmp_path: Path) -> None:
    def boom(line: str) -> None:
        raise RuntimeError("listener bug")

    result, _ = run(tmp_path, step("echo a; echo b"), on_output=boom)
    assert result.ok and result.tail == ["a", "b"]


def test_on_lines_gets_blocks(tmp_path: Path) -> None:
    blocks: list[list[str]] = []
    result, _ = run(tmp_path, step("seq 1 5000"), on_output=None, on_lines=blocks.append)
    assert [x for b in blocks for x in b] == [str(i) for i in range(1, 5001)]
    assert len(blocks) < 5000 and result.tail[-1] == "5000" and len(result.tail) == 30


def test_run_check(tmp_path: Path) -> None:
    assert run_check("true") and not run_check("false")
    assert run_check(["test", "-d", str(tmp_path)])
    assert run_check('[ "$V" = yes ]', env={"V": "yes"})
    t0 = time.monotonic()
    marker = tmp_path / "child.pid"
    assert not run_check(f"setsid sleep 100 & echo $! > {marker}; wait", timeout=0.5)
    assert time.monotonic() - t0 < 20, "hung: the check's timeout did not end `sleep 100`"
    assert gone(int(marker.read_text()))


def test_a_real_terminal_with_controlling_tty(tmp_path: Path) -> None:
    # sudo-like programs read the answer from /dev/tty, not stdin: that needs a controlling terminal
    s = step('tty; [ -t 0 ] && [ -t 1 ] && echo tty-ok; printf "Secret: " > /dev/tty; '
             'read -r x < /dev/tty; [ "$x" = "$EXPECT" ] && echo got-it; stty size',
             env={"EXPECT": "from-tty"}, prompts=(Prompt(expect="Secret:", answer="from-tty"),))
    result, lines = run(tmp_path, s)
    assert result.ok, lines
    assert lines[0].startswith("/dev/pts/") and lines[1] == "tty-ok"
    assert lines[2] == "Secret: got-it"  # the answer itself is not echoed
    assert lines[3] == "50 200"


def test_sigpipe_behaves_as_in_a_shell(tmp_path: Path) -> None:
    result, lines = run(tmp_path, step("yes | head -n 2; echo ${PIPESTATUS[0]}"))
    assert lines == ["y", "y", "141"]  # yes died of SIGPIPE, quietly


def test_the_command_is_found_in_the_steps_path(tmp_path: Path) -> None:
    bin_dir = tmp_path / "venv-bin"
    bin_dir.mkdir()
    tool = bin_dir / "my-tool"
    tool.write_text("#!/bin/sh\necho from-my-tool\n")
    tool.chmod(0o755)
    s = step(["my-tool"], env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    result, lines = run(tmp_path, s)
    assert result.ok and lines == ["from-my-tool"]
    tool.chmod(0o644)
    result, _ = run(tmp_path, step([str(tool)]))
    assert result.exit_code == 126 and result.error


def test_prompt_split_across_reads_and_two_prompts_in_order(tmp_path: Path) -> None:
    script = ('printf "User"; sleep 0.2; printf "name: "; read -r u; '
              'printf "Pass"; sleep 0.2; printf "word: "; read -r p; echo "$u/$p"')
    s = step(script, prompts=(Prompt(expect="Username:", answer="admin"),
                              Prompt(expect="Password:", secret="pw")))
    result, lines = run(tmp_path, s, {"pw": SECRET})
    assert result.ok and lines == ["Username: Password: admin/***"]


def test_a_step_that_closed_its_output_still_times_out(tmp_path: Path) -> None:
    result, lines = run(tmp_path, step("echo bye; exec >/dev/null 2>&1 </dev/null; sleep 30", timeout=1))
    assert result.timed_out == "overall" and lines == ["bye"]
    assert result.duration < 20, "hung: a step with its output closed ran past its timeout"
    assert gone(result.pid)


def test_a_process_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "stubborn.pid"
    s = step(f"bash -c 'trap \"\" TERM; echo $$ > {pid_file}; while :; do sleep 0.1; done' & "
             "sleep 0.3; echo ready; wait", timeout=1.5)
    t0 = time.monotonic()
    result, lines = run(tmp_path, s)
    assert result.timed_out == "overall" and lines == ["ready"]
    assert time.monotonic() - t0 < 20, "hung: a child ignoring SIGTERM was not killed"
    assert gone(int(pid_file.read_text()))


def test_a_background_process_holding_the_pty_does_not_hold_the_step(tmp_path: Path) -> None:
    # it keeps the pty as stdout and ignores the hangup: the step still ends when bash does
    pid_file = tmp_path / "bg.pid"
    result, lines = run(tmp_path, step(f"(trap '' HUP; exec sleep 30) & echo $! > {pid_file}; echo done"))
    try:
        assert result.ok and "done" in lines
        assert result.duration < 20, "waited for the background `sleep 30` instead of ending with bash"
    finally:
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_apt_runs_quiet_and_assumes_yes(tmp_path: Path) -> None:
    result, lines = run(tmp_path, step("apt-config dump"))
    config = set(lines)
    assert result.ok
    assert 'APT::Get::Assume-Yes "true";' in config
    assert 'DPkg::Progress-Fancy "0";' in config or 'Dpkg::Progress-Fancy "0";' in config
    assert 'DPkg::Options:: "--force-confold";' in config


def test_an_invalid_prompt_pattern_is_a_failed_step_not_a_crash(tmp_path: Path) -> None:
    result, lines = run(tmp_path, step(f"touch {tmp_path}/ran", prompts=(Prompt(expect="([", answer="x"),)))
    assert not result.ok and result.exit_code == 2 and "invalid prompt pattern" in (result.error or "")
    assert not (tmp_path / "ran").exists() and lines == [result.error]


def test_a_secret_across_the_long_line_cut_is_masked(tmp_path: Path) -> None:
    # the secret straddles the 64 KiB cut of a line with no end
    pad = 64 * 1024 - 5
    s = step(f"head -c {pad} /dev/zero | tr '\\0' a; printf %s \"$PW\"; "
             "head -c 100000 /dev/zero | tr '\\0' b; echo", secret_env={"PW": "pw"})
    result, lines = run(tmp_path, s, {"pw": SECRET})
    assert result.ok
    joined = "".join(lines)
    assert joined == "a" * pad + "***" + "b" * 100000
    assert SECRET.encode() not in (tmp_path / "step.log").read_bytes()
    assert not any(SECRET[:5] in x for x in lines)


def test_a_leftover_process_printing_forever_does_not_hold_the_step(tmp_path: Path) -> None:
    pid_file = tmp_path / "chatty.pid"
    s = step(f"(trap '' HUP; while :; do echo chatter; done) & echo $! > {pid_file}; sleep 0.3; echo bye")
    try:
        result, lines = run(tmp_path, s)
        assert result.ok and "bye" in lines
        assert result.duration < 20, "hung on the background chatter instead of ending with bash"
    finally:
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_an_exception_in_the_loop_kills_the_step_and_propagates(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"

    class Boom(BaseException):
        pass

    def on_lines(lines: list[str]) -> None:
        if "ready" in lines:
            raise Boom  # not an Exception: a KeyboardInterrupt-like event, not a listener bug

    s = step(f"sleep 100 & echo $! > {pid_file}; echo ready; wait")
    with pytest.raises(Boom):
        Executor(kill_grace=1.0).run(s, secrets={}, log_path=tmp_path / "x.log", on_lines=on_lines)
    assert gone(int(pid_file.read_text()))


def test_the_pty_is_driven_by_pexpect_with_timeout_and_eof() -> None:
    from pexpect.fdpexpect import fdspawn

    from tui_installer import ptyspawn

    child = ptyspawn.spawn(["bash", "-c", "read -r x; echo got:$x; exit 3"], os.environ)
    try:
        assert isinstance(child.io, fdspawn) and child.io.encoding is None
        with pytest.raises(pexpect.TIMEOUT):
            child.io.read_nonblocking(100, 0.2)  # bash waits for its line
        assert child.send_line("hi")
        data = b""
        with pytest.raises(pexpect.EOF):  # not TIMEOUT: bash exits and the pty reports the end
            while True:
                data += child.io.read_nonblocking(100, 5)
        assert data == b"got:hi\n"  # no echo of the answer, no \r added
        deadline = time.monotonic() + 5
        while child.alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert child.exit_code == 3
    finally:
        child.close()


def test_the_keyring_passphrase_never_reaches_a_step(tmp_path, monkeypatch):
    from tui_installer.model import Step
    from tui_installer.statedir import PASSPHRASE_ENV

    monkeypatch.setenv(PASSPHRASE_ENV, "master-passphrase-in-env")
    step = Step(id="t.install.env", service="t", phase="install", name="env",
                argv=("bash", "-c", f'echo "seen=${{{PASSPHRASE_ENV}:-none}}"'))
    result = Executor().run(step, secrets={}, log_path=tmp_path / "env.log")
    assert result.ok
    log = (tmp_path / "env.log").read_text()
    assert "seen=none" in log and "master-passphrase-in-env" not in log
