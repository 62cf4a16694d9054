"""TUI benchmark: key-to-screen latency while a step floods its output vs while it is idle, RSS of the
engine + TUI, and cold start to the first screen. Not a timed test: prints a table.

The TUI runs for real in a pty at 80x24 (pexpect), started as an operator would start it
(`tui-installer -a ANSWERS --start`); it starts the engine detached. A "key-to-screen" sample is the
time from writing F1 to the pty until the help dialog's title arrives in the terminal output.

    .venv/bin/python bench/tui.py [--samples 30] [--cold 5] [--floods 2] [--tui-nice N] [--reader-nice N]

The TUI raises its own session's CPU priority (tui_installer/priority.py); ``TUI_INSTALLER_NICE=0`` in the
environment measures it without. ``--tui-nice N`` renices the TUI (every thread, and its session's
autogroup, which is what the kernel weighs against the steps' sessions when autogroup is on) once the
engine it started runs. ``--reader-nice N`` sets this benchmark's own session's autogroup: the process
reading the terminal stands for the operator's terminal or sshd, which compete for the cores too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pexpect
import psutil

from tui_installer import priority
from tui_installer.statedir import StateDir

SCRIPT = str(Path(sys.executable).parent / "tui-installer")
F1 = "\x1bOP"
PROFILE = """\
name: tuibench
description: one step that floods its output, one that sleeps
services: [bench{more}]
service_definitions:
  bench:
    settings: {{work: {work}}}
    phases:
      install:
        - name: idle
          description: silent until told to stop
          run: "while [ ! -e {{{{ work }}}}/stop-idle ]; do sleep 0.2; done"
          timeout: 600
        - name: flood
          description: print 2M lines of 100 bytes, again and again until told to stop
          run: "while [ ! -e {{{{ work }}}}/stop-flood ]; do seq -f '%0100g' 1 2000000; done"
          timeout: 600
"""
#: ``--floods 2``: a second flood, in a service of its own, beside the first (steps run at once)
SECOND = """\
  bench2:
    settings: {{work: {work}}}
    phases:
      install:
        - name: flood2
          description: the same flood, at the same time as bench's
          run: "while [ ! -e {{{{ work }}}}/stop-flood ]; do seq -f '%0100g' 1 2000000; done"
          timeout: 600
          after: [bench.install.idle]
"""


def setup(root: Path, floods: int = 1) -> tuple[Path, Path, Path]:
    state, work = root / "state", root / "work"
    state.mkdir(mode=0o700)
    work.mkdir()
    text = PROFILE.format(work=work, more=", bench2" if floods > 1 else "")
    (root / "profile.yaml").write_text(text + (SECOND.format(work=work) if floods > 1 else ""))
    answers = root / "answers.yaml"
    answers.write_text(f"profile: {root / 'profile.yaml'}\n")
    passphrase = root / "passphrase"
    passphrase.write_text("bench-passphrase-123\n")
    passphrase.chmod(0o600)
    return state, work, answers


def spawn(args: list[str]) -> pexpect.spawn:
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    child = pexpect.spawn(SCRIPT, args, env=env, dimensions=(24, 80), encoding="utf-8",
                          codec_errors="replace", timeout=60)
    child.delaybeforesend = None  # pexpect sleeps 50 ms before every send by default
    return child


def latency(tui: pexpect.spawn, samples: int) -> list[float]:
    """Seconds from F1 to the help dialog's title on the terminal; the dialog is closed after each."""
    found = []
    for _ in range(samples):
        drain(tui)
        start = time.perf_counter()
        tui.send(F1)
        tui.expect("Keys", timeout=10)
        found.append(time.perf_counter() - start)
        time.sleep(0.05)
        tui.send("q")
        time.sleep(0.3)
    return found


def drain(tui: pexpect.spawn) -> None:
    try:
        while True:
            tui.read_nonblocking(1 << 16, timeout=0.05)
    except (pexpect.TIMEOUT, pexpect.EOF):
        pass


def current_step(state: Path) -> tuple[str | None, int | None]:
    run = StateDir(state).last_run()
    if run is None:
        return None, None
    journal = run.journal()
    running = [s for s, r in journal.steps.items() if r.status == "running"]
    return (running[0] if running else None), journal.pid


