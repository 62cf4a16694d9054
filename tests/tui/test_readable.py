"""What the lead found walking the TUI at 80x24, each checked here: selection state readable as text,
every setting of the plan shown (required ones enforced), no keyring for a plan without secrets, the
password status following the typing, and a progress view that says what it knows."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from textual import events
from textual.widgets import Collapsible, Input, Label, Select, Sparkline
from tui_installer.screens import summary
from tui_installer.screens.app import InstallerApp
from tui_installer.screens.passwords import PasswordsScreen
from tui_installer.screens.progress import ProgressScreen
from tui_installer.screens.review import ReviewScreen
from tui_installer.screens.services import ServicesScreen
from tui_installer.screens.session import Session
from tui_installer.screens.settings import SettingsScreen
from tuihelpers import PASSPHRASE, PASSWORD, PROFILE, install_from_review, make_state, wait_until

from tui_installer.secrets import PASSPHRASE_ENV

pytestmark = pytest.mark.tui
SILENT = PROFILE.parent / "silent.yaml"


class StartAt(InstallerApp):
    """The app opened at one flow screen (the screens before it are walked by test_flow)."""

    def __init__(self, session: Session, screen: str) -> None:
        super().__init__(session, mode="flow")
        self.first = screen

    def on_mount(self, event: events.Mount) -> None:
        event.prevent_default()
        self.goto(self.first)


def app_at(state: Path, profile: str, screen: str) -> InstallerApp:
    session = Session(state_dir=state)
    session.choose_profile(profile)
    return StartAt(session, screen)


def rows(listing) -> list[str]:  # type: ignore[no-untyped-def]
    """The rows as read, without the cursor's ``>`` column (test_operator checks that one)."""
    return [listing.render_line(y).text.strip().removeprefix(">") for y in range(listing.option_count)]


def test_services_state_reads_as_text_and_toggles_from_the_keyboard(tmp_path: Path) -> None:
    async def walk() -> None:
        app = app_at(make_state(tmp_path), str(PROFILE), "services")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, ServicesScreen), what="services")
            listing = app.screen.query_one("#services")
            by_name = {r[4:].split()[0]: r[:3] for r in rows(listing)}
            assert by_name["base"] == "[x]" and by_name["greet"] == "[x]", rows(listing)
            assert by_name["mariadb"] == "[ ]", "an unselected service must not look selected"
            await pilot.press("space")  # base: greet requires it
            await pilot.pause()
            assert "required by greet" in str(app.screen.query_one("#why").render())
            assert rows(listing)[0].startswith("[x] base")
            listing.highlighted = [r[4:].split()[0] for r in rows(listing)].index("mariadb")
            await pilot.press("space")
            await pilot.pause()
            assert rows(listing)[listing.highlighted].startswith("[x] mariadb")
            assert "Added mariadb" in str(app.screen.query_one("#why").render())
    asyncio.run(walk())


def test_settings_shows_profile_settings_and_enforces_required_ones(tmp_path: Path) -> None:
    async def walk(profile: str) -> tuple[dict[str, str], list[str], Session]:
        (tmp_path / profile).mkdir()
        app = app_at(make_state(tmp_path / profile), profile, "settings")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="settings")
            screen = app.screen
            fields = {w.id.removeprefix("set-"): str(getattr(w, "value", "")) for w in screen.query(".form Input")}
            labels = [str(w.render()) for w in screen.query(".setting-label")]
            if profile == "compute-only":
                await pilot.press("ctrl+n")
                assert isinstance(app.screen, SettingsScreen), "no controller address: must stay"
                assert "required" in str(screen.query_one("#err-controller_host").render())
                screen.query_one("#set-controller_host", Input).value = "not an address!"
                await pilot.press("ctrl+n")
                assert isinstance(app.screen, SettingsScreen), "a bad address: must stay"
                screen.query_one("#set-controller_host", Input).value = "127.0.0.1"
                screen.query_one("#set-host_name", Input).value = "node2"
                await pilot.press("ctrl+n")
                await wait_until(pilot, lambda: isinstance(app.screen, PasswordsScreen), what="passwords")
            return fields, labels, app.session

    fields, _, _ = asyncio.run(walk("demo"))
    assert fields.get("greeting") == "hi", "a setting the profile introduces must be shown"
    assert "host_name" in fields
    fields, labels, session = asyncio.run(walk("compute-only"))
    assert "controller_host *" in labels and fields["controller_host"] == ""
    assert session.settings == {"controller_host": "127.0.0.1", "host_name": "node2"}
    assert session.build_plan().settings["controller_host"] == "127.0.0.1"


