"""Settings into shell strings without ever becoming shell: each ``{{ name }}`` is quoted for where it is.

A setting value comes from a profile, an answers file or ``--set``: data someone else may have written.
A recipe's ``run``/``unless`` string is bash. A small lexer follows bash's quoting through the template
and learns the context of every placeholder:

- ``plain`` (a bare word, also inside ``$( )``): the value is inserted ``shlex.quote``-d, one word;
- ``single`` (inside ``'...'``): every ``'`` of the value becomes ``'\\''``;
- ``double`` (inside ``"..."``): ``\\ " $ ` `` get a backslash.

Contexts where no quoting makes text inert (heredoc bodies, comments, backticks, ``${ }``, arithmetic,
``[[ ]]``, ``$'...'``) accept only numbers and booleans: validation refuses a setting there unless its
type is numeric or boolean, and rendering refuses any other value. A template the lexer cannot follow
(an unterminated quote) is refused when the service is loaded.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")
#: what may stand in an unsafe context: a number or a boolean, nothing a shell would act on
INERT = re.compile(r"-?[0-9]+(\.[0-9]+)?|true|false")
_WORD_START = " \t\n;&|(<>"
#: a word handed to another shell (``bash -c '...'``, ``eval``): quoting for this shell does not protect it
_NESTED = re.compile(r"(?:^|[\s;&|(])(?:(?:ba|da|z)?sh\s+(?:-\w+\s+)*-c|eval|su\s+.*-c)\s+\S*\Z")
#: a word bash evaluates as arithmetic, where ``a[$(cmd)]`` runs cmd even from a quoted value
_ARITH = re.compile(r"(?:^|[\s;&|(])(?:let\s.*|(?:declare|typeset|local|export|readonly)\s+-\w*i.*|"
                    r"[A-Za-z_][A-Za-z0-9_]*\[[^\]\s]*)\Z")


@dataclass(frozen=True)
class Slot:
    """One placeholder: its span in the template, the setting it names and how it is quoted there."""

    start: int
    end: int
    name: str
    context: str  # plain | single | double | unsafe
    why: str = ""  # for unsafe: which construct


class ShellSyntaxError(ValueError):
    """The template's quoting cannot be followed (unterminated quote or construct)."""


@dataclass
class _Frame:
    kind: str  # P plain, D double quotes, B backtick, X ${ }, A arithmetic, T [[ ]]
    close: str
    why: str = ""


_UNSAFE = {"B": "backticks", "X": "a ${...} expansion", "A": "arithmetic", "T": "[[ ... ]]"}


