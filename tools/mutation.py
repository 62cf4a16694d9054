#!/usr/bin/env python3
"""Mutation testing of the engine's contract modules with mutmut 3 (TESTING.md, "Mutation testing").

Slow (tens of minutes on two cores), so it is not part of pytest or CI. Install the extra first:

    .venv/bin/pip install -e '.[test,mutation]'
    nice -n 10 .venv/bin/python tools/mutation.py                  # every module, 2 workers
    nice -n 10 .venv/bin/python tools/mutation.py journal plan -j 1 # some modules

Each module is mutated on its own, in a scratch copy of the working tree (default /tmp/tui-mutation/<module>,
so no `mutants/` directory ever lands in the repository), and only its fast test files run against it
(MODULES below; no e2e or tmux tests). The scratch copy's `mutants/` directory is on PYTHONPATH, so the tests'
own subprocesses (`python -m tui_installer ...`) run the mutated code too.

Kill rate = killed / (mutants - equivalent). "killed" counts mutmut's killed and timeout verdicts; "survived"
counts survived and "no tests" (a function no selected test calls). Mutants judged equivalent (same
behaviour: no test could kill them) are listed in tools/mutation-equivalent.txt, one per line,
`<mutant name>  @<pin>  # <reason>`. mutmut numbers a function's mutants in order, so an edit of the function
gives a name to another mutation: the pin (a hash of the mutant's diff, printed beside each survivor in the
report) ties the judgement to the mutation judged, and an entry whose mutant now reads differently counts as a
survivor, reported as "moved". A listed one that no longer survives is reported as stale.

Writes a Markdown table and the surviving mutants' diffs to --out (default /tmp/tui-mutation/report.md) and
prints the table.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE = ROOT / "tools" / "mutation-equivalent.txt"

# module name -> (source files mutated, the fast test files that exercise them). Left out as too slow to run
# for every mutant: test_crash.py (~45 s: kills the engine after every journal write), test_fulldisk.py,
# test_cli_install.py, and the tmux, TUI and e2e tests.
MODULES: dict[str, tuple[list[str], list[str]]] = {
    "journal": (["tui_installer/journal.py"],
                ["tests/test_journal_atomic.py", "tests/test_journal_contract.py", "tests/test_engine_logic.py",
                 "tests/test_statedir_history.py"]),
    "engine": (["tui_installer/engine.py"],
               ["tests/test_engine_logic.py", "tests/test_engine_contract.py", "tests/test_questions.py",
                "tests/test_parallel.py", "tests/test_engine_hosts.py"]),
    "redact": (["tui_installer/redact.py"], ["tests/test_redact.py", "tests/test_executor.py"]),
    "executor": (["tui_installer/executor.py", "tui_installer/executor_io.py"],
                 ["tests/test_executor.py", "tests/test_executor_contract.py", "tests/test_questions.py",
                  "tests/test_failures.py",
                  "tests/test_engine_logic.py"]),
    # test_cmd_passwords.py (the CLI, one key derivation per command: ~2 min under load) is left out
    "secrets": (["tui_installer/secrets.py"], ["tests/test_secrets_messages.py", "tests/test_secrets.py"]),
    "lock": (["tui_installer/statedir/lock.py"],
             ["tests/test_decisions.py", "tests/test_lock_contract.py", "tests/test_statedir_owner.py",
              "tests/test_statedir_history.py",
              "tests/test_engine_logic.py"]),
    # test_shellsafe.py is left out: its catalog test renders every profile with hostile settings (10 min
    # for one pass on the loaded 2-core machine); test_parallel.py holds the step graph's tests (plan.graph),
    # test_hosts.py the placement of services on inventory hosts by role
    "plan": (["tui_installer/plan.py"],
             ["tests/test_plan.py", "tests/test_plan_contract.py", "tests/test_templates.py",
              "tests/test_recipes.py", "tests/test_parallel.py", "tests/test_hosts.py"]),
    "schema": (["tui_installer/schema.py"],
               ["tests/test_schema.py", "tests/test_schema_contract.py", "tests/test_settingtypes.py",
                "tests/test_formatschema.py", "tests/test_templates.py"]),
}

#: tests of a module's files that cannot run with the mutants on PYTHONPATH (a venv's own import is checked)
DESELECT: dict[str, list[str]] = {
    "plan": ["tests/test_hosts.py::test_the_node_wheel_holds_the_package_and_installs"],
}

KILLED = {"killed", "timeout", "segfault", "caught by type check"}
SURVIVED = {"survived", "no tests"}


@dataclass
class Result:
    module: str
    statuses: dict[str, str] = field(default_factory=dict)
    equivalent: dict[str, str] = field(default_factory=dict)
    #: listed as equivalent, but the mutant under that name is not the mutation judged: name -> its diff now
    moved: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    sampled: int | None = None

    def count(self, kinds: set[str]) -> list[str]:
        return sorted(k for k, v in self.statuses.items() if v in kinds and k not in self.equivalent)

    @property
    def killed(self) -> list[str]:
        return self.count(KILLED)

    @property
    def survived(self) -> list[str]:
        return self.count(SURVIVED)

    @property
    def unchecked(self) -> list[str]:
        return sorted(k for k, v in self.statuses.items()
                      if v not in KILLED | SURVIVED and k not in self.equivalent)

    @property
    def equivalent_found(self) -> list[str]:
        return sorted(k for k in self.equivalent if self.statuses.get(k) in SURVIVED)

    def rate(self) -> float:
        judged = len(self.killed) + len(self.survived)
        return 100.0 * len(self.killed) / judged if judged else 0.0


def load_equivalent() -> dict[str, tuple[str, str]]:
    """name -> (pin, reason) of each line ``name  @pin  # reason`` (a line without a pin: pin "")."""
    found: dict[str, tuple[str, str]] = {}
    if EQUIVALENT_FILE.exists():
        for line in EQUIVALENT_FILE.read_text().splitlines():
            head, _, reason = line.partition("#")
            name, _, pin = head.strip().partition(" ")
            if name:
                found[name] = (pin.strip().removeprefix("@"), reason.strip())
    return found


