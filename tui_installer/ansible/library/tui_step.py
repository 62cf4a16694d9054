#!/usr/bin/python
"""tui_step: one step of a tui-installer plan, run on a node by Ansible (docs/MULTI-HOST.md).

It does on the node what the engine's executor does locally: the step's own idempotency checks first
(``creates``: skip if the path exists; ``unless``: skip if the check exits 0, run with the step's env and
secrets, output discarded), then the command on a pseudo-terminal with its environment, prompts answered
(a prompt matched more than three times is a wrong answer: the step is stopped), an overall timeout
that kills the step's process group. Secrets arrive as ``no_log`` parameters (Ansible masks their values
in every result and in the recorded invocation); they reach the command only through its environment or
a prompt, and every output line is redacted here before it leaves the node. With pipelining the module
itself travels over ssh's stdin: no file of it, nor of its arguments, is written on the node.

Standard library only on the node (plus Ansible's module_utils, which Ansible ships with the module).
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")
MAX_ANSWERS = 3
KEEP_LINES = 200


def redact(line: str, values: list[str]) -> str:
    for value in values:
        if value:
            line = line.replace(value, "***")
    return line


def clean(raw: str) -> str:
    line = ANSI.sub("", raw)
    return line.rsplit("\r", 1)[-1] if "\r" in line.rstrip("\r") else line.rstrip("\r")


def run_unless(command: str, env: dict[str, str], cwd: str | None, timeout: float) -> bool:
    try:
        done = subprocess.run(["bash", "-c", command], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout,
                              start_new_session=True)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def run_on_pty(argv: list[str], env: dict[str, str], cwd: str | None, timeout: float | None,
               prompts: list[tuple[re.Pattern[str], str]]) -> tuple[int, list[str], str | None]:
    """Returns (exit code or -signal, output lines, why it was stopped or None)."""
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
                                start_new_session=True, close_fds=True)
    except OSError as exc:
        os.close(master)
        os.close(slave)
        return 127, [f"cannot start {argv[0]}: {exc}"], None
    os.close(slave)
    lines: list[str] = []
    pending, unscanned = "", ""
    answered: dict[int, int] = {}
    stopped: str | None = None
    deadline = time.monotonic() + timeout if timeout else None
    while True:
        if deadline and time.monotonic() > deadline:
            stopped = "timed out"
            break
        ready, _, _ = select.select([master], [], [], 0.1)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(master, 65536).decode("utf-8", "replace")
        except OSError:  # EIO: every writer closed the pty
            break
        if not chunk:
            break
        pending += chunk
        unscanned += chunk
        *complete, pending = pending.split("\n")
        lines.extend(clean(line) for line in complete)
        del lines[:-KEEP_LINES]
        for index, (pattern, answer) in enumerate(prompts):
            if pattern.search(unscanned):
                answered[index] = answered.get(index, 0) + 1
                if answered[index] > MAX_ANSWERS:
                    stopped = "answered wrong (the same prompt came back)"
                    break
                os.write(master, (answer + "\n").encode())
                unscanned = ""
        if stopped:
            break
    if stopped:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    code = proc.wait()
    os.close(master)
    if pending:
        lines.append(clean(pending))
    return code, lines, stopped


#: apt as the steps on this machine get it (tui_installer/stepenv.py), with a longer wait for dpkg's lock: a
#: freshly booted server's apt-daily (Debian's timer, Persistent=true) often holds it for minutes
APT_CONF = """\
APT::Get::Assume-Yes "true";
quiet "1";
Dpkg::Progress-Fancy "0";
Dpkg::Use-Pty "0";
Dpkg::Lock::Timeout "600";
Dpkg::Options { "--force-confdef"; "--force-confold"; };
"""


def apt_config() -> str:
    """The apt defaults file for this step (APT_CONFIG), in a private temporary folder apt can read."""
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="tui-step-apt-")
    os.chmod(folder, 0o755)  # apt drops privileges to the _apt user for some reads
    path = os.path.join(folder, "tui-step.conf")
    with open(path, "w") as handle:
        handle.write(APT_CONF)
    os.chmod(path, 0o644)
    atexit.register(shutil.rmtree, folder, True)
    return path


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "step": {"type": "str", "required": True},
            "argv": {"type": "list", "elements": "str", "required": True},
            "env": {"type": "dict", "default": {}},
            "secret_env": {"type": "dict", "default": {}, "no_log": True},
            "cwd": {"type": "str"},
            "creates": {"type": "str"},
            "unless": {"type": "str"},
            "timeout": {"type": "float"},
            "prompt_expect": {"type": "list", "elements": "str", "default": []},
            "prompt_answer": {"type": "list", "elements": "str", "default": [], "no_log": True},
        },
        supports_check_mode=False,
    )
    params: dict[str, Any] = module.params
    secret_env = {str(k): str(v) for k, v in params["secret_env"].items()}
    answers = [str(a) for a in params["prompt_answer"]]
    secret_values = [v for v in [*secret_env.values(), *answers] if v]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "PYTHONUNBUFFERED": "1",
           **{str(k): str(v) for k, v in params["env"].items()}, **secret_env, "TUI_INSTALLER_STEP": params["step"]}
    for name in [k for k in env if k.startswith("ANSIBLE_")]:
        del env[name]
    if "APT_CONFIG" not in env:
        env["APT_CONFIG"] = apt_config()
    if params["creates"] and os.path.exists(params["creates"]):
        module.exit_json(changed=False, skipped_reason="creates", rc=0, lines=[])
    if params["unless"] and run_unless(params["unless"], env, params["cwd"], params["timeout"] or 60):
        module.exit_json(changed=False, skipped_reason="unless", rc=0, lines=[])
    prompts = [(re.compile(expect), answer) for expect, answer in zip(params["prompt_expect"], answers, strict=True)]
    started = time.monotonic()
    code, lines, stopped = run_on_pty(list(params["argv"]), env, params["cwd"], params["timeout"], prompts)
    lines = [redact(line, secret_values) for line in lines]
    result = {"rc": code, "lines": lines, "duration": round(time.monotonic() - started, 3), "stopped": stopped}
    if code != 0 or stopped:
        how = stopped or (f"killed by signal {-code}" if code < 0 else f"exited with code {code}")
        module.fail_json(msg=f"step {params['step']} {how}", **result)
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
