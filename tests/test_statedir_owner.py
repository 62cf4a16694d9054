"""Nothing but ``tui_installer.statedir`` spells a name inside the state directory.

The state directory is the protocol between the engine and its clients: when a second module spells
``"journal.json"`` the protocol has two owners again. The check reads every string literal of the engine,
the UI and the benchmarks (f-string pieces included; docstrings excluded: they may describe the layout).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OWNER = ROOT / "tui_installer" / "statedir"
NAMES = ("runs", "journal.json", "plan.json", "events.jsonl", "engine.lock", "last-run", "decisions",
         "engine-console.log", "keyring.cfg", "admin-openrc")
#: a name as a whole string or as one component of a path in a string
SPELLED = re.compile(r"(?:^|/)(" + "|".join(re.escape(n) for n in NAMES) + r")(?:$|/)")


#: folder names that are also ordinary words (``args.answers``): caught only when joined onto a path
JOINED = ("answers", "logs")


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def spelled_state_paths(path: Path) -> list[str]:
    """``file:line: 'literal'`` for each string literal of ``path`` that spells a state-directory name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if SPELLED.search(node.value):
                hits.append(f"{path}:{node.lineno}: {node.value!r}")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant):
            if node.right.value in JOINED:
                hits.append(f"{path}:{node.lineno}: / {node.right.value!r}")
    return hits


def sources() -> list[Path]:
    files = [f for top in ("tui_installer", "screens", "bench") for f in sorted((ROOT / top).rglob("*.py"))]
    return [f for f in files if OWNER not in f.parents]


def test_only_the_owner_spells_state_paths() -> None:
    hits = [hit for path in sources() for hit in spelled_state_paths(path)]
    assert not hits, "state-directory names outside tui_installer.statedir:\n" + "\n".join(hits)


def test_the_owner_spells_every_name() -> None:
    """The owner really holds the names (else the check above would pass on a renamed layout)."""
    owned = " ".join(hit for path in sorted(OWNER.glob("*.py")) for hit in spelled_state_paths(path))
    assert all(repr(name) in owned for name in NAMES)


@pytest.mark.parametrize("literal", ['x = "runs"', 'x = f"{d}/journal.json"', 'x = "runs/" + r',
                                     'open(base / "engine.lock")', 'p = f"{s}/decisions/{a}.json"',
                                     'p = state_dir / "answers" / name', 'p = run / "logs"'])
def test_the_check_sees_a_spelled_path(tmp_path: Path, literal: str) -> None:
    module = tmp_path / "probe.py"
    module.write_text(literal + "\n")
    assert spelled_state_paths(module), literal


def test_the_check_ignores_words_and_docstrings(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text('"""Reads runs/<id>/journal.json."""\nx = "no runs yet"\ny = "decision"\nz = args.answers\n')
    assert spelled_state_paths(module) == []
