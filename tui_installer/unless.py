"""``unless`` checks: a quiet command whose exit status says whether a step's work is already done."""

from __future__ import annotations

import os
import secrets as _random
import subprocess
from collections.abc import Mapping

from . import proctree
from .proctree import STEP_TOKEN_VAR
from .stepenv import quiet_env


def run_check(cmd: str | list[str] | tuple[str, ...], env: Mapping[str, str] | None = None,
              timeout: float = 60.0, cwd: str | None = None) -> bool:
    """An ``unless`` check: True when ``cmd`` exits 0.

    Quiet (no pty, no stdin, output discarded); a shell string runs under ``bash -c``. Secrets never
    go in ``cmd``; pass them in ``env``. On timeout everything the check started is killed.
    """
    argv = ["bash", "-c", cmd] if isinstance(cmd, str) else list(cmd)
    token = _random.token_hex(12)
    base = dict(os.environ)
    full_env = {**base, **quiet_env(base), **(env or {}), STEP_TOKEN_VAR: token}
    try:
        proc = subprocess.Popen(argv, env=full_env, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        return False
    try:
        return proc.wait(timeout=timeout) == 0
    except subprocess.TimeoutExpired:
        proctree.kill(proc.pid, token, 1.0, lambda: proc.poll() is None)
        return False
