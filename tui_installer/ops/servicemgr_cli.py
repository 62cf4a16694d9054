"""Command line of the service manager: ``python -m tui_installer.ops.servicemgr COMMAND ...`` (steps use it)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from tui_installer.ops.servicemgr import (
    DEFAULT_PREFIX,
    Unit,
    enable,
    load_unit,
    remove,
    render_systemd,
    restart,
    start,
    status,
    stop,
    system,
    unit_dir,
    write_unit,
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tui_installer.ops.servicemgr",
                                description="Run the cloud's services, with or without systemd.")
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write-unit", help="define a service: write-unit NAME [options] -- ARGV...")
    w.add_argument("name")
    w.add_argument("argv", nargs="+")
    w.add_argument("--env", action="append", default=[], metavar="K=V")
    w.add_argument("--user", default="root")
    w.add_argument("--group")
    w.add_argument("--log-file")
    w.add_argument("--chdir", default="/")
    w.add_argument("--description", default="")
    w.add_argument("--after", action="append", default=[])
    w.add_argument("--stop-timeout", type=float, default=30.0)
    w.add_argument("--prefix", default=DEFAULT_PREFIX)
    s = sub.add_parser("start")
    s.add_argument("name", nargs="+")
    s.add_argument("--wait", type=float, default=3.0, help="seconds it must stay alive (no systemd)")
    s.add_argument("--tcp", "--url", dest="tcp", metavar="HOST:PORT|URL",
                   help="wait until it accepts connections (HOST:PORT) or answers HTTP < 500 (a URL)")
    s.add_argument("--timeout", type=float, default=90.0, help="how long to wait for --tcp/--url")
    sub.add_parser("stop").add_argument("name", nargs="+")
    sub.add_parser("list", help="every defined service and whether it runs")
    for cmd in ("status", "restart", "enable", "remove", "render"):
        sub.add_parser(cmd).add_argument("name")
    y = sub.add_parser("system", help="a distribution service: system start|stop|status|restart NAME")
    y.add_argument("action", choices=["start", "stop", "status", "restart"])
    y.add_argument("name")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd == "write-unit":
        env = dict(item.split("=", 1) for item in args.env)
        unit = Unit(args.name, args.argv, env=env, user=args.user, group=args.group, log_file=args.log_file,
                    chdir=args.chdir, description=args.description, after=args.after,
                    stop_timeout=args.stop_timeout, prefix=args.prefix)
        print(f"{'written' if write_unit(unit) else 'unchanged'}: {unit.unit_name}")
        return 0
    if args.cmd == "render":
        print(render_systemd(load_unit(args.name)), end="")
        return 0
    if args.cmd == "system":
        return system(args.action, args.name)
    if args.cmd == "start":
        return start(args.name, wait=args.wait, tcp=args.tcp, timeout=args.timeout)
    if args.cmd == "list":
        names = sorted(p.stem for p in unit_dir().glob("*.json"))
        return max([status(n) for n in names], default=0) and 3
    if args.cmd == "stop":
        return stop(args.name)
    func: Callable[[str], int] = {"status": status, "restart": restart, "enable": enable,
                                  "remove": remove}[args.cmd]
    return func(args.name)


