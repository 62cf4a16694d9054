"""A list whose cursor row reads without colour: its first cell is ``>`` (focus not by colour alone).

Reverse video from the stylesheet reaches the terminal as swapped colours only, which a monochrome
terminal, a screen capture or an operator who cannot tell the colours apart does not see; a character
does. The first cell is the list's left padding (or a blank the rows leave for it), so nothing moves.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import OptionList

MARKER = ">"


class MarkedOptionList(OptionList):
    def render_line(self, y: int) -> Strip:
        line = super().render_line(y)
        rows = self._lines  # (option index, line within the option) per rendered line
        position = self.scroll_offset.y + y
        if not self.has_focus or position >= len(rows) or line.cell_length == 0:
            return line
        index, offset = rows[position]
        if index != self.highlighted or offset != 0:
            return line
        style = next(iter(line)).style
        return Strip([Segment(MARKER, style), *line.crop(1, line.cell_length)], line.cell_length)
