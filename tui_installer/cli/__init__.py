"""The command line: ``tui-installer [COMMAND]``. With no command, the TUI.

Every user error ends as one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from tui_installer import __version__, priority, statedir
from tui_installer.errors import UserError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as error:
        print(f"tui-installer: error: {error.format()}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("tui-installer: interrupted", file=sys.stderr)
        return 130
    except EOFError:
        print("tui-installer: error: no input (end of file at a prompt)", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tui-installer",
                                     description="Install a real OpenStack cloud, interactively or headless.")
    parser.add_argument("--version", action="version", version=f"tui-installer {__version__}")
    _add_common(parser)
    _add_selection(parser)
    parser.add_argument("--start", action="store_true", help="with -a: go straight to the install")
    parser.set_defaults(func=_run_tui, attach=False)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    from tui_installer.cli import install as cmd_install
    from tui_installer.cli import nodes as cmd_nodes
    from tui_installer.cli import passwords as cmd_passwords
    from tui_installer.cli import settingsform as cmd_settings
    from tui_installer.cli import validate as cmd_validate

    cmd_install.register(sub, _add_common, _add_selection)
    cmd_nodes.register(sub)
    cmd_passwords.register(sub)
    cmd_settings.register(sub, _add_selection)
    cmd_validate.register(sub)
    _add_common_everywhere(sub)
    attach = sub.add_parser("attach", help="show the running (or last) install in the TUI")
    _add_common(attach)
    attach.set_defaults(func=_run_tui, attach=True, answers=None, start=False, profile=None, set=[])
    return parser


def _add_common_everywhere(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """--state-dir and --keyring-passphrase-file are accepted after any (sub)command too."""
    for sub_parser in sub.choices.values():
        if not any(a.dest == "state_dir" for a in sub_parser._actions):
            _add_common(sub_parser)
        for action in sub_parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_common_everywhere(action)


def _add_common(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: an option given before the command is not overwritten by the sub-parser's default
    parser.add_argument("--state-dir", default=argparse.SUPPRESS, metavar="DIR",
                        help=f"state directory (env {statedir.STATE_DIR_ENV}, default {statedir.DEFAULT_STATE_DIR})")
    parser.add_argument("--keyring-passphrase-file", default=argparse.SUPPRESS, metavar="FILE",
                        help="read the keyring's master passphrase from FILE "
                             "(or env TUI_INSTALLER_KEYRING_PASSPHRASE)")


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-p", "--profile", help="preset profile name or path to a profile file")
    parser.add_argument("-a", "--answers", help="answers file (replays an operator's choices)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting (repeatable)")
    parser.add_argument("--inventory", metavar="FILE",
                        help="Ansible inventory (groups controller, compute): run on its hosts over SSH")


def _run_tui(args: argparse.Namespace) -> int:
    try:
        from tui_installer.screens.app import run_tui
    except ImportError as error:  # the TUI is optional for a headless engine host
        raise UserError(f"the TUI is not available ({error})", hint="use `tui-installer install --yes`") from None
    if not os.isatty(sys.stdout.fileno()):
        raise UserError("the TUI needs a terminal", hint="use `tui-installer install --yes` for automation")
    with priority.interactive():  # keys reach the screen while the steps keep the cores busy
        return int(run_tui(args) or 0)
