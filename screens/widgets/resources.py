"""The resource panel: CPU, memory, disk and network as sparklines, and the running step's process tree.

Fed only from the engine's ``resources`` events (the engine samples with psutil), so a re-attaching
client sees the same figures as the first one.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline
from tui_installer.screens.runstate import Resources, fmt_bytes, fmt_rate


class ResourcePanel(Vertical):
    """Two rows of two sparklines, and a line for the step's process tree."""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="res-row"):
            yield Label("cpu   --", id="res-cpu", classes="res-label")
            yield Sparkline([], id="spark-cpu", classes="res-spark")
            yield Label("mem   --", id="res-mem", classes="res-label")
            yield Sparkline([], id="spark-mem", classes="res-spark")
        with Horizontal(classes="res-row"):
            yield Label("disk  --", id="res-disk", classes="res-label")
            yield Sparkline([], id="spark-disk", classes="res-spark")
            yield Label("net   --", id="res-net", classes="res-label")
            yield Sparkline([], id="spark-net", classes="res-spark")
        yield Label("step: --", id="res-step")

    def show(self, res: Resources) -> None:
        if not res.last:
            return
        last = res.last
        self.query_one("#res-cpu", Label).update(f"cpu {last.get('cpu', 0):>4.0f}%")
        self.query_one("#res-mem", Label).update(f"mem {res.mem[-1]:>4.0f}%")
        self.query_one("#res-disk", Label).update(f"disk {fmt_rate(res.disk[-1]):>7}")
        self.query_one("#res-net", Label).update(f"net {fmt_rate(res.net[-1]):>8}")
        for name, values in (("cpu", res.cpu), ("mem", res.mem), ("disk", res.disk), ("net", res.net)):
            spark = self.query_one(f"#spark-{name}", Sparkline)
            spark.data = spark_data(values, spark.size.width)
        self.query_one("#res-step", Label).update(step_line(last))


def step_line(last: dict[str, object]) -> str:
    """The running step's process tree: CPU and RSS summed over every process it started."""
    cpu, rss = last.get("step_cpu"), last.get("step_rss")
    if not isinstance(cpu, (int, float)) or not isinstance(rss, (int, float)):
        return "step: no process running"
    procs = last.get("step_procs") or 0
    if not procs:
        return "step: no process running"
    return f"step: {procs} process(es), cpu {float(cpu):.0f}%, rss {fmt_bytes(float(rss))}"


def spark_data(values: Iterable[float], width: int) -> list[float]:
    """What a sparkline of ``width`` columns draws: flat until there are two samples (Textual draws a
    single one as a full block, which reads as 100 %), then one column per sample filling in from the
    right over a flat start, instead of a few samples stretched into wide blocks."""
    data = list(values)
    if len(data) < 2:
        return []
    return [min(data)] * (width - len(data)) + data
