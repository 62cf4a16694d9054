"""Services: a selection list; adding one adds what it requires (and says so), removing one that
another selected service needs is refused with the reason."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Label, SelectionList, Static
from textual.widgets.selection_list import Selection
from tui_installer.screens.flow import FlowScreen

from tui_installer import plan as planning
from tui_installer.errors import UserError


class ServicesScreen(FlowScreen):
    NAME = "services"

    def body(self) -> ComposeResult:
        yield Label("Space toggles a service; dependencies are added for you.", classes="hint")
        catalog = self.session.services()
        order, _ = self.session.resolved()
        items = [Selection(f"{name:<14} {spec.description}"[:70], name, name in order)
                 for name, spec in sorted(catalog.items())]
        yield SelectionList[str](*items, id="services")
        yield Static(self.chosen_text(), id="chosen")
        yield Static("", id="why")

    def chosen_text(self) -> str:
        order, added = self.session.resolved()
        extra = f" (+{len(added)} required)" if added else ""
        return f"Selected {len(order)}{extra}: {', '.join(order)}"

    def on_mount(self) -> None:
        self.query_one("#services", SelectionList).focus()

    def on_selection_list_selection_toggled(self, event: SelectionList.SelectionToggled[str]) -> None:
        name = event.selection.value
        if name in event.selection_list.selected:
            self.add_service(name)
        else:
            self.remove_service(name)
        self.query_one("#chosen", Static).update(self.chosen_text())

    def add_service(self, name: str) -> None:
        before, _ = self.session.resolved()
        self.session.selected.append(name)
        order, _ = self.session.resolved()
        added = [s for s in order if s not in before and s != name]
        listing = self.query_one("#services", SelectionList)
        for dep in added:
            listing.select(dep)
        why = self.query_one("#why", Static)
        also = f"; also added {', '.join(added)}: required by {name}" if added else "."
        why.update(f"Added {name}{also}")

    def remove_service(self, name: str) -> None:
        order, _ = self.session.resolved()
        needed_by = planning.why_required(name, order, self.session.services())
        why = self.query_one("#why", Static)
        if needed_by:
            self.query_one("#services", SelectionList).select(name)
            why.update(f"{name} cannot be removed: required by {', '.join(needed_by)}.")
            return
        if name in self.session.selected:
            self.session.selected.remove(name)
        still, _ = self.session.resolved()
        listing = self.query_one("#services", SelectionList)
        dropped = [s for s in order if s not in still and s != name]
        for dep in dropped:
            listing.deselect(dep)
        also = f" and {', '.join(dropped)}, no longer required." if dropped else "."
        why.update(f"Removed {name}{also}")

    def leave(self) -> bool:
        if not self.session.selected:
            self.query_one("#why", Static).update("Select at least one service.")
            return False
        try:
            self.session.resolved()
        except UserError as exc:
            self.query_one("#why", Static).update(str(exc))
            return False
        return True
