"""Hosts: the machines to install on when there is more than one, reached through Ansible over SSH.

Each host is added by name, address, user, SSH key (port and ssh options if needed); "test" runs the
engine's own check (``preview.test_hosts``: one Ansible run, in a worker) and shows per host whether it
answers, sudo works, its distro, CPUs, RAM, free disk, KVM and its clock against the controller's. One
host is the controller, the others compute. Next refuses hosts that cannot make a run (no controller,
two, a host not tested or unreachable); the hosts are saved with the answers file as a standard Ansible
inventory (``NAME-inventory.ini`` beside it, ``inventory:`` in it).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Label, OptionList
from textual.widgets.option_list import Option
from tui_installer.screens.flow import FlowScreen

from tui_installer.errors import UserError
from tui_installer.preview import MAX_CLOCK_SKEW, HostSpec, check_hosts, test_hosts


class HostList(OptionList):
    """The hosts, two lines each; keys act on the highlighted one."""

    BINDINGS = [Binding("c", "screen.make_controller", "Controller"),
                Binding("delete,x", "screen.remove", "Remove")]


class HostsScreen(FlowScreen):
    NAME = "hosts"
    BINDINGS = [Binding("ctrl+t", "test", "Test hosts")]

    @dataclass
    class Tested(Message):
        """From the test worker: each host's facts, or why the test could not run at all."""

        found: dict[str, dict[str, Any]]
        error: str = ""

    def body(self) -> Iterable[Widget]:
        yield Label("Install on these hosts through Ansible over SSH. Add each, test them (Ctrl+T), "
                    "make one the controller (c).", classes="hint", id="hosts-intro")
        with Horizontal(id="host-row1", classes="host-row"):
            yield Input(placeholder="name (lab1)", id="h-name", compact=True)
            yield Input(placeholder="address", id="h-address", compact=True)
            yield Input("root", placeholder="user", id="h-user", compact=True)
            yield Input("22", placeholder="port", id="h-port", compact=True, type="integer")
        with Horizontal(id="host-row2", classes="host-row"):
            yield Input(placeholder="SSH private key file", id="h-key", compact=True)
            yield Input(placeholder="ssh options", id="h-args", compact=True)
            yield Button("Add", id="h-add", compact=True)
        yield HostList(id="host-list", markup=False, compact=True)
        yield Label("", id="hosts-error", classes="error")

    def on_mount(self) -> None:
        self.testing = False
        self.show_hosts()
        self.query_one("#h-name" if not self.session.hosts else "#host-list").focus()

    # -- the list ----------------------------------------------------------------------------------
    def show_hosts(self, keep: int | None = None) -> None:
        hosts = self.query_one("#host-list", HostList)
        highlighted = hosts.highlighted if keep is None else keep
        options = [Option(render_host(spec, self.session.host_tests.get(spec.name), self.testing), id=spec.name)
                   for spec in self.session.hosts]
        hosts.set_options(options or [Option(Text("No host yet: add one above (Enter or Add).", "dim"),
                                             id="-none-", disabled=True)])
        if options and highlighted is not None:
            hosts.highlighted = min(highlighted, len(options) - 1)

    def selected(self) -> HostSpec | None:
        index = self.query_one("#host-list", HostList).highlighted
        hosts = self.session.hosts
        return hosts[index] if index is not None and index < len(hosts) else None

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "h-add":
            event.stop()
            self.add_host()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if (event.input.id or "").startswith("h-"):
            self.add_host()

    def add_host(self) -> None:
        value = {name: self.query_one(f"#h-{name}", Input).value.strip()
                 for name in ("name", "address", "user", "port", "key", "args")}
        if not value["address"]:
            self.error("Give the host's address (an IP address or a name that resolves).")
            self.query_one("#h-address", Input).focus()
            return
        address = value["address"]
        name = value["name"] or (address.split(".")[0] if not address[:1].isdigit() and ":" not in address
                                 else f"node{len(self.session.hosts) + 1}")
        before = next((s for s in self.session.hosts if s.name == name), None)
        role = before.role if before else (
            "compute" if any(s.role == "controller" for s in self.session.hosts) else "controller")
        spec = HostSpec(name=name, address=value["address"], user=value["user"] or "root",
                        key=value["key"], port=int(value["port"] or 22), ssh_args=value["args"], role=role)
        replaced = before is not None
        hosts = [spec if s.name == name else s for s in self.session.hosts] if replaced \
            else [*self.session.hosts, spec]
        try:  # the first host added is the controller, the others compute: one controller always
            check_hosts(hosts)
        except UserError as exc:
            self.error(exc.message)
            return
        self.session.hosts = hosts
        self.session.host_tests.pop(name, None)
        for field in ("name", "address"):
            self.query_one(f"#h-{field}", Input).value = ""
        self.error("")
        self.notify(f"{'Changed' if replaced else 'Added'} {name} ({role}). Ctrl+T tests the hosts.", timeout=4)
        self.show_hosts(keep=[s.name for s in self.session.hosts].index(name))
        self.query_one("#h-name", Input).focus()

    def action_make_controller(self) -> None:
        spec = self.selected()
        if spec is None:
            return
        for other in self.session.hosts:
            other.role = "controller" if other is spec else "compute"
        self.session.host_tests = rebase_clocks(self.session.host_tests, spec.name)
        self.show_hosts()
        self.error("")

    def action_remove(self) -> None:
        spec = self.selected()
        if spec is None:
            return
        self.session.hosts.remove(spec)
        self.session.host_tests.pop(spec.name, None)
        if spec.role == "controller" and self.session.hosts:
            self.session.hosts[0].role = "controller"
        self.show_hosts()
        # the fields come back for an edit: Add with the same name replaces it
        for field, value in (("name", spec.name), ("address", spec.address), ("user", spec.user),
                             ("port", str(spec.port)), ("key", spec.key), ("args", spec.ssh_args)):
            self.query_one(f"#h-{field}", Input).value = value

    # -- the test (an Ansible run: seconds; off the UI thread) -------------------------------------
    def action_test(self) -> None:
        if not self.session.hosts:
            self.error("Add a host first.")
            return
        if self.testing:
            return
        self.testing = True
        self.error("")
        self.show_hosts()
        self.run_test([HostSpec(**vars(s)) for s in self.session.hosts])

    @work(thread=True, exclusive=True, exit_on_error=False, group="hosts-test")
    def run_test(self, specs: list[HostSpec]) -> None:
        try:
            with tempfile.TemporaryDirectory(prefix="tui-hosts-") as work_dir:
                found = test_hosts(specs, Path(work_dir))
        except UserError as exc:
            self.post_message(self.Tested({}, exc.message))
            return
        self.post_message(self.Tested(found))

    def on_hosts_screen_tested(self, message: Tested) -> None:
        self.testing = False
        self.session.host_tests.update(message.found)
        self.show_hosts()
        if message.error:
            self.error(f"Cannot test: {message.error}")
            return
        bad = [name for name in message.found if problem(message.found[name])]
        self.error(f"Not usable: {', '.join(bad)} (see the list)" if bad else "")
        if not bad:
            self.notify(f"{len(message.found)} host(s) tested: all usable.", timeout=4)

    # -- leaving -----------------------------------------------------------------------------------
    def leave(self) -> bool:
        """Every host tested and usable, exactly one controller; no host at all: this machine alone."""
        if self.testing:
            return self.error("Wait for the test to finish.")
        if not self.session.hosts:
            self.session.multi_host = False
            self.notify("No hosts: the install runs on this machine alone.", timeout=4)
            return True
        try:
            check_hosts(self.session.hosts)
        except UserError as exc:
            key = " (select it, press c)" if "controller" in exc.message else ""
            return self.error(exc.message + key)
        for spec in self.session.hosts:
            found = self.session.host_tests.get(spec.name)
            if found is None:
                return self.error(f"{spec.name} is not tested yet: Ctrl+T tests every host.")
            why = problem(found)
            if why:
                return self.error(f"{spec.name}: {why}. Fix it (select, x to edit) and test again.")
        return True

    def error(self, text: str) -> bool:
        self.query_one("#hosts-error", Label).update(text)
        return False


