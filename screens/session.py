"""What the operator chose so far in the TUI's flow, and how it becomes an answers file and a plan.

No Textual here: the screens edit a :class:`Session`; the engine only ever sees the answers file it
writes, so an install started from the TUI can be replayed headless with ``install -a FILE``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tui_installer import preview
from tui_installer.errors import UserError
from tui_installer.preview import Answers, HostSpec, Plan, Profile, ServiceSpec
from tui_installer.statedir import StateDir, history, write_private


@dataclass
class Session:
    state_dir: Path
    profile_arg: str | None = None
    profile: Profile | None = None
    #: the services the operator selected (before dependencies are added)
    selected: list[str] = field(default_factory=list)
    #: settings the operator set (merged over the profile's)
    settings: dict[str, Any] = field(default_factory=dict)
    answers_source: str | None = None
    #: the keyring's master passphrase: memory only, handed to the engine through a pipe
    passphrase: str | None = None
    passphrase_file: str | None = None
    plan: Plan | None = None
    #: settings the host check proposed and the operator took (``--set`` text): kept across a change of
    #: profile, applied to any profile that has the setting
    host_fixes: dict[str, str] = field(default_factory=dict)
    #: more than one host (the Hosts screen): the hosts to install on, through Ansible; empty with
    #: ``multi_host`` False is this machine alone, as before
    hosts: list[HostSpec] = field(default_factory=list)
    multi_host: bool = False
    #: each tested host's facts (``preview.test_hosts``), by name: what the Hosts screen shows
    host_tests: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- profile and services ----------------------------------------------------------------------
    def choose_profile(self, name_or_path: str) -> Profile:
        """Load a preset or a profile file; a file that is an answers file is taken as one."""
        if preview.is_path(name_or_path) and _is_answers_file(name_or_path):
            self.load_answers(name_or_path)
            assert self.profile is not None
            return self.profile
        self.profile = preview.load_profile(name_or_path)
        is_path = preview.is_path(name_or_path)
        self.profile_arg = str(Path(name_or_path).resolve()) if is_path else name_or_path
        self.selected = list(self.profile.services)
        self.settings = {}
        self.apply_host_fixes()
        self.plan = None
        return self.profile

    def take_host_fixes(self, fixes: dict[str, str]) -> None:
        self.host_fixes.update(fixes)
        self.apply_host_fixes()

    def apply_host_fixes(self) -> None:
        """The host check's fixes the operator took, typed for this profile (one it has no use for is
        left out); an answers file or --set given later still wins."""
        if self.profile is None:
            return
        for name, text in self.host_fixes.items():
            try:
                self.settings.update(preview.parse_sets(self.profile, [f"{name}={text}"]))
            except (UserError, ValueError):
                continue

    def load_answers(self, path: str) -> Answers:
        answers = preview.load_answers(path)
        if not answers.profile:
            raise ValueError(f"{path}: the answers file names no profile")
        self.use_answers(answers)
        self.answers_source = str(path)
        return answers

    def use_answers(self, answers: Answers) -> None:
        """Take the profile, services and settings of ``answers`` as the operator's choices."""
        assert answers.profile
        self.profile = preview.load_profile(answers.profile)
        self.profile_arg = answers.profile
        selected = [s for s in self.profile.services if s not in answers.remove_services]
        self.selected = selected + [s for s in answers.add_services if s not in selected]
        self.settings = dict(answers.settings)
        self.plan = None
        if answers.inventory:
            self.use_inventory(answers.inventory)

    def use_inventory(self, path: str) -> None:
        """The hosts of an Ansible inventory (``--inventory``, ``inventory:`` in answers) to edit and test."""
        self.hosts = preview.read_hosts(path)
        self.multi_host, self.host_tests = True, {}

    def services(self) -> dict[str, ServiceSpec]:
        assert self.profile is not None
        return preview.services_for(self.profile)

    def resolved(self) -> tuple[list[str], dict[str, str]]:
        """The selection with its dependencies, and why each was added."""
        return preview.resolve_services(self.selected, self.services())

    # -- answers and plan --------------------------------------------------------------------------
    def answers(self, inventory: str | None = None) -> Answers:
        assert self.profile is not None
        base = list(self.profile.services)
        return Answers(profile=self.profile_arg, settings=dict(self.settings),
                       add_services=tuple(s for s in self.selected if s not in base),
                       remove_services=tuple(s for s in base if s not in self.selected),
                       source=self.answers_source or "<tui>", inventory=inventory)

    def answers_yaml(self, inventory: str | None = None) -> str:
        return ("# tui-installer answers file: replay with `tui-installer install -a THIS_FILE --yes`\n"
                + preview.dump_answers(self.answers(inventory)))

    def build_plan(self) -> Plan:
        assert self.profile is not None
        self.plan = preview.build_plan(self.profile, answers=self.answers())
        return self.plan

    def form(self) -> list[preview.Field]:
        """The settings form of the current selection, with the operator's values over the profile's."""
        assert self.profile is not None
        return preview.settings_form(self.profile, self.selected, self.answers())

    def needs_secrets(self) -> bool:
        assert self.profile is not None
        return preview.needs_secrets(self.profile, self.answers())

    def save_answers(self, path: Path | None = None) -> Path:
        """Write the answers file (mode 0600: it names the host's layout). Default: in the state dir."""
        if path is None:
            path = StateDir(self.state_dir).new_answers_file(f"tui-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        inventory = None
        if self.multi_host and self.hosts:  # the hosts: an Ansible inventory next to it, named in it
            inventory = preview.write_inventory(self.hosts, inventory_path_for(path)).name
        write_private(path, self.answers_yaml(inventory))
        return path


def inventory_path_for(answers: Path) -> Path:
    """The inventory saved with an answers file: beside it, ``NAME-inventory.ini``."""
    return answers.with_name(f"{answers.stem}-inventory.ini")


def answers_file_for_run(state_dir: Path, run: str) -> Path:
    """An answers file that rebuilds the same plan as ``run`` ran (same settings, so the same step
    fingerprints): how a run started elsewhere (headless, another client) is resumed."""
    session = Session(state_dir=state_dir)
    session.use_answers(history.answers_of(StateDir(state_dir).run(run)))
    return session.save_answers()


def _is_answers_file(path: str) -> bool:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "profile" in data and "name" not in data
