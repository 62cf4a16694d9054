"""What earlier runs in a state directory tell: where a new install resumes, how long steps took, and
the choices a run was made with (to resume or uninstall it without repeating them)."""

from __future__ import annotations

from pathlib import Path

from tui_installer import catalog, journal
from tui_installer.model import Answers
from tui_installer.statedir.layout import RunFiles, StateDir


def resume_base(state: StateDir, profile: str) -> journal.Journal | None:
    """The journal a new install of ``profile`` resumes from: the newest install run of that profile,
    unless an uninstall ran after it (then nothing is done any more). A host a ``node remove`` ran on
    after it has none of its steps done (its services may be stopped or gone, even when the removal
    failed half-way: an install after it, or the host added again, installs it again)."""
    removed: set[str] = set()
    for run in state.runs_newest_first():
        record = run.read_journal()
        if record is None:
            continue  # unreadable: treat as absent rather than refuse to install
        if record.kind == "uninstall":
            return None
        if record.kind == "remove-node":
            if record.node:
                removed.add(record.node)
            continue
        if record.profile == profile:
            if removed:
                record.steps = {sid: st for sid, st in record.steps.items() if st.host not in removed}
                record.order = [sid for sid in record.order if sid in record.steps]
            return record
    return None


def recent_journals(state: StateDir, exclude: str | None = None, runs: int = 5) -> list[journal.Journal]:
    """The readable journals of the newest ``runs`` runs other than ``exclude``, newest first."""
    found = []
    for run in [r for r in state.runs_newest_first() if r.id != exclude][:runs]:
        record = run.read_journal()
        if record is not None:
            found.append(record)
    return found


def step_durations(state: StateDir, exclude: str | None = None, runs: int = 5) -> dict[str, float]:
    """How long each step took when it last really ran (not skipped), from the newest earlier journals."""
    found: dict[str, float] = {}
    for record in recent_journals(state, exclude, runs):
        for sid, st in record.steps.items():
            if st.status == "ok" and sid not in found and st.duration is not None:
                found[sid] = st.duration
    return found


def last_install(state: StateDir) -> RunFiles | None:
    """The newest run that was an install (not an uninstall) and whose plan is readable."""
    for run in state.runs_newest_first():
        record = run.read_journal()
        if record is not None and record.kind == "install" and run.plan_file.is_file():
            return run
    return None


def answers_of(run: RunFiles) -> Answers:
    """The answers that rebuild the plan ``run`` ran (profile, services, settings: so the same step
    fingerprints, and a resume skips what is done). The one place that turns a plan.json back into
    answers: `uninstall` with no profile and the TUI resuming a run started elsewhere both use it."""
    plan = run.plan()
    presets = {p.source: p.name for p in catalog.list_profiles()}
    source = plan.profile_source
    if source in presets:
        name = presets[source]
    elif source and Path(source).is_file():
        name = str(Path(source).resolve())
    else:
        name = plan.profile
    base = catalog.load_profile(name).services
    # on an inventory plan.settings are the controller's (its host_name, its wiring, none of a compute-only
    # service's): the operator's own choices rebuild every host's plan
    settings = plan.choices if plan.inventory and plan.choices is not None else plan.settings
    return Answers(profile=name, settings=dict(settings),
                   # not those added as dependencies: built again they are added again, where they belong
                   # (on an inventory, asked for by name they would go on every host)
                   add_services=tuple(s for s in plan.services if s not in base and s not in plan.added),
                   remove_services=tuple(s for s in base if s not in plan.services),
                   source=str(run.plan_file), inventory=plan.inventory)
