"""The journal's contract, part by part (tools/mutation.py found each of these unchecked): what `load` reads
back, what `create` carries over from the run it resumes, when a change reaches the disk, which writes are
made durable with fsync (seen with strace, on a real process), the file's mode, a symlink planted at the
temporary name, and the operator's line for a full or read-only state directory."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tui_installer import journal
from tui_installer.model import Phase, Plan, Step


def make_plan(fingerprints: dict[str, str], profile: str = "p1") -> Plan:
    steps = tuple(Step(id=f"svc.install.{n}", service="svc", phase="install", name=n, argv=("true",),
                       fingerprint=fp) for n, fp in fingerprints.items())
    return Plan(profile=profile, profile_source="test", services=("svc",), added={}, settings={},
                secrets=(), phases=(Phase("install", steps),))


def test_load_reads_back_every_field_that_save_wrote(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    j = journal.Journal(path=path, run="r7", profile="p1", kind="uninstall", pid=4242, started=100.5)
    j.steps["svc.install.b"] = journal.StepRecord(status="failed", attempts=2, exit_code=3, cause="boom")
    j.steps["svc.install.a"] = journal.StepRecord(status="ok", started=101.0, finished=103.5)
    j.order = ["svc.install.a", "svc.install.b"]
    j.finish("failed")
    raw = json.loads(path.read_text())
    assert raw["pid"] == 4242 and raw["finished"] == j.finished and raw["order"] == j.order
    assert j.to_dict() == raw
    back = journal.load(path)
    assert (back.path, back.run, back.profile, back.kind, back.state, back.pid, back.started, back.finished) == \
        (path, "r7", "p1", "uninstall", "failed", 4242, 100.5, j.finished)
    assert back.finished is not None and back.finished >= 100.5
    assert back.order == ["svc.install.a", "svc.install.b"]
    assert back.steps == j.steps
    assert back.steps["svc.install.a"].duration == 2.5


def test_load_of_an_older_journal_fills_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    path.write_text(json.dumps({"run": "r1", "profile": "p", "state": "ok", "started": 1.0,
                                "steps": {"x": {"status": "ok"}, "y": {"status": "pending"}}}))
    back = journal.load(path)
    assert (back.kind, back.pid, back.finished, back.order) == ("install", 0, None, ["x", "y"])
    path.write_text(json.dumps({"run": "r1", "profile": "p", "state": "ok", "started": 1.0}))
    assert journal.load(path).steps == {}


def test_create_carries_done_steps_with_the_same_fingerprint_only(tmp_path: Path) -> None:
    base = journal.Journal(path=tmp_path / "old.json", run="r1", profile="p1")
    base.steps = {"svc.install.a": journal.StepRecord(status="ok", started=1.0, finished=2.0, fingerprint="A"),
                  "svc.install.b": journal.StepRecord(status="ok", fingerprint="B-old"),
                  "svc.install.c": journal.StepRecord(status="skipped", reason="user", fingerprint="C"),
                  "svc.install.d": journal.StepRecord(status="skipped", reason="unless", fingerprint="D")}
    plan = make_plan({"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"})
    new = journal.Journal.create(tmp_path / "new.json", "r2", plan, base=base)
    got = {k: (v.status, v.reason) for k, v in new.steps.items()}
    assert got == {"svc.install.a": ("skipped", "done"), "svc.install.b": ("pending", None),
                   "svc.install.c": ("pending", None), "svc.install.d": ("skipped", "done"),
                   "svc.install.e": ("pending", None)}
    assert (new.steps["svc.install.a"].started, new.steps["svc.install.a"].finished) == (1.0, 2.0)
    assert new.order == [f"svc.install.{n}" for n in "abcde"]
    assert new.steps["svc.install.e"].log == "logs/svc.install.e.log"
    on_disk = journal.load(tmp_path / "new.json")
    assert (on_disk.kind, on_disk.run, on_disk.profile, on_disk.order) == ("install", "r2", "p1", new.order)
    fresh = journal.Journal.create(tmp_path / "fresh.json", "r3", plan, kind="uninstall")
    assert all(s.status == "pending" for s in fresh.steps.values()) and fresh.kind == "uninstall"


def test_update_writes_at_once_unless_told_to_wait_for_flush(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    j = journal.Journal.create(path, "r1", make_plan({"a": "A", "b": "B"}))
    j.update("svc.install.a", status="ok")
    assert journal.load(path).steps["svc.install.a"].status == "ok"
    j.update("svc.install.b", status="running", flush=False)
    assert journal.load(path).steps["svc.install.b"].status == "pending"
    j.flush()
    assert journal.load(path).steps["svc.install.b"].status == "running"
    # nothing pending: flush does not rewrite (each save renames a new file over the journal)
    inode = path.stat().st_ino
    j.flush()
    assert path.stat().st_ino == inode
    j.update("svc.install.b", status="ok", flush=False)
    j.save()
    inode = path.stat().st_ino
    j.flush()
    assert path.stat().st_ino == inode


def test_only_a_failure_and_the_run_end_are_fsynced(tmp_path: Path) -> None:
    """Durability costs an fsync: a journal write is made durable when a step fails and when the run ends
    (and on create), never for a flush, never with ``durable=False``. strace counts the real fsyncs."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (.ci/run installs it)")
    path = tmp_path / "journal.json"
    code = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from tui_installer import journal
        from tui_installer.model import Phase, Plan, Step
        def mark(what):
            os.write(1, ("MARK " + what + "\\n").encode())
        steps = (Step(id="s.install.a", service="s", phase="install", name="a", argv=("true",), fingerprint="A"),)
        plan = Plan(profile="p", profile_source="t", services=("s",), added={{}}, settings={{}}, secrets=(),
                    phases=(Phase("install", steps),))
        mark("create"); j = journal.Journal.create(Path({str(path)!r}), "r1", plan)
        mark("update-ok"); j.update("s.install.a", status="ok")
        mark("update-failed"); j.update("s.install.a", status="failed")
        mark("flush"); j.update("s.install.a", status="running", flush=False); j.flush()
        mark("save"); j.save()
        mark("finish"); j.finish("ok")
        j.durable = False
        mark("not-durable"); j.save(); j.finish("ok")
        mark("end")
        """)
    trace = tmp_path / "trace"
    done = subprocess.run([strace, "-qq", "-o", str(trace), "-e", "trace=fsync,fdatasync,write", sys.executable,
                           "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    counts: dict[str, int] = {}
    current = ""
    for line in trace.read_text().splitlines():
        if line.startswith("write(1, \"MARK "):
            current = line.split("MARK ", 1)[1].split("\\n", 1)[0]
            counts[current] = 0
        elif line.startswith(("fsync(", "fdatasync(")) and current:
            counts[current] += 1
    assert counts == {"create": 1, "update-ok": 0, "update-failed": 1, "flush": 0, "save": 1, "finish": 1,
                      "not-durable": 0, "end": 0}, counts


def test_the_journal_is_private_and_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    j = journal.Journal(path=path, run="r1", profile="p")
    j.save()
    assert path.stat().st_mode & 0o777 == 0o600
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.symlink_to(victim)
    with pytest.raises(OSError) as caught:
        j.save()
    assert caught.value.errno == errno.ELOOP and not isinstance(caught.value, journal.StateDiskError)
    assert victim.read_text() == "precious\n"
    assert not tmp.is_symlink(), "the planted link was left in place"
    assert journal.load(path).run == "r1"


def test_a_save_into_a_read_only_directory_raises_the_operators_line(tmp_path: Path) -> None:
    """EROFS from a real read-only bind mount needs root and a mount namespace: the error itself is real
    (os.open on a read-only file system), raised by the save through `unshare`."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare (a read-only bind mount in a private mount namespace)")
    state = tmp_path / "state"
    run_dir = state / "runs" / "r1"
    run_dir.mkdir(parents=True)
    code = textwrap.dedent(f"""
        from pathlib import Path
        from tui_installer import journal
        j = journal.Journal(path=Path({str(run_dir / "journal.json")!r}), run="r1", profile="p")
        try:
            j.save()
        except journal.StateDiskError as exc:
            print(exc.errno, exc.path, str(exc), sep="|")
        """)
    script = (f"mount --bind {state} {state} && mount -o remount,bind,ro {state} && "
              f"{sys.executable} -c \"$CODE\"")
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                          env={**os.environ, "CODE": code}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    err, where, line = done.stdout.strip().split("|")
    assert int(err) == errno.EROFS and where == str(run_dir / "journal.json")
    assert line == (f"state directory {state}: Read-only file system: remount it read-write, "
                    "then re-run the same command to resume")
    assert list(run_dir.iterdir()) == []


