"""`tui-installer validate`: run Tempest against the cloud this state directory installed.

Exit 0 when every selected test passed or was skipped, 1 when one failed, 2 when there is nothing to
validate (no cloud, a cloud half up, Tempest not installed). The last line is always
``N passed, N failed, N skipped``; the result, the whole log and tempest.conf stay in the state directory.
"""

from __future__ import annotations

import argparse

from tui_installer import statedir, validate


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("validate", help="run Tempest against the installed cloud",
                                   description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--smoke", dest="selection", action="store_const", const="smoke",
                       help="Tempest's smoke tests (default, ~2 min)")
    which.add_argument("--api", dest="selection", action="store_const", const="api",
                       help="the API tests of identity, image, compute, network and volume (much longer)")
    parser.add_argument("--concurrency", type=int, default=2, help="test workers (default 2)")
    parser.set_defaults(func=run, selection="smoke")


def run(args: argparse.Namespace) -> int:
    state = statedir.StateDir.open(getattr(args, "state_dir", None), create=False)
    result = validate.run(state, args.selection, max(1, args.concurrency),
                          say=lambda text: print(text, flush=True))
    for skip in result.skips:
        print(f"skipped: {skip['test']}: {skip['reason']} [{skip['why']}]")
    for test in result.failed_ids:
        print(f"FAILED: {test}")
    print(f"result: {state.validation.result_file}; log: {result.log} ({result.seconds:.0f} s)")
    print(result.line(), flush=True)
    return result.exit_code