def test_settings_form_is_generated_from_the_declarations(tmp_path: Path) -> None:
    """Choices as a selector, descriptions shown, advanced settings folded away and unfolded when one of
    them is wrong, every keystroke judged by the engine's validator."""
    async def walk() -> Session:
        app = app_at(make_state(tmp_path), "all-in-one", "settings")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="settings")
            screen = app.screen
            virt = screen.query_one("#set-virt_driver", Select)
            assert [str(o[0]) for o in virt._options] == ["libvirt", "fake"]
            descriptions = [str(w.render()) for w in screen.query(".setting-desc")]
            assert any(d.startswith("hypervisor driver: libvirt") for d in descriptions)
            folded = screen.query_one("#adv-openstack-base", Collapsible)
            assert folded.collapsed and folded.query("#set-keystone_port"), "advanced: folded away"
            assert "openstack-base" in [str(w.render()) for w in screen.query(".setting-group")]
            port = screen.query_one("#set-keystone_port", Input)
            port.value = "70000"
            await pilot.pause()
            assert "expected a port number (1-65535)" in str(screen.query_one("#err-keystone_port").render())
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert isinstance(app.screen, SettingsScreen) and not folded.collapsed and port.has_focus
            port.value = "5001"
            virt.value = "fake"
            await pilot.press("ctrl+n")
            await wait_until(pilot, lambda: isinstance(app.screen, PasswordsScreen), what="passwords")
            return app.session

    session = asyncio.run(walk())
    assert session.settings == {"keystone_port": 5001, "virt_driver": "fake"}


def test_plan_without_secrets_needs_no_keyring(tmp_path: Path) -> None:
    """Passwords lets Next through, and Install starts the engine with no passphrase at all."""
    state = make_state(tmp_path)
    release = tmp_path / "go"
    release.touch()

    async def walk() -> str:
        app = app_at(state, str(SILENT), "passwords")
        app.session.settings = {"release_file": str(release)}
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, PasswordsScreen), what="passwords")
            assert "needs no secrets" in str(app.screen.query_one("#no-secrets").render())
            assert not app.screen.query("#pp1"), "no keyring to unlock"
            await pilot.press("ctrl+n")
            await wait_until(pilot, lambda: isinstance(app.screen, ReviewScreen), what="review")
            await install_from_review(app, pilot)
            await wait_until(pilot, lambda: any(isinstance(s, ProgressScreen) for s in app.screen_stack),
                             what="progress")
            progress = next(s for s in app.screen_stack if isinstance(s, ProgressScreen))
            console = state / "engine-console.log"
            await wait_until(pilot, lambda: progress.state.over, timeout=60,
                             what=f"run over: {progress.state.state} "
                                  f"{console.read_text() if console.exists() else 'no console log'}")
            return str(progress.state.run)

    run = asyncio.run(walk())
    journal = json.loads((state / "runs" / run / "journal.json").read_text())
    assert journal["state"] == "ok", (state / "engine-console.log").read_text()
    assert not (state / "keyring.cfg").exists(), "a plan without secrets must not open the keyring"


