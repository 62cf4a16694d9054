"""The redactor: every form of every secret masked, short values left alone, overlaps handled."""

from __future__ import annotations

import json
import shlex
from urllib.parse import quote, quote_plus

from tui_installer.redact import MIN_SECRET_LENGTH, Redactor

AWKWARD = "p@ss w/rd'\"&\\x"


def test_plain_value_in_a_block_of_lines() -> None:
    r = Redactor({"db": "hunter22secret"})
    text = "a hunter22secret b\nline two\nhunter22secrethunter22secret\n"
    assert r.line(text) == "a *** b\nline two\n******\n"


def test_encoded_forms_are_masked() -> None:
    r = Redactor({"x": AWKWARD})
    for form in (AWKWARD, quote(AWKWARD, safe=""), quote(AWKWARD), quote_plus(AWKWARD),
                 shlex.quote(AWKWARD), json.dumps(AWKWARD)[1:-1]):
        out = r.line(f"<{form}>")
        assert out == "<***>" or "***" in out and AWKWARD not in out, (form, out)
        assert form not in out


def test_url_with_password() -> None:
    r = Redactor({"pw": "s3cret/with@chars"})
    url = f"mysql+pymysql://keystone:{quote('s3cret/with@chars', safe='')}@127.0.0.1/keystone"
    assert r.line(url) == "mysql+pymysql://keystone:***@127.0.0.1/keystone"


def test_short_and_empty_values_are_ignored() -> None:
    r = Redactor({"a": "", "b": "x" * (MIN_SECRET_LENGTH - 1), "c": None})  # type: ignore[dict-item]
    assert not r
    assert r.line("xxx and more") == "xxx and more"


def test_overlapping_secrets_leave_nothing_behind() -> None:
    r = Redactor({"short": "abcd1234", "long": "zz-abcd1234-zz"})
    out = r.line("1: abcd1234 2: zz-abcd1234-zz")
    assert "abcd" not in out and "zz-" not in out and "1234" not in out


def test_show_names_and_add() -> None:
    r = Redactor({"keystone_db_password": "k3yst0ne!"}, show_names=True)
    r.add("rabbit_password", "r4bb1t-pw")
    assert r.line("k3yst0ne! r4bb1t-pw") == "<secret:keystone_db_password> <secret:rabbit_password>"


def test_max_length_covers_the_longest_form() -> None:
    r = Redactor({"x": "a b/c"})
    assert r.max_length >= len(quote("a b/c", safe=""))
    assert Redactor({}).max_length == 0


def test_a_secret_with_a_newline_is_masked_line_by_line() -> None:
    r = Redactor({"cert": "first-line\nsecond-line"})
    assert r.line("first-line\nsecond-line\n") == "***\n***\n"


def test_json_forms_ascii_escaped_and_not_are_masked_whole() -> None:
    """A tool printing JSON escapes a non-ASCII secret as \\uXXXX (Python's default) or keeps it (ensure_ascii
    off); either way the quote inside the secret is escaped: both forms must go, and nothing around them."""
    value = 'pässwörd"x'
    r = Redactor({"pw": value})
    for encoded in (json.dumps({"password": value}), json.dumps({"password": value}, ensure_ascii=False)):
        assert r.line(encoded) == '{"password": "***"}', encoded


def test_a_multi_line_secret_is_cut_at_newlines_only_and_keeps_its_short_lines() -> None:
    r = Redactor({"key": "open sesame\nabcd"})
    assert r.line("open sesame\nabcd\n") == "***\n***\n"
    assert r.line("open the door") == "open the door"


def test_a_secret_of_exactly_the_minimum_length_is_masked() -> None:
    value = "k" * MIN_SECRET_LENGTH
    assert Redactor({"a": value}).line(f"[{value}]") == "[***]"
    r = Redactor()
    r.add("b", value)
    assert r and r.line(value) == "***"


def test_add_ignores_a_missing_or_short_value() -> None:
    r = Redactor({"a": "long-enough"})
    r.add("none", None)
    r.add("short", "abc")
    assert r.line("abc long-enough") == "abc ***"
    assert Redactor({"a": "long-enough"})


def test_a_form_containing_another_form_of_the_same_secret_is_dropped() -> None:
    """shlex.quote('ab/cd ef') is the value between quotes: the value alone is masked, the quotes stay."""
    r = Redactor({"x": "ab/cd ef"})
    assert r.line("echo 'ab/cd ef'") == "echo '***'"


def test_lines_masks_each_line() -> None:
    assert Redactor({"x": "hunter22"}).lines(["a hunter22", "b", "hunter22"]) == ["a ***", "b", "***"]
