"""Snapshots of every screen at 80x24 (textual pinned in pyproject), and no password in any of them.

Host facts, presets and the clock are fixed here (a unit test of rendering): the real host and the
real engine are exercised by test_flow, test_attach and test_terminal.
"""

from __future__ import annotations

import json
import shutil
import types
from pathlib import Path

import pytest
from tui_installer.screens import hostinfo, progress, runstate, summary
from tui_installer.screens.app import InstallerApp
from tui_installer.screens.messages import ShowHosts
from tui_installer.screens.session import Session
from tui_installer.screens.widgets import phases
from tuihelpers import PASSWORD, PROFILE

from tui_installer import catalog, client, preview
from tui_installer import hostfacts as setting_values
from tui_installer.journal import Journal, StepRecord
from tui_installer.model import Endpoint, Plan
from tui_installer.statedir import StateDir

pytestmark = pytest.mark.tui

STATE = Path("/tmp/tui-installer-snapshots/state")  # fixed: paths appear on screen
SNAPSHOTS = Path(__file__).parent / "__snapshots__"
RUN, NOW = "20260101-000000-1", 1060.0
PHASES = [{"name": "install", "steps": ["base.install.prepare", "greet.install.hello"]},
          {"name": "configure", "steps": ["greet.configure.flaky", "greet.configure.broken"]},
          {"name": "start", "steps": ["greet.start.slow"]}]


def ev(type_: str, ts: float, **fields: object) -> dict[str, object]:
    return {"ts": ts, "type": type_, "run": RUN, **fields}


def resources(ts: float, cpu: float) -> dict[str, object]:
    return ev("resources", ts, cpu=cpu, mem_used=2_000_000_000 + cpu * 1e7, mem_total=8_000_000_000,
              disk_read_bps=1000 * cpu, disk_write_bps=5000, net_rx_bps=200 * cpu, net_tx_bps=100,
              step_cpu=cpu / 2, step_rss=30_000_000, step_procs=2)


EVENTS = [
    ev("run_started", 1000.0, profile="tuidemo", pid=4242, phases=PHASES, state_dir=str(STATE)),
    ev("phase_started", 1000.0, phase="install"),
    ev("step_skipped", 1000.5, step="base.install.prepare", reason="done"),
    ev("step_started", 1001.0, step="greet.install.hello", phase="install", title="print a greeting",
       command="for i in 1 2 3; do echo hello $i; done", attempt=1),
    ev("output", 1001.2, step="greet.install.hello", lines=["hello 1", "hello 2", "hello 3"], dropped=0),
    ev("step_finished", 1002.0, step="greet.install.hello", status="ok", duration=1.0, exit_code=0),
    ev("phase_finished", 1002.0, phase="install", duration=2.0),
    ev("phase_started", 1002.0, phase="configure"),
    *[resources(1002.0 + i * 2, c) for i, c in enumerate((5, 30, 80, 95, 60, 20, 10, 50))],
    ev("step_started", 1003.0, step="greet.configure.flaky", phase="configure",
       title="fail on the first attempt only", command="if [ -e /tmp/w/flaky ]; then ...; fi", attempt=1),
    ev("output", 1004.0, step="greet.configure.flaky", lines=[f"working on part {i}" for i in range(12)],
       dropped=0),
]
FAILED = [
    ev("step_failed", 1006.0, step="greet.configure.flaky", attempt=1, exit_code=3, signal=None,
       timed_out=None, cause="port 5000 already in use",
       message="step greet.configure.flaky exited with code 3",
       log=f"{STATE}/runs/{RUN}/logs/greet.configure.flaky.log",
       tail=["binding 0.0.0.0:5000", "address in use"]),
    ev("decision_needed", 1006.0, step="greet.configure.flaky", attempt=1,
       choices=["retry", "skip", "abort"]),
]
FINISHED = [
    ev("step_finished", 1008.0, step="greet.configure.flaky", status="ok", duration=5.0, exit_code=0),
    ev("step_started", 1008.0, step="greet.configure.broken", phase="configure", title="broken",
       command="exit 7", attempt=1),
    ev("step_skipped", 1009.0, step="greet.configure.broken", reason="user"),
    ev("phase_finished", 1009.0, phase="configure", duration=7.0),
    ev("phase_started", 1009.0, phase="start"),
    ev("step_started", 1009.0, step="greet.start.slow", phase="start", title="slow", command="sleep",
       attempt=1),
    ev("step_finished", 1020.0, step="greet.start.slow", status="ok", duration=11.0, exit_code=0),
    ev("phase_finished", 1020.0, phase="start", duration=11.0),
    ev("run_finished", 1020.0, state="ok", duration=20.0),
]


