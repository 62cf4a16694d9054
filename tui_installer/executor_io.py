"""The executor's output path: bytes from the pty -> redacted lines in the log, callback and tail.

Kept apart from the process handling in ``executor`` so each can be read (and tested) alone. Every
operation works on a block of lines at once (``str.replace``, ``re.sub``, ``str.split``): a per-line
Python loop would cap the relay far below the 50 MB/s the benchmark asks for.
"""

from __future__ import annotations

import codecs
import os
import re
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import BinaryIO

from .model import Prompt
from .redact import Redactor

#: Longer lines are cut into pieces of this many characters (the rest continues on the next line).
LINE_CAP = 64 * 1024
#: Lines of ``Result.tail`` are cut to this (the log keeps them whole).
TAIL_LINE_CAP = 4096
#: The log file is flushed at least this often while output flows (others may tail it).
FLUSH_SECONDS = 0.5

#: CSI (colours, cursor moves), OSC (window titles; ends with BEL or ST) and two-byte escapes.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CR_EOL = re.compile(r"\r+\n")
#: Everything up to the last bare \r of a line: the part a terminal would have overwritten.
_REDRAW = re.compile(r"^[^\n]*\r", re.MULTILINE)


def open_log(path: str | os.PathLike[str]) -> BinaryIO:
    """Open (append) a step log, created with mode 0600 and forced to 0600 if it existed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "wb", buffering=1 << 20)


def normalise(block: str) -> str:
    """Plain text of a block of lines: no escapes, \\r\\n as \\n, \\r redraws reduced to their end."""
    if "\x1b" in block:
        block = _ANSI.sub("", block)
    if "\r" in block:
        block = _CR_EOL.sub("\n", block)
        if "\r" in block:
            block = _REDRAW.sub("", block)
    return block


def cap_lines(lines: list[str], cap: int) -> list[str]:
    """Cut lines longer than ``cap`` into pieces (no text lost)."""
    out: list[str] = []
    for line in lines:
        if len(line) <= cap:
            out.append(line)
        else:
            out.extend(line[i : i + cap] for i in range(0, len(line), cap))
    return out


class Relay:
    """Where redacted lines go: the log file, the ``on_output`` callback, the tail, a line count."""

    def __init__(self, log: BinaryIO, redactor: Redactor, on_output: Callable[[str], None] | None,
                 on_lines: Callable[[list[str]], None] | None, tail: int, cap: int = LINE_CAP) -> None:
        self.log, self.redactor, self.cap = log, redactor, cap
        self.on_output, self.on_lines = on_output, on_lines
        self.tail: deque[str] = deque(maxlen=tail)
        self.count = 0
        self._flushed = time.monotonic()

    def header(self, text: str) -> None:
        self.log.write(self.redactor.line(text + "\n").encode("utf-8", "replace"))

    footer = header

    def emit_block(self, block: str) -> None:
        """``block``: normalised complete lines, each ending with ``\\n``."""
        block = self.redactor.line(block)
        self.log.write(block.encode("utf-8", "replace"))
        lines = block.split("\n")
        lines.pop()
        if len(block) > self.cap and max(map(len, lines), default=0) > self.cap:
            lines = cap_lines(lines, self.cap)
        self.count += len(lines)
        self.tail.extend(lines[-(self.tail.maxlen or 0):])
        self._callback(lines)
        now = time.monotonic()
        if now - self._flushed > FLUSH_SECONDS:
            self.log.flush()
            self._flushed = now

    def _callback(self, lines: list[str]) -> None:
        if not lines or (self.on_output is None and self.on_lines is None):
            return
        try:
            if self.on_lines is not None:
                self.on_lines(lines)
            if self.on_output is not None:
                for line in lines:
                    self.on_output(line)
        except Exception as exc:  # a broken listener must not leave the step's processes running
            self.on_output = self.on_lines = None
            self.log.write(f"[tui-installer: output listener failed, detached: {exc!r}]\n".encode())

    def tail_list(self) -> list[str]:
        """The last lines, each cut to ``TAIL_LINE_CAP`` (they travel in events and the journal)."""
        return [x if len(x) <= TAIL_LINE_CAP else x[:TAIL_LINE_CAP] + " [...]" for x in self.tail]


class Prompter:
    """Finds prompts in the output not yet scanned and says what to answer; detects answer loops."""

    def __init__(self, prompts: Sequence[Prompt], secrets: Mapping[str, str], max_answers: int) -> None:
        self.rules = [
            (re.compile(p.expect, re.MULTILINE), secrets[p.secret] if p.secret else (p.answer or ""))
            for p in prompts
        ]
        self.counts = [0] * len(self.rules)
        self.max_answers = max_answers
        self.offset = 0
        self.looping = False

    def scan(self, text: str) -> list[str]:
        """Answers for the prompts found in ``text`` after the scanned offset, earliest first."""
        answers: list[str] = []
        while self.rules and not self.looping:
            found = self._earliest(text)
            if found is None:
                break
            index, end = found
            self.offset = end if end > self.offset else self.offset + 1
            self.counts[index] += 1
            if self.counts[index] > self.max_answers:
                self.looping = True  # the same prompt again and again: our answer is wrong
            else:
                answers.append(self.rules[index][1])
        return answers

    def _earliest(self, text: str) -> tuple[int, int] | None:
        best: tuple[int, int, int] | None = None
        for index, (regex, _answer) in enumerate(self.rules):
            match = regex.search(text, self.offset)
            if match and (best is None or match.start() < best[0]):
                best = (match.start(), index, match.end())
        return None if best is None else (best[1], best[2])

    def consumed(self, count: int) -> None:
        """The first ``count`` characters of the scanned text were passed on."""
        self.offset = max(0, self.offset - count)


class Splitter:
    """Decodes the byte stream, keeps the partial last line, hands complete lines to the relay."""

    def __init__(self, relay: Relay, prompter: Prompter, cap: int = LINE_CAP) -> None:
        self.relay, self.prompter, self.cap = relay, prompter, cap
        self._decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        self.pending = ""

    def feed(self, data: bytes) -> list[str]:
        """Take a chunk; return the prompt answers to send."""
        text = self.pending + self._decode(data)
        answers = self.prompter.scan(text) if self.prompter.rules else []
        cut = text.rfind("\n") + 1
        if cut:
            self.relay.emit_block(normalise(text[:cut]))
            self.prompter.consumed(cut)
        self.pending = text[cut:]
        if len(self.pending) >= self.cap + self.relay.redactor.max_length:
            self._cut_long()
        return answers

    def _cut_long(self) -> None:
        """A line without end (a redraw loop, a minified file): pass it on in capped pieces.

        Whole secrets are masked before the cut, so none is split across two pieces; the last
        ``max_length`` characters stay pending in case a secret is still arriving.
        """
        keep = self.relay.redactor.max_length
        text = self.relay.redactor.line(self.pending)
        while len(text) >= self.cap + keep:
            self.relay.emit_block(normalise(text[: self.cap] + "\n"))
            self.prompter.consumed(self.cap)
            text = text[self.cap :]
        self.pending = text

    def finish(self) -> None:
        """End of output: the last partial line (often a prompt) is a line too."""
        text = self.pending + self._decode(b"", final=True)
        self.pending = ""
        if text:
            self.relay.emit_block(normalise(text + "\n"))
