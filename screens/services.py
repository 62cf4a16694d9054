"""Services: a selection list; adding one adds what it requires (and says so), removing one that
another selected service needs is refused with the reason."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Label, SelectionList
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
        yield Label("", id="why")

    def on_mount(self) -> None:
        self.query_one("#services", SelectionList).focus()

    def on_selection_list_selection_toggled(self, event: SelectionList.SelectionToggled[str]) -> None:
        name = event.selection.value
        if name in event.selection_list.selected:
            self.add(name)
        else:
            self.remove(name)

    def add(self, name: str) -> None:
        before, _ = self.session.resolved()
        self.session.selected.append(name)
        order, _ = self.session.resolved()
        added = [s for s in order if s not in before and s != name]
        listing = self.query_one("#services", SelectionList)
        for dep in added:
            listing.select(dep)
        why = self.query_one("#why", Label)
        also = f"; also added {', '.join(added)}: required by {name}" if added else "."
        why.update(f"Added {name}{also}")

    def remove(self, name: str) -> None:
        order, _ = self.session.resolved()
        needed_by = planning.why_required(name, order, self.session.services())
        why = self.query_one("#why", Label)
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
            self.query_one("#why", Label).update("Select at least one service.")
            return False
        try:
            self.session.resolved()
        except UserError as exc:
            self.query_one("#why", Label).update(str(exc))
            return False
        return True
