"""Oracles of text hygiene: each fast check (one scan for both repairs, clean UTF-8 bytes,
printable text) agrees with the plain character classes it stands for, on every code point."""

from __future__ import annotations

import re
import sys

from hypothesis import given
from hypothesis import strategies as st

from syndicate.posts import repair_mojibake, strip_forbidden_chars
from syndicate.posts import text as hygiene

ALL_CHARS = "".join(map(chr, range(sys.maxunicode + 1)))
# Every code point, each followed by "a", which is not a continuation character.
EVERY_CHAR = "a".join(ALL_CHARS)
LEADS = [chr(c) for c in range(0xC2, 0xF5)]
CONTINUATIONS = re.findall(f"[{hygiene._CONTINUATIONS}]", ALL_CHARS)


def test_the_hygiene_scan_finds_every_character_to_remove() -> None:
    found = [m.start() for m in hygiene._NEEDS_HYGIENE.finditer(EVERY_CHAR)]
    assert found == [m.start() for m in hygiene._FORBIDDEN_CHARS.finditer(EVERY_CHAR)]


def test_the_hygiene_scan_finds_every_mojibake_hint() -> None:
    for lead in LEADS:
        for continuation in CONTINUATIONS:
            assert hygiene._MOJIBAKE_HINT.search(lead + continuation)
            assert hygiene._NEEDS_HYGIENE.search(lead + continuation)
        assert hygiene._NEEDS_HYGIENE.search(lead + "a") is None


def test_clean_utf8_bytes_hold_no_character_to_remove_and_no_mojibake_hint() -> None:
    # Surrogates are left out: a strict UTF-8 decoder never lets one through.
    for char in hygiene._FORBIDDEN_CHARS.findall(EVERY_CHAR):
        if not 0xD800 <= ord(char) <= 0xDFFF:
            assert not hygiene._is_clean_utf8(char.encode()), hex(ord(char))
    for lead in LEADS:
        for continuation in CONTINUATIONS:
            assert not hygiene._is_clean_utf8(f"x{lead}{continuation}x".encode())
    assert hygiene._is_clean_utf8(
        "Cr\u00e8me br\u00fbl\u00e9e \u201cok\u201d \u65e5\u672c".encode()
    )


@given(st.text(alphabet=st.characters(codec="utf-8")))
def test_text_that_needs_no_hygiene_is_left_as_it_is(text: str) -> None:
    if hygiene._is_clean_utf8(text.encode()):
        assert hygiene._NEEDS_HYGIENE.search(text) is None
    if hygiene._NEEDS_HYGIENE.search(text) is None:
        assert repair_mojibake(text) == text
        assert strip_forbidden_chars(text) == text


def test_printable_text_has_nothing_to_strip_and_no_space_but_spaces() -> None:
    printable = "".join(c for c in ALL_CHARS if hygiene.is_printable(c))
    assert hygiene._FORBIDDEN_CHARS.search(printable) is None
    assert set(hygiene._SPACES.findall(printable)) == {" "}
    assert {c for c in printable if c.isspace()} == {" "}


@given(st.text(alphabet=st.characters(blacklist_categories=())).map(lambda t: t + "\n" + t))
def test_strip_forbidden_chars_removes_what_the_class_removes(text: str) -> None:
    # Any text, lone surrogates included, on several lines (past the printable shortcut):
    # the look at its UTF-8 only ever skips a removal that would remove nothing.
    assert strip_forbidden_chars(text) == hygiene._FORBIDDEN_CHARS.sub("", text)
    assert strip_forbidden_chars(EVERY_CHAR) == hygiene._FORBIDDEN_CHARS.sub("", EVERY_CHAR)
