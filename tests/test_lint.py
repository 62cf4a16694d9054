"""The codebase's own checks, run as tests so CI keeps them: ruff, and import-linter's contracts (the
engine never imports Textual; the UI reaches the engine only through the preview API and the state
directory; the step-side helpers do not import the engine)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import typecheck

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


def test_mypy_strict_is_clean():
    """mypy --strict (pyproject.toml) over the installed layout, screens included: tests/typecheck.py."""
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "typecheck.py")], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    checked = int(re.search(r"in (\d+) source files", result.stdout).group(1))
    assert checked >= len(list(ROOT.glob("screens/**/*.py"))) + len(list(ROOT.glob("tui_installer/**/*.py")))


def test_typecheck_lays_out_remapped_packages_and_names_their_sources(tmp_path: Path) -> None:
    """tests/typecheck.py on a tiny project shaped like ours (`ui/` installed as `pkg.ui`): imports across
    the remap resolve, and an error in `ui/` is reported at `ui/...`, where the file really is."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.setuptools]\npackage-dir = { "pkg" = "pkg", "pkg.ui" = "ui" }\n'
        '[tool.mypy]\nstrict = true\npackages = ["pkg"]\n')
    files = {"pkg/__init__.py": "", "pkg/core.py": "def answer() -> int:\n    return 42\n",
             "ui/__init__.py": "", "ui/helper.py": "NAME = 'ui'\n",
             "ui/view.py": "from pkg.core import answer\nfrom pkg.ui.helper import NAME\n\nwrong: str = answer()\n"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    result = typecheck.run([], tmp_path / "pyproject.toml")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith('ui/view.py:4: error: Incompatible types in assignment'), result.stdout
    assert "[import" not in result.stdout and "Found 1 error in 1 file (checked 5 source files)" in result.stdout


def test_local_stubs_match_the_installed_library():
    """typings/ declares part of keyrings.cryptfile (it ships no types): stubtest compares each name we
    declare with the installed library, so an upgrade that changes a signature fails here."""
    result = subprocess.run([sys.executable, "-m", "mypy.stubtest", "--ignore-missing-stub",
                             "keyrings.cryptfile.cryptfile", "keyrings.cryptfile.escape"], cwd=ROOT,
                            env={**os.environ, "MYPYPATH": str(ROOT / "typings")}, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_type_ignore_and_no_app_lookup_by_name():
    """Types are fixed, not silenced; screens ask the app by message (screens/messages.py), not by name."""
    found = []
    for path in [*ROOT.glob("tui_installer/**/*.py"), *ROOT.glob("screens/**/*.py")]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "type: ignore" in line or re.search(r"getattr\(\s*self\.app\b", line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []


UI_CONTRACT = "The UI reaches the engine only through the preview API, the state directory, events and errors"
#: what the screens may import from the engine (pyproject.toml says why)
UI_ALLOWED = {"tui_installer.preview", "tui_installer.client", "tui_installer.statedir", "tui_installer.events",
              "tui_installer.errors"}


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
