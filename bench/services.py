"""Benchmark (issue 11): install time per service, and the wall time of ``tui-installer validate --smoke``.

    sudo .venv/bin/python bench/services.py --state-dir DIR [--validate] [--runs RUN_ID ...]

Per service: the sum of its steps' durations (journal) over the given install runs (default: every run of
DIR that ran a step), beside the baseline of the same runs' wall time. With ``--validate``: the wall time
of ``tui-installer validate --smoke`` against the cloud DIR installed, beside the baseline of the Tempest
run inside it (``tempest run --smoke``, from Tempest's own test timings in result.json/log) — the
difference is what validate adds (checks, discovery, images/flavors, tempest.conf, listing the tests).
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from tui_installer.statedir import StateDir


def per_service(state: StateDir, runs: list[str]) -> tuple[dict[str, float], float]:
    totals: dict[str, float] = defaultdict(float)
    wall = 0.0
    chosen = [state.run(r) for r in runs] if runs else state.runs_newest_first()
    for run in chosen:
        journal = run.read_journal()
        if journal is None:
            continue
        data = json.loads(run.journal_file.read_text())
        ran = [s for s in data["steps"].values() if s.get("started") and s.get("finished")]
        if not ran:
            continue
        wall += (data.get("finished") or max(s["finished"] for s in ran)) - data["started"]
        for step_id, step in data["steps"].items():
            if step.get("status") == "ok" and step.get("started") and step.get("finished"):
                totals[step_id.split(".")[0]] += step["finished"] - step["started"]
    return dict(totals), wall


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--runs", nargs="*", default=[])
    ap.add_argument("--validate", action="store_true")
    args = ap.parse_args()
    state = StateDir(Path(args.state_dir))
    totals, wall = per_service(state, args.runs)
    print(f"install runs: wall {wall:.0f} s (baseline), steps by service:")
    for name, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<16} {seconds:7.1f} s")
    if args.validate:
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "tui_installer", "validate", "--smoke", "--state-dir",
                               args.state_dir], capture_output=True, text=True)
        total = time.monotonic() - t0
        last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()
        log = state.validation.read(state.validation.log_file) or ""
        ran = re.search(r"Ran: \d+ tests in ([\d.]+) sec", log)
        tempest = float(ran.group(1)) if ran else float("nan")
        print(f"validate --smoke: {total:.0f} s wall, exit {done.returncode}: {last}")
        print(f"  of which Tempest's own run (baseline): {tempest:.0f} s; validate's own work: {total - tempest:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
