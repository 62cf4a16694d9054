"""Commands around a plan: profiles, plan, install, uninstall, status, answer."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tui_installer import catalog, journal, preview, schema
from tui_installer import plan as planning
from tui_installer.errors import UserError
from tui_installer.model import Answers, Plan
from tui_installer.statedir import CHOICES, PASSPHRASE_ENV, RunFiles, StateDir

if TYPE_CHECKING:
    from tui_installer import engine


AddOptions = Callable[[argparse.ArgumentParser], None]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], add_common: AddOptions,
             add_selection: AddOptions) -> None:
    profiles = sub.add_parser("profiles", help="list the preset profiles")
    profiles.set_defaults(func=cmd_profiles)

    plan = sub.add_parser("plan", help="show what an install would do")
    add_selection(plan)
    plan.add_argument("--format", choices=("text", "json", "sh", "ansible"), default="text")
    plan.add_argument("-o", "--output", metavar="DIR",
                      help="--format ansible: the directory to write (inventory, site.yml, library, group_vars)")
    plan.set_defaults(func=cmd_plan)

    install = sub.add_parser("install", help="install headless (line-oriented progress)")
    add_selection(install)
    install.add_argument("-y", "--yes", action="store_true", help="do not ask; generate missing secrets")
    install.add_argument("--on-failure", default="abort", metavar="POLICY",
                         help="abort (default), skip, retry=N, or ask (wait for `tui-installer answer`)")
    install.add_argument("--quiet", action="store_true", help="no progress lines (events are still written)")
    add_jobs(install)
    install.set_defaults(func=cmd_install)

    uninstall = sub.add_parser("uninstall", help="stop every service (and with --purge remove its data)")
    add_selection(uninstall)
    uninstall.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    uninstall.add_argument("--purge", action="store_true", help="also drop databases, venvs, configs, logs")
    add_jobs(uninstall)
    uninstall.set_defaults(func=cmd_uninstall)

    hosts_cmd = sub.add_parser("hosts", help="the inventory's hosts: reachable, sudo, distro, RAM, disk, KVM, clock")
    hosts_cmd.add_argument("--inventory", metavar="FILE", required=True, help="Ansible inventory")
    hosts_cmd.add_argument("--format", choices=("text", "json"), default="text")
    hosts_cmd.set_defaults(func=cmd_hosts)

    status = sub.add_parser("status", help="the last or current run, phase by phase")
    status.set_defaults(func=cmd_status)

    answer = sub.add_parser("answer", help="answer a failed step of a running install")
    answer.add_argument("step", help="step id, as printed (service.phase.name)")
    answer.add_argument("choice", choices=CHOICES)
    answer.set_defaults(func=cmd_answer)


def add_jobs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-j", "--jobs", type=jobs_count, default=None, metavar="N",
                        help="steps run at once when they do not depend on each other (default: the "
                             f"number of CPU cores + 1, or ${JOBS_ENV}; 1 runs them one by one)")


#: the default of ``--jobs`` where the flag is not given (the TUI's engine inherits it)
JOBS_ENV = "TUI_INSTALLER_JOBS"


def jobs_count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def default_jobs(flag: int | None) -> int:
    """``--jobs``, else ``$TUI_INSTALLER_JOBS``, else the CPU cores this process may use, plus one: steps
    also wait (downloads, database round trips, a service's start-up), so one more than the cores keeps
    them busy (BENCHMARKS.md, "Steps at once": the all-in-one at 3 jobs on 2 cores against 2)."""
    if flag is not None:
        return flag
    env = os.environ.get(JOBS_ENV, "")
    if env:
        try:
            return jobs_count(env)
        except argparse.ArgumentTypeError as exc:
            raise UserError(f"${JOBS_ENV}: {exc}", hint="unset it or give a number like 2") from None
    return len(os.sched_getaffinity(0)) + 1


# -- plan --------------------------------------------------------------------------------------------

def parse_sets(items: list[str]) -> dict[str, str]:
    return preview.split_sets(items)


def load_plan(args: argparse.Namespace, *, removal: bool = False, purge: bool = False,
              per_host: bool = True) -> Plan:
    answers = schema.load_answers(args.answers) if args.answers else None
    if removal and not args.profile and not answers:
        answers = last_install_answers(args)  # uninstall what was installed here, with its settings
    name = args.profile or (answers.profile if answers else None)
    if not name:
        raise UserError("no profile given", hint="use -p PROFILE (see `tui-installer profiles`) or -a ANSWERS")
    if answers and not args.profile and answers.profile and _looks_like_path(answers.profile):
        name = str((Path(answers.source).parent / answers.profile).resolve())
    profile = catalog.load_profile(name)
    overrides = parse_sets(args.set)

    def build(roles: Sequence[str] | None = None, wiring: Mapping[str, str] | None = None) -> Plan:
        values = {**(wiring or {}), **overrides}  # the operator's --set wins over the inventory's wiring
        if removal:
            return planning.build_removal(profile, answers=answers, overrides=values, purge=purge, roles=roles)
        return planning.build(profile, answers=answers, overrides=values, roles=roles)

    inventory = getattr(args, "inventory", None) or (answers.inventory if answers else None)
    if inventory and per_host:
        from tui_installer import hosts

        plan = hosts.plan_for_hosts(build, hosts.load_inventory(inventory))
        return replace(plan, choices={**(answers.settings if answers else {}), **overrides})
    return build()


def last_install_answers(args: argparse.Namespace) -> Answers | None:
    """The choices of the newest install run in the state directory (profile, services, settings), read
    back from its plan, so `uninstall` needs no -p/--set repeated."""
    from tui_installer.cli.common import state_of
    from tui_installer.statedir import history

    run = history.last_install(state_of(args))
    if run is None:
        return None
    try:
        answers = history.answers_of(run)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"cannot read back what run {run.id} installed: {exc}", file=str(run.plan_file),
                        hint="name the profile with -p PROFILE") from None
    print(f"uninstalling what run {run.id} installed: profile {answers.profile}")
    return answers


def _looks_like_path(text: str) -> bool:
    return "/" in text or text.endswith((".yaml", ".yml"))


def cmd_profiles(args: argparse.Namespace) -> int:
    for profile in catalog.list_profiles():
        print(f"{profile.name:<16} {profile.description}")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    if args.format == "ansible":
        return _plan_ansible(args)
    if args.output:
        raise UserError("--output is for --format ansible", key="--output", hint="other formats print to stdout")
    plan = load_plan(args)
    render = {"text": planning.to_text, "json": planning.to_json, "sh": planning.to_sh}[args.format]
    sys.stdout.write(render(plan))
    return 0


def _plan_ansible(args: argparse.Namespace) -> int:
    from tui_installer import hosts

    if not args.output:
        raise UserError("--format ansible writes a directory", key="--output", hint="add -o DIR")
    plan = load_plan(args)  # with an inventory: each host's own plan (its services, built-ins, wiring)
    answers = schema.load_answers(args.answers) if args.answers else None
    inventory = args.inventory or (answers.inventory if answers else None)
    written = hosts.export_ansible(plan, Path(args.output), hosts.load_inventory(inventory) if inventory else None)
    print(f"wrote {written}: ansible-playbook -i {written}/inventory {written}/site.yml "
          f"-e @secrets.yml  (secrets.example.yml names the values to give)")
    return 0


# -- install / uninstall -----------------------------------------------------------------------------

def cmd_install(args: argparse.Namespace) -> int:
    from tui_installer import engine
    from tui_installer.cli.common import open_secrets

    policy = engine.Policy.parse(args.on_failure)
    plan = load_plan(args)
    if plan.added:
        for name, reason in plan.added.items():
            _say(f"added {name}: {reason}")
    _confirm(args, f"Install profile {plan.profile}: {len(plan.steps())} steps. Proceed?")
    if plan.inventory:
        _check_hosts(args, plan)
    secrets: dict[str, str] = {}
    if plan.secrets:  # a plan without secrets never needs the keyring (nor its passphrase)
        store = open_secrets(args, interactive=not args.yes)
        generated = store.ensure(plan.secrets)
        if generated:
            _say(f"generated and stored {len(generated)} secret(s) in {store.backend_name}: "
                 f"{', '.join(generated)}")
        secrets = store.values(plan.secrets)
    return _run_engine(args, plan, secrets, policy, kind="install")


def cmd_hosts(args: argparse.Namespace) -> int:
    """Each host of an inventory, as Ansible finds it; exit 1 when one cannot be used."""
    import json
    import tempfile

    from tui_installer import hosts

    inventory = hosts.load_inventory(args.inventory)
    with tempfile.TemporaryDirectory(prefix="tui-facts-") as work:
        found = hosts.host_facts(inventory, Path(work))
    usable = all(f["reachable"] and f["sudo"] and f["clock_skew"] is not None
                 and abs(f["clock_skew"]) <= hosts.MAX_CLOCK_SKEW for f in found.values())
    if args.format == "json":
        print(json.dumps(list(found.values()), indent=1))
        return 0 if usable else 1
    for f in found.values():
        if not f["reachable"]:
            print(f"{f['host']:<16} {f['role']:<10} UNREACHABLE: {f['error']}")
            continue
        kvm = "kvm" if f.get("kvm") else "no kvm (qemu)"
        print(f"{f['host']:<16} {f['role']:<10} {f.get('distro')}, {f.get('cpus')} CPU, {f.get('ram_mb')} MB RAM, "
              f"{f.get('disk_free_gb')} GB free on /, {kvm}, sudo {'ok' if f['sudo'] else 'NO'}, "
              + ("clock ?" if f["clock_skew"] is None else f"clock {f['clock_skew']:+.1f} s")
              + (f"  {f['error']}" if f["error"] else ""))
    return 0 if usable else 1


def _check_hosts(args: argparse.Namespace, plan: Plan) -> None:
    """Preflight of a run on hosts: each answers over SSH, its clock within a few seconds of the
    controller's (one line naming the host and the skew, exit 2); then tui-installer onto the hosts whose
    steps run its helpers (``hosts.deliver_installer``)."""
    import tempfile

    from tui_installer import hosts

    inventory = hosts.load_inventory(plan.inventory or "")
    with tempfile.TemporaryDirectory(prefix="tui-clock-") as work:
        skews = hosts.check_clocks(inventory, Path(work))
    _say("hosts: " + ", ".join(f"{h} (clock {skews[h]:+.1f} s)" for h in inventory.hosts))
    needing = hosts.needs_installer(plan, inventory)
    if needing:
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="tui-deliver-") as work:
            installed = hosts.deliver_installer(inventory, needing, Path(work))
        kept = [h for h in needing if h not in installed]
        _say(f"tui-installer in {hosts.NODE_HOME} on {', '.join(needing)}: "
             + ", ".join(([f"installed on {', '.join(installed)}"] if installed else [])
                         + ([f"already there on {', '.join(kept)}"] if kept else []))
             + f" ({time.monotonic() - started:.0f} s)")


def _say(text: str) -> None:
    """A line before the run starts: a reader that already left (``| head -1``) must not stop the
    install; the rest goes to /dev/null (the run's printer keeps its console log)."""
    try:
        print(text, flush=True)
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def cmd_uninstall(args: argparse.Namespace) -> int:
    from tui_installer import engine
    from tui_installer.cli.common import open_secrets

    plan = load_plan(args, removal=True, purge=args.purge)
    what = "stop every service and remove its data (--purge)" if args.purge else "stop every service"
    _confirm(args, f"Uninstall profile {plan.profile}: {what}. Proceed?")
    secrets = {}
    if plan.secrets:
        store = open_secrets(args, interactive=not args.yes)
        secrets = store.values(plan.secrets)
    # a stop/cleanup must always run its steps: it does not resume from an earlier uninstall
    return _run_engine(args, plan, secrets, engine.Policy("skip"), kind="uninstall", resume=False)


def _run_engine(args: argparse.Namespace, plan: Plan, secrets: dict[str, str], policy: engine.Policy,
                *, kind: str, resume: bool = True) -> int:
    from tui_installer import engine
    from tui_installer.cli.common import install_signal_handlers, state_dir_of
    from tui_installer.cli.progress import Printer

    os.environ.pop(PASSPHRASE_ENV, None)  # steps inherit this environment: never the passphrase
    listener = None if getattr(args, "quiet", False) else Printer()
    runner = engine.Engine(plan, state_dir=state_dir_of(args), secrets=secrets, policy=policy, kind=kind,
                           listener=listener, resume=resume, jobs=default_jobs(getattr(args, "jobs", None)))
    install_signal_handlers(runner.cancel)
    state = runner.run()
    if state != "ok":
        print(f"{kind} {state}: see `tui-installer status` and the step log above; re-run the same command "
              "to resume from the failed step", file=sys.stderr)
        return 1
    return 0


def _confirm(args: argparse.Namespace, question: str) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise UserError("no terminal to confirm on", hint="add --yes to run without asking")
    if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise UserError("cancelled by the operator")


# -- status / answer ---------------------------------------------------------------------------------

def last_run(state: StateDir) -> RunFiles:
    run = state.last_run()
    if run is None:
        raise UserError("no install has run yet", file=str(state.root), hint="start one with `tui-installer install`")
    return run


def cmd_status(args: argparse.Namespace) -> int:
    from tui_installer.cli.common import state_of

    state = state_of(args, create=False, writable=False)
    run = state.last_run() if state.exists() else None
    if run is None:  # read-only: nothing is created, and an empty history is not an error
        print(f"no runs in {state.root}")
        return 0
    record = _load_journal(run)
    alive = state.engine_pid()
    verdict = record.state
    if verdict == journal.RUNNING and not alive:
        verdict = "interrupted (the engine is no longer running: re-run the same install to resume)"
    elif verdict == journal.OK:
        verdict = journal.finished_verdict(_skipped_steps(record))
    print(f"run {record.run}: {record.kind} of {record.profile}: {verdict}")
    print(f"  started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(record.started))}, "
          f"events {run.events_file}")
    _show_console(run.console_file)
    for phase, ids in _phases(record):
        print(f"  {phase}")
        for step_id in ids:
            print("    " + _step_line(step_id, record.steps[step_id]))
    return 0 if record.state in (journal.OK, journal.RUNNING) else 1


def _skipped_steps(record: journal.Journal) -> list[str]:
    """Steps skipped without their work done (after a failure): a run with any is not a clean "ok"."""
    return [i for i in record.order if record.steps[i].status == journal.SKIPPED and not record.steps[i].done]


def _show_console(console: Path) -> None:
    """Name the run's console log; when its terminal went away, show what was printed after that."""
    if not console.is_file():
        return
    print(f"  console log {console}")
    text = console.read_text(errors="replace")
    _before, lost, after = text.partition("[terminal lost: output goes on in this log]\n")
    if lost:
        print("  the terminal went away; the output since then (last lines):")
        for line in after.splitlines()[-5:]:
            print(f"    | {line}")


def _load_journal(run: RunFiles) -> journal.Journal:
    """The run's journal; one that cannot be read (gone, torn by an old version on a full disk) is a
    one-line error, not a traceback."""
    try:
        return run.journal()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"cannot read the journal: {exc}", file=str(run.journal_file),
                        hint="re-run the install to resume; it skips what earlier runs finished") from None


def _phases(record: journal.Journal) -> list[tuple[str, list[str]]]:
    groups: dict[str, list[str]] = {}
    for step_id in record.order:
        groups.setdefault(step_id.split(".")[1] if step_id.count(".") >= 2 else "?", []).append(step_id)
    return list(groups.items())


def _step_line(step_id: str, step: journal.StepRecord) -> str:
    duration = f"{step.duration:.1f}s" if step.duration is not None else ""
    extra = f"({step.reason})" if step.reason else ""
    if step.status == journal.FAILED:
        extra = f"exit {step.exit_code}" + (f": {step.cause}" if step.cause else "")
    if step.attempts > 1:
        extra += f" [{step.attempts} attempts]"
    return f"{step.status:<8} {step_id:<44} {duration:>7} {extra}".rstrip()


def cmd_answer(args: argparse.Namespace) -> int:
    from tui_installer.cli.common import state_of

    run = last_run(state_of(args, create=False))
    record = run.journal()
    step = record.steps.get(args.step)
    if step is None:
        raise UserError(f"no step {args.step!r} in run {record.run}", hint="see `tui-installer status`")
    if step.status != journal.FAILED:
        raise UserError(f"step {args.step} is {step.status}, not waiting for a decision")
    won, standing = run.decide(args.step, step.attempts, args.choice, by=f"cli:{_whoami()}")
    if not won:
        print(f"another client answered step {args.step} first: {standing.choice} (by {standing.by})")
        return 1
    print(f"answered {args.choice} for {args.step}")
    return 0


def _whoami() -> str:
    import os

    return f"{os.environ.get('SSH_CLIENT', 'local').split(' ')[0]}:{os.getpid()}"
