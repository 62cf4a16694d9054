"""The OpenStack release tui-installer deploys: its pinned package set, shipped as package data.

``python -m tui_installer.ops.release constraints 2026.2`` prints the path of the constraints file, so a
step can run ``pip install -c "$(...)"`` from a wheel install as well as from a checkout.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path


def constraints(release: str) -> Path:
    """The constraints file of ``release`` (``services/constraints-<release>.txt``)."""
    path = Path(str(resources.files("tui_installer.services") / f"constraints-{release}.txt"))
    if not path.is_file():
        known = sorted(p.name for p in path.parent.glob("constraints-*.txt"))
        raise SystemExit(f"release {release!r} is not shipped (have: {', '.join(known) or 'none'})")
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "constraints":
        print("usage: python -m tui_installer.ops.release constraints RELEASE", file=sys.stderr)
        return 2
    print(constraints(args[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
