"""The Hosts screen against real lab hosts (tests/lab): hosts added by address, user and key, tested
through Ansible over SSH in a worker (facts shown per host), an unreachable host and an untested one
refused by name, the controller chosen, and the hosts saved as a standard Ansible inventory beside the
answers file (``inventory:`` in it) that Ansible itself reads back with the roles given."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from lab.fixture import Lab
from textual.widgets import Input
from tui_installer.screens.app import InstallerApp
from tui_installer.screens.hosts import HostsScreen
from tui_installer.screens.review import ReviewScreen
from tui_installer.screens.session import Session
from tuihelpers import PROFILE, make_state, screen_text, wait_until

from tui_installer import hosts

pytestmark = [pytest.mark.tui, pytest.mark.lab]


async def add(pilot, app, **fields: str) -> None:  # type: ignore[no-untyped-def]
    for name, value in fields.items():
        app.screen.query_one(f"#h-{name}", Input).value = value
    app.screen.query_one("#h-name", Input).focus()
    await pilot.press("enter")
    await pilot.pause()


def test_hosts_screen_tests_real_hosts_refuses_bad_ones_and_saves_an_inventory(lab: Lab, tmp_path: Path) -> None:
    asyncio.run(walk(lab, tmp_path))


async def walk(lab: Lab, tmp_path: Path) -> None:
    session = Session(state_dir=make_state(tmp_path))
    session.choose_profile(str(PROFILE))
    session.settings = {"work_dir": str(tmp_path / "w")}
    app = InstallerApp(session, mode="review")
    key, known = str(lab.dir / "id_ed25519"), f"-o UserKnownHostsFile={lab.dir / 'known_hosts'}"
    first, second = lab.hosts[0], lab.hosts[1]
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ReviewScreen), what="review")
        await pilot.press("ctrl+o")  # several hosts
        await wait_until(pilot, lambda: isinstance(app.screen, HostsScreen), what="hosts")
        assert "Step 6/7: Hosts" in screen_text(app)
        await add(pilot, app, name="ctl", address=first.address, key=key, args=known)
        await add(pilot, app, name="cmp", address=second.address, key=key, args=known)
        # nothing listens on port 2 of a lab host: refused, as a host whose sshd is down
        await add(pilot, app, name="ghost", address=second.address, port="2", key=key, args=known)
        assert [(h.name, h.role) for h in session.hosts] == [("ctl", "controller"), ("cmp", "compute"),
                                                             ("ghost", "compute")]
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, HostsScreen)
        assert "ctl is not tested yet" in screen_text(app)

        await pilot.press("ctrl+t")
        await pilot.pause()
        assert "testing..." in screen_text(app)  # the UI answers while Ansible runs in the worker
        await wait_until(pilot, lambda: not app.screen.testing, timeout=120, what="the test")
        text = screen_text(app)
        assert text.count("Debian 12") == 2 and text.count("sudo ok") == 2, text
        assert "UNREACHABLE" in text and "Not usable: ghost" in text, text
        for name in ("ctl", "cmp"):
            found = session.host_tests[name]
            assert found["reachable"] and found["sudo"] and found["cpus"] >= 1 and found["ram_mb"] > 0
            assert abs(found["clock_skew"]) < 2
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, HostsScreen)
        assert "ghost: unreachable over SSH" in screen_text(app)

        listing = app.screen.query_one("#host-list")
        listing.focus()
        listing.highlighted = 2
        await pilot.press("x")  # ghost removed; its fields come back for an edit
        assert [h.name for h in session.hosts] == ["ctl", "cmp"]
        assert app.screen.query_one("#h-port", Input).value == "2"
        listing.highlighted = 1
        await pilot.press("c")  # cmp is the controller now, ctl a compute host; clocks against cmp's
        assert [(h.name, h.role) for h in session.hosts] == [("ctl", "compute"), ("cmp", "controller")]
        assert session.host_tests["cmp"]["clock_skew"] == 0.0
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: isinstance(app.screen, ReviewScreen), what="review")
        assert "On 2 hosts through Ansible: ctl, cmp (controller)" in screen_text(app)

        await pilot.press("ctrl+r")  # the confirmation names the hosts, not "this host"
        await pilot.pause()
        assert "Install on ctl, cmp now?" in screen_text(app) and "on 2 hosts" in screen_text(app)
        await pilot.press("n")
        await pilot.pause()
        answers = tmp_path / "saved" / "my-answers.yaml"
        answers.parent.mkdir()
        app.screen.query_one("#save-path", Input).value = str(answers)
        await pilot.press("ctrl+s")
        await pilot.pause()
    data = yaml.safe_load(answers.read_text())
    assert data["inventory"] == "my-answers-inventory.ini"
    inventory_file = answers.parent / data["inventory"]
    assert inventory_file.stat().st_mode & 0o777 == 0o600
    read = hosts.load_inventory(inventory_file)  # Ansible itself reads it
    assert read.groups == {"controller": ("cmp",), "compute": ("ctl",)}
    assert read.facts["ctl"]["host_ip"] == first.address
    # the saved answers replay: plan --format json runs the steps on both hosts of the inventory
    plan = subprocess.run([sys.executable, "-m", "tui_installer", "plan", "-a", str(answers), "--format", "json"],
                          capture_output=True, text=True)
    assert plan.returncode == 0, plan.stderr
    assert '"base.install.prepare@cmp"' in plan.stdout and '"base.install.prepare@ctl"' in plan.stdout


def test_bad_hosts_are_refused_in_one_line(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("x")
    good = [hosts.HostSpec("a", "192.0.2.1", key=str(key), role="controller"), hosts.HostSpec("b", "192.0.2.2")]
    hosts.check_specs(good)
    cases = {
        "no host is the controller": [hosts.HostSpec("a", "192.0.2.1"), hosts.HostSpec("b", "192.0.2.2")],
        "2 hosts are the controller (a, b)": [hosts.HostSpec("a", "192.0.2.1", role="controller"),
                                              hosts.HostSpec("b", "192.0.2.2", role="controller")],
        "host name b is given twice": [good[0], good[1], hosts.HostSpec("b", "192.0.2.3")],
        "host b: SSH key /nonexistent is not a file": [good[0], hosts.HostSpec("b", "192.0.2.2", key="/nonexistent")],
        "host b: port 0 is not a TCP port": [good[0], hosts.HostSpec("b", "192.0.2.2", port=0)],
        "host name 'b c' may hold only": [good[0], hosts.HostSpec("b c", "192.0.2.2")],
        "host b: address '' is not": [good[0], hosts.HostSpec("b", "")],
        "host b: address '10.0.0.300' is not": [good[0], hosts.HostSpec("b", "10.0.0.300")],
        "host b: address 'x;rm' is not": [good[0], hosts.HostSpec("b", "x;rm")],
        "no host given": [],
    }
    for message, specs in cases.items():
        with pytest.raises(hosts.UserError) as caught:
            hosts.check_specs(specs)
        assert message in caught.value.message and "\n" not in caught.value.format(), caught.value.message


def test_an_inventory_read_back_keeps_its_hosts_roles_and_other_variables(tmp_path: Path) -> None:
    """--inventory / inventory: in answers: the hosts as Ansible resolves them (group vars merged), and
    written again with the variables the screen does not edit (the interpreter, become settings)."""
    source = tmp_path / "given.ini"
    source.write_text("[all:vars]\nansible_user=admin\nansible_python_interpreter=/usr/bin/python3.11\n"
                      "[controller]\nc1 ansible_host=192.0.2.10 ansible_port=2222\n"
                      "[compute]\nn1 ansible_host=192.0.2.11 ansible_become_method=su\n")
    specs = hosts.read_specs(str(source))
    assert [(s.name, s.address, s.user, s.port, s.role) for s in specs] == [
        ("c1", "192.0.2.10", "admin", 2222, "controller"), ("n1", "192.0.2.11", "admin", 22, "compute")]
    again = hosts.write_inventory(specs, tmp_path / "again.ini")
    assert hosts.host_vars(str(again), "n1")["ansible_become_method"] == "su"
    assert hosts.host_vars(str(again), "c1")["ansible_python_interpreter"] == "/usr/bin/python3.11"
    assert hosts.load_inventory(again).groups == {"controller": ("c1",), "compute": ("n1",)}
