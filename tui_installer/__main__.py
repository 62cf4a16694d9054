from __future__ import annotations

from tui_installer.cli import main

raise SystemExit(main())