class _Lexer:
    """A single pass over the template; ``slots`` gets each placeholder with its context."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.holes = {m.start(): m for m in PLACEHOLDER.finditer(text)}
        self.stack = [_Frame("P", "")]
        self.heredocs: list[tuple[str, bool]] = []
        self.slots: list[Slot] = []
        #: a ``case`` inside ``( )``: its ``pattern)`` closes nothing, so the lexer's nesting is unsure after it
        self.poisoned = ""
        self.i = 0

    def run(self) -> list[Slot]:
        while self.i < len(self.text):
            if self.i in self.holes:
                self._hole(self._context())
                continue
            self._char()
        if len(self.stack) > 1 or self.heredocs:
            raise ShellSyntaxError("unterminated " + {"D": "double quote", "B": "backtick", "X": "${",
                                                      "A": "arithmetic", "T": "[[", "P": "( or $("}
                                   .get(self.stack[-1].kind, "heredoc"))
        return self.slots

    def _nested(self) -> bool:
        return bool(_NESTED.search(self.text, self.text.rfind("\n", 0, self.i) + 1, self.i))

    def _arithmetic(self) -> bool:
        return bool(_ARITH.search(self.text, self.text.rfind("\n", 0, self.i) + 1, self.i))

    def _here(self) -> str:
        """Why a quote or word starting here is handed to something that re-reads it ("" if nothing)."""
        return (self.poisoned or ("a nested shell" if self._nested() else "")
                or ("arithmetic" if self._arithmetic() else ""))

    def _context(self) -> tuple[str, str]:
        why = next((f.why for f in self.stack if f.why), "") or self._here()
        if why:
            return "unsafe", why
        return ("double" if self.stack[-1].kind == "D" else "plain"), ""

    def _hole(self, context: tuple[str, str]) -> None:
        match = self.holes[self.i]
        self.slots.append(Slot(match.start(), match.end(), match.group(1).strip(), *context))
        self.i = match.end()

    def _at(self, s: str) -> bool:
        return self.text.startswith(s, self.i)

    def _word_start(self) -> bool:
        return self.i == 0 or self.text[self.i - 1] in _WORD_START

    def _char(self) -> None:
        top = self.stack[-1]
        if top.kind == "D":
            self._in_double()
        else:
            self._in_plain(top)

    def _in_double(self) -> None:
        if self._at("\\"):
            self._escaped()
        elif self._at('"'):
            self.stack.pop()
            self.i += 1
        elif not self._opener():
            self.i += 1

    def _escaped(self) -> None:
        if self.i + 1 in self.holes:
            self.i += 1
            self._hole(("unsafe", "a backslash escape"))
            return
        self.i += 2

    def _opener(self) -> bool:
        """``$(``, ``$((``, ``${``, backtick: valid both bare and in double quotes."""
        for token, kind, close in (("$((", "A", "))"), ("$[", "A", "]"), ("$(", "P", ")"), ("${", "X", "}"),
                                   ("`", "B", "`")):
            if self._at(token):
                self.stack.append(_Frame(kind, close, _UNSAFE.get(kind, "")))
                self.i += len(token)
                return True
        return False

    def _in_plain(self, top: _Frame) -> None:
        if top.close and self._at(top.close):
            self.stack.pop()
            self.i += len(top.close)
        elif top.kind == "A" and self._at("<<"):
            self.i += 2
        elif self._at("\\"):
            self._escaped()
        elif self._at("'"):
            self._quoted("'", "single")
        elif self._at("$'"):
            self.i += 1
            self._quoted("'", "unsafe", "$'...' quoting")
        elif self._at('"'):
            self.stack.append(_Frame("D", '"', self._here()))
            self.i += 1
        elif self._at("\n") and self.heredocs:
            self.i += 1
            self._heredoc_bodies()
        elif not self._opener() and not self._plain_construct():
            self.i += 1

    def _plain_construct(self) -> bool:
        if self._at("case") and self._word_start() and any(f.close == ")" for f in self.stack):
            self.poisoned = "a case inside ( )"
        if self._at("#") and self._word_start():
            end = self.text.find("\n", self.i)
            end = len(self.text) if end < 0 else end
            self._mark(self.i, end, "a comment")
            self.i = end
            return True
        if self._at("<<<"):
            self.i += 3
            return True
        if self._at("<<"):
            self._heredoc_start()
            return True
        for token, kind, close in (("((", "A", "))"), ("[[", "T", "]]")):
            if self._at(token) and self._word_start():
                self.stack.append(_Frame(kind, close, _UNSAFE[kind]))
                self.i += 2
                return True
        if self._at("("):
            self.stack.append(_Frame("P", ")"))
            self.i += 1
            return True
        return False

    def _quoted(self, quote: str, context: str, why: str = "") -> None:
        end = self.text.find(quote, self.i + 1)
        if end < 0:
            raise ShellSyntaxError("unterminated single quote")
        if context == "single" and self._here():
            context, why = "unsafe", self._here()
        if context == "single" and not any(f.why for f in self.stack):
            self._mark(self.i + 1, end, "", context="single")
        else:
            self._mark(self.i + 1, end, why or next(f.why for f in self.stack if f.why))
        self.i = end + 1

    def _mark(self, start: int, end: int, why: str, context: str = "unsafe") -> None:
        for pos, match in self.holes.items():
            if start <= pos < end:
                self.slots.append(Slot(pos, match.end(), match.group(1).strip(), context, why))

    def _heredoc_start(self) -> None:
        match = re.compile(r"<<(-?)[ \t]*(['\"]?)([^\s'\"<>;&|]+)\2").match(self.text, self.i)
        if match is None:
            raise ShellSyntaxError("a heredoc without a delimiter")
        self._mark(match.start(), match.end(), "a heredoc delimiter")
        self.heredocs.append((match.group(3), match.group(1) == "-"))
        self.i = match.end()

    def _heredoc_bodies(self) -> None:
        for word, tabs in self.heredocs:
            while True:
                end = self.text.find("\n", self.i)
                end = len(self.text) if end < 0 else end
                line = self.text[self.i:end]
                if (line.lstrip("\t") if tabs else line) == word:
                    self.i = min(end + 1, len(self.text))
                    break
                if end >= len(self.text):
                    raise ShellSyntaxError(f"heredoc {word!r} is never closed")
                self._mark(self.i, end + 1, "a heredoc body")
                self.i = end + 1
        self.heredocs = []


def slots(template: str) -> list[Slot]:
    """Every placeholder of a bash template with its quoting context (``ShellSyntaxError`` if unclear)."""
    return sorted(_Lexer(template).run(), key=lambda s: s.start)


def quote(value: str, context: str) -> str:
    """``value`` as inert text for a placeholder in ``context`` (unsafe: only numbers and booleans)."""
    if context == "plain":
        return shlex.quote(value)
    if context == "single":
        return value.replace("'", "'\\''")
    if context == "double":
        return re.sub(r'([\\"$`])', r"\\\1", value)
    if INERT.fullmatch(value):
        return value
    raise ValueError("only a number or a boolean may stand here")


def render(template: str, value_of: Callable[[str], str]) -> str:
    """The template with every placeholder replaced by its value quoted for its context.

    ``value_of(name)`` gives a setting's text; a ``ValueError`` names the setting and the construct.
    """
    out, last = [], 0
    for slot in slots(template):
        value = value_of(slot.name)
        try:
            text = quote(value, slot.context)
        except ValueError as exc:
            raise ValueError(f"{{{{ {slot.name} }}}} is in {slot.why}: {exc}, got {value!r}") from None
        out += [template[last:slot.start], text]
        last = slot.end
    return "".join(out + [template[last:]])
