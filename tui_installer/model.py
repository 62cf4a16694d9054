"""The data the engine works on: services, profiles, answers, and the resolved plan.

Everything here is plain, immutable data. Loading and validation live in ``schema``; resolution of
settings and dependencies in ``plan``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Lifecycle phases of an install, in order (DevStack's install/configure/init/start, plus checks).
INSTALL_PHASES: tuple[str, ...] = ("preflight", "packages", "install", "configure", "init", "start", "verify")
#: Phases used by ``uninstall`` (stop always; cleanup with ``--purge``).
REMOVE_PHASES: tuple[str, ...] = ("stop", "cleanup")
ALL_PHASES: tuple[str, ...] = INSTALL_PHASES + REMOVE_PHASES


@dataclass(frozen=True)
class Prompt:
    """A pattern the step may print, answered by a literal or by a named secret."""

    expect: str
    answer: str | None = None
    secret: str | None = None


@dataclass(frozen=True)
class StepSpec:
    """A step as written in a service file: settings are still ``{{ name }}`` placeholders."""

    name: str
    run: tuple[str, ...] | str
    env: dict[str, str] = field(default_factory=dict)
    #: environment variables whose value is a named secret (VAR -> secret name)
    secret_env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    timeout: float | None = None
    idle_timeout: float | None = None
    retries: int = 0
    retry_delay: float = 0.0
    creates: str | None = None
    unless: str | None = None
    prompts: tuple[Prompt, ...] = ()
    description: str = ""
    #: step ids (``service.phase.name``) this step waits for, beyond what the plan infers
    after: tuple[str, ...] = ()
    #: shared resources the step holds while it runs (no two steps holding one run at once)
    locks: tuple[str, ...] = ()
    #: in a plan for an inventory, only on hosts of this role (None: wherever its service runs), e.g. the
    #: admin credentials of openstack-base on the controller alone: a compute host never gets that secret
    role: str | None = None


@dataclass(frozen=True)
class SettingDef:
    """A declared setting: its type (``settingtypes.TYPES``), default (``None``: required) and how the
    operator is told about it. ``name: default`` in a service file gives the type of its default."""

    name: str
    default: Any
    type: str = "string"
    description: str = ""
    #: folded away in the TUI: most operators never change it
    advanced: bool = False
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    #: a regular expression a string must match in full
    pattern: str | None = None


@dataclass(frozen=True)
class EndpointSpec:
    """An API a service serves, as declared: ``http://{host}:{port}{path}`` from settings' values."""

    name: str
    port: str  # the setting holding the port
    path: str = ""
    host: str = "host_ip"  # the setting holding the address


@dataclass(frozen=True)
class Endpoint:
    """A resolved API endpoint of a plan (for the summary and ``plan --format json``)."""

    service: str
    name: str
    url: str


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    description: str = ""
    requires: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    #: settings that must have a value (from the profile, answers or --set) before a plan can be made
    required_settings: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    phases: dict[str, tuple[StepSpec, ...]] = field(default_factory=dict)
    #: where it was defined (file path), for error messages
    source: str = ""
    #: the typed declaration of each of ``settings`` (same names, same defaults)
    setting_defs: dict[str, SettingDef] = field(default_factory=dict)
    endpoints: tuple[EndpointSpec, ...] = ()
    #: where it runs in a plan for an inventory (docs/MULTI-HOST.md): ``controller`` (the default: the
    #: inventory's controller host), ``compute`` (every host of group compute) or ``all`` (every host);
    #: what a service needs runs with it (openvswitch and openstack-base on each compute host). One host
    #: runs every role.
    role: str = "controller"


#: the roles a service may have (``ServiceSpec.role``): the inventory's groups, or ``all`` (every host)
ROLES: tuple[str, ...] = ("controller", "compute", "all")


@dataclass(frozen=True)
class Profile:
    name: str
    description: str = ""
    services: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    service_definitions: dict[str, ServiceSpec] = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True)
class Answers:
    """What an operator chose, so an install can be replayed (``-a FILE``)."""

    profile: str | None = None
    add_services: tuple[str, ...] = ()
    remove_services: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    #: an Ansible inventory (absolute path): the plan runs on its hosts (hosts.py)
    inventory: str | None = None


@dataclass(frozen=True)
class Step:
    """A resolved step of a plan: settings substituted, secrets still referenced by name only."""

    id: str  # service.phase.name
    service: str
    phase: str
    name: str
    #: argv to execute; a shell string in the service file becomes ["bash", "-c", string]
    argv: tuple[str, ...]
    #: the original shell string, if the step was written as one (for display and ``--format sh``)
    shell: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    secret_env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    timeout: float | None = None
    idle_timeout: float | None = None
    retries: int = 0
    retry_delay: float = 0.0
    creates: str | None = None
    unless: str | None = None
    prompts: tuple[Prompt, ...] = ()
    description: str = ""
    #: sha256 over the step's inputs (command, env, cwd, checks, prompts; secret *names* only)
    fingerprint: str = ""
    #: the inventory host it runs on (through Ansible), None: this machine (hosts.py)
    host: str | None = None
    #: the steps this one waits for (the plan's dependency graph, ``plan.graph``): ids of earlier steps
    after: tuple[str, ...] = ()
    #: shared resources held while it runs: ``dpkg`` (apt's one lock), ``venv:PATH`` (one pip at a time)
    locks: tuple[str, ...] = ()

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret this step may use (env and prompts)."""
        names = list(self.secret_env.values()) + [p.secret for p in self.prompts if p.secret]
        return tuple(dict.fromkeys(names))

    @property
    def display(self) -> str:
        """The command as shown to a user: never contains a secret value."""
        if self.shell is not None:
            return self.shell
        import shlex

        return shlex.join(self.argv)


@dataclass(frozen=True)
class Phase:
    name: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Plan:
    profile: str
    profile_source: str
    services: tuple[str, ...]
    #: services added to satisfy dependencies: name -> human reason ("required by nova")
    added: dict[str, str]
    settings: dict[str, Any]
    secrets: tuple[str, ...]
    phases: tuple[Phase, ...]
    endpoints: tuple[Endpoint, ...] = ()
    #: the Ansible inventory the plan runs on (absolute path), None: this machine alone (hosts.py)
    inventory: str | None = None
    hosts: tuple[str, ...] = ()
    #: the services each inventory host runs (by the services' ``role`` and the host's groups)
    placement: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: a plan on an inventory: the settings the operator chose (answers and ``--set``), before any host's
    #: defaults, built-ins or wiring; what rebuilds it for another inventory (``node add``). None: not kept
    choices: dict[str, Any] | None = None

    def steps(self) -> list[Step]:
        return [s for p in self.phases for s in p.steps]
