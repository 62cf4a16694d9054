"""What the state directory's owner reads back from earlier runs, through real files: the one way from a
run's plan.json back to its answers (used by `uninstall` with no profile and by the TUI to resume a run
started elsewhere), the newest-run lookup, the resume base, and the typed views the failure dialog uses."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tui_installer.screens.failure import find_step, step_environment
from tui_installer.screens.session import answers_file_for_run

from tui_installer import catalog, journal, schema
from tui_installer import plan as planning
from tui_installer.model import Answers, Plan
from tui_installer.statedir import RunFiles, StateDir, history

TINY = textwrap.dedent("""\
    name: tiny
    description: one step with a setting
    services: [tiny]
    service_definitions:
      tiny:
        settings: {word: hello, work_dir: /tmp}
        phases:
          install:
            - name: say
              run: "echo {{ word }}"
              cwd: "{{ work_dir }}"
              env: {WORD: "{{ word }}"}
    """)


def record_run(state: StateDir, run_id: str, plan: Plan, kind: str = "install") -> RunFiles:
    """Lay a run down the way the engine does (plan, journal, last-run), without running it."""
    run = state.run(run_id)
    run.create(plan)
    journal.Journal.create(run.journal_file, run_id, plan, kind)
    state.mark_last_run(run)
    return run


def fingerprints(plan: Plan) -> dict[str, str]:
    return {step.id: step.fingerprint for step in plan.steps()}


def rebuild(answers: Answers) -> Plan:
    assert answers.profile
    return planning.build(catalog.load_profile(answers.profile), answers=answers)


def test_answers_of_a_preset_run_rebuild_the_same_plan(tmp_path: Path) -> None:
    state = StateDir.open(tmp_path / "state")
    chosen = Answers(profile="all-in-one", remove_services=("nova-compute",), settings={"region": "Elsewhere"})
    plan = rebuild(chosen)
    run = record_run(state, "20260101-000000.000001-1", plan)
    answers = history.answers_of(run)
    assert answers.profile == "all-in-one"  # the preset's name, not the path it was loaded from
    assert "nova-compute" in answers.remove_services and answers.settings["region"] == "Elsewhere"
    assert fingerprints(rebuild(answers)) == fingerprints(plan)


def test_answers_of_a_profile_file_run_and_the_tui_answers_file(tmp_path: Path) -> None:
    state = StateDir.open(tmp_path / "state")
    profile = tmp_path / "tiny.yaml"
    profile.write_text(TINY)
    plan = planning.build(catalog.load_profile(str(profile)), overrides={"word": "it's $(x)"})
    run = record_run(state, "20260101-000000.000002-1", plan)
    answers = history.answers_of(run)
    assert answers.profile == str(profile.resolve()) and answers.settings["word"] == "it's $(x)"
    assert fingerprints(rebuild(answers)) == fingerprints(plan)
    written = answers_file_for_run(state.root, run.id)  # what the TUI resumes a headless run from
    assert written.parent.parent == state.root and written.stat().st_mode & 0o077 == 0
    assert fingerprints(rebuild(schema.load_answers(str(written)))) == fingerprints(plan)


def test_newest_run_resume_base_and_last_install(tmp_path: Path) -> None:
    state = StateDir.open(tmp_path / "state")
    profile = tmp_path / "tiny.yaml"
    profile.write_text(TINY)
    plan = planning.build(catalog.load_profile(str(profile)))
    assert state.last_run() is None and history.resume_base(state, "tiny") is None
    first = record_run(state, "20260101-000000.000001-1", plan)
    assert state.last_run() == first and history.resume_base(state, "tiny").run == first.id
    assert history.resume_base(state, "other") is None
    removal = record_run(state, "20260101-000000.000002-1", plan, kind="uninstall")
    assert state.last_run() == removal
    assert [r.id for r in state.runs_newest_first()] == [removal.id, first.id]
    assert history.resume_base(state, "tiny") is None  # an uninstall ran after: nothing is done
    assert history.last_install(state) == first
    first.journal_file.write_text("{torn")
    assert first.read_journal() is None and history.last_install(state) is None


def test_an_unreadable_newer_journal_is_passed_over_for_the_resume_base(tmp_path: Path) -> None:
    """A torn journal (a run killed while its first journal was written, a disk error) is treated as absent: the
    resume base is the newest *readable* install of the profile, and a torn uninstall resets nothing."""
    state = StateDir.open(tmp_path / "state")
    profile = tmp_path / "tiny.yaml"
    profile.write_text(TINY)
    plan = planning.build(catalog.load_profile(str(profile)))
    older = record_run(state, "20260101-000000.000001-1", plan)
    newer = record_run(state, "20260101-000000.000002-1", plan)
    assert history.resume_base(state, "tiny").run == newer.id
    newer.journal_file.write_text("{torn")
    assert history.resume_base(state, "tiny").run == older.id
    removal = record_run(state, "20260101-000000.000003-1", plan, kind="uninstall")
    assert history.resume_base(state, "tiny") is None
    removal.journal_file.write_bytes(b"\0\0\0")
    assert history.resume_base(state, "tiny").run == older.id


def test_failure_dialog_reads_the_typed_plan(tmp_path: Path) -> None:
    state = StateDir.open(tmp_path / "state")
    profile = tmp_path / "tiny.yaml"
    profile.write_text(TINY)
    plan = planning.build(catalog.load_profile(str(profile)), overrides={"word": "bye"})
    run = record_run(state, "20260101-000000.000003-1", plan)
    step = find_step(run, "tiny.install.say")
    assert step is not None and step.env == {"WORD": "bye"}
    env, cwd = step_environment(run, "tiny.install.say")
    assert env["WORD"] == "bye" and cwd == "/tmp" and env["TUI_INSTALLER_RUN_DIR"] == str(run.root)
    assert find_step(run, "tiny.install.nope") is None
    assert step_environment(run, "tiny.install.nope")[1] == str(run.logs)


def test_last_run_never_leaves_the_state_directory(tmp_path: Path) -> None:
    state = StateDir.open(tmp_path / "state")
    for text in ("../../etc", "x/../../y", ".hidden", "", "a/b"):
        (state.root / "last-run").write_text(text)
        assert state.last_run() is None, text
    (state.root / "last-run").write_text("20260101-000000.000001-1\n")
    assert state.last_run() == state.run("20260101-000000.000001-1")
