"""Executor benchmark (not a test): run ``.venv/bin/python bench/executor.py [--mb 200] [--steps 300]``.

(a) 300 trivial steps through the engine vs the same commands in a plain bash loop: overhead per step
    (target <= 5 ms).
(b) a step printing 200 MB in ~2M lines, relayed to its log, vs ``cat FILE > /dev/null`` of the same
    file, vs a bare read loop on a pty (the kernel's ceiling) and vs pexpect read loops that do nothing
    with what they read (plain ``fdspawn``: a poll before every read; the executor's ``PtyIO``: read
    first): MB/s side by side, and the installer process's peak RSS (target >= 50 MB/s relayed,
    RSS <= 150 MB).

Both parts run in the same process, one after the other, on the same machine state. The input file is
written by a child process, so its buffers do not count in our RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pexpect  # noqa: E402
from pexpect.fdpexpect import fdspawn  # noqa: E402

from tui_installer.executor import Executor  # noqa: E402
from tui_installer.model import Phase, Plan, Step  # noqa: E402
from tui_installer.ptyspawn import PtyIO, spawn  # noqa: E402

LINE_PAYLOAD = 90  # + "line NNNNNNN " prefix and "\n": about 100 bytes a line
#: a realistic set of secrets to redact (an all-in-one deployment has about this many)
SECRETS = {f"service_{i}_password": f"Gen3rated-Passw0rd-{i:02d}-{'x' * 12}" for i in range(24)}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_input(folder: Path, megabytes: int) -> tuple[Path, int, int]:
    """A file of ~``megabytes`` MB of 100-byte lines, written by a child process."""
    path = folder / "output.txt"
    lines = megabytes * 1_000_000 // 100
    code = (f"import sys\nw = sys.stdout.buffer.write\npad = b'y' * {LINE_PAYLOAD - 3}\n"
            f"for i in range({lines}):\n    w(b'line %07d ' % i + pad + b'\\n')\n")
    with path.open("wb") as out:
        subprocess.run([sys.executable, "-c", code], stdout=out, check=True)
    return path, path.stat().st_size, lines


def measured(fn, *args):  # noqa: ANN001, ANN201 - a tiny timing helper
    """(wall seconds, CPU seconds of this process, fn's result)."""
    before, t0 = os.times(), time.perf_counter()
    value = fn(*args)
    after = os.times()
    return time.perf_counter() - t0, after.user - before.user + after.system - before.system, value


def run_cat(path: Path) -> None:
    subprocess.run(["bash", "-c", f"cat {path} > /dev/null"], check=True)


def run_bare_pty(path: Path) -> None:
    """``cat`` in a pty set up as the executor does (no OPOST, non-blocking), read by the tightest
    loop Python allows: no decoding, no splitting, no log. The ceiling for any pty relay here."""
    child = spawn(["cat", str(path)], os.environ)  # (its fd is non-blocking)
    poller = select.poll()
    poller.register(child.fd, select.POLLIN)
    while True:
        try:
            if not os.read(child.fd, 65536):
                break
        except BlockingIOError:
            poller.poll(100)
        except OSError:
            break
    child.close()
    while child.alive():
        time.sleep(0.001)


def run_pexpect_loop(path: Path, make_io: Callable[[int], fdspawn]) -> None:
    """``cat`` in the executor's pty, read through pexpect until ``EOF``; nothing done with the data.

    ``make_io(fd)`` gives the pexpect object: a plain ``fdspawn`` (it polls before every read) or the
    executor's ``PtyIO`` (it reads first and polls only when nothing is there)."""
    child = spawn(["cat", str(path)], os.environ)
    io = make_io(child.fd)
    while True:
        try:
            io.read_nonblocking(65536, 0.1)
        except pexpect.TIMEOUT:
            continue
        except pexpect.EOF:
            break
    child.close()
    while child.alive():
        time.sleep(0.001)


def run_relay(path: Path, log: Path, per_line: bool) -> int:
    """``cat FILE`` as a step through the executor, lines to a callback like the engine's; returns
    the number of lines the callback saw."""
    step = Step(id="bench.install.cat", service="bench", phase="install", name="cat", argv=("cat", str(path)))
    seen = [0]

    def on_lines(lines: list[str]) -> None:
        seen[0] += len(lines)

    def on_output(line: str) -> None:
        seen[0] += 1

    result = Executor().run(step, secrets=SECRETS, log_path=log, on_lines=None if per_line else on_lines,
                            on_output=on_output if per_line else None)
    assert result.ok, result
    log.unlink()
    return seen[0]


def part_b(megabytes: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-executor-") as tmp:
        folder = Path(tmp)
        path, size, lines = make_input(folder, megabytes)
        mb = size / 1e6
        variants = {
            "cat FILE > /dev/null": lambda: run_cat(path),
            "bare pty read loop (ceiling)": lambda: run_bare_pty(path),
            "pexpect fdspawn loop (poll+read)": lambda: run_pexpect_loop(
                path, lambda fd: fdspawn(fd, encoding=None, maxread=65536, use_poll=True)),
            "pexpect PtyIO loop (read first)": lambda: run_pexpect_loop(path, lambda fd: PtyIO(fd, 65536)),
            "executor -> log + on_lines": lambda: run_relay(path, folder / "a.log", False),
            "executor -> log + on_output per line": lambda: run_relay(path, folder / "b.log", True),
        }
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for _ in range(repeat):  # interleaved, so a burst of load from elsewhere hits all alike
            for name, fn in variants.items():
                wall, cpu, value = measured(fn)
                assert value in (None, lines), (name, value, lines)
                times[name].append((wall, cpu))
        print(f"(b) {mb:.0f} MB in {lines} lines, {len(SECRETS)} secrets redacted; best (median) of {repeat}")
        cat_best = min(w for w, _ in times["cat FILE > /dev/null"])
        for name, runs in times.items():
            walls = sorted(w for w, _ in runs)
            best, median = walls[0], walls[len(walls) // 2]
            cpu = min(c for _, c in runs)
            print(f"    {name:38} {best:6.2f} s ({median:5.2f}) {mb / best:7.1f} MB/s ({mb / median:6.1f})"
                  f"  x{best / cat_best:6.1f} cat   installer CPU {cpu:5.2f} s")
        print(f"    peak RSS of this process: {peak_rss_mb():.0f} MB "
              "(targets: >= 50 MB/s relayed, <= 150 MB)")


def trivial_plan(count: int) -> Plan:
    steps = tuple(
        Step(id=f"bench.install.s{i}", service="bench", phase="install", name=f"s{i}",
             argv=("bash", "-c", f"echo step {i}"), shell=f"echo step {i}", fingerprint=f"bench-{i}")
        for i in range(count)
    )
    return Plan(profile="bench", profile_source="bench", services=("bench",), added={}, settings={},
                secrets=(), phases=(Phase("install", steps),))


def time_engine(count: int, durable: bool) -> float:
    from tui_installer import engine

    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        state = Path(tmp)
        state.chmod(0o700)
        eng = engine.Engine(trivial_plan(count), state_dir=state, secrets={}, durable=durable, resume=False)
        t0 = time.perf_counter()
        outcome = eng.run()
        elapsed = time.perf_counter() - t0
    assert outcome == "ok", outcome
    return elapsed


def time_bash_loop(count: int) -> float:
    script = f'for i in $(seq 0 {count - 1}); do bash -c "echo step $i"; done > /dev/null'
    t0 = time.perf_counter()
    subprocess.run(["bash", "-c", script], check=True)
    return time.perf_counter() - t0


def time_executor_only(count: int) -> float:
    ex = Executor()
    with tempfile.TemporaryDirectory(prefix="bench-exec-") as tmp:
        t0 = time.perf_counter()
        for step in trivial_plan(count).steps():
            assert ex.run(step, secrets=SECRETS, log_path=Path(tmp) / f"{step.id}.log").ok
        return time.perf_counter() - t0


def part_a(count: int) -> None:
    try:
        import tui_installer.engine  # noqa: F401
    except ImportError:
        print("(a) skipped: tui_installer.engine is not there yet")
        return
    bash = time_bash_loop(count)
    only = time_executor_only(count)
    fast = time_engine(count, durable=False)
    durable = time_engine(count, durable=True)
    print(f"(a) {count} trivial steps (bash -c 'echo step N')")
    print(f"    {'plain bash loop':38} {bash:7.2f} s {bash / count * 1000:7.2f} ms/step")
    for label, value in (("executor alone (no engine)", only), ("engine, journal without fsync", fast),
                         ("engine, durable journal (default)", durable)):
        print(f"    {label:38} {value:7.2f} s {value / count * 1000:7.2f} ms/step"
              f"   overhead {(value - bash) / count * 1000:6.2f} ms/step")
    print("    (target: overhead <= 5 ms/step)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the relayed output (b)")
    parser.add_argument("--steps", type=int, default=300, help="number of trivial steps (a)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant; best and median shown")
    parser.add_argument("--only", choices=["a", "b"], help="run one part")
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if args.only != "b":
        part_a(args.steps)
    if args.only != "a":
        part_b(args.mb, args.repeat)


if __name__ == "__main__":
    main()
