"""Setting values: built-in host facts, and how a value is written into a template.

The built-ins (``installer_python``, ``host_name``, ``host_ip``) are defaults every service may use in a
template without declaring them; like any setting they can be overridden by a profile, an answers file
or ``--set``. ``state_dir`` is deliberately not one: the engine owns the state directory.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: CPU flags that mean hardware virtualisation a KVM guest can use: Intel VT-x, AMD-V
VIRT_FLAGS = ("vmx", "svm")


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


def builtin_settings() -> dict[str, Any]:
    """Host facts available to every template (lowest precedence)."""
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


@dataclass(frozen=True)
class VirtType:
    """libvirt's ``virt_type`` this host supports, and why, in words an operator can act on."""

    name: str  # kvm | qemu
    reason: str


def cpu_flags(cpuinfo: str) -> set[str]:
    """The flags of the first CPU in ``/proc/cpuinfo`` text (every CPU lists the same ones)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def choose_virt_type(cpuinfo: str, kvm_device: bool) -> VirtType:
    """``kvm`` only where KVM really works: a /dev/kvm *and* a CPU with vmx or svm. A /dev/kvm without
    them is a paravirtual (PVM) or otherwise emulated device under which stock guest kernels hang."""
    flags = cpu_flags(cpuinfo) & set(VIRT_FLAGS)
    if not kvm_device:
        return VirtType("qemu", "no /dev/kvm (no KVM module loaded, or no hardware virtualisation)")
    if not flags:
        return VirtType("qemu", "/dev/kvm is present but /proc/cpuinfo has neither the vmx nor the svm flag "
                                "(a paravirtual or nested KVM without VT-x/AMD-V, under which guests hang)")
    return VirtType("kvm", f"/dev/kvm is present and the CPU has the {sorted(flags)[0]} flag")


def is_char_device(path: str) -> bool:
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


def host_virt_type(cpuinfo_path: str = "/proc/cpuinfo", kvm_path: str = "/dev/kvm") -> VirtType:
    """This host's facts read and decided (``choose_virt_type``)."""
    try:
        cpuinfo = Path(cpuinfo_path).read_text()
    except OSError:
        cpuinfo = ""
    return choose_virt_type(cpuinfo, is_char_device(kvm_path))


def resolve_virt_type(wanted: str, facts: VirtType) -> tuple[str | None, str]:
    """The ``virt_type`` to configure for the setting ``wanted`` (auto|kvm|qemu), and the line that says
    which and why; ``None`` when ``wanted`` cannot work here (kvm where KVM does not)."""
    engine = {"kvm": "KVM", "qemu": "QEMU TCG, emulated and slow"}
    if wanted == "auto":
        return facts.name, f"libvirt virt_type {facts.name} (auto, {engine[facts.name]}): {facts.reason}"
    if wanted == "kvm" and facts.name != "kvm":
        return None, f"libvirt_virt_type=kvm cannot work here: {facts.reason}; use --set libvirt_virt_type=qemu"
    if wanted == "qemu":
        note = "; KVM would work here: --set libvirt_virt_type=auto" if facts.name == "kvm" else ""
        return "qemu", f"libvirt virt_type qemu (set, {engine['qemu']}): {facts.reason}{note}"
    if wanted == "kvm":
        return "kvm", f"libvirt virt_type kvm (set): {facts.reason}"
    return None, f"libvirt_virt_type must be auto, kvm or qemu, not {wanted!r}"
