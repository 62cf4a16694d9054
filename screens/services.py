"""Services: a selection list; adding one adds what it requires (and says so), removing one that
another selected service needs is refused with the reason.

Each row reads ``[x]`` or ``[ ]``: the state is text, so it shows on a monochrome terminal, in a
screen capture and to an operator who cannot tell the colours apart.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.strip import Strip
from textual.widgets import Label, OptionList, SelectionList, Static
from textual.widgets.option_list import OptionDoesNotExist
from textual.widgets.selection_list import Selection
from tui_installer.screens.flow import FlowScreen

from tui_installer import preview
from tui_installer.errors import UserError

ROW_WIDTH = 72  # what fits beside the check box inside the list's border at 80 columns


class CheckList(SelectionList[str]):
    """A SelectionList whose check box is text: ``[x]`` selected, ``[ ]`` not (same width as the
    stock ``▐X▌``, so clicks and layout are unchanged)."""

    def render_line(self, y: int) -> Strip:
        line = OptionList.render_line(self, y)
        try:
            selection = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return line
        index = self.scroll_offset.y + y
        chosen = selection.value in self.selected
        component = "selection-list--button" + ("-selected" if chosen else "")
        if self.highlighted == index:
            component += "-highlighted"
        underlying = next(iter(line)).style or self.rich_style
        style = self.get_component_rich_style(component) + Style(meta={"option": index})
        cursor = ">" if self.highlighted == index and self.has_focus else " "  # not by colour alone
        box = Segment("[x]" if chosen else "[ ]", style)
        return Strip([Segment(cursor, underlying), box, Segment(" ", underlying), *line])


def row(name: str, description: str) -> str:
    text = f"{name:<14} {description}"
    return text if len(text) <= ROW_WIDTH else text[:ROW_WIDTH - 1] + "…"


class ServicesScreen(FlowScreen):
    NAME = "services"

    def body(self) -> ComposeResult:
        yield Label("Space toggles a service ([x] = will be installed); what it needs is added too.",
                    classes="hint", markup=False)
        catalog = self.session.services()
        order, _ = self.session.resolved()
        items = [Selection(row(name, spec.description), name, name in order)
                 for name, spec in sorted(catalog.items())]
        yield CheckList(*items, id="services")
        yield Static("", id="about")
        yield Static(self.chosen_text(), id="chosen")
        yield Static("", id="why")

    def chosen_text(self) -> str:
        order, added = self.session.resolved()
        extra = f" ({len(added)} added: required by others)" if added else ""
        return f"{len(order)} of {len(self.session.services())} services selected{extra}."

    def on_mount(self) -> None:
        self.query_one("#services", SelectionList).focus()

    def on_selection_list_selection_highlighted(
            self, event: SelectionList.SelectionHighlighted[str]) -> None:
        """The whole description and the requirements of the highlighted service (rows are cut)."""
        name = event.selection.value
        spec = self.session.services()[name]
        needs = f" Needs: {', '.join(spec.requires)}." if spec.requires else ""
        self.query_one("#about", Static).update(f"{name}: {spec.description}.{needs}".replace("..", "."))

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
        also = f"; also added {', '.join(added)}: required by {name}" if added else "."
        self.query_one("#why", Static).update(f"Added {name}{also}")

    def remove_service(self, name: str) -> None:
        order, _ = self.session.resolved()
        needed_by = preview.why_required(name, order, self.session.services())
        why = self.query_one("#why", Static)
        if needed_by:
            self.query_one("#services", SelectionList).select(name)
            why.update(f"{name} stays selected: required by {', '.join(needed_by)}.")
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
