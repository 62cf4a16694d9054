"""Host check: what this machine is, and whether the chosen (or default) profile fits it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static
from tui_installer.screens import hostinfo
from tui_installer.screens.flow import FlowScreen

STYLE = {"pass": ("PASS", "green"), "warn": ("WARN", "yellow"), "fail": ("FAIL", "bold red")}


class HostScreen(FlowScreen):
    NAME = "host"

    #: the checks scroll from the keyboard whatever has the focus (Next does, so Enter goes on)
    BINDINGS = [Binding("up", "scroll('up')", "Scroll", show=False),
                Binding("down", "scroll('down')", "Scroll", show=False),
                Binding("pageup", "scroll('page_up')", "PgUp", show=False),
                Binding("pagedown", "scroll('page_down')", "Scroll checks"),
                Binding("home", "scroll('home')", "Top", show=False),
                Binding("end", "scroll('end')", "End", show=False),
                Binding("f", "take_fixes", "Use the fixes")]

    @dataclass
    class Checked(Message):
        """From the check worker: the rendered checks and their verdict line (only the main thread
        touches widgets)."""

        text: Text
        verdict: Text
        fixes: dict[str, str]

    def body(self) -> Iterable[Widget]:
        profile = self.session.profile_arg or "all-in-one"
        with VerticalScroll(classes="body", id="host-body"):
            yield Static(render_facts(self.session.state_dir), id="host-facts")
            yield Static(f"\nChecking the host for profile {profile}...", id="checks")
        yield Static("Checking...", id="host-verdict")

    def action_scroll(self, how: str) -> None:
        body = self.query_one("#host-body", VerticalScroll)
        getattr(body, f"scroll_{how}")(animate=False)

    def on_mount(self) -> None:
        self.offered: dict[str, str] = {}
        self.query_one("#next").focus()
        self.run_checks(self.session.profile_arg or "all-in-one")

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_checks(self, profile: str) -> None:
        """Builds the profile's plan, probes ports and runs its preflight steps (~0.3 s): off the UI thread."""
        found = hostinfo.checks(profile, self.session.state_dir, dict(self.session.host_fixes))
        text = render_checks(profile, found, default=self.session.profile_arg is None)
        fixes = {name: value for check in found if check.status == "fail" for name, value in check.fix}
        self.post_message(self.Checked(text, render_verdict(found), fixes))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The fixes key is offered (and in the footer) only while a failed check proposes one."""
        return bool(getattr(self, "offered", None)) if action == "take_fixes" else True

    def on_host_screen_checked(self, message: Checked) -> None:
        self.offered = message.fixes
        self.refresh_bindings()
        self.query_one("#checks", Static).update(message.text)
        self.query_one("#host-verdict", Static).update(message.verdict)

    def action_take_fixes(self) -> None:
        """Take every fix the failed checks propose (they become settings, shown on Settings), check again."""
        if not self.offered:
            self.notify("No check proposes a fix.", timeout=3)
            return
        self.session.take_host_fixes(self.offered)
        self.notify("Using " + ", ".join(f"{k}={v}" for k, v in self.offered.items()), timeout=4)
        self.query_one("#checks", Static).update("\nChecking again...")
        self.run_checks(self.session.profile_arg or "all-in-one")


def render_facts(state_dir: Path) -> Text:
    text = Text()
    for key, value in hostinfo.facts(state_dir):
        text.append(f"{key:<10} ", "bold")  # a key longer than the column (Virtualisation) keeps a space
        text.append(f"{value}\n")
    text.append("Interfaces ", "bold")
    interfaces = hostinfo.interfaces()
    shown = [f"{i.name}: {', '.join(i.addresses) or 'no address'}" for i in interfaces if i.up]
    down = [i.name for i in interfaces if not i.up]
    if down:  # one line for them all: a host with bridges and test devices has many
        shown.append(f"down: {', '.join(down)}")
    text.append("\n           ".join(shown) + "\n")
    return text


def render_verdict(checks: list[hostinfo.Check]) -> Text:
    """One line, always on screen under the scrolling checks: a WARN or FAIL below the fold is known."""
    counts = {status: sum(1 for c in checks if c.status == status) for status in STYLE}
    text = Text("Host check: ")
    for status, (label, style) in STYLE.items():
        text.append(f"{counts[status]} {label.lower()}", style if counts[status] else "")
        text.append(", " if status != "fail" else "")
    more = " (PgDn, Down: see them all)" if counts["warn"] or counts["fail"] else ""
    if any(c.fix for c in checks if c.status == "fail"):
        more += "; f: use the fixes"
    return text.append(more)


def render_checks(profile: str, checks: list[hostinfo.Check], default: bool = False) -> Text:
    which = " (the default: another can be chosen next)" if default else ""
    text = Text(f"\nChecks for profile {profile}{which}:\n", "bold")
    for check in checks:
        label, style = STYLE[check.status]
        text.append(f"  [{label}] ", style)
        # a long name (a service's own preflight step) gets a line of its own
        name = f"{check.name:<13}" if len(check.name) < 13 else f"{check.name}\n{'':15}"
        text.append(f"{name}{check.why}\n")
        if check.status == "fail" and check.fix:
            fix = ", ".join(f"{k}={v}" for k, v in check.fix)
            text.append(f"         fix: {fix} (press f to use it)\n", "bold")
    text.append("\nThe profile's preflight phase checks ports and services again before installing.",
                "dim")
    return text
