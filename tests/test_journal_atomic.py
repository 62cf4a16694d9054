"""A journal write that fails part-way (a full disk, a file-size limit) never replaces the journal: the
old one stays whole and readable, and no fragment is left. Writing in place would leave it torn."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tui_installer import journal


def test_a_write_that_fails_half_way_leaves_the_old_journal_whole(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    code = textwrap.dedent(f"""
        import resource, signal, sys
        from pathlib import Path
        from tui_installer import journal
        path = Path({str(path)!r})
        record = journal.Journal(path=path, run="r1", profile="p")
        record.steps["svc.install.a"] = journal.StepRecord(status="ok")
        record.save()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        for i in range(200):
            record.steps[f"svc.install.s{{i:03d}}"] = journal.StepRecord(status="ok", reason="x" * 40)
        try:
            record.save()
        except OSError as exc:
            print("failed:", exc.errno)
            sys.exit(0)
        sys.exit("the oversized save did not fail")
        """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("failed:"), done.stdout + done.stderr
    kept = journal.load(path)
    assert list(kept.steps) == ["svc.install.a"] and kept.steps["svc.install.a"].status == "ok"
    assert json.loads(path.read_text())["run"] == "r1"
    assert [p.name for p in tmp_path.iterdir()] == ["journal.json"], "a fragment was left behind"
