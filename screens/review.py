"""Review: the plan as a tree (phases, services, steps with their commands; secrets by name only).

From here the operator saves the answers file (replays the same install headless) or the plan as a
shell script, and starts the install: the engine is started detached and the Progress screen follows.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, Static, Tree
from textual.widgets.tree import TreeNode
from tui_installer.screens.confirm import confirm_install
from tui_installer.screens.flow import FlowScreen
from tui_installer.screens.messages import ShowHosts, StartInstall
from tui_installer.screens.session import Session

from tui_installer import preview
from tui_installer.errors import UserError
from tui_installer.preview import Plan
from tui_installer.statedir import write_private


class ReviewScreen(FlowScreen):
    NAME = "review"
    NEXT_LABEL = "Install"
    BINDINGS = [Binding("ctrl+s", "save_answers", "Save answers"),
                Binding("ctrl+e", "save_script", "Save script"),
                Binding("ctrl+r", "next", "Install"),
                Binding("ctrl+o", "hosts", "Hosts")]

    def body(self) -> ComposeResult:
        yield Static("", id="plan-summary")
        yield Tree("plan", id="plan-tree")
        with Horizontal(id="save-row"):
            yield Input("tui-installer-answers.yaml", id="save-path", compact=True)
            yield Button("Save answers", id="save-answers", compact=True)
            yield Button("Save script", id="save-script", compact=True)
        yield Label("", id="review-error", classes="error")

    def on_mount(self) -> None:
        try:
            plan = self.session.build_plan()
        except UserError as exc:
            error = self.query_one("#review-error", Label)
            error.update(f"Cannot make a plan: {exc}")
            error.display = True
            return
        tree = self.query_one("#plan-tree", Tree)
        if self.app.has_class("ascii"):  # the Linux console has no box-drawing glyphs
            tree.ICON_NODE, tree.ICON_NODE_EXPANDED = "+ ", "- "
            ascii_lines = ("  ", "| ", "`-", "|-")
            tree.LINES = {"default": ascii_lines, "bold": ascii_lines, "double": ascii_lines}
        tree.guide_depth = 3  # deep enough to read the levels, narrow enough to leave room for commands
        fill_tree(tree, plan)
        summary = summary_text(plan)
        if self.session.multi_host and self.session.hosts:
            summary += "\n" + hosts_line(self.session)
        self.query_one("#plan-summary", Static).update(summary)
        self.query_one("#plan-tree", Tree).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save-answers":
            self.action_save_answers()
        elif event.button.id == "save-script":
            self.action_save_script()
        # Back and Install: Textual calls FlowScreen's handler too (every class in the MRO): calling it
        # here as well opened the install confirmation twice

    def target(self, suffix: str) -> Path:
        path = Path(self.query_one("#save-path", Input).value.strip() or "tui-installer-answers.yaml")
        return path.with_suffix(suffix)

    def action_save_answers(self) -> None:
        path = self.target(".yaml")
        self.session.save_answers(path)
        self.notify(f"Saved {path}: replay with `tui-installer install -a {path} --yes`", timeout=8)

    def action_save_script(self) -> None:
        if self.session.plan is None:
            return
        path = self.target(".sh")
        write_private(path, preview.plan_sh(self.session.plan), mode=0o700)
        self.notify(f"Saved {path}: secrets are read from the environment, never stored in it", timeout=8)

    def action_hosts(self) -> None:
        """Install on more than one host: to the Hosts screen (it then comes before Review)."""
        self.post_message(ShowHosts())

    def leave(self) -> bool:
        """Never starts the install by itself: it asks first, saying what changes (default No)."""
        if self.session.plan is None:
            return False
        hosts = [h.name for h in self.session.hosts] if self.session.multi_host else None
        self.app.push_screen(confirm_install(self.session.plan, self.session.state_dir, hosts), self.confirmed)
        return False

    def confirmed(self, yes: bool | None) -> None:
        if yes:
            self.post_message(StartInstall())


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def summary_text(plan: Plan) -> str:
    """A few short lines over the tree: sizes, what was added and why, which secrets (names only)."""
    lines = [f"Profile {plan.profile}: {count(len(plan.services), 'service')}, "
             f"{count(len(plan.steps()), 'step')} in {count(len(plan.phases), 'phase')}."]
    by_reason: dict[str, list[str]] = {}
    for name, reason in plan.added.items():
        by_reason.setdefault(reason, []).append(name)
    if by_reason:
        lines.append("Added: " + "; ".join(f"{', '.join(names)} ({why})" for why, names in by_reason.items()))
    lines.append(f"Secrets (by name): {', '.join(plan.secrets) or 'none'}")
    return "\n".join(lines)


def hosts_line(session: Session) -> str:
    """Where the plan runs when it has hosts (through Ansible), the controller named."""
    names = [f"{h.name} ({h.role})" if h.role == "controller" else h.name for h in session.hosts]
    return f"On {count(len(names), 'host')} through Ansible: {', '.join(names)}"


def fill_tree(tree: Tree[str], plan: Plan) -> None:
    tree.root.set_label(f"Plan for {plan.profile} ({count(len(plan.steps()), 'step')})")
    tree.root.expand()
    for phase in plan.phases:
        phase_node = tree.root.add(f"{phase.name} ({count(len(phase.steps), 'step')})", expand=True)
        services: dict[str, TreeNode[str]] = {}
        for step in phase.steps:
            service_node = services.get(step.service)
            if service_node is None:
                service_node = services[step.service] = phase_node.add(step.service, expand=True)
            label = step.name + (f": {step.description}" if step.description else "")
            node = service_node.add(label, expand=True)
            node.add_leaf(f"$ {step.display}")
            for var, secret in step.secret_env.items():
                node.add_leaf(f"env {var}=<secret:{secret}>")
            for prompt in step.prompts:
                answer = f"<secret:{prompt.secret}>" if prompt.secret else repr(prompt.answer)
                node.add_leaf(f"prompt {prompt.expect!r} -> {answer}")
            for check, value in (("creates", step.creates), ("unless", step.unless)):
                if value:
                    node.add_leaf(f"skip if {check}: {value}")
