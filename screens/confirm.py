"""The last question before an install changes the host: what will be installed and changed, default No.

Like Subiquity's "Confirm destructive action" before it writes the disk: Ctrl+N, Ctrl+R or Enter on
Review only open this dialog; the install starts on an explicit Yes (``y`` or the button), and Enter,
``n`` or Escape go back to Review with nothing started.
"""

from __future__ import annotations

from pathlib import Path

from tui_installer.screens.dialogs import ConfirmScreen

from tui_installer.preview import Plan

#: settings whose value is a directory the install writes (``prefix``, ``log_dir``, ``glance_data_dir``)
DIR_SUFFIXES = ("_dir", "prefix")


def apt_packages(plan: Plan) -> list[str]:
    """The Debian packages of the plan's apt step(s) (``apt-get install``'s argv after the options)."""
    names: list[str] = []
    for step in plan.steps():
        if step.argv[:2] == ("apt-get", "install"):
            names += [a for a in step.argv[2:] if not a.startswith("-") and "::" not in a]
    return list(dict.fromkeys(names))


def pip_packages(plan: Plan) -> list[str]:
    """Python packages named in ``*_packages`` settings (the venv's pip installs), without repeats."""
    names = [n for k, v in plan.settings.items() if k.endswith("_packages") for n in str(v).split()]
    return list(dict.fromkeys(names))


def impact_text(plan: Plan, state_dir: Path) -> str:
    """What the install will do to this host, in lines short enough for an 80-column dialog."""
    apt, pip = apt_packages(plan), pip_packages(plan)
    ports = sorted({str(v) for k, v in plan.settings.items() if k.endswith("_port")}, key=int)
    dirs = [str(v) for k, v in plan.settings.items() if k.endswith(DIR_SUFFIXES) and str(v).startswith("/")]
    steps = len(plan.steps())
    lines = [f"Profile {plan.profile}: {steps} step{'' if steps == 1 else 's'} run as {_user()} on this host.",
             f"Services ({len(plan.services)}): {', '.join(plan.services)}",
             f"Debian packages: {len(apt)}" + (f" ({', '.join(apt)})" if apt else ""),
             f"Python packages: {len(pip)}" + (" (into a virtualenv)" if pip else ""),
             f"Ports it will listen on: {', '.join(ports) or 'none declared'}",
             f"Directories it writes: {', '.join([*dirs, str(state_dir)])}",
             "The install runs in the background; quitting the TUI does not stop it."]
    return "\n".join(lines)


def confirm_install(plan: Plan, state_dir: Path, hosts: list[str] | None = None) -> ConfirmScreen:
    """``hosts``: the inventory hosts it installs on (through Ansible) instead of this host."""
    if hosts:
        text = impact_text(plan, state_dir).replace(" on this host.", f" on {len(hosts)} hosts (Ansible).")
        return ConfirmScreen(f"Install on {', '.join(hosts)} now?", text, yes="Install", no="Cancel")
    return ConfirmScreen("Install on this host now?", impact_text(plan, state_dir),
                         yes="Install", no="Cancel")


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "this user"