def rebase_clocks(tests: dict[str, dict[str, Any]], controller: str) -> dict[str, dict[str, Any]]:
    """The tests' clock skews against a new controller's clock (they were against the old one's); the
    roles follow. Without the new controller's own reading, the skews are unknown: test again."""
    base = (tests.get(controller) or {}).get("clock_skew")
    if base is None:
        return {}
    return {name: {**found, "role": "controller" if name == controller else "compute",
                   "clock_skew": None if found.get("clock_skew") is None else round(found["clock_skew"] - base, 1)}
            for name, found in tests.items()}


def problem(found: dict[str, Any]) -> str:
    """Why a tested host cannot be used ("" when it can)."""
    if not found.get("reachable"):
        return f"unreachable over SSH: {short(ssh_reason(str(found.get('error') or 'no answer')))}"
    if not found.get("sudo"):
        return f"sudo does not work: {short(str(found.get('error') or ''))}"
    skew = found.get("clock_skew")
    if skew is not None and abs(skew) > MAX_CLOCK_SKEW:
        return f"clock {skew:+.1f} s off the controller's (more than {MAX_CLOCK_SKEW:.0f} s)"
    return ""


def ssh_reason(error: str) -> str:
    """What ssh said, without Ansible's wrapping ("Task failed: Failed to connect to the host via ssh: ")."""
    for prefix in ("Task failed: ", "Failed to connect to the host via ssh: ", "ssh: "):
        error = error.strip().removeprefix(prefix)
    return error


def short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 3] + "..."


def render_host(spec: HostSpec, found: dict[str, Any] | None, testing: bool) -> Text:
    """Two lines: the host, how it is reached, its role; then what the test found."""
    role = Text("CONTROLLER", "bold") if spec.role == "controller" else Text("compute")
    port = f":{spec.port}" if spec.port != 22 else ""
    text = Text(f"{spec.name:<12} {spec.user}@{spec.address}{port}  ").append(role)
    if spec.key:
        text.append(f"  key {Path(spec.key).name}", "dim")
    text.append("\n    ")
    if testing:
        return text.append("testing...", "yellow")
    if found is None:
        return text.append("not tested yet (Ctrl+T)", "dim")
    why = problem(found)
    if why and not found.get("reachable"):
        return text.append("UNREACHABLE ", "bold red").append(why.partition(": ")[2])
    ram, disk = found.get("ram_mb"), found.get("disk_free_gb")
    facts = [str(found.get("distro") or "?"), f"{found.get('cpus') or '?'} CPU",
             f"{ram / 1024:.0f} GiB RAM" if isinstance(ram, int | float) else "RAM ?",
             f"{disk:.0f} GB free" if isinstance(disk, int | float) else "disk ?",
             "KVM" if found.get("kvm") else "no KVM"]
    skew = found.get("clock_skew")
    text.append(", ".join(facts) + ", ")
    text.append("sudo ok" if found.get("sudo") else "NO sudo", "" if found.get("sudo") else "bold red")
    text.append(", clock " + ("?" if skew is None else f"{skew:+.1f} s"),
                "bold red" if skew is not None and abs(skew) > MAX_CLOCK_SKEW else "")
    return text
