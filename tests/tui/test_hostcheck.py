"""The host check runs the profile's own preflight steps and offers the fix a failed one names
(issue 8, operator defect 7): `f` takes it, the checks run again, and the setting reaches the plan."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest
from tui_installer.screens import hostinfo
from tui_installer.screens.app import InstallerApp
from tui_installer.screens.host import HostScreen, render_facts
from tui_installer.screens.session import Session
from tuihelpers import make_state, screen_text, wait_until

pytestmark = pytest.mark.tui

PROFILE = textwrap.dedent("""\
    name: picky
    services: [probe]
    service_definitions:
      probe:
        settings:
          mode: {type: choice, choices: [strict, relaxed], default: strict, description: how strict}
        phases:
          preflight:
            - name: mode
              run: |
                [ {{ mode }} = relaxed ] || { echo "strict mode cannot work on this host;" \\
                  "use --set mode=relaxed" >&2; exit 1; }
          install:
            - name: noop
              run: "true"
    """)


def test_a_failed_check_offers_its_fix_and_f_takes_it(tmp_path: Path) -> None:
    profile = tmp_path / "picky.yaml"
    profile.write_text(PROFILE)
    session = Session(state_dir=make_state(tmp_path))
    session.profile_arg = str(profile)

    async def walk() -> tuple[str, str]:
        app = InstallerApp(session, mode="flow")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, HostScreen), what="host check")
            await wait_until(pilot, lambda: "1 fail" in screen_text(app), what="the failed check")
            await pilot.press("end")
            before = screen_text(app)
            await pilot.press("f")
            await wait_until(pilot, lambda: "0 fail" in screen_text(app), what="checked again, passing")
            await pilot.press("end")
            return before, screen_text(app)

    before, after = asyncio.run(walk())
    assert "fix: mode=relaxed (press f to use it)" in before and "f: use the fixes" in before, before
    assert "strict mode cannot work" in before and "strict mode cannot work" not in after
    assert session.host_fixes == {"mode": "relaxed"}
    session.choose_profile(str(profile))  # the Profile screen's choice: the fix becomes a setting
    assert session.settings == {"mode": "relaxed"}
    assert session.build_plan().settings["mode"] == "relaxed"


def test_every_fact_is_its_name_a_space_then_its_value(tmp_path: Path) -> None:
    """The names sit in a column of 11; a longer one (Virtualisation) still gets its space."""
    lines = render_facts(tmp_path).plain.splitlines()
    for key, value in hostinfo.facts(tmp_path):
        assert any(line.startswith(key + " ") and value.split("\n")[0][:20] in line for line in lines), key