def test_headless_install_without_secrets_opens_no_keyring(tmp_path: Path) -> None:
    """What the TUI relies on: no passphrase anywhere, stdin closed, and the engine still runs."""
    state = make_state(tmp_path)
    release = tmp_path / "go"
    release.touch()
    env = {k: v for k, v in os.environ.items() if k != PASSPHRASE_ENV}
    done = subprocess.run([sys.executable, "-m", "tui_installer", "install", "-p", str(SILENT), "--yes",
                           "--set", f"release_file={release}", "--state-dir", str(state)],
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (state / "keyring.cfg").exists()


def test_password_status_follows_the_typing(tmp_path: Path) -> None:
    async def walk() -> list[str]:
        app = app_at(make_state(tmp_path), str(PROFILE), "passwords")
        seen = []
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, PasswordsScreen), what="passwords")
            screen = app.screen
            for selector, text in (("#pp1", PASSPHRASE), ("#pp2", PASSPHRASE)):
                screen.query_one(selector, Input).value = text
            await pilot.press("enter")
            await wait_until(pilot, lambda: screen.store is not None, what="keyring unlocked")
            status = screen.query_one("#st-demo_password", Label)
            seen.append(str(status.render()))
            for selector, text in (("#pw1-demo_password", PASSWORD), ("#pw2-demo_password", "x"),
                                   ("#pw2-demo_password", PASSWORD)):
                screen.query_one(selector, Input).value = text
                await pilot.pause()
                seen.append(str(status.render()))
        return seen

    seen = asyncio.run(walk())
    assert seen == ["generated on Next", "type it again", "entries differ", "ready: stored on Next"]
    assert PASSWORD not in " ".join(seen)


def spark_text(spark: Sparkline) -> str:
    out = io.StringIO()
    Console(file=out, width=spark.size.width, color_system=None).print(spark.render())
    return out.getvalue()


def test_progress_starts_flat_and_without_an_estimate(tmp_path: Path) -> None:
    """One resource sample (no change to draw yet) and no earlier run of these steps."""
    state = make_state(tmp_path)
    run_dir = state / "runs" / "20260101-000000-1"
    run_dir.mkdir(parents=True)
    events = [{"ts": 1.0, "type": "run_started", "run": run_dir.name, "profile": "p", "pid": 1,
               "phases": [{"name": "install", "steps": ["a.install.x", "a.install.y"]}]},
              {"ts": 1.0, "type": "step_started", "run": run_dir.name, "step": "a.install.x", "phase": "install",
               "title": "x", "command": "true", "attempt": 1},
              {"ts": 2.0, "type": "resources", "run": run_dir.name, "cpu": 40.0, "mem_used": 1e9, "mem_total": 4e9,
               "disk_read_bps": 10.0, "disk_write_bps": 0.0, "net_rx_bps": 5.0, "net_tx_bps": 0.0}]
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (state / "last-run").write_text(run_dir.name)
    other = state / "runs" / "20251231-000000-1"  # an earlier run of other steps: no estimate from it
    other.mkdir()
    (other / "journal.json").write_text(json.dumps({"steps": {"b.install.z": {
        "status": "ok", "started": 0.0, "finished": 0.01}}}))

    async def walk() -> tuple[list[str], str]:
        app = InstallerApp(Session(state_dir=state), mode="attach")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, ProgressScreen)
                             and app.screen.state.resources.last, what="resources shown")
            await pilot.pause()
            sparks = [spark_text(s) for s in app.screen.query(Sparkline)]
            return sparks, str(app.screen.query_one("#eta", Label).render())

    sparks, eta = asyncio.run(walk())
    assert sparks and all("█" not in s for s in sparks), sparks
    assert "no estimate yet" in eta and "0s left" not in eta, eta


def test_summary_names_credentials_only_of_this_install(tmp_path: Path) -> None:
    """A clouds.yaml on the host may be another install's (a colleague's cloud): shown only when this
    state directory's install wrote its admin-openrc."""
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds: {admin: {auth: {auth_url: 'http://10.0.0.9:5000/v3'}, region_name: R}}\n")
    state = make_state(tmp_path)
    assert str(clouds) not in summary.credentials_text(state, clouds)
    (state / "admin-openrc").write_text("export OS_CLOUD=admin\n")
    text = summary.credentials_text(state, clouds)
    assert str(clouds) in text and "http://10.0.0.9:5000/v3" in text and str(state / "admin-openrc") in text
