"""Name the cause of a failed step, and say what to do, from the last lines of its output.

An operator facing "exit code 100" has to read apt's output to learn that another dpkg holds the
lock. These rules read it for them. Each rule is a regex over the tail plus a message; the first rule
that matches wins, so the specific ones come first. Facts of the result (timeout, wrong-answer loop,
exit 127, SIGKILL) are rules too. A message may use ``{0}`` for the regex's first group (the package,
port or command named in the output).

The service manager (``servicemgr``/``daemon``) prints ``NAME: started and died ...; last lines of LOG:``
and the log's tail when a started service is gone: matched here. A more specific cause found in those
log lines (a port in use, no disk, no memory) wins, since its rule comes first.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


class _ResultLike(Protocol):
    exit_code: int | None
    signal: int | None
    timed_out: str | None
    cancelled: bool
    answered_wrong: bool


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str] | None
    message: str
    when: Callable[[_ResultLike], bool] = lambda r: True


def _rx(text: str) -> re.Pattern[str]:
    return re.compile(text, re.IGNORECASE | re.MULTILINE)


RETRY = "then Retry"
_RULES: tuple[_Rule, ...] = (
    _Rule(None, "cancelled by the operator", lambda r: r.cancelled),
    _Rule(None, "the same prompt came back after every answer: the answer (a password?) is wrong; "
          "check it with `tui-installer passwords show NAME`, fix it with `passwords set NAME`, " + RETRY,
          lambda r: r.answered_wrong),
    _Rule(_rx(r"Could not get lock (/var/\S+?lock[\w-]*)|Unable to acquire the dpkg frontend lock|"
              r"Could not get lock"),
          "another apt/dpkg process holds the lock{0}: wait for it or stop it "
          "(ps aux | grep -E 'apt|dpkg'), " + RETRY),
    _Rule(_rx(r"dpkg was interrupted"),
          "an earlier dpkg run was interrupted: run `dpkg --configure -a`, " + RETRY),
    _Rule(_rx(r"No space left on device|ENOSPC|Disk quota exceeded"),
          "out of disk space: free some (df -h; apt-get clean; old logs), " + RETRY),
    _Rule(_rx(r"Cannot allocate memory|MemoryError|Out of memory|ENOMEM|oom-kill"),
          "out of memory: stop other programs or add RAM/swap (free -m), " + RETRY),
    _Rule(_rx(r"Unable to locate package (\S+)"),
          "apt does not know the package {0}: run `apt-get update` and check the name and the "
          "configured repositories, " + RETRY),
    _Rule(_rx(r"Temporary failure resolving '?([^'\s]+)|Could not resolve (?:host:? )?'?([^'\s]+)"),
          "cannot resolve {0}: check DNS (/etc/resolv.conf) and the network, " + RETRY),
    _Rule(_rx(r"Failed to fetch (\S+)|Unable to fetch some archives|Connection timed out|"
              r"Network is unreachable|Connection refused.*(?:http|mirror)"),
          "a package download failed{0}: check the network and the mirror (apt-get update), " + RETRY),
    _Rule(_rx(r"ResolutionImpossible|conflicting dependencies"),
          "pip cannot satisfy the pinned versions (a dependency conflict): check the constraints "
          "file and any --set that changed versions, " + RETRY),
    _Rule(_rx(r"No matching distribution found for (\S+)|Could not find a version that satisfies "
              r"the requirement (\S+)"),
          "pip found no release of {0}: check the version pin and that PyPI is reachable, " + RETRY),
    _Rule(_rx(r"(?:port |:)(\d{2,5})\b.*Address already in use|Address already in use|EADDRINUSE|"
              r"address in use"),
          "a port{0} is already in use by another program: find it with `ss -ltnp`, stop it or "
          "change the service's port setting, " + RETRY),
    _Rule(_rx(r"^(?:service )?([\w@.-]+):? started and died|(\S+) (?:died|exited) (?:right )?after "
              r"(?:it )?start|failed to start (\S+)|Job for (\S+) failed"),
          "the service {0} started and died: read the last lines of its log (shown above), fix its "
          "configuration, " + RETRY),
    _Rule(None, "it asked a question nobody answers: add a `prompts` rule (expect/answer) to the step, "
          "or make the command non-interactive (-y, --assume-yes, a preseed), " + RETRY,
          lambda r: r.timed_out == "input"),
    _Rule(None, "no output for longer than the idle timeout: it is probably waiting for input no "
          "prompt answers (add a prompt) or hung; look at the last lines, " + RETRY,
          lambda r: r.timed_out == "idle"),
    _Rule(None, "it ran longer than its timeout: a slow download or a hang; look at the last lines, "
          "raise the step's timeout if it was only slow, " + RETRY,
          lambda r: r.timed_out == "overall"),
    _Rule(_rx(r"The module interpreter '([^']+)' was not found"),
          "no Python at {0} on the host (Ansible runs the step with it): set the host's "
          "ansible_python_interpreter in the inventory to its python3, or install python3 there, " + RETRY),
    _Rule(_rx(r"([^\s:]+): command not found|([^\s:]+): not found$"),
          "command not found: {0} (a package missing from an earlier step?); install it, " + RETRY),
    _Rule(None, "command not found (exit 127): a package missing from an earlier step?",
          lambda r: r.exit_code == 127),
    _Rule(_rx(r"Permission denied|Operation not permitted|must be (?:run as )?root|are you root"),
          "permission denied: run tui-installer as root (sudo), and check the files' owners, " + RETRY),
    _Rule(None, "killed by SIGKILL from outside: often the kernel's out-of-memory killer "
          "(dmesg | grep -i oom); free memory, " + RETRY,
          lambda r: r.signal == signal.SIGKILL),
)


def _render(rule: _Rule, match: re.Match[str] | None) -> str:
    group = next((g for g in match.groups() if g), None) if match else None
    if "{0}" not in rule.message:
        return rule.message
    if rule.message.startswith(("another apt", "a package download", "a port")):
        group = f" ({group})" if group else ""
    return rule.message.replace("{0}", group or "")


def name_cause(tail: Sequence[str], result: _ResultLike) -> str | None:
    """A short, operator-readable cause with what to do; None when nothing is recognised."""
    text = "\n".join(tail)
    for rule in _RULES:
        if not rule.when(result):
            continue
        if rule.pattern is None:
            return _render(rule, None)
        match = rule.pattern.search(text)
        if match:
            return _render(rule, match)
    return None
