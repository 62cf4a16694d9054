"""Run mypy (strict, from pyproject.toml) over the package as it is installed, screens included.

Why a tree: `screens/` sits at the top of the repository but is installed as `tui_installer.screens`
(setuptools `package-dir`). mypy maps files to modules by their place on disk, so from the source tree it
cannot see that `screens/app.py` is `tui_installer.screens.app`. This script builds, in a temporary
directory, the tree the wheel would install — symbolic links back to the sources, laid out by the
`package-dir` table itself, so the two cannot drift — runs mypy there, and prints its messages with the
repository's own paths (`screens/app.py:12: error: ...`).

    python tests/typecheck.py [extra mypy arguments]

Exit status is mypy's. tests/test_lint.py runs it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # mypy itself depends on tomli before 3.11
    import tomli as tomllib


ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"


def package_dirs(pyproject: Path = PYPROJECT) -> dict[str, Path]:
    """Installed package name -> source directory, from `[tool.setuptools] package-dir`."""
    table = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-dir"]
    return {name: pyproject.parent / source for name, source in table.items()}


def build_tree(dest: Path, mapping: dict[str, Path]) -> None:
    """Lay the packages out under `dest` as they would be installed, linking back to the sources.

    A package that holds a remapped subpackage becomes a real directory whose entries are linked one by
    one (leaving room for the subpackage); every other package is a single link to its directory.
    """
    for name in sorted(mapping, key=lambda n: n.count(".")):
        target = dest.joinpath(*name.split("."))
        if not target.parent.resolve().is_relative_to(dest.resolve()):  # never write into the sources
            raise RuntimeError(f"{name}: its parent in {dest} is a link to the sources")
        if any(other.startswith(name + ".") for other in mapping):
            target.mkdir(parents=True, exist_ok=True)
            for entry in mapping[name].iterdir():
                if entry.name not in {"__pycache__"} and not (target / entry.name).exists():
                    (target / entry.name).symlink_to(entry)
        else:
            if target.is_symlink():  # linked by the parent before we knew it was remapped
                target.unlink()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(mapping[name], target_is_directory=True)


def source_path(installed: str, mapping: dict[str, Path], root: Path = ROOT) -> str:
    """`tui_installer/screens/app.py` -> `screens/app.py` (relative to the repository ``root``)."""
    parts = Path(installed).parts
    for name in sorted(mapping, key=lambda n: -n.count(".")):
        prefix = tuple(name.split("."))
        if parts[: len(prefix)] == prefix:
            source = mapping[name].joinpath(*parts[len(prefix):])
            return str(source.relative_to(root))
    return installed


def map_paths(output: str, mapping: dict[str, Path], root: Path = ROOT) -> str:
    """Rewrite every `path.py:` at the start of a mypy line to its source path."""
    pattern = re.compile(r"^([^\s:]+\.pyi?)(?=:)", re.MULTILINE)
    return pattern.sub(lambda m: source_path(m.group(1), mapping, root), output)


def run(extra: list[str], pyproject: Path = PYPROJECT) -> subprocess.CompletedProcess[str]:
    """Run mypy over the installed layout of ``pyproject``'s packages; the output carries source paths."""
    mapping, root = package_dirs(pyproject), pyproject.parent
    with tempfile.TemporaryDirectory(prefix="typecheck-") as tmp:
        build_tree(Path(tmp), mapping)
        cmd = [sys.executable, "-m", "mypy", "--config-file", str(pyproject),
               "--cache-dir", str(root / ".mypy_cache"), *extra]
        result = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
    return subprocess.CompletedProcess(cmd, result.returncode, map_paths(result.stdout, mapping, root),
                                       map_paths(result.stderr, mapping, root))


def main() -> int:
    result = run(sys.argv[1:])
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
