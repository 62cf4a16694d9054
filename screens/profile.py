"""Profile: a preset (with its description), or a profile/answers file given by path."""

from __future__ import annotations

from rich.console import Group
from rich.padding import Padding
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option
from tui_installer.screens.flow import FlowScreen
from tui_installer.screens.messages import FlowNext
from tui_installer.screens.widgets.marked import MarkedOptionList

from tui_installer import preview
from tui_installer.errors import UserError


class ProfileScreen(FlowScreen):
    NAME = "profile"

    def body(self) -> ComposeResult:
        yield Label("Choose a preset (Enter), or give the path of a profile or answers file below.",
                    classes="hint")
        options = []
        for info in preview.list_profiles():
            # the first column is left free for the cursor's ``>`` (MarkedOptionList)
            prompt = Group(Text(f"  {info.name}", "bold"), Padding(Text(info.description, "dim"), (0, 0, 0, 4)))
            options.append(Option(prompt, id=info.name))
        yield MarkedOptionList(*options, id="presets")
        yield Input(placeholder="or a path: /root/my-profile.yaml", id="profile-path")
        yield Label("", id="profile-error", classes="error")

    def on_mount(self) -> None:
        presets = self.query_one("#presets", OptionList)
        current = self.session.profile_arg
        if current and not preview.is_path(current):
            for i in range(presets.option_count):
                if presets.get_option_at_index(i).id == current:
                    presets.highlighted = i
        elif current:
            path = self.query_one("#profile-path", Input)
            path.value = self.session.answers_source or current
            path.focus()
            return
        presets.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if self.choose(str(event.option.id)):
            self.post_message(FlowNext(self.NAME))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_next()

    def leave(self) -> bool:
        path = self.query_one("#profile-path", Input).value.strip()
        if path:
            return self.choose(path)
        presets = self.query_one("#presets", OptionList)
        if presets.highlighted is None:
            return self.fail("Choose a preset or give a path.")
        return self.choose(str(presets.get_option_at_index(presets.highlighted).id))

    def choose(self, name: str) -> bool:
        if name == self.session.profile_arg and self.session.profile is not None:
            return True  # keep what was already chosen (services, settings)
        try:
            self.session.choose_profile(name)
        except (UserError, ValueError, OSError) as exc:
            return self.fail(str(exc))
        return True

    def fail(self, message: str) -> bool:
        self.query_one("#profile-error", Label).update(message)
        return False
