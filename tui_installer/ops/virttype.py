"""Which libvirt ``virt_type`` this host runs guests with, decided from its facts (``hostfacts``).

    python -m tui_installer.ops.virttype check auto|kvm|qemu    one line: the choice and why (exit 1: refused)
    python -m tui_installer.ops.virttype resolve auto|kvm|qemu  prints kvm or qemu for nova.conf (exit 1: refused)

nova-compute's preflight runs ``check`` (its line is the host check's verdict) and its configure step
``resolve``, so the configured value and the one preflight announced come from the same rule.
"""

from __future__ import annotations

import argparse
import sys

from ..hostfacts import host_virt_type, resolve_virt_type


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tui_installer.ops.virttype")
    parser.add_argument("action", choices=["check", "resolve"])
    parser.add_argument("wanted", help="the libvirt_virt_type setting: auto, kvm or qemu")
    args = parser.parse_args(argv)
    name, line = resolve_virt_type(args.wanted, host_virt_type())
    if name is None:
        print(line, file=sys.stderr)
        return 1
    print(name if args.action == "resolve" else line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
