"""Replace secret values by ``***`` in any text before it is written or emitted.

Every line the executor relays (log file, output events, failure tails) passes through one
``Redactor``; so do error messages. It must be fast, because a step can print hundreds of megabytes:
matching is done with ``str.replace`` over whole blocks of lines (C speed), once per *form* of each
secret. The forms are the value itself and the common encodings under which a command may echo it
back: URL-quoted (``quote`` and ``quote_plus``, as in a ``mysql+pymysql://user:PASS@host`` URL),
shell-quoted (``shlex.quote``) and JSON-escaped. A form that contains another form of the same secret
is dropped: replacing the inner one already hides it. Forms are replaced longest first, so a secret
that contains another secret is masked whole.

Values shorter than ``MIN_SECRET_LENGTH`` are ignored: masking every ``a`` or ``12`` in the output
would destroy it and protect nothing. The secret store refuses such short secrets anyway.
Secrets never contain a newline here (the executor redacts line blocks); a value with one is
redacted line by line, each line of it being treated as a form.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus

#: Values shorter than this are not redacted (see the module docstring).
MIN_SECRET_LENGTH = 4
MASK = "***"


def _forms(value: str) -> set[str]:
    """The value and the encodings under which a tool may print it."""
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value), shlex.quote(value)}
    forms.add(json.dumps(value)[1:-1])
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    out: set[str] = set()
    for form in forms:
        out.update(part for part in form.split("\n") if len(part) >= MIN_SECRET_LENGTH)
    return out


def _minimal(forms: Iterable[str]) -> list[str]:
    """Drop forms of one secret that contain another of its forms (masking the inner one hides them)."""
    ordered = sorted(set(forms), key=len)
    kept: list[str] = []
    for form in ordered:
        if not any(k in form for k in kept):
            kept.append(form)
    return sorted(kept, key=len, reverse=True)


class Redactor:
    """Masks the values of ``secrets`` (name -> value) in text.

    ``show_names=True`` writes ``<secret:NAME>`` instead of ``***``, which helps an operator see which
    secret a command received, without seeing it.
    """

    def __init__(self, secrets: Mapping[str, str] | None = None, *, show_names: bool = False) -> None:
        self._show_names = show_names
        self._values: dict[str, str] = {}
        self._pairs: list[tuple[str, str]] = []
        for name, value in (secrets or {}).items():
            if value and len(value) >= MIN_SECRET_LENGTH:
                self._values[name] = value
        self._rebuild()

    def add(self, name: str, value: str | None) -> None:
        """Register one more secret (e.g. generated during the run)."""
        if value and len(value) >= MIN_SECRET_LENGTH:
            self._values[name] = value
            self._rebuild()

    def _rebuild(self) -> None:
        by_form: dict[str, str] = {}
        for name, value in self._values.items():
            for form in _minimal(_forms(value)):
                by_form.setdefault(form, name)
        # the longest first: a secret that contains another one is masked whole, not around it
        self._pairs = [
            (form, f"<secret:{by_form[form]}>" if self._show_names else MASK)
            for form in sorted(by_form, key=len, reverse=True)
        ]

    @property
    def max_length(self) -> int:
        """The longest masked form: text that long must be kept back when a line is cut."""
        return len(self._pairs[0][0]) if self._pairs else 0

    def __bool__(self) -> bool:
        return bool(self._pairs)

    def line(self, text: str) -> str:
        """``text`` (one line or a block of lines) with every secret form masked."""
        for form, mask in self._pairs:
            text = text.replace(form, mask)  # returns ``text`` itself when absent: no copy
        return text

    def lines(self, lines: Iterable[str]) -> list[str]:
        return [self.line(x) for x in lines]
