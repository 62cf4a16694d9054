"""The Summary screen: how the run ended, time per phase, where the cloud's credentials are, what next."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, Static
from tui_installer.screens.runstate import RunState, fmt_duration, run_title

from tui_installer import client
from tui_installer.errors import UserError
from tui_installer.preview import Plan
from tui_installer.statedir import CloudNetworks, StateDir

CLOUDS_YAML = Path("/etc/openstack/clouds.yaml")


class SummaryScreen(Screen[None]):
    BINDINGS = [Binding("escape,b", "app.pop_screen", "Back to progress"),
                Binding("v", "validate", "Validate (Tempest)"),
                Binding("n", "add_node", "Add host"),
                Binding("x", "remove_node", "Remove host"),
                Binding("q", "app.quit", "Quit")]

    def __init__(self, state_dir: Path, state: RunState, clouds_yaml: Path | None = None) -> None:
        super().__init__()
        self.state_dir, self.state = state_dir, state
        self.clouds_yaml = clouds_yaml or CLOUDS_YAML

    def compose(self) -> ComposeResult:
        s = self.state
        yield Label(title(s), classes="title")
        with VerticalScroll(classes="body"):
            yield Static(phase_table(s), id="sum-phases")
            if s.skipped_undone:
                yield Static(skipped_text(s), id="sum-skipped", classes="error")
            yield Static(credentials_text(self.state_dir, self.clouds_yaml), id="sum-creds")
            yield Static(endpoints_text(run_plan(StateDir(self.state_dir), s.run)), id="sum-endpoints")
            nets = StateDir(self.state_dir).networks()
            if nets:
                yield Static(networks_text(nets), id="sum-networks",
                             classes="" if nets.security_groups_enforced else "error")
            if self._cloud():
                yield Static(validate_text(StateDir(self.state_dir)), id="sum-validate")
            yield Static(next_steps(self.state_dir, s), id="sum-next")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(1.0, self._refresh_validate)

    def _cloud(self) -> bool:
        """An OpenStack cloud this state directory installed (its admin-openrc), or one validated before."""
        state = StateDir(self.state_dir)
        return state.openrc.exists() or bool(state.validation.result() or state.validation.progress())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`v` (Tempest) only where there is a cloud to validate: not after a profile without keystone;
        `n`/`x` (add or remove a compute host) only after a finished install on an inventory."""
        if action == "validate":
            return self._cloud()
        if action in ("add_node", "remove_node"):
            return self._grows()
        return True

    def _grows(self) -> bool:
        """A finished, successful install on an inventory: a cloud that can grow or shrink."""
        if not (self.state.over and self.state.state == "ok"):
            return False
        state = StateDir(self.state_dir)
        record = state.run(self.state.run).read_journal()
        plan = run_plan(state, self.state.run)
        return bool(plan and plan.inventory and record is not None and record.kind == "install")

    def action_add_node(self) -> None:
        from tui_installer.screens.messages import StartInstall
        from tui_installer.screens.nodes import AddNodeScreen

        plan = run_plan(StateDir(self.state_dir), self.state.run)
        if plan is None or not plan.inventory:
            return

        def added(answers: Path | None) -> None:
            if answers is not None:
                self.post_message(StartInstall(answers))

        self.app.push_screen(AddNodeScreen(self.state_dir, plan.inventory), added)

    def action_remove_node(self) -> None:
        from tui_installer.screens.dialogs import ConfirmScreen
        from tui_installer.screens.messages import RemoveNode
        from tui_installer.screens.nodes import RemoveNodeScreen

        plan = run_plan(StateDir(self.state_dir), self.state.run)
        computes = [h for h in (plan.hosts if plan else ()) if h != (plan.hosts[0] if plan else None)]
        if not computes:
            self.notify("No compute host to remove.", severity="warning")
            return

        def chosen(host: str | None) -> None:
            if host is None:
                return

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.post_message(RemoveNode(host))

            self.app.push_screen(ConfirmScreen(
                f"Remove compute host {host}?", "Its services stop and are deleted at the controller, its "
                "agents removed, the host cleaned and taken out of the inventory. Servers still on it make "
                "the removal stop before anything changes.", yes="Remove"), confirmed)

        self.app.push_screen(RemoveNodeScreen(computes), chosen)

    def _refresh_validate(self) -> None:
        for view in self.query("#sum-validate").results(Static):
            view.update(validate_text(StateDir(self.state_dir)))

    def action_validate(self) -> None:
        """Tempest against the cloud, in the background; its progress and result render here."""
        progress = StateDir(self.state_dir).validation.progress()
        if progress and progress.get("state") == "running" and self._validating():
            self.notify("validate is already running")
            return
        if not (self.state.over and self.state.state == "ok"):
            self.notify("validate needs a finished, successful install", severity="warning")
            return
        self._proc = client.start_validate(self.state_dir)
        self.notify("validate started: Tempest's smoke tests (~3 min)")

    def _validating(self) -> bool:
        proc = getattr(self, "_proc", None)
        return proc is not None and proc.poll() is None


