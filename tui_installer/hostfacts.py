"""Setting values: built-in host facts, and how a value is written into a template.

The built-ins (``installer_python``, ``host_name``, ``host_ip``) are defaults every service may use in a
template without declaring them; like any setting they can be overridden by a profile, an answers file
or ``--set``. ``state_dir`` is deliberately not one: the engine owns the state directory.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def default_route_ip() -> str:
    """The address of the interface that holds the default route, or 127.0.0.1 without one.

    Connecting a UDP socket sends no packet; it only asks the kernel which source address it would use.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
        address = str(sock.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        sock.close()
    return "127.0.0.1" if address.startswith("0.") else address


#: the built-ins of another host while a plan is built for it (``facts_of``; hosts.py)
_OTHER_HOST: dict[str, Any] | None = None


@contextmanager
def facts_of(facts: dict[str, Any]) -> Iterator[None]:
    """Build plans for another host: its ``host_name``, ``host_ip``, ``installer_python`` are the built-ins
    meanwhile (still the lowest precedence: a profile, answers or ``--set`` override them as usual)."""
    global _OTHER_HOST
    saved, _OTHER_HOST = _OTHER_HOST, dict(facts)
    try:
        yield
    finally:
        _OTHER_HOST = saved


def builtin_settings() -> dict[str, Any]:
    """Host facts available to every template (lowest precedence)."""
    if _OTHER_HOST is not None:
        return dict(_OTHER_HOST)
    return {
        "installer_python": sys.executable,
        "host_name": socket.gethostname(),
        "host_ip": default_route_ip(),
    }


def render(value: Any) -> str:
    """How a setting appears inside a command: booleans lower-case, everything else ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