def wait_step(state: Path, step: str, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            current, pid = current_step(state)
        except (OSError, ValueError, KeyError, TypeError):
            current, pid = None, None
        if current == step and pid:
            return pid
        time.sleep(0.1)
    raise SystemExit(f"step {step} never started")


def wait_finished(state: Path, timeout: float = 60) -> None:
    run = StateDir(state).last_run()
    assert run is not None, f"no run in {state}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run.journal().state != "running":
            return
        time.sleep(0.1)


def rss(pid: int) -> int:
    """RSS of one process (the engine, or the TUI): the step's own processes are the workload."""
    return int(psutil.Process(pid).memory_info().rss)


def renice(pid: int, nice: int) -> None:
    """Every thread of ``pid`` and its autogroup (root only for a negative value)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.setpriority(os.PRIO_PROCESS, int(task.name), nice)
    autogroup(nice, Path(f"/proc/{pid}/autogroup"))


def autogroup(nice: int, path: Path = priority.AUTOGROUP) -> None:
    """Set a session's autogroup nice as the TUI does; a run that could not is not the run it says."""
    if not priority.set_nice(nice, path):
        raise SystemExit(f"{path}: cannot set nice {nice} (root, and a kernel with autogroup, are needed)")


def measure_run(root: Path, samples: int, floods: int = 1, nice: int | None = None) -> dict[str, object]:
    """Idle step first (a clean baseline), then the flood (or two at once), in one run of one TUI."""
    state, work, answers = setup(root, floods)
    os.environ["TUI_INSTALLER_JOBS"] = str(floods)  # the engine the TUI starts inherits it
    tui = spawn(["--state-dir", str(state), "-a", str(answers), "--start",
                 "--keyring-passphrase-file", str(root / "passphrase")])
    engine = wait_step(state, "bench.install.idle")
    time.sleep(2)
    if nice is not None:
        renice(tui.pid, nice)
    cpu0, t0 = cpu_seconds(tui.pid), time.monotonic()
    idle = latency(tui, samples)
    tui_cpu_idle = (cpu_seconds(tui.pid) - cpu0) / (time.monotonic() - t0) * 100
    rss_idle = rss(engine) + rss(tui.pid)
    (work / "stop-idle").touch()
    wait_step(state, "bench.install.flood")
    time.sleep(2)
    cpu0 = cpu_seconds(tui.pid)
    time.sleep(5)  # no keys: what following the flood alone costs the TUI
    tui_cpu_watch = (cpu_seconds(tui.pid) - cpu0) / 5 * 100
    run = StateDir(state).last_run()
    assert run is not None, f"no run in {state}"
    log = run.logs / "bench.install.flood.log"
    size0, t0, cpu0 = log.stat().st_size, time.monotonic(), cpu_seconds(tui.pid)
    busy = latency(tui, samples)
    elapsed = time.monotonic() - t0
    rate = (log.stat().st_size - size0) / elapsed / 1e6
    tui_cpu_busy = (cpu_seconds(tui.pid) - cpu0) / elapsed * 100
    rss_busy = rss(engine) + rss(tui.pid)
    (work / "stop-flood").touch()
    wait_finished(state)
    time.sleep(1)  # the TUI may see run_finished a moment after the journal says so
    tui.sendcontrol("q")
    if tui.expect([pexpect.EOF, "Quit the TUI"], timeout=30) == 1:
        tui.send("y")
        tui.expect(pexpect.EOF, timeout=30)
    return {"busy": busy, "idle": idle, "rss_busy": rss_busy, "rss_idle": rss_idle, "mb_s": rate,
            "cpu_busy": tui_cpu_busy, "cpu_idle": tui_cpu_idle, "cpu_watch": tui_cpu_watch}


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def cold_start(root: Path, runs: int) -> list[float]:
    times = []
    for i in range(runs):
        state = root / f"cold{i}"
        start = time.perf_counter()
        tui = spawn(["--state-dir", str(state)])
        tui.expect("Step 1/6: Host check", timeout=30)
        times.append(time.perf_counter() - start)
        tui.sendcontrol("q")
        tui.expect(pexpect.EOF, timeout=10)
    return times


def stats(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"median {statistics.median(values) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--cold", type=int, default=5)
    parser.add_argument("--floods", type=int, choices=(1, 2), default=1,
                        help="2: two steps flood their output at once (--jobs 2)")
    parser.add_argument("--tui-nice", type=int, default=None,
                        help="renice the TUI alone (threads and autogroup) once its engine runs")
    parser.add_argument("--reader-nice", type=int, default=None,
                        help="this benchmark's own session's autogroup nice (the terminal's reader)")
    args = parser.parse_args()
    if args.reader_nice is not None:
        autogroup(args.reader_nice)
    with tempfile.TemporaryDirectory(prefix="tui-bench-") as tmp:
        result = measure_run(Path(tmp), args.samples, args.floods, args.tui_nice)
        cold = cold_start(Path(tmp), args.cold)
    load = os.getloadavg()[0]
    print(f"# TUI benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {load:.1f}"
          + (f", TUI reniced to {args.tui_nice}" if args.tui_nice is not None else "")
          + (f", reader at {args.reader_nice}" if args.reader_nice is not None else "")
          + (f", TUI_INSTALLER_NICE={os.environ['TUI_INSTALLER_NICE']}" if "TUI_INSTALLER_NICE" in os.environ else ""))
    print(f"key-to-screen, step idle:          {stats(result['idle'])}"  # type: ignore[arg-type]
          f" (TUI CPU {result['cpu_idle']:.0f}%)")
    print(f"key-to-screen, {args.floods} step(s) flooding: {stats(result['busy'])}"  # type: ignore[arg-type]
          f" (TUI CPU {result['cpu_busy']:.0f}%; the step relayed {result['mb_s']:.0f} MB/s to its log)")
    print(f"TUI CPU while it only watches the flood: {result['cpu_watch']:.0f}%")
    print(f"engine + TUI RSS, flooding / idle: {result['rss_busy'] / 2**20:.0f} MB / "  # type: ignore[operator]
          f"{result['rss_idle'] / 2**20:.0f} MB")  # type: ignore[operator]
    print(f"cold start to the first screen:    {stats(cold)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