def title(s: RunState) -> str:
    """The verdict line; a run still going says so (this summary is of the run so far)."""
    if not s.over:
        elapsed = (time.time() - s.started) if s.started else None
        return f"{run_title(s)}: still running ({fmt_duration(elapsed)} so far)"
    return f"{run_title(s)} {s.verdict.split(':')[0]} in {fmt_duration(s.duration)}"


def skipped_text(s: RunState) -> str:
    names = s.skipped_undone
    return (f"\n{len(names)} step(s) skipped after failing; their work is not done:\n"
            + "\n".join(f"  {name}" for name in names))


def phase_table(s: RunState) -> str:
    lines = ["Time per phase:"]
    for phase in s.phases.values():
        steps = [s.steps[i] for i in phase.steps if i in s.steps]
        ran = sum(1 for st in steps if st.status == "ok")
        skipped = sum(1 for st in steps if st.status == "skipped")
        failed = sum(1 for st in steps if st.status == "failed")
        extra = f", {failed} failed" if failed else ""
        lines.append(f"  {phase.name:<10} {fmt_duration(phase.duration):>7}   "
                     f"{ran} ran, {skipped} skipped{extra}")
    return "\n".join(lines)


def credentials_text(state_dir: Path, clouds_yaml: Path) -> str:
    lines = ["", "Credentials:"]
    openrc = StateDir(state_dir).openrc
    if not openrc.exists():  # a clouds.yaml on this host may belong to another install: not this run's
        return "\n".join(lines + ["  none written by this install (no admin-openrc in its state directory)"])
    clouds = _read_clouds(clouds_yaml)
    if clouds:
        lines.append(f"  clouds.yaml: {clouds_yaml} (cloud names: {', '.join(clouds)})")
        for name, cloud in clouds.items():
            auth = cloud.get("auth", {}) if isinstance(cloud, dict) else {}
            region = cloud.get("region_name", "?") if isinstance(cloud, dict) else "?"
            lines.append(f"  {name}: identity {auth.get('auth_url', '?')}, region {region}")
    else:
        lines.append(f"  clouds.yaml: not written ({clouds_yaml} does not exist)")
    lines.append(f"  openrc: {openrc}")
    return "\n".join(lines)


def run_plan(state: StateDir, run: str) -> Plan | None:
    """The plan ``run`` ran, or None when it cannot be read (the summary then shows no endpoints)."""
    try:
        return state.run(run).plan()
    except (OSError, ValueError, KeyError, TypeError, UserError):
        return None


def endpoints_text(plan: Plan | None) -> str:
    """The API endpoints the plan's services declare (``endpoints:`` in their files, resolved in the plan)."""
    endpoints = plan.endpoints if plan else ()
    if not endpoints:
        return ""
    return "\nEndpoints:\n" + "\n".join(f"  {e.service:<12} {e.url}" for e in endpoints)


