"""Independent steps run at once (issue 13), with real processes through the CLI.

Every claim is proved by what the steps themselves record: a rendezvous (each of two steps waits for
the other to have started: they can only both succeed if they overlap), timestamps each step writes
when it starts and ends, and the event stream. No timer bounds on the test's side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tui_installer import catalog, events, planformat
from tui_installer import plan as planning
from tui_installer.errors import UserError

#: how long a rendezvous step waits for its partner before it fails (never reached when they overlap)
PATIENCE = 120


def _stamp(work: Path, name: str, body: str) -> str:
    """A step that records its own start and end (``date +%s.%N``) around ``body``."""
    return (f"echo start $(date +%s.%N) >> {work}/{name}.t; {body}; "
            f"echo end $(date +%s.%N) >> {work}/{name}.t")


def _meet(work: Path, me: str, other: str) -> str:
    """Touch ``me.up``, then wait for ``other.up``: succeeds only if the other step started meanwhile."""
    return (f"touch {work}/{me}.up; i=0; while [ ! -e {work}/{other}.up ] && [ $i -lt {PATIENCE * 10} ]; "
            f"do sleep 0.1; i=$((i+1)); done; [ -e {work}/{other}.up ]")


def _profile(path: Path, services: dict[str, dict[str, Any]], name: str = "par") -> Path:
    lines = [f"name: {name}", f"services: [{', '.join(services)}]", "service_definitions:"]
    for service, spec in services.items():
        lines.append(f"  {service}:")
        if spec.get("requires"):
            lines.append(f"    requires: [{', '.join(spec['requires'])}]")
        lines.append("    phases:")
        for phase, steps in spec["phases"].items():
            lines.append(f"      {phase}:")
            for step in steps:
                lines.append(f"        - name: {step['name']}")
                lines.append(f"          run: {json.dumps(step['run'])}")
                for key in ("locks", "after"):
                    if key in step:
                        lines.append(f"          {key}: [{', '.join(step[key])}]")
    path.write_text("\n".join(lines) + "\n")
    return path


def _install(state: Path, profile: Path, *more: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui_installer", "--state-dir", str(state), "install",
                           "-p", str(profile), "--yes", "--quiet", *more],
                          capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


def _interval(work: Path, name: str) -> tuple[float, float]:
    marks = dict(line.split() for line in (work / f"{name}.t").read_text().splitlines())
    return float(marks["start"]), float(marks["end"])


def _events(state: Path) -> list[dict[str, Any]]:
    (journal_file,) = (state / "runs").glob("*/events.jsonl")
    return events.read_all(journal_file)


def test_independent_steps_overlap_and_a_dependent_waits(tmp_path: Path) -> None:
    work = tmp_path / "w"
    work.mkdir()
    profile = _profile(tmp_path / "p.yaml", {
        "a": {"phases": {"install": [{"name": "a1", "run": _stamp(work, "a1", _meet(work, "a1", "b1"))}]}},
        "b": {"phases": {"install": [{"name": "b1", "run": _stamp(work, "b1", _meet(work, "b1", "a1"))}]}},
        "c": {"requires": ["a"], "phases": {"install": [{"name": "c1", "run": _stamp(work, "c1", "true")}]}},
    })
    done = _install(tmp_path / "state", profile, "--jobs", "2")
    assert done.returncode == 0, done.stderr
    a, b, c = (_interval(work, n) for n in ("a1", "b1", "c1"))
    assert a[0] < b[1] and b[0] < a[1]  # they overlapped (the rendezvous already proved it)
    assert c[0] >= a[1]  # c requires a: it started after a's step ended
    kinds = [(e["type"], e.get("step")) for e in _events(tmp_path / "state")]
    assert kinds.index(("step_started", "b.install.b1")) < kinds.index(("step_finished", "a.install.a1"))


def test_jobs_1_is_the_serial_run_in_plan_order(tmp_path: Path) -> None:
    work = tmp_path / "w"
    work.mkdir()
    profile = _profile(tmp_path / "p.yaml", {
        name: {"phases": {"install": [{"name": f"{name}{i}", "run": _stamp(work, f"{name}{i}", "sleep 0.1")}
                                      for i in (1, 2)]}} for name in ("a", "b", "c")})
    done = _install(tmp_path / "state", profile, "--jobs", "1")
    assert done.returncode == 0, done.stderr
    order = ["a1", "a2", "b1", "b2", "c1", "c2"]
    spans = [_interval(work, n) for n in order]
    for (_s1, end), (start, _e2) in zip(spans[:-1], spans[1:], strict=True):
        assert end <= start  # one at a time, in the plan's order
    started = [e["step"] for e in _events(tmp_path / "state") if e["type"] == "step_started"]
    assert [s.rsplit(".", 1)[1] for s in started] == order


def test_a_lock_keeps_steps_apart_while_others_overlap(tmp_path: Path) -> None:
    """Two apt-like steps (lock ``dpkg``, one added by the plan for `apt-get`) never overlap, even with
    jobs to spare; a third step without the lock meets one of them."""
    work = tmp_path / "w"
    work.mkdir()
    profile = _profile(tmp_path / "p.yaml", {
        "x": {"phases": {"install": [{"name": "x1", "locks": ["dpkg"],
                                      "run": _stamp(work, "x1", _meet(work, "x1", "z1") + "; sleep 0.3")}]}},
        "y": {"phases": {"install": [{"name": "y1", "run": _stamp(work, "y1", ": apt-get; sleep 0.3")}]}},
        "z": {"phases": {"install": [{"name": "z1", "run": _stamp(work, "z1", _meet(work, "z1", "x1"))}]}},
    })
    plan = planning.build(catalog.load_profile(str(profile)))
    assert {s.name: s.locks for s in plan.steps()} == {"x1": ("dpkg",), "y1": ("dpkg",), "z1": ()}
    done = _install(tmp_path / "state", profile, "--jobs", "3")
    assert done.returncode == 0, done.stderr
    x, y = _interval(work, "x1"), _interval(work, "y1")
    assert x[1] <= y[0] or y[1] <= x[0]


def _failing_branch(tmp_path: Path) -> tuple[Path, Path]:
    """f fails once g's first step is running (rendezvous); g's first step then takes a while."""
    work = tmp_path / "w"
    work.mkdir()
    return work, _profile(tmp_path / "p.yaml", {
        "f": {"phases": {"install": [{"name": "f1", "run": _meet(work, "f1", "g1") + "; exit 3"}]}},
        "g": {"phases": {"install": [
            {"name": "g1", "run": _stamp(work, "g1", _meet(work, "g1", "f1") + "; sleep 1")},
            {"name": "g2", "run": _stamp(work, "g2", "true")}]}},
    })


def test_a_failure_lets_the_other_branch_finish_its_step_then_stops(tmp_path: Path) -> None:
    work, profile = _failing_branch(tmp_path)
    done = _install(tmp_path / "state", profile, "--jobs", "2")
    assert done.returncode == 1
    assert (work / "g1.t").read_text().count("end") == 1  # g's running step was finished, not killed
    assert not (work / "g2.t").exists()  # and nothing new started after the failure
    (journal_file,) = (tmp_path / "state" / "runs").glob("*/journal.json")
    steps = json.loads(journal_file.read_text())["steps"]
    assert {k: v["status"] for k, v in steps.items()} == {
        "f.install.f1": "failed", "g.install.g1": "ok", "g.install.g2": "pending"}


def test_ask_waits_for_the_running_steps_then_asks_and_goes_on(tmp_path: Path) -> None:
    work, profile = _failing_branch(tmp_path)
    state = tmp_path / "state"
    proc = subprocess.Popen([sys.executable, "-m", "tui_installer", "--state-dir", str(state), "install",
                             "-p", str(profile), "--yes", "--quiet", "--jobs", "2", "--on-failure", "ask"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ))
    try:
        seen: list[dict[str, Any]] = []
        for _ in range(PATIENCE * 10):
            seen = _events(state) if (state / "runs").is_dir() and list((state / "runs").glob("*/events.jsonl")) else []
            if any(e["type"] == "decision_needed" for e in seen):
                break
            time.sleep(0.1)
        kinds = [(e["type"], e.get("step")) for e in seen]
        asked = kinds.index(("decision_needed", "f.install.f1"))
        assert kinds.index(("step_finished", "g.install.g1")) < asked
        assert ("step_started", "g.install.g2") not in kinds
        answer = subprocess.run([sys.executable, "-m", "tui_installer", "--state-dir", str(state), "answer",
                                 "f.install.f1", "skip"], capture_output=True, text=True, timeout=60)
        assert answer.returncode == 0, answer.stderr
        assert proc.wait(timeout=PATIENCE) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (work / "g2.t").read_text().count("end") == 1


def test_cancel_stops_every_running_step(tmp_path: Path) -> None:
    """SIGTERM to the engine (the CLI's cancel) while two steps run: both are stopped, the run ends
    "aborted" and both steps read as failed (cancelled), nothing else started."""
    work = tmp_path / "w"
    work.mkdir()
    profile = _profile(tmp_path / "p.yaml", {
        name: {"phases": {"install": [
            {"name": f"{name}1", "run": f"touch {work}/{name}.up; sleep {PATIENCE}"},
            {"name": f"{name}2", "run": f"touch {work}/{name}2.ran"}]}} for name in ("a", "b")})
    state = tmp_path / "state"
    proc = subprocess.Popen([sys.executable, "-m", "tui_installer", "--state-dir", str(state), "install",
                             "-p", str(profile), "--yes", "--quiet", "--jobs", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ))
    try:
        for _ in range(PATIENCE * 10):
            if (work / "a.up").exists() and (work / "b.up").exists():
                break
            time.sleep(0.1)
        proc.terminate()
        assert proc.wait(timeout=PATIENCE) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (journal_file,) = (state / "runs").glob("*/journal.json")
    data = json.loads(journal_file.read_text())
    assert data["state"] == "aborted"
    assert {k: v["status"] for k, v in data["steps"].items()} == {
        "a.install.a1": "failed", "a.install.a2": "pending", "b.install.b1": "failed", "b.install.b2": "pending"}
    assert not list(work.glob("*2.ran"))


# -- the graph ---------------------------------------------------------------------------------------

HOST = {"host_ip": "10.0.0.5", "host_name": "node1", "installer_python": "/usr/bin/python3"}


def _ancestors(plan: Any) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for step in plan.steps():
        result[step.id] = set(step.after).union(*(result[d] for d in step.after))
    return result


def test_all_in_one_graph_keeps_the_phase_contract() -> None:
    plan = planning.build(catalog.load_profile("all-in-one"), overrides=HOST)
    steps = plan.steps()
    position = {s.id: i for i, s in enumerate(steps)}
    for step in steps:
        assert all(position[d] < position[step.id] for d in step.after), step.id  # plan order is serial-valid
    up = _ancestors(plan)
    preflight = {s.id for s in steps if s.phase == "preflight"}
    assert preflight <= up[planning.APT_STEP_ID]
    assert "mariadb.install.service" in up["keystone.init.db-sync"]  # init finds its database up
    assert "keystone.start.api" in up["placement.start.register"]
    assert {"keystone.init.bootstrap", "rabbitmq.init.user"} <= up["nova.start.register"]
    assert "keystone.configure.unit" in up["glance.init.database"]
    assert "openstack-base.install.pip" in up["nova-compute.install.libvirt"]  # through neutron-agent
    assert "neutron.start.rpc-server" in up["neutron-agent.start.agent"]  # its after:
    assert {s.id for s in steps if s.phase == "start"} <= up["mariadb.verify.ping"]
    # what may run side by side: the database syncs of placement, glance and neutron
    # and of keystone, glance and nova, though nova requires glance and glance keystone
    for one, other in (("placement.init.db-sync", "glance.init.db-sync"),
                       ("glance.init.db-sync", "neutron.init.db-upgrade"),
                       ("keystone.init.bootstrap", "glance.init.db-sync"),
                       ("glance.init.db-sync", "nova.init.api-db-sync")):
        assert one not in up[other] and other not in up[one]
    assert steps[position["nova-compute.install.libvirt"]].locks == ("dpkg", "venv")
    assert steps[position["openstack-base.install.pip"]].locks == ("venv",)
    for service in ("heat", "horizon", "cinder"):  # the venv-packages template: into the shared venv
        assert steps[position[f"{service}.install.pip"]].locks == ("venv",), service
    assert steps[position["tempest.install.pip"]].locks == ()  # a venv of its own
    text = planning.to_text(plan)
    assert "      waits for keystone.init.bootstrap\n" in text
    assert planformat.from_json(planning.to_json(plan)) == plan


def test_removal_graph_stops_dependents_first() -> None:
    plan = planning.build_removal(catalog.load_profile("all-in-one"), overrides=HOST, purge=True)
    up = _ancestors(plan)
    assert "keystone.stop.api" in up["mariadb.stop.service"]
    assert "nova.stop.services" in up["keystone.stop.api"]
    assert {s.id for s in plan.steps() if s.phase == "stop"} <= up["nova-compute.cleanup.deregister"]


def test_after_errors_name_the_step(tmp_path: Path) -> None:
    work = tmp_path
    base = {"a": {"phases": {"install": [{"name": "a1", "run": "true"}]}}}
    later = _profile(tmp_path / "later.yaml", {**base, "b": {"phases": {
        "install": [{"name": "b1", "run": "true", "after": ["a.verify.a9"]}]}}})
    with pytest.raises(UserError, match=r"b\.install\.b1: after: no step 'a\.verify\.a9' in this plan"):
        planning.build(catalog.load_profile(str(later)))
    cycle = _profile(work / "cycle.yaml", {
        "a": {"phases": {"install": [{"name": "a1", "run": "true", "after": ["b.install.b1"]}]}},
        "b": {"phases": {"install": [{"name": "b1", "run": "true", "after": ["a.install.a1"]}]}}})
    with pytest.raises(UserError, match="steps wait for each other"):
        planning.build(catalog.load_profile(str(cycle)))
    absent = _profile(work / "absent.yaml", {**base, "b": {"phases": {
        "install": [{"name": "b1", "run": "true", "after": ["nova.start.api"]}]}}})
    assert planning.build(catalog.load_profile(str(absent))).steps()[1].after == ()
    done = subprocess.run([sys.executable, "-m", "tui_installer", "plan", "-p", str(cycle)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_longest_path_first_starts_the_chain_before_earlier_independent_steps(tmp_path: Path) -> None:
    """With --jobs 2 the first step of a three-step chain starts before two one-step services that come
    earlier in the plan (plan order would start those two first); --jobs 1 keeps the plan's order."""
    spec = {
        "short1": {"phases": {"install": [{"name": "s", "run": "true"}]}},
        "short2": {"phases": {"install": [{"name": "s", "run": "true"}]}},
        "chain": {"phases": {"install": [{"name": f"c{i}", "run": "true"} for i in (1, 2, 3)]}},
    }
    for jobs, first_two in (("2", {"chain.install.c1", "short1.install.s"}),
                            ("1", {"short1.install.s", "short2.install.s"})):
        state = tmp_path / f"state-{jobs}"
        done = _install(state, _profile(tmp_path / "p.yaml", spec), "--jobs", jobs)
        assert done.returncode == 0, done.stderr
        started = [e["step"] for e in _events(state) if e["type"] == "step_started"]
        assert set(started[:2]) == first_two, (jobs, started)


def test_critical_first_weighs_durations_from_history() -> None:
    from tui_installer.model import Step

    def step(sid: str, after: tuple[str, ...] = ()) -> Step:
        service, phase, name = sid.split(".")
        return Step(id=sid, service=service, phase=phase, name=name, argv=("true",), after=after)

    steps = [step("a.install.x"), step("b.install.x"), step("b.start.y", ("b.install.x",)),
             step("c.install.x")]
    order = [s.id for s in planning.critical_first(steps)]  # no history: every step counts 1 s
    assert order == ["b.install.x", "a.install.x", "b.start.y", "c.install.x"]
    timed = [s.id for s in planning.critical_first(steps, {"c.install.x": 30.0, "a.install.x": 1.0,
                                                             "b.install.x": 2.0, "b.start.y": 3.0})]
    assert timed[0] == "c.install.x" and timed[1] == "b.install.x"  # 30 s alone beats a 5 s chain
    unknown = [s.id for s in planning.critical_first(steps, {"a.install.x": 10.0, "b.start.y": 1.0})]
    assert unknown[0] == "b.install.x"  # unknown steps count the median (10): b's chain 11 s, a 10 s


def test_the_default_of_jobs_is_one_more_than_the_cores_and_the_environment_overrides_it(tmp_path: Path) -> None:
    """Steps also wait (downloads, database round trips, start-ups), so the default keeps one more step
    running than there are cores (BENCHMARKS.md, "Steps at once"); ``$TUI_INSTALLER_JOBS`` and
    ``--jobs`` override it, a bad value is one clear line."""
    profile = _profile(tmp_path / "p.yaml", {"a": {"phases": {"install": [{"name": "a1", "run": "true"}]}}})
    env = {k: v for k, v in os.environ.items() if k != "TUI_INSTALLER_JOBS"}

    def jobs(state: Path, *more: str, extra: dict[str, str] | None = None) -> int:
        done = subprocess.run([sys.executable, "-m", "tui_installer", "--state-dir", str(state), "install",
                               "-p", str(profile), "--yes", "--quiet", *more],
                              capture_output=True, text=True, timeout=120, env={**env, **(extra or {})})
        assert done.returncode == 0, done.stderr
        (started,) = [e for e in _events(state) if e["type"] == "run_started"]
        return int(started["jobs"])

    assert jobs(tmp_path / "s1") == len(os.sched_getaffinity(0)) + 1
    assert jobs(tmp_path / "s2", extra={"TUI_INSTALLER_JOBS": "5"}) == 5
    assert jobs(tmp_path / "s3", "--jobs", "1", extra={"TUI_INSTALLER_JOBS": "5"}) == 1
    bad = subprocess.run([sys.executable, "-m", "tui_installer", "--state-dir", str(tmp_path / "s4"), "install",
                          "-p", str(profile), "--yes", "--quiet"],
                         capture_output=True, text=True, timeout=120, env={**env, "TUI_INSTALLER_JOBS": "0"})
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "$TUI_INSTALLER_JOBS: expected a whole number of at least 1, got '0'" in bad.stderr
