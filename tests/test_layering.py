"""The engine never imports Textual: import every engine module in a fresh interpreter and look."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import tui_installer

#: modules that belong to the TUI side; everything else in the package is engine
TUI_MODULES = {"tui_installer.screens.app", "tui_installer.__main__"}
TUI_PACKAGES = ("tui_installer.screens.widgets", "tui_installer.screens")


def engine_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(tui_installer.__path__, "tui_installer."):
        if info.name in TUI_MODULES or info.name.startswith(TUI_PACKAGES):
            continue
        names.append(info.name)
    return names


def test_engine_modules_do_not_import_textual():
    modules = engine_modules()
    assert "tui_installer.engine" in modules and "tui_installer.executor" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_headless_cli_does_not_import_textual():
    code = (
        "import sys\n"
        "from tui_installer import cli\n"
        "cli.build_parser()\n"
        "print([m for m in sys.modules if m.startswith('textual')])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