def networks_text(nets: CloudNetworks) -> str:
    """The public network, the router and how to reach a VM, as the install published them."""
    lines = ["", "Networks:"]
    if nets.created:
        first, last = nets.floating_range
        lines += [f"  public   {nets.public_cidr} on {nets.bridge} (this host: {nets.public_gateway}), "
                  f"floating IPs {first}-{last}",
                  f"  private  {nets.private_cidr} (DHCP; metadata at 169.254.169.254)",
                  f"  router1  gateway {nets.router_external_ip or '?'}, namespace {nets.namespace}",
                  "  reach a VM: openstack server create --network private ...; openstack floating ip create "
                  "public;",
                  "    openstack server add floating ip VM IP; then from this host:",
                  f"    ip netns exec {nets.namespace} ping IP   (or ssh)"]
    else:
        lines.append("  none created (create_default_networks=false)")
    if not nets.security_groups_enforced:
        lines.append(f"  WARNING: security groups are NOT enforced (neutron_firewall_driver="
                     f"{nets.security_groups_driver})")
    return "\n".join(lines)


def _read_clouds(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    clouds = data.get("clouds") if isinstance(data, dict) else None
    return clouds if isinstance(clouds, dict) else {}


def validate_text(state: StateDir) -> str:
    """Validation (Tempest): offered, running (tests done / selected, the current one), or its result."""
    files = state.validation
    progress, result = files.progress(), files.result()
    lines = ["", "Validation (Tempest):"]
    if progress and progress.get("state") == "running":
        lines.append(f"  running {progress.get('selection', '')}: "
                     f"{progress.get('done', 0)}/{progress.get('total', '?')} tests "
                     f"({progress.get('passed', 0)} passed, {progress.get('failed', 0)} failed, "
                     f"{progress.get('skipped', 0)} skipped)")
        lines.append(f"  now: {progress.get('current', '')}")
        return "\n".join(lines)
    if progress and progress.get("state") == "preparing":
        return "\n".join([*lines, "  preparing: checking the cloud, images, flavors, tempest.conf..."])
    if progress and progress.get("state") == "error":
        return "\n".join([*lines, f"  not run: {progress.get('message', '')}", "  v: try again"])
    if not result:
        console = files.read(files.console_file)
        if console and console.strip():  # started, but stopped before Tempest ran (exit 2: one line)
            lines.append("  " + console.strip().splitlines()[-1])
        lines.append("  press v to run Tempest's smoke tests against this cloud (tui-installer validate)")
        return "\n".join(lines)
    lines.append(f"  {result.get('passed', 0)} passed, {result.get('failed', 0)} failed, "
                 f"{result.get('skipped', 0)} skipped ({result.get('selection', '')}, "
                 f"{fmt_duration(result.get('seconds'))})")
    lines += [f"  FAILED {t}" for t in result.get("failed_ids", [])[:20]]
    whys: dict[str, int] = {}
    for skip in result.get("skips", []):
        whys[skip.get("why", "?")] = whys.get(skip.get("why", "?"), 0) + 1
    lines += [f"  skipped {n}: {why}" for why, n in sorted(whys.items())]
    lines.append(f"  log: {result.get('log', '')}   (v: run again)")
    return "\n".join(lines)


def next_steps(state_dir: Path, s: RunState) -> str:
    state = StateDir(state_dir)
    logs = state.run(s.run).logs if s.run else "?"
    lines = ["", "What next:"]
    if s.state == "ok" and state.openrc.exists():
        lines += ["  export OS_CLOUD=admin; openstack service list",
                  "  openstack server list      (or: source the openrc above)",
                  "  tui-installer validate      Tempest's smoke tests against this cloud (or press v)"]
    lines.append("  tui-installer status        the journal, step by step")
    plan = run_plan(state, s.run) if s.run else None
    record = state.run(s.run).read_journal() if s.run else None
    if s.state == "ok" and plan is not None and plan.inventory and record is not None and record.kind == "install":
        lines += ["  tui-installer node add NAME --address IP   a compute host more (or press n)",
                  "  tui-installer node remove NAME             one less (or press x)"]
    if not s.over:
        lines.append("  The install is still running: Escape goes back to its progress.")
    elif s.state != "ok" or s.skipped_undone:
        lines.append("  tui-installer               run again with this run's profile and settings;")
        lines.append("                              finished steps are skipped")
    lines += [f"  step logs: {logs}", "", "Escape: back to the progress view.  q: quit."]
    return "\n".join(lines)
