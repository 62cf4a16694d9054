"""Write oslo INI config files (and small text files) with secrets taken from the environment.

Steps call this as ``python -m tui_installer.ops.iniconf FILE section.option=value ...``. A value may hold
``${VAR}`` (or ``${VAR:filter}``): iniconf expands it from *its own* environment, so a secret travels as
an environment variable and never appears in an argv (``ps``), a log or the journal. The step must
single-quote such arguments so that the shell leaves them alone.

Why our own editor rather than configparser: it keeps every line it does not touch (comments, order,
options we do not manage), like DevStack's ``iniset``, and it writes only when the content changes, so
re-running a step is a no-op and services are not needlessly restarted.

Filters: ``url`` (percent-encode, for passwords inside a database URL), ``sh`` (shell-quote), ``json``
(a JSON/YAML double-quoted string), ``raw``. In INI mode a ``$`` coming from an expanded value is
doubled (``$$``), because oslo.config would otherwise treat it as a reference to another option.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import re
import shlex
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::(url|sh|json|raw))?\}")
_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_OPTION = re.compile(r"^\s*([^#;=\s][^=]*?)\s*=")


#: What every OpenStack API under uWSGI needs (``--preset uwsgi``), learnt the hard way:
#: ``need-app`` so a broken app kills the instance (we notice) instead of serving 500s; ``lazy-apps`` so
#: each worker loads its own app after fork (eventlet, DB pools); ``Connection: close`` because clients
#: that reuse a connection uWSGI's http-socket has closed fail with "connection reset by peer".
UWSGI_PRESET = (
    "uwsgi.master=true", "uwsgi.lazy-apps=true", "uwsgi.die-on-term=true", "uwsgi.need-app=true",
    "uwsgi.enable-threads=true", "uwsgi.thunder-lock=true", "uwsgi.buffer-size=65535",
    "uwsgi.hook-master-start=unix_signal:15 gracefully_kill_them_all", "uwsgi.worker-reload-mercy=10",
    "uwsgi.add-header=Connection: close",
)
PRESETS = {"uwsgi": UWSGI_PRESET}


class ConfError(Exception):
    """A bad spec or a missing variable: reported as one line, exit code 2, values never shown."""


def expand(text: str, env: Mapping[str, str], *, oslo: bool = False) -> str:
    """Replace ``${VAR[:filter]}`` by the environment's value; a missing variable is an error."""

    def sub(match: re.Match[str]) -> str:
        name, filt = match.group(1), match.group(2)
        if name not in env:
            raise ConfError(f"environment variable {name} is not set")
        value = env[name]
        if filt == "url":
            value = quote(value, safe="")
        elif filt == "sh":
            value = shlex.quote(value)
        elif filt == "json":
            value = json.dumps(value)
        if oslo and filt != "raw":
            value = value.replace("$", "$$")
        return value

    return _VAR.sub(sub, text)


def parse_assignment(arg: str) -> tuple[str, str, str]:
    """``section.option=value`` → (section, option, value); the section is all before the last dot."""
    key, sep, value = arg.partition("=")
    section, dot, option = key.rpartition(".")
    if not sep or not dot or not section or not option.strip():
        raise ConfError(f"expected section.option=value, got {key!r}")
    return section.strip(), option.strip(), value


def set_options(lines: list[str], section: str, values: Mapping[str, str]) -> list[str]:
    """Set ``values`` in ``section`` of an INI text (as lines), keeping every other line."""
    out = list(lines)
    start, end = _find_section(out, section)
    if start is None:
        if out and out[-1].strip():
            out.append("")
        out.append(f"[{section}]")
        out.extend(f"{k} = {v}" for k, v in values.items())
        return out
    pending = dict(values)
    for i in range(start + 1, end):
        m = _OPTION.match(out[i])
        if m and m.group(1).strip() in pending:
            key = m.group(1).strip()
            out[i] = f"{key} = {pending.pop(key)}"
    insert_at = end
    while insert_at > start + 1 and not out[insert_at - 1].strip():
        insert_at -= 1
    out[insert_at:insert_at] = [f"{k} = {v}" for k, v in pending.items()]
    return out


def _find_section(lines: list[str], section: str) -> tuple[int | None, int]:
    """Index of the ``[section]`` header and of the line where the section ends."""
    start: int | None = None
    for i, line in enumerate(lines):
        m = _SECTION.match(line)
        if m and start is not None:
            return start, i
        if m and m.group(1).strip() == section:
            start = i
    return start, len(lines)


def render_ini(existing: str, assignments: Iterable[str], env: Mapping[str, str]) -> str:
    """The new file content: ``existing`` with every assignment applied (secrets expanded)."""
    grouped: dict[str, dict[str, str]] = {}
    for arg in assignments:
        section, option, value = parse_assignment(arg)
        grouped.setdefault(section, {})[option] = expand(value, env, oslo=True)
    lines = existing.splitlines()
    for section, values in grouped.items():
        lines = set_options(lines, section, values)
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, content: str, *, mode: int = 0o640, group: str | None = None) -> bool:
    """Write ``content`` to ``path`` atomically with ``mode``; False if nothing had to change.

    The temporary file is created with the final mode before any byte is written, so a secret is
    never readable by others, not even for an instant.
    """
    gid = grp.getgrnam(group).gr_gid if group else -1
    if path.exists():
        st = path.stat()
        same_meta = (st.st_mode & 0o7777) == mode and (gid == -1 or st.st_gid == gid)
        if same_meta and path.read_text(encoding="utf-8", errors="surrogateescape") == content:
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        if gid != -1:
            os.fchown(fd, -1, gid)
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tui_installer.ops.iniconf", description=__doc__.split("\n")[0])
    p.add_argument("file", type=Path)
    p.add_argument("assignments", nargs="*", help="section.option=value (values may hold ${VAR})")
    p.add_argument("--mode", default="0640", help="octal file mode (default 0640)")
    p.add_argument("--group", help="group owning the file (so a service user can read it)")
    p.add_argument("--text", action="store_true",
                   help="write standard input as the whole file (with ${VAR} expanded), not INI")
    p.add_argument("--replace", action="store_true", help="start from an empty file, not the existing one")
    p.add_argument("--preset", choices=sorted(PRESETS), help="options applied before the given ones")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        mode = int(args.mode, 8)
        if args.text:
            content = expand(sys.stdin.read(), os.environ)
        else:
            old = "" if args.replace or not args.file.exists() else args.file.read_text(encoding="utf-8")
            assignments = [*PRESETS.get(args.preset or "", ()), *args.assignments]
            content = render_ini(old, assignments, os.environ)
        changed = write_atomic(args.file, content, mode=mode, group=args.group)
    except (ConfError, KeyError, ValueError) as exc:
        print(f"iniconf: {args.file}: {exc}", file=sys.stderr)
        return 2
    keys = ", ".join(a.partition("=")[0] for a in args.assignments) or "content"
    print(f"{'updated' if changed else 'unchanged'}: {args.file} ({keys})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
