"""The flow screens' common frame (title, Back/Next, keys) and the factory the app uses."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Footer, Label
from tui_installer.screens.messages import FlowBack, FlowNext
from tui_installer.screens.session import Session

TITLES = {"host": "Host check", "profile": "Profile", "services": "Services", "settings": "Settings",
          "passwords": "Passwords", "hosts": "Hosts", "review": "Review"}
ORDER = tuple(TITLES)
#: shown only for more than one host (``--inventory``, ``inventory:`` in answers, or chosen on Review)
OPTIONAL = ("hosts",)


def order(session: Session) -> tuple[str, ...]:
    """The flow's screens for this session: the Hosts screen only when it installs on several hosts."""
    return tuple(n for n in ORDER if n not in OPTIONAL or session.multi_host)


class FlowScreen(Screen[None]):
    """One step of the flow: subclasses give ``body()`` and may refuse to go on in ``leave()``."""

    NAME = ""
    NEXT_LABEL = "Next"
    BINDINGS = [Binding("ctrl+n", "next", "Next"), Binding("ctrl+b", "back", "Back"),
                Binding("escape", "back", "Back", show=False)]

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        steps = order(self.session)
        index = steps.index(self.NAME) + 1 if self.NAME in steps else ORDER.index(self.NAME) + 1
        yield Label(f"Step {index}/{len(steps)}: {TITLES[self.NAME]}", classes="title")
        yield from self.body()
        with Horizontal(classes="buttons"):
            if index > 1:
                yield Button("Back", id="back", compact=True)
            yield Button(self.NEXT_LABEL, id="next", variant="primary", compact=True)
        yield Footer()

    def body(self) -> Iterable[Widget]:
        return []

    def leave(self) -> bool:
        """Save what was entered into the session; False keeps the operator here."""
        return True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "next":
            event.stop()
            self.action_next()
        elif event.button.id == "back":
            event.stop()
            self.action_back()

    def action_next(self) -> None:
        if self.leave():
            self.post_message(FlowNext(self.NAME))

    def action_back(self) -> None:
        if ORDER.index(self.NAME) > 0:
            self.post_message(FlowBack(self.NAME))


def make(name: str, session: Session) -> FlowScreen:
    from tui_installer.screens import host, hosts, passwords, profile, review, services, settings

    classes: dict[str, type[FlowScreen]] = {
        "host": host.HostScreen, "profile": profile.ProfileScreen, "services": services.ServicesScreen,
        "settings": settings.SettingsScreen, "passwords": passwords.PasswordsScreen,
        "hosts": hosts.HostsScreen, "review": review.ReviewScreen}
    return classes[name](session)
