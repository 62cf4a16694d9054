"""From a profile and a selection to a plan: dependencies, settings, ordered and resolved steps.

The plan is the single thing the engine runs and every format (text, json, sh) prints, so everything a
step will do is decided here: settings substituted, secrets still only names, a fingerprint per step.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from . import catalog as catalog_mod
from . import hostfacts, schema, shellsafe, yamlsrc
from .errors import UserError
from .model import (
    ALL_PHASES,
    INSTALL_PHASES,
    REMOVE_PHASES,
    Answers,
    Endpoint,
    Phase,
    Plan,
    Profile,
    ServiceSpec,
    Step,
    StepSpec,
)
from .planformat import to_json, to_sh, to_text
from .settingvalues import resolve_settings

__all__ = ["build", "build_removal", "placed", "resolve_services", "why_required", "fingerprint",
           "to_text", "to_json", "to_sh", "APT_STEP_ID", "graph", "critical_first"]

APT_STEP_ID = "system.packages.apt"
#: apt/dpkg hold one lock for the whole system: steps that run them never run at once
DPKG_LOCK = "dpkg"
#: one installer at a time into the shared virtualenv (pip and uv rewrite site-packages)
VENV_LOCK = "venv"
_DPKG_RE = re.compile(r"(?<![\w./-])(apt-get|apt|aptitude|dpkg)(?![\w.-])")
_VENV_RE = re.compile(r"/bin/pip3?(?![\w.-])|(?<![\w.-])uv\s+pip(?![\w.-])")
Catalog = Mapping[str, ServiceSpec]


def resolve_services(selected: Sequence[str], catalog: Catalog) -> tuple[list[str], dict[str, str]]:
    """The selection with everything it requires, dependencies first, and why each addition is there.

    Returns ``(order, added)`` where ``added`` maps an added service to a reason ("required by glance").
    """
    for name in selected:
        if name not in catalog:
            raise UserError(f"unknown service {name!r}", hint=_known(name, catalog))
    order = catalog_mod.closure(list(selected), catalog.__getitem__)
    reasons: dict[str, str] = {}
    for name in order:
        for dep in catalog[name].requires:
            if dep not in selected and dep not in reasons:
                reasons[dep] = f"required by {name}"
    return order, {name: reasons[name] for name in order if name in reasons}


def why_required(service: str, selected: Sequence[str], catalog: Catalog | None = None) -> list[str]:
    """The selected services that need ``service`` (directly or not): why it cannot be removed."""
    services = catalog_mod.load_services() if catalog is None else catalog
    return [name for name in selected if name != service and name in services
            and service in catalog_mod.closure([name], services.__getitem__)[:-1]]


def _known(name: str, catalog: Catalog) -> str:
    close = difflib.get_close_matches(name, list(catalog), n=3)
    return ("did you mean " + ", ".join(close) + "?") if close else "known: " + ", ".join(sorted(catalog))


def _selection(profile: Profile, answers: Answers | None, catalog: Catalog) -> list[str]:
    """The profile's services, plus/minus the answers file's, each name checked where it was written."""
    for i, name in enumerate(profile.services):
        if name not in catalog:
            raise yamlsrc.error(profile.source, f"services[{i}]", f"unknown service {name!r}",
                                _known(name, catalog))
    selected = list(profile.services)
    if answers is None:
        return selected
    for key, names in (("add_services", answers.add_services), ("remove_services", answers.remove_services)):
        for i, name in enumerate(names):
            if name not in catalog:
                raise yamlsrc.error(answers.source, f"{key}[{i}]", f"unknown service {name!r}",
                                    _known(name, catalog))
    selected += [n for n in answers.add_services if n not in selected]
    selected = [n for n in selected if n not in answers.remove_services]
    for i, name in enumerate(answers.remove_services):
        needed_by = why_required(name, selected, catalog)
        if needed_by:
            raise yamlsrc.error(answers.source, f"remove_services[{i}]",
                                f"cannot remove {name!r}: required by {', '.join(needed_by)}")
    return selected


def _value(values: Mapping[str, Any], name: str, *, line: bool = False) -> str:
    if name not in values:
        raise UserError(f"setting {name!r} has no value in this plan")
    text = hostfacts.render(values[name])
    if "${" in text:  # iniconf and the other helpers expand ${VAR} from their environment: the secrets
        raise UserError(f"setting {name!r}: '${{' cannot stand in a value",
                        hint="helpers would expand ${VAR} from the step's environment, where its secrets are")
    if "\0" in text or (line and ("\n" in text or "\r" in text)):
        raise UserError(f"setting {name!r}: {'a line break' if line else 'a NUL character'} cannot "
                        "stand here", hint="give a value on one line, without control characters")
    return text


def render(text: str, values: Mapping[str, Any], *, line: bool = False) -> str:
    """Substitute ``{{ name }}`` as raw text: for what no shell reads (argv, env, cwd, prompt answers).

    ``line``: the value is typed into the step (a prompt answer), so a line break would be a second
    answer: refused.
    """
    return schema.TEMPLATE_RE.sub(lambda m: _value(values, m.group(1).strip(), line=line), text)


def render_shell(text: str, values: Mapping[str, Any], where: str = "") -> str:
    """Substitute ``{{ name }}`` in a bash string, each value quoted for its context (``shellsafe``)."""
    try:
        return shellsafe.render(text, lambda name: _value(values, name))
    except ValueError as exc:
        raise UserError(f"{where}: {exc}" if where else str(exc),
                        hint="a setting there may only hold a number or a boolean") from None


def fingerprint(step: Step) -> str:
    """sha256 over what the step does (argv, env, cwd, checks, prompts); secret names, never values."""
    data = {"argv": list(step.argv), "env": step.env, "secret_env": step.secret_env, "cwd": step.cwd,
            "creates": step.creates, "unless": step.unless,
            "prompts": [[p.expect, p.answer, p.secret] for p in step.prompts]}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _step(service: str, phase: str, spec: StepSpec, values: Mapping[str, Any]) -> Step:
    step_id = f"{service}.{phase}.{spec.name}"

    def sub(text: str | None) -> str | None:
        return None if text is None else render(text, values)

    if isinstance(spec.run, str):
        shell: str | None = render_shell(spec.run, values, step_id)
        argv: tuple[str, ...] = ("bash", "-c", str(shell))
    else:
        shell, argv = None, tuple(render(a, values) for a in spec.run)
    prompts = tuple(replace(p, answer=None if p.answer is None else render(p.answer, values, line=True))
                    for p in spec.prompts)
    command = shell if shell is not None else " ".join(argv)
    locks = list(spec.locks)
    locks += [DPKG_LOCK] if _DPKG_RE.search(command) else []
    locks += [VENV_LOCK] if _VENV_RE.search(command) else []
    unless = None if spec.unless is None else render_shell(spec.unless, values, step_id + " unless")
    step = Step(id=step_id, service=service, phase=phase, name=spec.name,
                argv=argv, shell=shell, env={k: render(v, values) for k, v in spec.env.items()},
                secret_env=dict(spec.secret_env), cwd=sub(spec.cwd), timeout=spec.timeout,
                idle_timeout=spec.idle_timeout, retries=spec.retries, retry_delay=spec.retry_delay,
                creates=sub(spec.creates), unless=unless, prompts=prompts,
                description=spec.description, after=spec.after, locks=tuple(dict.fromkeys(locks)))
    return replace(step, fingerprint=fingerprint(step))


def apt_step(packages: Sequence[str]) -> Step:
    """All apt packages in one transaction, skipped when every one is already installed."""
    names = list(dict.fromkeys(packages))
    quoted = shlex.join(name.split("=")[0] for name in names)  # dpkg-query knows no =version
    step = Step(
        id=APT_STEP_ID, service="system", phase="packages", name="apt",
        argv=("apt-get", "install", "-y", "-q", "-o", "Dpkg::Progress-Fancy=0", *names),
        env={"DEBIAN_FRONTEND": "noninteractive"}, timeout=1800.0, idle_timeout=600.0,
        retries=2, retry_delay=10.0, locks=(DPKG_LOCK,),
        unless=(f"s=$(dpkg-query -W -f='${{db:Status-Abbrev}}\\n' {quoted} 2>/dev/null)"
                " && ! printf '%s\\n' \"$s\" | grep -qv '^ii'"),
        description="install the apt packages of every service in one transaction")
    return replace(step, fingerprint=fingerprint(step))


def _phases(order: Sequence[str], phases: Sequence[str], catalog: Catalog,
            values: Mapping[str, Any], with_packages: bool, roles: Sequence[str] | None = None) -> tuple[Phase, ...]:
    result = []
    for phase in phases:
        steps = [_step(name, phase, spec, values)
                 for name in order for spec in catalog[name].phases.get(phase, ())
                 if roles is None or spec.role in (None, "all") or spec.role in roles]
        packages = [p for name in order for p in catalog[name].packages]
        if phase == "packages" and with_packages and packages:
            steps.insert(0, apt_step(packages))
        if steps:
            result.append(Phase(phase, tuple(steps)))
    return graph(tuple(result), order, catalog, removal=not with_packages)


def graph(phases: tuple[Phase, ...], order: Sequence[str], catalog: Catalog, *,
          removal: bool = False) -> tuple[Phase, ...]:
    """Each step's ``after``: the steps it waits for (docs/DESIGN.md, "Parallel steps").

    - a service's own steps keep their order (each waits for the one before it);
    - a step of phase P waits for the last step in phases up to P of every service its service
      requires (for a removal: of every service that requires it), so what it needs is installed,
      configured, initialised or up as far as that phase — except in ``init``, which waits for what
      it requires only as far as ``configure`` (``INIT_NEEDS``): a database sync needs the database
      server (up after its ``install``), not another service's schema, so the syncs run side by side;
    - nothing changes the host before every preflight check passed: the apt step and each service's
      first step after preflight wait for all of them;
    - a service that declares apt packages waits for the apt step after its packages phase;
    - ``verify`` steps wait for every ``start`` step, ``cleanup`` steps for every ``stop`` step;
    - ``after:`` in the service file adds steps a recipe knows it needs (same or an earlier phase;
      a step of a service not in the plan is ignored).

    Within a phase, the steps are then ordered so that every step comes after what it waits for:
    the plan read top to bottom (``--jobs 1``, ``plan --format sh``) is a valid serial order.
    """
    rank = {name: i for i, name in enumerate(ALL_PHASES)}
    steps = [s for p in phases for s in p.steps]
    ids = {s.id for s in steps}
    by_service: dict[str, list[Step]] = {}
    for step in steps:
        by_service.setdefault(step.service, []).append(step)
    before: dict[str, list[str]] = {name: [] for name in order}
    for name in order:  # every service required, directly or not: a service without steps in a
        # phase must not hide what it requires (nova-compute -> neutron-agent -> openstack-base)
        needs = catalog_mod.closure([name], catalog.__getitem__)[:-1] if name in catalog else []
        for dep in needs:
            if dep in before:
                (before[dep] if removal else before[name]).append(name if removal else dep)
    with_packages = {name for name in order
                     if any(catalog[n].packages for n in [name, *before[name]] if n in catalog and not removal)}
    preflight = [s.id for s in steps if s.phase == "preflight"]

    def last_upto(service: str, phase: str) -> str | None:
        phase = INIT_NEEDS if phase == "init" else phase
        found = [s.id for s in by_service.get(service, ()) if rank[s.phase] <= rank[phase]]
        return found[-1] if found else None

    previous = {b.id: a for own in by_service.values() for a, b in zip(own[:-1], own[1:], strict=True)}
    resolved: dict[str, Step] = {}
    for step in steps:
        prev = previous.get(step.id)
        deps = [prev.id] if prev else []
        for other in before.get(step.service, ()):
            found = last_upto(other, step.phase)
            deps += [found] if found else []
        if step.phase != "preflight" and (prev is None or prev.phase == "preflight"):
            deps += preflight
        if step.phase == "verify":  # checks run once everything is up: a check may need any service
            deps += [s.id for s in steps if s.phase == "start"]
        if step.phase == "cleanup":  # data goes once everything is stopped (as in the serial order)
            deps += [s.id for s in steps if s.phase == "stop"]
        if (step.service in with_packages and APT_STEP_ID in ids and rank[step.phase] > rank["packages"]
                and (prev is None or rank[prev.phase] <= rank["packages"])):
            deps.append(APT_STEP_ID)
        deps += _declared_after(step, ids, by_service, rank, catalog)
        resolved[step.id] = replace(step, after=tuple(d for d in dict.fromkeys(deps) if d != step.id))
    ordered = tuple(Phase(p.name, _topological(p.steps, resolved)) for p in phases)
    return _reduced(ordered)


#: how far an ``init`` step waits for the services its service requires (``graph``): their init steps
#: (keystone's keys and bootstrap, rabbitmq's user) are for their own start, which later phases wait for
INIT_NEEDS = "configure"


def critical_first(steps: Sequence[Step], durations: Mapping[str, float] | None = None) -> list[Step]:
    """The order a list scheduler offers ready steps in when several run at once: the longest path from
    the step to the end of the plan first (its own duration plus its longest chain of waiting steps),
    the plan's order between equals. Durations come from earlier runs; a step without one counts the
    median of those known (1 s when none is). Plain plan order runs everything of a phase (every
    service's database sync) before any step of the next, so the one step the rest of the cloud waits
    for (keystone's API start) queued behind them; this starts it as soon as it may.

    ``after`` names only earlier steps (``graph``), so the plan read backwards visits every step's
    waiting steps before the step itself."""
    known = sorted(durations.values()) if durations else []
    default = known[len(known) // 2] if known else 1.0
    waiting_on: dict[str, list[str]] = {s.id: [] for s in steps}
    for step in steps:
        for dep in step.after:
            if dep in waiting_on:
                waiting_on[dep].append(step.id)
    level: dict[str, float] = {}
    for step in reversed(steps):
        own = durations.get(step.id, default) if durations else default
        level[step.id] = own + max((level[w] for w in waiting_on[step.id]), default=0.0)
    index = {s.id: i for i, s in enumerate(steps)}
    return sorted(steps, key=lambda s: (-level[s.id], index[s.id]))


def _reduced(phases: tuple[Phase, ...]) -> tuple[Phase, ...]:
    """Each step's ``after`` without what another of its entries already waits for (the same order,
    a readable graph: ``keystone.init.database <- keystone.configure.unit``)."""
    ancestors: dict[str, set[str]] = {}
    result = []
    for phase in phases:
        steps = []
        for step in phase.steps:
            deps = [d for d in step.after if d in ancestors]
            covered = set().union(*(ancestors[d] for d in deps)) if deps else set()
            ancestors[step.id] = covered | set(deps)
            steps.append(replace(step, after=tuple(d for d in deps if d not in covered)))
        result.append(Phase(phase.name, tuple(steps)))
    return tuple(result)


def _declared_after(step: Step, ids: set[str], by_service: Mapping[str, list[Step]],
                    rank: Mapping[str, int], catalog: Catalog) -> list[str]:
    """A step's own ``after:`` entries that are in the plan; a wrong one stops with its file and key."""
    found = []
    source = catalog[step.service].source if step.service in catalog else ""
    where = f"{step.id}: after"
    for ref in step.after:
        service, phase, _name = ref.split(".", 2)
        if ref in ids:
            if rank[ref.split(".")[1]] > rank[step.phase]:
                raise UserError(f"{where}: {ref!r} is in a later phase than the step", file=source or None,
                                hint="a step can wait only for steps of its own or an earlier phase")
            found.append(ref)
        elif service in by_service and phase in rank:
            raise UserError(f"{where}: no step {ref!r} in this plan", file=source or None,
                            hint="name a step as service.phase.name (see `tui-installer plan`)")
    return found


def _topological(steps: Sequence[Step], resolved: Mapping[str, Step]) -> tuple[Step, ...]:
    """The phase's steps, each after what it waits for, otherwise in their order (stable)."""
    pending = [resolved[s.id] for s in steps]
    inside = {s.id for s in pending}
    placed: set[str] = set()
    result: list[Step] = []
    while pending:
        for i, step in enumerate(pending):
            if all(d in placed or d not in inside for d in step.after):
                result.append(pending.pop(i))
                placed.add(step.id)
                break
        else:
            cycle = " -> ".join(s.id for s in pending)
            raise UserError(f"steps wait for each other (after:): {cycle}",
                            hint="remove the after: entry that closes the circle")
    return tuple(result)


def placed(selected: Sequence[str], services: Catalog, roles: Sequence[str] | None) -> list[str]:
    """The selected services a host of ``roles`` runs (``ServiceSpec.role``; None: one host, every role).
    What they require is added by ``resolve_services``: a compute host gets openvswitch and
    openstack-base with nova-compute and the agent, never the controller's services."""
    if roles is None:
        return list(selected)
    return [name for name in selected if services[name].role == "all" or services[name].role in roles]


def _resolve(profile: Profile, answers: Answers | None, overrides: Mapping[str, str] | None,
             catalog: Catalog | None, roles: Sequence[str] | None = None,
             ) -> tuple[Catalog, list[str], dict[str, str], dict[str, Any]]:
    services = catalog_mod.services_for(profile, catalog)
    order, added = resolve_services(placed(_selection(profile, answers, services), services, roles), services)
    values = resolve_settings(profile, answers, overrides, order, services)
    return services, order, added, values


def _plan(profile: Profile, services: Catalog, order: list[str], added: dict[str, str],
          values: dict[str, Any], phases: tuple[Phase, ...], *, declared_secrets: bool) -> Plan:
    """``secrets``: for an install every secret the services declare (so all exist before the first
    step); for a removal only those its steps use (a plain ``stop`` needs no keyring)."""
    if declared_secrets:
        secrets = tuple(dict.fromkeys(s for name in order for s in services[name].secrets))
    else:
        secrets = tuple(dict.fromkeys(s for p in phases for step in p.steps for s in step.secrets))
    return Plan(profile=profile.name, profile_source=profile.source, services=tuple(order), added=added,
                settings=values, secrets=secrets, phases=phases, endpoints=endpoints(order, services, values))


def endpoints(order: Sequence[str], services: Catalog, values: Mapping[str, Any]) -> tuple[Endpoint, ...]:
    """The APIs the plan's services declare, with the plan's values (the summary lists them)."""
    return tuple(Endpoint(name, e.name, f"http://{_url_host(values[e.host])}:{values[e.port]}{e.path}")
                 for name in order for e in services[name].endpoints)


def _url_host(host: Any) -> str:
    return f"[{host}]" if ":" in str(host) else str(host)


def build(profile: Profile, *, answers: Answers | None = None, overrides: Mapping[str, str] | None = None,
          catalog: Catalog | None = None, roles: Sequence[str] | None = None) -> Plan:
    """The install plan: phases in order, services in dependency order, apt packages in one step.
    ``roles``: the plan of one inventory host of those groups (``placed``)."""
    services, order, added, values = _resolve(profile, answers, overrides, catalog, roles)
    return _plan(profile, services, order, added, values,
                 _phases(order, INSTALL_PHASES, services, values, with_packages=True, roles=roles),
                 declared_secrets=True)


def build_removal(profile: Profile, *, answers: Answers | None = None,
                  overrides: Mapping[str, str] | None = None, catalog: Catalog | None = None,
                  purge: bool = False, roles: Sequence[str] | None = None) -> Plan:
    """The uninstall plan: ``stop`` (and ``cleanup`` with ``purge``), dependents before dependencies."""
    services, order, added, values = _resolve(profile, answers, overrides, catalog, roles)
    phases = REMOVE_PHASES if purge else REMOVE_PHASES[:1]
    return _plan(profile, services, order, added, values,
                 _phases(list(reversed(order)), phases, services, values, with_packages=False, roles=roles),
                 declared_secrets=False)
