"""A model, not a measurement: the step durations of a finished all-in-one run (its journal) replayed
through the graph and scheduler rules (list scheduling, locks), for --jobs 1, 2, 3, 4 and unbounded, with
ready steps offered in two orders side by side: the plan's order, and the engine's (longest path to the
end first, ``plan.critical_first``, given the same durations); prints the modelled wall times and the
critical path.

    .venv/bin/python bench/graphmodel.py STATE/runs/RUN/journal.json

Steps the serial run did not have (uv, the prefetch) count 0 s; steps running side by side slow each
other on 2 cores, which the model ignores: it bounds what the graph allows, a deploy round measures.
"""

from __future__ import annotations

import heapq
import json
import sys

from tui_installer import catalog
from tui_installer import plan as planning
from tui_installer.model import Step


def simulate(steps: list[Step], dur: dict[str, float], jobs: int) -> tuple[float, dict[str, float]]:
    now, ended, held = 0.0, set(), set()
    running: list[tuple[float, str, Step]] = []
    waiting, finished = list(steps), {}
    while waiting or running:
        for step in list(waiting):
            if len(running) >= jobs:
                break
            if all(d in ended for d in step.after) and not held & set(step.locks):
                waiting.remove(step)
                held |= set(step.locks)
                heapq.heappush(running, (now + dur.get(step.id, 0.0), step.id, step))
        now, sid, step = heapq.heappop(running)
        ended.add(sid)
        held -= set(step.locks)
        finished[sid] = now
    return now, finished


def main() -> int:
    record = json.load(open(sys.argv[1]))
    dur = {k: ((v["finished"] or 0) - (v["started"] or 0)) if v["status"] == "ok" else 0.0
           for k, v in record["steps"].items()}
    serial = record["finished"] - record["started"]
    plan = planning.build(catalog.load_profile("all-in-one"),
                          overrides={"virt_driver": "fake", "ovs_datapath": "netdev"})
    steps = plan.steps()
    print(f"serial run: {serial:.0f} s; sum of its step durations {sum(dur.values()):.0f} s")
    ranked = planning.critical_first(steps, dur)
    total = sum(dur.values())
    for jobs in (1, 2, 3, 4, 99):
        took, _ = simulate(steps, dur, jobs)
        ranked_took, _ = simulate(ranked, dur, jobs)
        print(f"model, jobs {jobs}: plan order {took:.0f} s ({took / total:.2f} x the steps' sum), "
              f"longest path first {ranked_took:.0f} s ({ranked_took / total:.2f} x)")
    _, finished = simulate(steps, dur, 99)
    after = {s.id: s.after for s in steps}
    chain: list[tuple[str, float]] = []
    current: str | None = max(finished, key=lambda sid: finished[sid])
    while current is not None:
        chain.append((current, dur.get(current, 0.0)))
        current = max(after[current], key=lambda d: finished[d], default=None)
    print("critical path: " + " -> ".join(f"{c} {d:.0f}s" for c, d in reversed(chain) if d >= 1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
