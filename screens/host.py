"""Host check: what this machine is, and whether the chosen (or default) profile fits it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import work
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static
from tui_installer.screens import hostinfo
from tui_installer.screens.flow import FlowScreen

STYLE = {"pass": ("PASS", "green"), "warn": ("WARN", "yellow"), "fail": ("FAIL", "bold red")}


class HostScreen(FlowScreen):
    NAME = "host"

    @dataclass
    class Checked(Message):
        """From the check worker: the rendered checks (only the main thread touches widgets)."""

        text: Text

    def body(self) -> Iterable[Widget]:
        profile = self.session.profile_arg or "all-in-one"
        with VerticalScroll(classes="body", id="host-body"):
            yield Static(render_facts(self.session.state_dir), id="host-facts")
            yield Static(f"\nChecking the host for profile {profile}...", id="checks")


    def on_mount(self) -> None:
        self.query_one("#next").focus()
        self.run_checks(self.session.profile_arg or "all-in-one")

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_checks(self, profile: str) -> None:
        """Builds the profile's plan and probes ports (~0.2 s): off the UI thread."""
        text = render_checks(profile, self.session.state_dir, default=self.session.profile_arg is None)
        self.post_message(self.Checked(text))

    def on_host_screen_checked(self, message: Checked) -> None:
        self.query_one("#checks", Static).update(message.text)


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


def render_checks(profile: str, state_dir: Path, default: bool = False) -> Text:
    which = " (the default: another can be chosen next)" if default else ""
    text = Text(f"\nChecks for profile {profile}{which}:\n", "bold")
    for check in hostinfo.checks(profile, state_dir):
        label, style = STYLE[check.status]
        text.append(f"  [{label}] ", style)
        text.append(f"{check.name:<13}{check.why}\n")
    text.append("\nThe profile's preflight phase checks ports and services again before installing.",
                "dim")
    return text