def pin(diff_text: str) -> str:
    """What an equivalent entry is tied to: the mutant's changed lines, whitespace aside."""
    lines = [" ".join(line.split()) for line in diff_text.splitlines() if line.strip()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]


def confirm_equivalents(result: Result, work: Path, listed: dict[str, tuple[str, str]]) -> None:
    """Keep as equivalent only the listed survivors whose diff still has the pinned hash."""
    result.equivalent = {}
    for name, (pinned, reason) in listed.items():
        if result.statuses.get(name) not in SURVIVED:
            if name in result.statuses:
                result.equivalent[name] = reason  # reported as stale
            continue
        text = diff(work, name)
        if pin(text) == pinned:
            result.equivalent[name] = reason
        else:
            result.moved[name] = text


def scratch_copy(dest: Path, rev: str | None) -> None:
    """The working tree's tracked and untracked (not ignored) files, or commit ``rev``'s, laid out as installed:
    profiles/ and screens/ are the packages tui_installer.profiles and tui_installer.screens (package-dir)."""
    if dest.exists():
        shutil.rmtree(dest)
    if rev is not None:
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    names = [] if rev is not None else subprocess.run(
        ["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, check=True,
        capture_output=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    for package in ("profiles", "screens"):
        shutil.copytree(dest / package, dest / "tui_installer" / package, dirs_exist_ok=True)


# Loaded by the tests' subprocesses (`python -m tui_installer ...`, on PYTHONPATH): while mutmut maps which
# test calls which function ("stats"), each function a subprocess enters is appended to $MUTATION_HITS with
# the test that started it (pytest's PYTEST_CURRENT_TEST), one line per function, at once: a subprocess
# killed with SIGKILL (tests/test_crash.py) has still recorded what it ran.
SITECUSTOMIZE = """\
import os

if (os.environ.get("MUTANT_UNDER_TEST") == "stats" and os.environ.get("MUTATION_HITS")
        and os.environ.get("PYTEST_CURRENT_TEST")):
    import mutmut.stats

    _record = mutmut.stats.record_trampoline_hit

    _seen: set[str] = set()
    _test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]

    def _hit(name, caller=None):
        try:
            _record(name, caller)
        except FileNotFoundError:
            # mutmut's own bookkeeping looks for its configuration in the working directory, and a test may
            # start the CLI elsewhere (cwd=tmp_path). A subprocess's mutmut stats are never read anyway: the
            # line below is what is merged.
            pass
        if name not in _seen:
            _seen.add(name)
            fd = os.open(os.environ["MUTATION_HITS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(fd, f"{_test}\\t{name}\\n".encode())
            os.close(fd)

    mutmut.stats.record_trampoline_hit = _hit
"""


def merge_subprocess_hits(stats_file: Path, hits: Path) -> None:
    if not hits.exists():
        return
    stats = json.loads(stats_file.read_text())
    table = stats["tests_by_mangled_function_name"]
    for line in hits.read_text().splitlines():
        test, _, name = line.partition("\t")
        test = test.removeprefix("mutants/")
        if test and name and test not in table.setdefault(name, []):
            table[name].append(test)
    stats_file.write_text(json.dumps(stats))


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def mutmut(work: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "mutmut"
    return subprocess.run([str(exe), *args], cwd=work, env=env, capture_output=True, text=True)


def statuses(work: Path, env: dict[str, str]) -> dict[str, str]:
    out = mutmut(work, "results", "--all", "true", env=env).stdout
    return {m.group(1): m.group(2) for m in re.finditer(r"^\s+(\S+): (.+)$", out, re.M)}


def equivalent_of(sources: list[str]) -> dict[str, tuple[str, str]]:
    prefixes = tuple(s[:-3].replace("/", ".") + ".x" for s in sources)
    return {k: v for k, v in load_equivalent().items() if k.startswith(prefixes)}


def reread(module: str, workdir: Path) -> Result:
    """The results of an earlier run in ``workdir`` (its mutants that were run), for --report-only."""
    work = workdir / module
    env = {**os.environ, "PYTHONPATH": str(work / "mutants")}
    found = {k: v for k, v in statuses(work, env).items() if v != "not checked"}
    result = Result(module, statuses=found)
    confirm_equivalents(result, work, equivalent_of(MODULES[module][0]))
    return result


def run_module(module: str, workdir: Path, jobs: int, sample: int | None, seed: int, rev: str | None) -> Result:
    sources, tests = MODULES[module]
    work = workdir / module
    scratch_copy(work, rev)
    tests = [t for t in tests if (work / t).exists()]  # an older --rev may lack a test file
    temproot = workdir / f"{module}-tmp"
    shutil.rmtree(temproot, ignore_errors=True)
    temproot.mkdir(parents=True)
    # tests read the docs, profiles and the like next to tests/ (in mutants/ during the run)
    beside = sorted(p.name for p in work.iterdir() if p.name not in ("tui_installer", "tests"))
    with (work / "pyproject.toml").open("a") as f:
        f.write("\n[tool.mutmut]\n"
                'source_paths = ["tui_installer"]\n'
                f"only_mutate = {toml_list(sources)}\n"
                f"pytest_add_cli_args_test_selection = {toml_list(tests)}\n"
                'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x", "-m", "not e2e and not tui"'
                + "".join(f', "--deselect", "{t}"' for t in DESELECT.get(module, [])) + "]\n"
                "use_git_change_detection = false\n"
                f"also_copy = {toml_list(beside)}\n")
    # mutants/ must exist when mutmut starts: a PYTHONPATH entry that does not exist yet is cached by the
    # import system as "nothing here", and the first run's tests would import the unmutated package
    (work / "mutants").mkdir()
    site = workdir / f"{module}-site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    hits = workdir / f"{module}-hits.tsv"
    hits.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": f"{site}:{work / 'mutants'}", "PYTEST_DEBUG_TEMPROOT": str(temproot),
           "PYTHONDONTWRITEBYTECODE": "1", "MUTATION_HITS": str(hits)}
    result = Result(module)
    started = time.monotonic()
    # 1. generate the mutants and mutmut's map test -> functions it calls, without running a mutant
    first = mutmut(work, "run", "--max-children", str(jobs), "__none__", env=env)
    stats_file = work / "mutants" / "mutmut-stats.json"
    if not stats_file.exists():
        sys.stderr.write(f"{module}: mutmut could not collect its stats (exit {first.returncode})\n"
                         f"{first.stdout[-3000:]}\n{first.stderr[-3000:]}\n")
        return result
    # 2. add what the tests' subprocesses called (mutmut only sees its own process)
    merge_subprocess_hits(stats_file, hits)
    names: list[str] = []
    if sample is not None:
        names = sorted(statuses(work, env))
        if len(names) > sample:
            names = sorted(random.Random(seed).sample(names, sample))
            result.sampled = len(names)
        else:
            names = []
    # 3. run every mutant (or the sample) against the tests that call its function
    done = mutmut(work, "run", "--max-children", str(jobs), *names, env=env)
    result.seconds = time.monotonic() - started
    result.statuses = statuses(work, env)
    if names:
        result.statuses = {k: v for k, v in result.statuses.items() if k in set(names)}
    if done.returncode != 0 or not result.statuses:
        sys.stderr.write(f"{module}: mutmut produced no results (exit {done.returncode})\n"
                         f"{done.stdout[-1500:]}\n{done.stderr[-3000:]}\n")
    confirm_equivalents(result, work, equivalent_of(sources))
    return result


def diff(work: Path, name: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(work / "mutants")}
    out = mutmut(work, "show", name, env=env).stdout
    return "\n".join(line for line in out.splitlines() if line.startswith(("+", "-")) and
                     not line.startswith(("+++", "---")))


def report(results: list[Result], workdir: Path) -> tuple[str, str]:
    lines = ["| module | mutants | killed | survived | equivalent | not run | kill rate (non-equivalent) | time |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        total = f"{len(r.statuses)}" + (" (sample)" if r.sampled else "")
        lines.append(f"| {r.module} | {total} | {len(r.killed)} | {len(r.survived)} | {len(r.equivalent_found)} "
                     f"| {len(r.unchecked)} | {r.rate():.1f} % | {r.seconds / 60:.0f} min |")
    table = "\n".join(lines)
    body = [table, ""]
    for r in results:
        stale = sorted(k for k in r.equivalent if k in r.statuses and r.statuses[k] not in SURVIVED)
        body.append(f"## {r.module}")
        for name in r.survived:
            text = r.moved[name] if name in r.moved else diff(workdir / r.module, name)
            moved = " — listed as equivalent, but this is another mutation now" if name in r.moved else ""
            body.append(f"### {name} ({r.statuses[name]}, pin @{pin(text)}){moved}\n```diff\n{text}\n```")
        for name in r.equivalent_found:
            body.append(f"- equivalent: {name} — {r.equivalent[name]}")
        for name in stale:
            body.append(f"- stale equivalent entry (now {r.statuses[name]}): {name}")
        for name in r.unchecked:
            body.append(f"- not run ({r.statuses[name]}): {name}")
        body.append("")
    return table, "\n".join(body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(MODULES)}")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="mutmut workers (default 2)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/tui-mutation"))
    parser.add_argument("--out", type=Path, help="report file (default <workdir>/report.md)")
    parser.add_argument("--sample", type=int, help="run a fixed random subset of this many mutants per module")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--report-only", action="store_true",
                        help="do not run: report again on the last run in --workdir (after editing the equivalents)")
    parser.add_argument("--rev", help="mutate and test this commit's files instead of the working tree "
                        "(e.g. the commit before new tests, for a 'before' figure)")
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module {unknown[0]}: choose from {', '.join(MODULES)}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for module in args.modules or list(MODULES):
        if args.report_only:
            results.append(reread(module, args.workdir))
            continue
        print(f"{module}: mutating {', '.join(MODULES[module][0])} ...", flush=True)
        r = run_module(module, args.workdir, args.jobs, args.sample, args.seed, args.rev)
        print(f"{module}: {len(r.statuses)} mutants, {len(r.killed)} killed, {len(r.survived)} survived, "
              f"{len(r.equivalent_found)} equivalent{f' ({len(r.moved)} listed ones moved)' if r.moved else ''}, "
              f"{r.rate():.1f} % in {r.seconds / 60:.1f} min", flush=True)
        results.append(r)
    table, body = report(results, args.workdir)
    out = args.out or args.workdir / "report.md"
    out.write_text(f"mutation run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n{body}\n")
    print(table)
    print(f"report with the surviving mutants' diffs: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
