"""Resource samples (psutil) for the progress view: host CPU, memory, disk and network rates, and the
CPU/RSS of the running step's process tree. Rates are deltas between samples, so keep one Monitor."""

from __future__ import annotations

import time
from typing import Any

import psutil


class Monitor:
    def __init__(self) -> None:
        self._last_time = time.monotonic()
        self._disk = psutil.disk_io_counters()
        self._net = psutil.net_io_counters()
        self._procs: dict[int, psutil.Process] = {}
        psutil.cpu_percent(None)  # the first call always returns 0.0: prime it

    def sample(self, parent_pid: int | None = None) -> dict[str, Any]:
        """A host sample, plus the CPU/RSS of all descendants of ``parent_pid`` (the engine's pid:
        its children are the running step and whatever the step started)."""
        now = time.monotonic()
        elapsed = max(now - self._last_time, 1e-6)
        disk, net = psutil.disk_io_counters(), psutil.net_io_counters()
        memory = psutil.virtual_memory()
        sample: dict[str, Any] = {
            "cpu": psutil.cpu_percent(None),
            "mem_used": memory.total - memory.available,
            "mem_total": memory.total,
            "disk_read_bps": _rate(disk, self._disk, "read_bytes", elapsed),
            "disk_write_bps": _rate(disk, self._disk, "write_bytes", elapsed),
            "net_rx_bps": _rate(net, self._net, "bytes_recv", elapsed),
            "net_tx_bps": _rate(net, self._net, "bytes_sent", elapsed),
        }
        self._last_time, self._disk, self._net = now, disk, net
        sample.update(self._tree(parent_pid))
        return sample

    def _tree(self, pid: int | None) -> dict[str, Any]:
        """CPU percent and RSS summed over the descendants of ``pid``, and ``pid``'s own RSS."""
        if pid is None:
            self._procs.clear()
            return {"step_cpu": None, "step_rss": None, "step_procs": 0, "installer_rss": None}
        try:
            root = self._procs.get(pid) or psutil.Process(pid)
            own_rss = root.memory_info().rss
            tree = root.children(recursive=True)
        except psutil.Error:
            return {"step_cpu": None, "step_rss": None, "step_procs": 0, "installer_rss": None}
        cpu, rss, alive = 0.0, 0, {}
        for proc in tree:
            proc = self._procs.get(proc.pid, proc)  # keep Process objects: cpu_percent needs history
            try:
                with proc.oneshot():
                    cpu += proc.cpu_percent(None)
                    rss += proc.memory_info().rss
                alive[proc.pid] = proc
            except psutil.Error:
                continue
        self._procs = alive
        return {"step_cpu": round(cpu, 1), "step_rss": rss, "step_procs": len(alive), "installer_rss": own_rss}


def _rate(now: tuple[int, ...] | None, before: tuple[int, ...] | None, field: str, elapsed: float) -> float | None:
    """Bytes per second of one counter field between two psutil samples (None when a sample is missing)."""
    if now is None or before is None:
        return None
    delta: int = getattr(now, field) - getattr(before, field)
    return round(max(delta, 0) / elapsed, 1)
