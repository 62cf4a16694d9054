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
                Binding("end", "scroll('end')", "End", show=False)]

    @dataclass
    class Checked(Message):
        """From the check worker: the rendered checks and their verdict line (only the main thread
        touches widgets)."""

        text: Text
        verdict: Text

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
        self.query_one("#next").focus()
        self.run_checks(self.session.profile_arg or "all-in-one")

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_checks(self, profile: str) -> None:
        """Builds the profile's plan and probes ports (~0.2 s): off the UI thread."""
        found = hostinfo.checks(profile, self.session.state_dir)
        text = render_checks(profile, found, default=self.session.profile_arg is None)
        self.post_message(self.Checked(text, render_verdict(found)))

    def on_host_screen_checked(self, message: Checked) -> None:
        self.query_one("#checks", Static).update(message.text)
        self.query_one("#host-verdict", Static).update(message.verdict)


def render_facts(state_dir: Path) -> Text:
    text = Text()
    for key, value in hostinfo.facts(state_dir):
        text.append(f"{key:<11}", "bold")
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
    return text.append(more)


def render_checks(profile: str, checks: list[hostinfo.Check], default: bool = False) -> Text:
    which = " (the default: another can be chosen next)" if default else ""
    text = Text(f"\nChecks for profile {profile}{which}:\n", "bold")
    for check in checks:
        label, style = STYLE[check.status]
        text.append(f"  [{label}] ", style)
        text.append(f"{check.name:<13}{check.why}\n")
    text.append("\nThe profile's preflight phase checks ports and services again before installing.",
                "dim")
    return text
