"""``tui-installer settings``: the settings form of a selection, as the TUI shows it, for a terminal or
a program (``--format json``). It goes through the preview API, like the TUI."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tui_installer import preview
from tui_installer.errors import UserError


def register(sub: Any, add_selection: Any) -> None:
    parser = sub.add_parser("settings", help="list the settings of a selection: type, value and where it "
                                              "came from, description")
    add_selection(parser)
    parser.add_argument("--all", action="store_true", help="advanced settings too")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    answers = preview.load_answers(args.answers) if args.answers else None
    name = args.profile or (answers.profile if answers else None)
    if not name:
        raise UserError("no profile given", key="-p", hint="use -p PROFILE or -a ANSWERS")
    profile = preview.load_profile(name)
    selected = list(profile.services)
    if answers is not None:
        selected = [s for s in selected if s not in answers.remove_services]
        selected += [s for s in answers.add_services if s not in selected]
    form = preview.settings_form(profile, selected, answers, preview.split_sets(args.set))
    shown = [f for f in form if args.all or not f.advanced or f.required]
    print(as_json(shown) if args.format == "json" else as_text(shown, hidden=len(form) - len(shown)), end="")
    return 0


def as_json(fields: list[preview.Field]) -> str:
    keys = ("name", "service", "type", "choices", "description", "advanced", "required", "value", "origin")
    return json.dumps([{k: getattr(f, k) for k in keys} for f in fields], indent=2) + "\n"


def as_text(fields: list[preview.Field], hidden: int) -> str:
    width = max((len(f.name) for f in fields), default=0) + 2
    lines: list[str] = []
    for service, group in preview.groups(fields).items():
        lines.append(service)
        lines += [line for field in group for line in _field_lines(field, width)]
    if hidden:
        lines.append(f"({hidden} advanced settings not shown: --all)")
    return "\n".join(lines) + "\n"


def _field_lines(field: preview.Field, width: int) -> list[str]:
    value = "(required)" if field.value is None else preview.render(field.value)
    kind = field.type + (f" {'|'.join(field.choices)}" if field.choices else "")
    lines = [f"  {field.name + (' *' if field.required else ''):<{width}} {value}  [{field.origin}; {kind}]"]
    if field.description:
        lines.append(f"  {'':<{width}} {field.description}")
    return lines
