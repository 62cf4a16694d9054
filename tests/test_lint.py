"""The codebase's own checks, run as tests so CI keeps them: ruff, and import-linter's contracts (the
engine never imports Textual; the UI reaches the engine only through the preview API and the state
directory; the step-side helpers do not import the engine)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    return str(BIN / name) if (BIN / name).exists() else shutil.which(name) or name


def test_ruff_is_clean():
    result = subprocess.run([tool("ruff"), "check", "--output-format", "concise", "."], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_contract_engine_never_imports_textual():
    result = subprocess.run([tool("lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KEPT" in result.stdout


UI_CONTRACT = "The UI reaches the engine only through the preview API, the state directory, events and errors"
#: what the screens may import from the engine (pyproject.toml says why client, runlock and paths)
UI_ALLOWED = {"tui_installer.preview", "tui_installer.client", "tui_installer.runlock", "tui_installer.paths",
              "tui_installer.events", "tui_installer.errors"}


def _contract(name: str) -> dict[str, object]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return next(c for c in data["tool"]["importlinter"]["contracts"] if c["name"] == name)


def test_the_ui_contract_forbids_every_engine_module_but_the_allowed_ones():
    """A new engine module is forbidden to the screens until someone decides otherwise."""
    engine = {f"tui_installer.{p.stem if p.is_file() else p.name}" for p in (ROOT / "tui_installer").iterdir()
              if (p.suffix == ".py" or (p / "__init__.py").exists()) and not p.name.startswith("__")}
    assert set(_contract(UI_CONTRACT)["forbidden_modules"]) == engine - UI_ALLOWED


def test_the_ui_contract_breaks_when_a_screen_imports_the_schema(tmp_path: Path):
    """lint-imports over a copy of the tree where one screen reaches past the preview API."""
    for name in ("tui_installer", "screens"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    run = [tool("lint-imports"), "--contract", _contract_id(UI_CONTRACT)]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    kept = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    review = tmp_path / "screens" / "review.py"
    review.write_text(review.read_text() + "\nfrom tui_installer import schema  # noqa: E402,F401\n")
    broken = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert broken.returncode != 0 and "screens is not allowed to import tui_installer.schema" in broken.stdout


def _contract_id(name: str) -> str:
    """import-linter names a contract on the command line by an id; ours have none, so give them one."""
    contract = _contract(name)
    assert "id" in contract, f"give the contract {name!r} an id in pyproject.toml"
    return str(contract["id"])