@pytest.fixture
def fixed(monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh fixed state dir, a frozen clock, and host facts that do not depend on this machine."""
    shutil.rmtree(STATE.parent, ignore_errors=True)
    STATE.mkdir(parents=True, mode=0o700)
    clock = types.SimpleNamespace(time=lambda: NOW, monotonic=lambda: NOW, strftime=lambda *a: "x")
    for module in (progress, runstate, phases, summary):
        monkeypatch.setattr(module, "time", clock)
    monkeypatch.setattr(client, "engine_alive", lambda state_dir: True)
    monkeypatch.setattr(client, "waiting_for", lambda pid: "sleep 3600")
    monkeypatch.setattr(hostinfo, "facts", lambda state_dir: [
        ("System", "Debian GNU/Linux 12 (bookworm)"), ("Host name", "node1"), ("CPU", "2 cores"),
        ("Memory", "8.0 GiB, 6.0 GiB available"), ("Disk", "40.0 GiB free of 50.0 GiB at /var/lib")])
    monkeypatch.setattr(hostinfo, "interfaces", lambda: [
        hostinfo.Interface("eth0", True, ("10.0.0.5",)), hostinfo.Interface("lo", True, ("127.0.0.1",))])
    monkeypatch.setattr(hostinfo, "host_addresses", lambda: ["10.0.0.5", "127.0.0.1"])
    monkeypatch.setattr(hostinfo, "checks", lambda profile, state_dir: [
        hostinfo.Check("root", "pass", "running as root"),
        hostinfo.Check("memory", "warn", "8.0 GiB RAM: enough for a lab, 16 recommended"),
        hostinfo.Check("distribution", "fail", "arch: only Debian and Ubuntu are supported")])
    monkeypatch.setattr(setting_values, "builtin_settings", lambda: {
        "installer_python": "/usr/bin/python3", "host_name": "node1", "host_ip": "10.0.0.5"})
    monkeypatch.setattr(preview, "list_profiles", lambda: [
        catalog.ProfileInfo("all-in-one", "A whole OpenStack cloud on this host", "x"),
        catalog.ProfileInfo("compute-only", "A compute node joining a controller", "x")])
    monkeypatch.setattr(catalog, "load_services", lambda: {})
    monkeypatch.setattr(summary, "CLOUDS_YAML", STATE / "no-clouds.yaml")
    return STATE


def recorded_run(state: Path, events: list[dict[str, object]]) -> None:
    """A run as the engine leaves it (through the state directory's owner, as the engine writes it),
    and an earlier run whose journal gives every step a 30 s history."""
    owner = StateDir(state)
    run = owner.run(RUN)
    endpoints = (Endpoint("keystone", "identity", "http://10.0.0.5:5000/v3"),
                 Endpoint("glance", "image", "http://10.0.0.5:9292"))
    run.create(Plan(profile="tuidemo", profile_source="", services=(), added={}, secrets=(), phases=(),
                    settings={"host_ip": "10.0.0.5", "keystone_port": 5000, "glance_port": 9292,
                              "memcached_port": 11211}, endpoints=endpoints))
    run.events_file.write_text("".join(json.dumps(e) + "\n" for e in events))
    owner.mark_last_run(run)
    old = owner.run("20251231-000000-1")
    old.root.mkdir()
    steps = {sid: StepRecord(status="ok", started=0.0, finished=30.0) for p in PHASES for sid in p["steps"]}
    Journal(path=old.journal_file, run=old.id, profile="tuidemo", state="ok", steps=steps).save()


def flow_app(state: Path, mode: str = "flow") -> InstallerApp:
    session = Session(state_dir=state)
    if mode == "review":
        session.choose_profile(str(PROFILE))
        session.settings = {"work_dir": "/tmp/w"}
    return InstallerApp(session, mode=mode)


async def _checked(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_host(snap_compare, fixed: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(flow_app(fixed), run_before=_checked)


def test_profile(snap_compare, fixed: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(flow_app(fixed), press=["enter"])


async def _to_services(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("enter")
    await pilot.pause()
    pilot.app.screen.query_one("#profile-path").value = str(PROFILE)
    await pilot.press("ctrl+n")
    await pilot.pause()


def test_services(snap_compare, fixed: Path) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _to_services(pilot)
        await pilot.press("space")  # base: refused, greet requires it
    assert snap_compare(flow_app(fixed), run_before=run_before)


def test_settings(snap_compare, fixed: Path) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _to_services(pilot)
        await pilot.press("ctrl+n")
        await pilot.pause()
        pilot.app.screen.query_one("#set-slow_seconds").focus()
        await pilot.press("x")  # slow_seconds: not an integer
        await pilot.pause()
    assert snap_compare(flow_app(fixed), run_before=run_before)


def test_passwords_masked(snap_compare, fixed: Path) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _to_services(pilot)
        await pilot.press("ctrl+n")
        await pilot.pause()
        await pilot.press("ctrl+n")
        await pilot.pause()
        for field in ("#pw1-demo_password", "#pw2-demo_password"):  # the secret's two fields, not the keyring's
            pilot.app.screen.query_one(field).focus()
            await pilot.press(*PASSWORD)
        await pilot.pause()
        assert [pilot.app.screen.query_one(f).value for f in ("#pw1-demo_password", "#pw2-demo_password")] \
            == [PASSWORD, PASSWORD]
    assert snap_compare(flow_app(fixed), run_before=run_before)


def test_review(snap_compare, fixed: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(flow_app(fixed, "review"))


def _settle(delay: float = 0.5):  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(delay)
    return run_before


def test_progress_with_stall(snap_compare, fixed: Path) -> None:  # type: ignore[no-untyped-def]
    recorded_run(fixed, EVENTS)
    assert snap_compare(flow_app(fixed, "attach"), run_before=_settle(1.5))


def test_failure_modal(snap_compare, fixed: Path) -> None:  # type: ignore[no-untyped-def]
    recorded_run(fixed, EVENTS + FAILED)
    assert snap_compare(flow_app(fixed, "attach"), run_before=_settle())


def test_summary(snap_compare, fixed: Path) -> None:  # type: ignore[no-untyped-def]
    decision = ev("decision", 1007.0, step="greet.configure.flaky", attempt=1, choice="retry", by="tui:1")
    recorded_run(fixed, EVENTS + FAILED + [decision] + FINISHED)
    openrc = StateDir(fixed).openrc  # a cloud was installed: credentials and the Tempest offer are shown
    openrc.parent.mkdir(parents=True, exist_ok=True)
    openrc.write_text("export OS_AUTH_URL=http://10.0.0.5:5000/v3\n")
    assert snap_compare(flow_app(fixed, "attach"), run_before=_settle())


def test_install_confirmation(snap_compare, fixed: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(flow_app(fixed, "review"), press=["ctrl+r"])


def test_summary_mid_run(snap_compare, fixed: Path) -> None:  # type: ignore[no-untyped-def]
    recorded_run(fixed, EVENTS)

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.5)
        await pilot.press("u")
        await pilot.pause()
    assert snap_compare(flow_app(fixed, "attach"), run_before=run_before)


def test_attach_finished_run_steps(snap_compare, fixed: Path) -> None:  # type: ignore[no-untyped-def]
    decision = ev("decision", 1007.0, step="greet.configure.flaky", attempt=1, choice="retry", by="tui:1")
    recorded_run(fixed, EVENTS + FAILED + [decision] + FINISHED)
    logs = StateDir(fixed).run(RUN)
    logs.step_log("greet.start.slow").write_text("tick 1\ntick 2\nslow done\n")
    logs.step_log("greet.install.hello").write_text("hello 1\nhello 2\nhello 3\n")

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause(0.5)
        await pilot.press("escape")  # from the summary shown first, back to the run
        await pilot.pause()
        pilot.app.screen.query_one("#steps").focus()
        await pilot.pause()
        await pilot.press("up", "up", "up")  # from greet.slow up to greet.hello
        await pilot.pause()
    assert snap_compare(flow_app(fixed, "attach"), run_before=run_before)


def test_help(snap_compare, fixed: Path) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _checked(pilot)
        await pilot.press("f1")
    assert snap_compare(flow_app(fixed), run_before=run_before)


def test_no_password_in_any_snapshot() -> None:
    svgs = list(SNAPSHOTS.rglob("*.svg"))
    assert len(svgs) >= 10, "run the snapshot tests first"
    for svg in svgs:
        assert PASSWORD not in svg.read_text(), svg


PARALLEL_PHASES = [{"name": "init", "steps": ["keystone.init.bootstrap", "placement.init.db-sync",
                                              "glance.init.db-sync", "neutron.init.db-upgrade",
                                              "nova.init.db-sync"]}]
PARALLEL_EVENTS = [
    ev("run_started", 1000.0, profile="all-in-one", pid=4242, phases=PARALLEL_PHASES, state_dir=str(STATE),
       jobs=3, after={"placement.init.db-sync": ["keystone.init.bootstrap"],
                      "glance.init.db-sync": ["keystone.init.bootstrap"],
                      "neutron.init.db-upgrade": ["keystone.init.bootstrap"],
                      "nova.init.db-sync": ["placement.init.db-sync", "glance.init.db-sync"]}),
    ev("phase_started", 1000.0, phase="init"),
    ev("step_started", 1000.0, step="keystone.init.bootstrap", phase="init", title="bootstrap",
       command="keystone-manage bootstrap", attempt=1),
    ev("step_finished", 1010.0, step="keystone.init.bootstrap", status="ok", duration=10.0, exit_code=0),
    *[ev("step_started", 1010.0 + i, step=sid, phase="init", title=f"database sync of {sid.split('.')[0]}",
         command=f"/opt/stack/venv/bin/{sid.split('.')[0]}-manage db sync", attempt=1)
      for i, sid in enumerate(("placement.init.db-sync", "glance.init.db-sync", "neutron.init.db-upgrade"))],
    ev("output", 1020.0, step="placement.init.db-sync",
       lines=["INFO [alembic] Running upgrade -> b4ed3a175331"], dropped=0),
    ev("output", 1021.0, step="glance.init.db-sync",
       lines=["Upgraded database to: 2024_1_expand01, current revision(s)"], dropped=0),
    ev("output", 1022.0, step="neutron.init.db-upgrade",
       lines=[f"Running upgrade for neutron ... step {i}" for i in range(6)], dropped=0),
]


def test_progress_parallel_steps(snap_compare, fixed: Path) -> None:  # type: ignore[no-untyped-def]
    """Three steps at once at 80x24: the newest's live output, the others' last lines above it."""
    recorded_run(fixed, PARALLEL_EVENTS)
    assert snap_compare(flow_app(fixed, "attach"), run_before=_settle(1.5))


HOSTS = ("lab1", "lab2", "lab3")
HOST_PHASES = [{"name": "install", "steps": [f"{s}@{h}" for s in ("base.install.prepare", "greet.install.hello")
                                             for h in HOSTS]},
               {"name": "configure", "steps": [f"greet.configure.flaky@{h}" for h in HOSTS]}]


def _on(type_: str, ts: float, step: str, host: str, **fields: object) -> dict[str, object]:
    return ev(type_, ts, step=f"{step}@{host}", host=host, **fields)


HOST_EVENTS = [
    ev("run_started", 1000.0, profile="tuidemo", pid=4242, phases=HOST_PHASES, state_dir=str(STATE)),
    ev("phase_started", 1000.0, phase="install"),
    *[_on("step_skipped", 1000.5, "base.install.prepare", h, reason="done") for h in HOSTS],
    *[_on("step_started", 1001.0, "greet.install.hello", h, phase="install", title="print a greeting",
          command="echo hello", attempt=1) for h in HOSTS],
    *[_on("step_finished", 1002.0, "greet.install.hello", h, status="ok", duration=1.0, exit_code=0)
      for h in HOSTS],
    ev("phase_finished", 1002.0, phase="install", duration=2.0),
    ev("phase_started", 1002.0, phase="configure"),
    *[_on("step_started", 1003.0, "greet.configure.flaky", h, phase="configure", title="fail once",
          command="test -e /tmp/w/flaky", attempt=1) for h in HOSTS],
    _on("step_finished", 1005.0, "greet.configure.flaky", "lab1", status="ok", duration=2.0, exit_code=0),
    _on("output", 1005.5, "greet.configure.flaky", "lab3", lines=["still working on lab3"], dropped=0),
    _on("step_failed", 1006.0, "greet.configure.flaky", "lab2", attempt=1, exit_code=3, signal=None,
        timed_out=None, cause=None, message="step greet.configure.flaky@lab2 exited with code 3 on lab2",
        log=f"{STATE}/runs/{RUN}/logs/greet.configure.flaky@lab2.log", tail=["lab2: /tmp/w/flaky: missing"]),
]
HOST_DECISION = [_on("decision_needed", 1006.0, "greet.configure.flaky", "lab2", attempt=1,
                     choices=["retry", "skip", "abort"])]


def test_progress_per_host(snap_compare, fixed: Path) -> None:  # type: ignore[no-untyped-def]
    """A run on three inventory hosts at 80x24: each host's done/running/failed, the host of each step."""
    recorded_run(fixed, HOST_EVENTS)
    assert snap_compare(flow_app(fixed, "attach"), run_before=_settle(1.0))


def test_failure_on_a_host(snap_compare, fixed: Path) -> None:  # type: ignore[no-untyped-def]
    """The failure dialog of a step on one host names it, and offers retry and a shell on that host."""
    recorded_run(fixed, HOST_EVENTS + HOST_DECISION)
    assert snap_compare(flow_app(fixed, "attach"), run_before=_settle())


def test_hosts_screen(snap_compare, fixed: Path) -> None:  # type: ignore[no-untyped-def]
    """The Hosts screen at 80x24 after a test: two usable hosts with their facts, one unreachable,
    and Next refused naming it (the real test runs against lab hosts: test_hosts_screen.py)."""
    from tui_installer.preview import HostSpec

    app = flow_app(fixed, "review")
    key = str(fixed / "id_ed25519")
    Path(key).write_text("not a real key\n")
    app.session.multi_host = True
    app.session.hosts = [HostSpec("ctl", "192.0.2.10", key=key, role="controller"),
                         HostSpec("cmp1", "192.0.2.11", key=key), HostSpec("cmp2", "192.0.2.12", key=key, port=2222)]
    facts = {"reachable": True, "sudo": True, "error": None, "distro": "Debian 12.15", "cpus": 8,
             "ram_mb": 32000, "disk_free_gb": 211.5, "kvm": True}
    app.session.host_tests = {
        "ctl": {"host": "ctl", **facts, "clock_skew": 0.0},
        "cmp1": {"host": "cmp1", **facts, "kvm": False, "clock_skew": 0.3},
        "cmp2": {"host": "cmp2", "reachable": False, "sudo": False, "clock_skew": None,
                 "error": "Failed to connect to the host via ssh: ssh: connect to host 192.0.2.12 port 2222: "
                          "Connection refused"}}

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        pilot.app.post_message(ShowHosts())
        await pilot.pause(0.3)
        await pilot.press("ctrl+n")  # refused: cmp2 is unreachable
        await pilot.pause()
    assert snap_compare(app, run_before=run_before)
