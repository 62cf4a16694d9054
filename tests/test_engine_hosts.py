"""The engine's path for a plan over inventory hosts (engine._run_hosts), in-process and fast: real
ansible-playbook runs of our ``tui_step`` module on two inventory hosts that are this machine
(``ansible_connection=local``), each host's Python a wrapper that names it in the environment
(``TEST_NODE``), so one command behaves per host. What it checks: the same step on both hosts is one
batch (both started before either ends), each host's output reaches the events, a failure on one host is
that host's own (the skip policy goes on, the other host is not touched), each phase ends with its event,
the journal keeps each step's host, a cancel ends the run ``aborted``, and a host whose Python is missing
is named with the inventory key to fix.

tools/mutation.py found this path unchecked by the fast tests (only the lab tests, tests/test_multihost.py
and tests/test_multinode.py, went through it); those remain the proof over real SSH to real hosts."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tui_installer import engine, journal
from tui_installer.model import Phase, Plan, Step

HOSTS = ("n1", "n2")
#: how long a step on a host may take before the test calls the run hung
HUNG = 120


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    lines = []
    for group, host in zip(("controller", "compute"), HOSTS, strict=True):
        python = tmp_path / f"python-{host}"
        python.write_text(f"#!/bin/sh\nTEST_NODE={host}; export TEST_NODE\nexec {sys.executable} \"$@\"\n")
        python.chmod(0o755)
        lines += [f"[{group}]", f"{host} ansible_connection=local ansible_python_interpreter={python}"]
    path = tmp_path / "inventory.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def host_steps(name: str, command: str, phase: str = "install") -> tuple[Step, ...]:
    return tuple(Step(id=f"svc.{phase}.{name}@{h}", service="svc", phase=phase, name=name,
                      argv=("sh", "-c", command), fingerprint=f"fp-{name}", host=h, timeout=HUNG)
                 for h in HOSTS)


def plan_on(inventory: Path, *phases: tuple[str, tuple[Step, ...]]) -> Plan:
    return Plan(profile="t", profile_source="test", services=("svc",), added={}, settings={}, secrets=(),
                phases=tuple(Phase(name, steps) for name, steps in phases), inventory=str(inventory),
                hosts=HOSTS)


def test_a_step_on_two_hosts_runs_as_one_batch_and_a_failure_is_its_hosts_own(
        inventory: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    plan = plan_on(inventory,
                   ("install", host_steps("hello", f'echo "hello from $TEST_NODE"; touch {work}/$TEST_NODE.hello')
                    + host_steps("gate", '[ "$TEST_NODE" != n2 ] || { echo "n2 refuses" >&2; exit 4; }')
                    + host_steps("after", f"touch {work}/$TEST_NODE.after")),
                   ("config", host_steps("conf", f"touch {work}/$TEST_NODE.conf", phase="config")))
    seen: list[dict[str, Any]] = []
    eng = engine.Engine(plan, state_dir=tmp_path / "state", secrets={}, policy=engine.Policy.parse("skip"),
                        listener=seen.append)
    assert eng.run() == "ok"
    kinds = [(e["type"], e.get("step")) for e in seen]
    hello = [f"svc.install.hello@{h}" for h in HOSTS]
    # one batch: both hosts' first attempts started before either ended
    assert max(kinds.index(("step_started", s)) for s in hello) < \
        min(kinds.index(("step_finished", s)) for s in hello)
    output = {e["step"]: e["lines"] for e in seen if e["type"] == "output"}
    assert any("hello from n2" in line for line in output["svc.install.hello@n2"]), output
    assert all("hello from n1" not in line for line in output["svc.install.hello@n2"])
    skipped = [(e["step"], e["reason"]) for e in seen if e["type"] == "step_skipped"]
    assert skipped == [("svc.install.gate@n2", "user")]
    assert [e["step"] for e in seen if e["type"] == "step_failed"] == ["svc.install.gate@n2"]
    assert sorted(p.name for p in work.iterdir()) == sorted(
        f"{h}.{what}" for h in HOSTS for what in ("hello", "after", "conf"))
    assert [e["phase"] for e in seen if e["type"] == "phase_finished"] == ["install", "config"]
    record = journal.load(eng.files.journal_file)
    assert {sid: (r.host, r.status) for sid, r in record.steps.items() if ".gate@" in sid} == \
        {"svc.install.gate@n1": ("n1", "ok"), "svc.install.gate@n2": ("n2", "skipped")}


def test_a_cancel_during_a_step_on_the_hosts_ends_the_run_aborted(inventory: Path, tmp_path: Path) -> None:
    plan = plan_on(inventory, ("install", host_steps("slow", "sleep 8") + host_steps("never", "true")))
    started = threading.Event()

    def listen(event: dict[str, Any]) -> None:
        if event["type"] == "step_started":
            started.set()

    eng = engine.Engine(plan, state_dir=tmp_path / "state", secrets={}, listener=listen)
    canceller = threading.Thread(target=lambda: started.wait(HUNG) and eng.cancel(), daemon=True)
    canceller.start()
    assert eng.run() == "aborted"
    record = journal.load(eng.files.journal_file)
    assert record.state == "aborted"
    assert all(record.steps[f"svc.install.never@{h}"].status == "pending" for h in HOSTS)


def test_a_host_whose_python_is_missing_is_named_with_what_to_do(tmp_path: Path) -> None:
    """The inventory's ``ansible_python_interpreter`` runs our module on the host: a wrong one fails the
    step with the cause and the inventory key to fix, not "command not found" of the step's own command."""
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[controller]\nn1 ansible_connection=local ansible_python_interpreter=/nonexistent/python\n")
    one = Step(id="svc.install.a@n1", service="svc", phase="install", name="a", argv=("true",),
               fingerprint="fp", host="n1", timeout=HUNG)
    plan = Plan(profile="t", profile_source="test", services=("svc",), added={}, settings={}, secrets=(),
                phases=(Phase("install", (one,)),), inventory=str(inventory), hosts=("n1",))
    seen: list[dict[str, Any]] = []
    assert engine.Engine(plan, state_dir=tmp_path / "state", secrets={}, listener=seen.append).run() == "failed"
    (failed,) = [e for e in seen if e["type"] == "step_failed"]
    assert failed["cause"].startswith("no Python at /nonexistent/python on the host")
    assert "ansible_python_interpreter" in failed["cause"]
