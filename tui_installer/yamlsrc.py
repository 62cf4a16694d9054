"""YAML loading that remembers where every key and item came from.

Every validation error must name the file, the line and the key, so the loader records a line for each
mapping key and sequence item. Lines are kept in a side table keyed by ``(file, key path)`` so that later
checks (templates, required settings, unknown services) can still point at the right line after the data
has become plain ``model`` dataclasses.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError

#: (file, dotted key path) -> 1-based line, filled by every load
_LINES: dict[tuple[str, str], int] = {}


class Map(dict[Any, Any]):
    """A mapping from YAML with the line of each key."""

    line: int = 0
    key_lines: dict[Any, int]
    #: keys given twice: (key, line, line of the first) -- reported with their full path by _remember
    duplicates: list[tuple[str, int, int]]


class Seq(list[Any]):
    """A sequence from YAML with the line of each item."""

    line: int = 0
    item_lines: list[int]


#: Limits for any input file (the largest shipped file is ~8 KB): reading, parsing and the line table
#: stay under a second and a few MB whatever the input. Nodes count alias expansions: an alias adds
#: the size of what it refers to, so a "billion laughs" is refused at its first levels.
MAX_BYTES = 256 * 1024
MAX_NODES = 10_000
MAX_DEPTH = 64


def type_name(value: Any) -> str:
    """A type as users know it from YAML: string, integer, number, boolean, mapping, list, null."""
    for kind, name in ((type(None), "null"), (bool, "boolean"), (int, "integer"), (float, "number"),
                       (str, "string"), (dict, "mapping"), (list, "list")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


class _Loader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences carry line numbers; duplicate keys are errors; input
    is bounded (``MAX_NODES`` nodes with aliases expanded, ``MAX_DEPTH`` levels)."""

    source = ""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._nodes = 0
        self._depth = 0
        self._weights: dict[str, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        # PyYAML's stubs leave Parser.peek_event untyped; composing a node, an event is always next
        peek: Callable[[], yaml.Event] = self.peek_event
        event = peek()
        if isinstance(event, yaml.AliasEvent):
            self._charge(self._weights.get(event.anchor or "", 1), event)
            return super().compose_node(parent, index)
        start = self._nodes
        self._charge(1, event)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise self._limit(f"nested deeper than {MAX_DEPTH} levels", event)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        anchor = getattr(event, "anchor", None)
        if anchor:
            self._weights[anchor] = self._nodes - start
        return node

    def _charge(self, count: int, event: yaml.Event) -> None:
        self._nodes += count
        if self._nodes > MAX_NODES:
            raise self._limit(f"more than {MAX_NODES} values (aliases counted expanded)", event)

    def _limit(self, what: str, event: yaml.Event) -> UserError:
        mark = event.start_mark
        return UserError(f"too large: {what}", file=self.source, line=mark.line + 1 if mark else None,
                         hint="a profile, service or answers file is a few hundred lines")


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Map:
    loader.flatten_mapping(node)
    result = Map()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    result.duplicates = []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            hint = "quote it: YAML reads yes/no/on/off as booleans" if isinstance(key, bool) else None
            raise UserError(f"keys must be names, got {type(key).__name__} {key!r}",
                            file=loader.source, line=line, hint=hint)
        if key in result:
            result.duplicates.append((key, line, result.key_lines[key]))
            continue
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> Seq:
    result = Seq(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def load_text(text: str, source: str) -> Any:
    """Parse YAML text; a syntax error becomes a one-line ``UserError`` with the line."""
    if len(text) > MAX_BYTES:
        raise UserError(f"too large: more than {MAX_BYTES // 1024} KiB", file=source,
                        hint="a profile, service or answers file is a few hundred lines")
    loader = _Loader(text)
    loader.source = source
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        raise UserError(f"malformed YAML: {problem}", file=source,
                        line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise UserError(f"malformed YAML: {exc}", file=source) from None
    finally:
        loader.dispose()
    for stale in [k for k in _LINES if k[0] == source]:  # the file may have changed since last time
        del _LINES[stale]
    _remember(data, source, "")
    return data


def load_file(path: str | Path) -> Any:
    """Read and parse a YAML file; a missing or unreadable file is a ``UserError``."""
    source = str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read: {exc.strerror if isinstance(exc, OSError) else exc}",
                        file=source) from None
    return load_text(text, source)


def join(path: str, key: str | int) -> str:
    """Extend a dotted key path: ``join("phases", "install")``, ``join("steps", 0)`` → ``steps[0]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _remember(data: Any, source: str, path: str) -> None:
    if isinstance(data, Map):
        for key, line, first in data.duplicates:
            raise UserError(f"duplicate key (first at line {first})", file=source, line=line,
                            key=join(path, key))
        _LINES.setdefault((source, path), data.line)
        for key, value in data.items():
            child = join(path, key)
            _LINES[(source, child)] = data.key_lines[key]
            _remember(value, source, child)
    elif isinstance(data, Seq):
        _LINES.setdefault((source, path), data.line)
        for index, value in enumerate(data):
            child = join(path, index)
            _LINES[(source, child)] = data.item_lines[index]
            _remember(value, source, child)


def line_of(source: str, key: str) -> int | None:
    """The line of ``key`` in ``source``, or of its nearest known parent."""
    while True:
        line = _LINES.get((source, key))
        if line is not None or not key:
            return line
        cut = max(key.rfind("."), key.rfind("["))
        key = key[:cut] if cut > 0 else ""


def error(source: str, key: str, message: str, hint: str | None = None) -> UserError:
    """A ``UserError`` at ``key`` of ``source`` with the line it was read from."""
    return UserError(message, file=source or None, line=line_of(source, key) if source else None,
                     key=key or None, hint=hint)
