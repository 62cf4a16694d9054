"""`tui-installer passwords list|set|generate|show`: manage the secret store from the shell.

Values never reach stdout except through `show`, and never argv: `set` reads standard input (a pipe
for automation, a masked prompt asked twice on a terminal). Nothing prompts unless stdin is a terminal,
so a script without a passphrase gets a clear error (exit 2) instead of hanging.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from tui_installer.errors import UserError
from tui_installer.secrets import SecretStore, check_name, check_value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `passwords` command and its subcommands to the main parser."""
    parser = subparsers.add_parser("passwords", help="list, set, generate or show stored secrets",
                                   description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="passwords_command", metavar="COMMAND", required=True)
    verbs.add_parser("list", help="the names of the stored secrets (never their values)")
    setter = verbs.add_parser("set", help="store a value read from stdin (a masked prompt on a terminal)")
    setter.add_argument("name")
    gen = verbs.add_parser("generate", help="generate strong values for secrets not stored yet")
    gen.add_argument("names", nargs="*", metavar="NAME")
    gen.add_argument("--all", action="store_true", help="every secret the plan of -p/-a needs")
    gen.add_argument("-p", "--profile", help="with --all: preset profile name or profile file")
    gen.add_argument("-a", "--answers", help="with --all: answers file")
    gen.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="with --all: override a setting (it may enable more services)")
    gen.add_argument("--replace", action="store_true", help="also replace values already stored")
    gen.add_argument("--length", type=int, default=24, help="characters per value (default 24)")
    show = verbs.add_parser("show", help="print one stored value")
    show.add_argument("name")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch a `passwords` subcommand; UserError goes up to the CLI (one line, exit 2)."""
    command = args.passwords_command
    names = [args.name] if command in ("set", "show") else getattr(args, "names", [])
    for name in names:
        check_name(name)
    if command == "generate":
        names = _names_to_generate(args)
    if command in ("list", "show") and not _has_keyring(args):
        return _nothing_stored(args, command)
    store = open_store(args)  # first: a wrong passphrase fails before the value is typed twice
    if command == "list":
        return _list(store)
    if command == "set":
        store.set(args.name, _read_value(args.name))
        print(f"stored {args.name}", file=sys.stderr)
        return 0
    if command == "generate":
        return _generate(store, names, args.replace, args.length)
    return _show(store, args.name)


def open_store(args: argparse.Namespace) -> SecretStore:
    """The store under the global options, as every command opens it (a prompt only on a terminal)."""
    from tui_installer.cli.common import open_secrets

    store: SecretStore = open_secrets(args, interactive=True)
    return store


def _has_keyring(args: argparse.Namespace) -> bool:
    """Whether a keyring was ever made here: the read-only verbs must not create one (nor the state
    directory, nor ask for a new passphrase) just to find it empty."""
    from tui_installer.cli.common import state_of
    from tui_installer.secrets import keyring_exists

    state = state_of(args, create=False, writable=False)
    return state.exists() and keyring_exists(state.keyring_file)


def _nothing_stored(args: argparse.Namespace, command: str) -> int:
    if command == "show":
        raise UserError(f"no secret named {args.name} is stored (there is no keyring yet)",
                        hint="see `passwords list`")
    print("no secrets (no keyring yet: the first install or `passwords set` creates one)")
    return 0


def _read_value(name: str) -> str:
    """The value from stdin: a pipe (trailing newline dropped) or a masked prompt asked twice."""
    if not sys.stdin.isatty():
        return check_value(name, sys.stdin.read().rstrip("\r\n"))
    value = check_value(name, _getpass(f"Value for {name}: "))
    if value != _getpass(f"Repeat the value for {name}: "):
        raise UserError(f"secret {name}: the two values differ; nothing was stored")
    return value


def _getpass(prompt: str) -> str:
    try:
        return getpass.getpass(prompt)
    except (EOFError, KeyboardInterrupt):
        raise UserError("no input given at the prompt") from None


def _names_to_generate(args: argparse.Namespace) -> list[str]:
    """The names given, or with --all the secrets of the plan (built before the keyring is opened)."""
    if args.all == bool(args.names):
        raise UserError("name the secrets to generate, or use --all with -p PROFILE",
                        key="passwords generate")
    if not args.all:
        if args.profile or args.answers or args.set:
            raise UserError("-p, -a and --set only go with --all", key="passwords generate")
        return list(args.names)
    from tui_installer.cli.install import load_plan

    return list(load_plan(args).secrets)


def _list(store: SecretStore) -> int:
    print(f"# backend: {store.backend_name}")
    names = store.names()
    for name in names:
        print(name)
    if not names:
        print("# no secrets stored", file=sys.stderr)
    return 0


def _generate(store: SecretStore, names: list[str], replace: bool, length: int) -> int:
    """Only missing secrets by default: replacing a deployed password would break the services using it."""
    if replace:
        for name in dict.fromkeys(names):
            store.generate(name, length)
            print(f"generated {name}")
        return 0
    have = set(store.names())
    for name in dict.fromkeys(names):
        if name in have:
            print(f"kept {name} (already stored; --replace to change it)")
        else:
            store.generate(name, length)
            print(f"generated {name}")
    return 0


def _show(store: SecretStore, name: str) -> int:
    value = store.get(name)
    if value is None:
        raise UserError(f"no secret named {name} is stored", hint="see `passwords list`")
    print(value)
    return 0

