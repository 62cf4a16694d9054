"""Does a silent step wait for an answer? The heuristic behind the executor's question timeout.

A step that asks something nobody answers (no ``prompts`` rule matches) would hang forever. Silence
alone is not enough to stop it (a database migration may be quiet for minutes), so the executor
stops a step only when it is silent *and* its last output looks like a question:

- the partial last line (text after the last newline: a prompt waits on its own line, the cursor
  after it) ends with ``?``, ``:``, ``>``, a bracketed choice such as ``[y/N]`` or ``(yes/no)``,
  optionally followed by spaces; or
- there is no partial line and the last complete line ends with ``?`` or such a choice (programs
  that print the question, then a newline, then read).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .executor_io import normalise

_CHOICE = r"(?:\[[^\[\]\n]{1,40}\]|\([^()\n]{0,40}/[^()\n]{0,40}\))"
PARTIAL = re.compile(rf"(?:[?:>]|{_CHOICE})\s*$")
COMPLETE = re.compile(rf"(?:\?|{_CHOICE})\s*$")
#: longest line quoted in messages
QUOTE_MAX = 200


def pending(partial: str, tail: Sequence[str]) -> str | None:
    """The question the step waits on, or None when its last output is not one."""
    text = normalise(partial).strip()
    if text:
        return text[-QUOTE_MAX:] if PARTIAL.search(text) else None
    last = tail[-1].strip() if tail else ""
    return last[-QUOTE_MAX:] if last and COMPLETE.search(last) else None