def test_the_full_disk_line_names_the_state_directory_and_the_space_to_free(tmp_path: Path) -> None:
    run_file = tmp_path / "state" / "runs" / "r1" / "journal.json"
    run_file.parent.mkdir(parents=True)
    err = journal.StateDiskError(run_file, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    assert err.errno == errno.ENOSPC and err.path == run_file and err.strerror == os.strerror(errno.ENOSPC)
    free = shutil.disk_usage(tmp_path / "state").free // 1024
    line = (f"state directory {tmp_path / 'state'}: No space left on device ({free} KiB free): free at least "
            "16 MiB there, then re-run the same command to resume")
    # free space moves under other processes: compare all but the figure
    assert str(err).split("(")[0] == line.split("(")[0] and str(err).split(")")[1] == line.split(")")[1]
    # a journal with no runs/<id>/ above it names its own directory
    quota = OSError(errno.EDQUOT, "quota")
    # an error without strerror is named by its text
    assert journal.disk_error_line(Path("/journal.json"), OSError("odd failure")).startswith(
        "state directory /: odd failure (")
    assert journal.disk_error_line(Path("/journal.json"), quota).startswith("state directory /: quota (")
    assert journal.disk_error_line(Path("/nowhere/journal.json"), quota).startswith(
        "state directory /nowhere: quota (0 KiB free)")
    assert journal.disk_error_line(Path("st/r1/journal.json"), quota).startswith("state directory .: quota (")


def test_the_verdict_of_a_finished_run(tmp_path: Path) -> None:
    assert journal.finished_verdict([]) == "ok"
    assert journal.finished_verdict(["svc.install.a", "svc.install.b"]) == \
        "finished with 2 skipped step(s): svc.install.a, svc.install.b"


def test_write_all_writes_one_byte_and_stops_at_a_short_write(tmp_path: Path) -> None:
    path = tmp_path / "one"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        journal.write_all(fd, b"x")
    finally:
        os.close(fd)
    assert path.read_bytes() == b"x"
    # past a real file-size limit the first write falls short and the next one fails: never a silent success
    code = textwrap.dedent(f"""
        import os, resource, signal
        from tui_installer import journal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        fd = os.open({str(tmp_path / "big")!r}, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            journal.write_all(fd, b"y" * 10000)
        except OSError as exc:
            print("failed", exc.errno)
        else:
            print("wrote it all")
        """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == f"failed {errno.EFBIG}", done.stdout + done.stderr
    assert (tmp_path / "big").stat().st_size == 4096


def test_the_crash_hook_kills_right_after_the_nth_write_and_only_when_asked(tmp_path: Path) -> None:
    """The crash harness (test_crash.py) relies on this hook; checked here on its own, in a real process."""
    path = tmp_path / "journal.json"
    code = textwrap.dedent(f"""
        from pathlib import Path
        from tui_installer import journal
        j = journal.Journal(path=Path({str(path)!r}), run="r1", profile="p")
        for n in range(1, 6):
            j.pid = n
            j.save()
            print("saved", n, flush=True)
        """)
    env = {k: v for k, v in os.environ.items() if k != journal.CRASH_AFTER_ENV}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.split("\n")[-2] == "saved 5", done.stderr
    done = subprocess.run([sys.executable, "-c", code], env={**env, journal.CRASH_AFTER_ENV: "3"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, done.stderr
    assert done.stdout == "saved 1\nsaved 2\n"
    assert journal.load(path).pid == 3, "the third write did not reach the disk before the kill"


def test_an_inventory_run_records_each_steps_host_and_the_node_it_removes(tmp_path: Path) -> None:
    """A plan over inventory hosts has one step per (step, host): the journal keeps each one's host, and a
    ``remove-node`` run the host it takes out; both read back. A step of this machine has no host key at
    all, so a one-host journal reads as it did before inventories."""
    steps = tuple(Step(id=f"svc.install.a@{h}", service="svc", phase="install", name="a", argv=("true",),
                       fingerprint="fp", host=h) for h in ("lab1", "lab2"))
    local = Step(id="svc.install.b", service="svc", phase="install", name="b", argv=("true",), fingerprint="fp")
    plan = Plan(profile="p1", profile_source="test", services=("svc",), added={}, settings={}, secrets=(),
                phases=(Phase("install", (*steps, local)),))
    path = tmp_path / "journal.json"
    j = journal.Journal.create(path, "r9", plan, "remove-node", node="lab2")
    assert {sid: r.host for sid, r in j.steps.items()} == \
        {"svc.install.a@lab1": "lab1", "svc.install.a@lab2": "lab2", "svc.install.b": None}
    raw = json.loads(path.read_text())
    assert raw["node"] == "lab2" and raw["kind"] == "remove-node"
    assert raw["steps"]["svc.install.a@lab2"]["host"] == "lab2" and "host" not in raw["steps"]["svc.install.b"]
    back = journal.load(path)
    assert back.node == "lab2" and back.steps == j.steps
    plain = journal.Journal.create(tmp_path / "plain.json", "r10", plan, "install")
    assert "node" not in json.loads((tmp_path / "plain.json").read_text()) and plain.node is None
