"""End to end through the real CLI, executor and keyring: steps that print the secret in every form a
tool may use (raw, URL-quoted, shell-quoted, JSON, dribbled across separate writes, answered at a prompt)
while ``ps`` is sampled; no form of it may reach any artefact of the state directory, the CLI's own
output, or any process's argv during the steps."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from urllib.parse import quote, quote_plus

import psutil

# Awkward on purpose: every encoding below differs from the raw value.
SECRET = "Kn0wn p@ss/w:rd&'x\"y%z"
PASSPHRASE = "leak-test-keyring-passphrase"

FORMS = {
    "raw": SECRET,
    "url": quote(SECRET, safe=""),
    "url-path": quote(SECRET),
    "url-plus": quote_plus(SECRET),
    "shell": shlex.quote(SECRET),
    "json": json.dumps(SECRET)[1:-1],
}

PRINTER = textwrap.dedent("""\
    import json, os, shlex, sys, time
    from urllib.parse import quote, quote_plus
    s = os.environ["LEAK_SECRET"]
    print("raw:", s)
    print("url: mysql+pymysql://svc:" + quote(s, safe="") + "@127.0.0.1/db")
    print("url-path:", quote(s))
    print("url-plus:", quote_plus(s))
    print("shell:", shlex.quote(s))
    print("json:", json.dumps({"password": s}))
    half = len(s) // 2
    sys.stdout.write("split: " + s[:half]); sys.stdout.flush(); time.sleep(0.4)
    sys.stdout.write(s[half:] + " (end)\\n"); sys.stdout.flush()
    sys.stderr.write("stderr: " + s + "\\n")
    time.sleep(1.5)
    """)


def profile(tmp_path: Path) -> Path:
    script = tmp_path / "printer.py"
    script.write_text(PRINTER)
    asker = tmp_path / "asker.sh"
    asker.write_text('printf "Secret: "; read -r p; echo "got: $p"; sleep 1; test "$p" = "$LEAK_EXPECTED"\n')
    path = tmp_path / "leaky.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: leaky
        description: steps that print a secret in every form
        services: [leaky]
        service_definitions:
          leaky:
            secrets: [leak_secret]
            phases:
              install:
                - name: forms
                  env: {{LEAK_SECRET: {{secret: leak_secret}}}}
                  run: "{{{{ installer_python }}}} {script}"
                - name: prompt
                  env: {{LEAK_EXPECTED: {{secret: leak_secret}}}}
                  run: "sh {asker}"
                  prompts: [{{expect: "Secret:", secret: leak_secret}}]
                  timeout: 30
        """))
    return path


class PsSampler(threading.Thread):
    """Every process's argv, sampled until stopped (what `ps -ef` would show)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.samples: list[str] = []
        self.rounds = 0

    def run(self) -> None:
        while not self.stop.is_set():
            for proc in psutil.process_iter(["cmdline"]):
                cmdline = proc.info.get("cmdline")
                if cmdline:
                    self.samples.append(" ".join(cmdline))
            self.rounds += 1
            self.stop.wait(0.05)


def test_every_form_of_the_secret_is_masked_everywhere(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "TUI_INSTALLER_KEYRING_PASSPHRASE": PASSPHRASE}
    base = [sys.executable, "-m", "tui_installer", "--state-dir", str(state)]
    stored = subprocess.run([*base, "passwords", "set", "leak_secret"], input=SECRET + "\n",
                            capture_output=True, text=True, env=env, timeout=120)
    assert stored.returncode == 0, stored.stderr

    sampler = PsSampler()
    sampler.start()
    try:
        result = subprocess.run([*base, "install", "-p", str(profile(tmp_path)), "--yes"],
                                capture_output=True, text=True, env=env, timeout=300)
    finally:
        sampler.stop.set()
        sampler.join()
    assert result.returncode == 0, result.stdout + result.stderr

    # The steps really printed every form: the log shows the mask where each one was.
    run = (state / "last-run").read_text().strip()
    log = (state / "runs" / run / "logs" / "leaky.install.forms.log").read_text()
    for label in ("raw", "url-path", "url-plus", "shell", "split", "stderr"):
        assert f"{label}: ***" in log, (label, log)
    assert "svc:***@127.0.0.1" in log and '"password": "***"' in log, log
    prompt_log = (state / "runs" / run / "logs" / "leaky.install.prompt.log").read_text()
    assert "got: ***" in prompt_log, prompt_log
    # The sampler saw the steps' processes, so its silence about the secret means something.
    assert sampler.rounds >= 10
    assert any("printer.py" in s for s in sampler.samples), "ps never saw the step running"

    files = [p for p in state.rglob("*") if p.is_file()]
    assert any(p.name == "events.jsonl" or "events" in p.name for p in files), files
    places: dict[str, bytes] = {str(p): p.read_bytes() for p in files}
    places["cli stdout+stderr"] = (result.stdout + result.stderr).encode()
    places["ps samples"] = "\n".join(sampler.samples).encode()
    for where, data in places.items():
        for label, form in FORMS.items():
            assert form.encode() not in data, f"the {label} form of the secret reached {where}"
        assert PASSPHRASE.encode() not in data, f"the keyring passphrase reached {where}"
