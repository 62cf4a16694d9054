"""``tui-installer node add|remove``: a compute host into or out of the running cloud (``nodes.py``)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tui_installer.errors import UserError
from tui_installer.statedir import PASSPHRASE_ENV

if TYPE_CHECKING:
    from tui_installer.hosts import HostSpec
    from tui_installer.model import Plan


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    node = sub.add_parser("node", help="add a compute host to the running cloud, or remove one")
    verbs = node.add_subparsers(title="node commands", metavar="VERB", required=True)

    add = verbs.add_parser("add", help="add a compute host: the inventory grows, only what is new runs")
    add.add_argument("name", help="the host's inventory name (its nova-compute and agent host name)")
    add.add_argument("--address", required=True, help="IP address or DNS name Ansible reaches it at")
    add.add_argument("--user", default="root", help="SSH user (root, or one with password-less sudo)")
    add.add_argument("--key", default="", metavar="FILE", help="SSH private key (default: ssh's own)")
    add.add_argument("--port", type=int, default=22, help="SSH port (default 22)")
    add.add_argument("--ssh-args", default="", metavar="OPTIONS",
                     help="extra ssh options, as ansible_ssh_common_args (-o UserKnownHostsFile=...)")
    add.add_argument("-y", "--yes", action="store_true", help="do not ask; generate missing secrets")
    add.add_argument("--quiet", action="store_true", help="no progress lines (events are still written)")
    add.set_defaults(func=cmd_node_add)

    remove = verbs.add_parser("remove", help="remove a compute host: its services deleted at the controller, "
                                             "agents removed, host cleaned, out of the inventory")
    remove.add_argument("name", help="the compute host's inventory name")
    remove.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    remove.add_argument("--quiet", action="store_true", help="no progress lines (events are still written)")
    remove.set_defaults(func=cmd_node_remove)


def _spec(args: argparse.Namespace) -> HostSpec:
    from tui_installer.hosts import HostSpec

    return HostSpec(name=args.name, address=args.address, user=args.user, key=args.key, port=args.port,
                    ssh_args=args.ssh_args, role="compute")


def cmd_node_add(args: argparse.Namespace) -> int:
    """The host checked and put into ``[compute]``, then the install of the same choices on the grown
    inventory: the journal skips every (step, host) done, so the new host's steps and the controller's
    mapping and checks of the compute hosts are what runs."""
    from tui_installer import nodes
    from tui_installer.cli import install
    from tui_installer.cli.common import state_dir_of

    state_dir = state_dir_of(args)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tui-node-add-") as work:
        answers = nodes.prepare_add(state_dir, _spec(args), Path(work), say=install._say)
    code = _install(args, answers)
    if code == 0:
        print(f"node {args.name} added in {time.monotonic() - started:.0f} s: the controller's check of every "
              "compute host passed")
    else:
        print(f"node {args.name} is in the inventory but its install did not finish: fix the cause, then "
              f"`tui-installer install -a {answers} --yes` resumes it (or `tui-installer node remove {args.name}`)")
    return code


def cmd_node_remove(args: argparse.Namespace) -> int:
    """The removal plan (``nodes.removal_plan``) as a ``remove-node`` run, then the host out of the inventory."""
    from tui_installer import catalog, nodes
    from tui_installer import plan as planning
    from tui_installer.cli import install
    from tui_installer.cli.common import open_secrets, state_dir_of

    state_dir = state_dir_of(args)
    cloud = nodes.last_cloud(state_dir)
    profile = catalog.load_profile(cloud.answers.profile or cloud.plan.profile)

    def build(roles: Sequence[str] | None, wiring: Mapping[str, str]) -> Plan:
        return planning.build_removal(profile, answers=cloud.answers, overrides=wiring, purge=True, roles=roles)

    plan = nodes.removal_plan(cloud, args.name, build)
    if not plan.steps():
        raise UserError(f"host {args.name} runs nothing this cloud installed", file=cloud.inventory.path)
    install._confirm(args, f"Remove compute host {args.name} from the cloud: stop its services, delete them at "
                           f"the controller {cloud.controller}, clean the host ({len(plan.steps())} steps). Proceed?")
    # unlocked now, before the removal's steps run without the passphrase in the environment: the install
    # after the removal needs the keyring (open_secrets keeps the store for it)
    store = open_secrets(args, interactive=not args.yes)
    secrets = store.values(plan.secrets) if plan.secrets else {}
    started = time.monotonic()
    code = _run(args, plan, secrets, state_dir)
    if code != 0:
        print(f"node {args.name} stays in the inventory: fix the cause and run `tui-installer node remove "
              f"{args.name}` again", file=sys.stderr)
        return code
    nodes.finish_removal(cloud, args.name)
    print(f"node {args.name} is out of the cloud and of {cloud.inventory.path}; the cloud's record of its compute "
          "hosts follows (an install of the same choices: only what names them runs)", flush=True)
    # the journal then holds the cloud as it is: the controller's steps that name the compute hosts ran for
    # those left, so the same host added again later runs them again
    answers = nodes.answers_for(nodes.last_cloud(state_dir), state_dir, f"node-remove-{args.name}")
    code = _install(args, answers)
    if code != 0:
        print(f"node {args.name} is removed, but the install that records it did not finish: `tui-installer "
              f"install -a {answers} --yes` runs it again", file=sys.stderr)
        return code
    print(f"node {args.name} removed in {time.monotonic() - started:.0f} s")
    return 0


def _install(args: argparse.Namespace, answers: Path) -> int:
    """``install -a ANSWERS`` with this command's state directory, keyring and --yes/--quiet."""
    from tui_installer.cli import install

    return install.cmd_install(argparse.Namespace(**{**vars(args), "answers": str(answers), "profile": None,
                                                      "set": [], "inventory": None, "on_failure": "abort",
                                                      "jobs": None}))


def _run(args: argparse.Namespace, plan: Plan, secrets: dict[str, str], state_dir: Path) -> int:
    from tui_installer import engine
    from tui_installer.cli.common import install_signal_handlers
    from tui_installer.cli.progress import Printer

    os.environ.pop(PASSPHRASE_ENV, None)  # steps inherit this environment: never the passphrase
    listener = None if args.quiet else Printer()
    runner = engine.Engine(plan, state_dir=state_dir, secrets=secrets, policy=engine.Policy("abort"),
                           kind="remove-node", node=args.name, listener=listener, resume=False)
    install_signal_handlers(runner.cancel)
    state = runner.run()
    if state != "ok":
        print(f"remove-node {state}: see `tui-installer status` and the step log above", file=sys.stderr)
        return 1
    return 0
