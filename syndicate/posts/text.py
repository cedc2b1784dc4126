"""Text hygiene: decoding a post's bytes, repairing mojibake, removing the characters
feeds cannot carry, plain text from markup. Pure (no I/O).
"""

from __future__ import annotations

import codecs
import functools
import html
import html.entities
import re
from collections.abc import Callable

_C1_ERRORS = "syndicate.windows-1252-c1"


def _undefined_cp1252(exc: UnicodeError) -> tuple[str, int]:
    # Python's cp1252 leaves five bytes undefined; the WHATWG Encoding Standard (what
    # browsers do) maps them to the C1 code points, so decoding never fails.
    assert isinstance(exc, UnicodeDecodeError)
    return exc.object[exc.start : exc.end].decode("latin-1"), exc.end


codecs.register_error(_C1_ERRORS, _undefined_cp1252)

# Characters no feed should carry: everything outside the XML 1.0 ``Char`` production
# (section 2.2: C0 controls other than tab/LF/CR, lone surrogates, U+FFFE/U+FFFF), plus
# what that section discourages and the W3C feed validator reports as "BadCharacters" or
# (through html5lib) "Invalid codepoint": DEL, the C1 controls U+0080-U+009F, the
# noncharacters U+FDD0-U+FDEF and U+nFFFE/U+nFFFF, and U+FFFD, which only marks text
# that was already lost.
#
# One negated class, listing the allowed ranges (each supplementary plane minus its last
# two code points), not an alternation: `re` scans for a pattern that starts with a single
# class in a tight C loop, but tries an alternation at every position, which was an
# order of magnitude slower and the costliest step of reading a post.
_PLANE_ALLOWED = "".join(f"{chr(p << 16)}-{chr(p << 16 | 0xFFFD)}" for p in range(1, 17))
_FORBIDDEN_CHARS = re.compile(
    f"[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufdcf\ufdf0-\ufffc{_PLANE_ALLOWED}]"
)

# UTF-8 read as Windows-1252 or Latin-1 turns a lead byte (C2-F4) into one of these letters
# followed by a character that stands for a continuation byte (80-BF); Windows-1252 read as
# Latin-1 leaves C1 controls. Clean text almost never has either, so ftfy (slow: it tries
# every repair) only runs where it can help. Written as one class first (a C1 control, or
# a lead letter that must then be followed by a continuation character) rather than as
# "C1|lead+continuation", so that `re` can scan for the class in C.
_C1_CONTROLS = "\u0080-\u009f"
_LEAD_LETTERS = "\u00c2-\u00f4"
_CONTINUATIONS = (
    "\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192"
    "\u02c6\u02dc\u2013\u2014\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030"
    "\u2039\u203a\u20ac\u2122"
)
_MOJIBAKE_HINT = re.compile(
    f"[{_C1_CONTROLS}{_LEAD_LETTERS}](?:(?<=[{_C1_CONTROLS}])|[{_CONTINUATIONS}])"
)

# Either of the two above, in one scan: a character _FORBIDDEN_CHARS removes (the class
# is its complement less the lead letters, which the look-behind then sets apart), or a
# lead letter followed by a continuation character. Every match of _MOJIBAKE_HINT is a
# match of this (C1 controls are forbidden characters too), so when this finds nothing
# the text is clean, found in one scan instead of two, and each scan is a sizeable part
# of reading a post.
_NEEDS_HYGIENE = re.compile(
    f"[^\t\n\r\x20-\x7e\xa0-\xc1\xf5-\ud7ff\ue000-\ufdcf\ufdf0-\ufffc{_PLANE_ALLOWED}]"
    f"(?:(?<![{_LEAD_LETTERS}])|[{_CONTINUATIONS}])"
)


@functools.cache
def _ftfy() -> Callable[[str], str]:
    """ftfy's ``fix_text`` with only the encoding repairs: everything that would change
    legitimate text (curly quotes, HTML entities in Markdown, ligatures, width,
    normalisation) stays off. Imported when a post first needs it: ftfy's tables are
    large and slow to load, and clean posts never reach it."""
    import ftfy

    config = ftfy.TextFixerConfig(
        unescape_html=False,
        remove_terminal_escapes=False,
        fix_encoding=True,
        restore_byte_a0=True,
        replace_lossy_sequences=True,
        decode_inconsistent_utf8=True,
        fix_c1_controls=True,
        fix_latin_ligatures=False,
        fix_character_width=False,
        uncurl_quotes=False,
        fix_line_breaks=False,
        fix_surrogates=True,
        remove_control_chars=False,
        normalization=None,
        explain=False,
    )
    return functools.partial(ftfy.fix_text, config=config)


def strip_forbidden_chars(text: str) -> str:
    """Remove characters XML 1.0 forbids or discourages and the feed validator reports."""
    if is_printable(text):
        return text  # a title, a name, a path: usually one line with nothing to remove
    # Lines of HTML: their UTF-8 looked over by table (``_is_clean_utf8``) costs a third
    # of the class, and settles most of them. A lone surrogate cannot be encoded.
    try:
        if _is_clean_utf8(text.encode("utf-8")):
            return text
    except UnicodeEncodeError:
        pass
    return _FORBIDDEN_CHARS.sub("", text)


def is_printable(text: str) -> bool:
    """Whether ``text`` is one line with none of the characters _FORBIDDEN_CHARS removes.

    str.isprintable() is false for every one of them (control characters, surrogates and
    noncharacters are categories Cc, Cs and Cn) except U+FFFD, and checks a short string
    in a fraction of what running a regular expression costs.
    """
    return text.isprintable() and "\ufffd" not in text


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 that was decoded as Windows-1252/Latin-1 (``Ã©`` -> ``é``); fast on clean text."""
    # str.isascii() is O(1) in CPython, and ASCII text cannot hold mojibake.
    if text.isascii() or _MOJIBAKE_HINT.search(text) is None:
        return text
    return _ftfy()(text)


# What _NEEDS_HYGIENE looks for, in UTF-8. Every character it removes is encoded with
# one of these bytes: a C0 control or DEL is the byte itself, U+0080-U+00BF starts with
# C2, U+FDD0-U+FFFF with EF, the noncharacters above the BMP with F0-F4 (and a strict
# decoder lets no surrogate through). A lead letter (C3 82-B4) before a continuation
# character is followed by C2 or by C5, C6, CB or E2. A table look-up per byte and a
# search for C3 cost much less than the character class, and settle most posts; text
# with one of these bytes (a no-break space, "«", an emoji) still gets the class.
# tests/test_oracle_posts_text.py checks both against every code point.
_UNCLEAN_BYTES = bytes(
    [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0xC2, *range(0xEF, 0xF5)]
)
_LEAD_CONTINUATION_UTF8 = re.compile(b"\xc3[\x82-\xb4][\xc5\xc6\xcb\xe2]")


def _is_clean_utf8(raw: bytes) -> bool:
    """Whether UTF-8 ``raw`` decodes to text in which _NEEDS_HYGIENE finds nothing."""
    return (
        len(raw.translate(None, _UNCLEAN_BYTES)) == len(raw)
        and _LEAD_CONTINUATION_UTF8.search(raw) is None
    )


def read_text(raw: bytes, warn: Callable[[str], None]) -> str:
    """Decode a post file and apply text hygiene, reporting what had to be repaired."""
    text, utf8 = _decode(raw, warn)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # What holds for the bytes holds for this text: making line ends LF removes nothing
    # _NEEDS_HYGIENE looks for, and only ever makes a character the neighbour of an LF.
    if (utf8 and _is_clean_utf8(raw)) or _NEEDS_HYGIENE.search(text) is None:
        return text  # nearly every post: no mojibake and nothing to remove
    fixed = repair_mojibake(text)
    if fixed != text:
        warn(f"repaired mojibake{_changed_lines(text, fixed)}")
        text = fixed
    cleaned, removed = _FORBIDDEN_CHARS.subn("", text)
    if removed:
        warn(f"removed {removed} control or non-character code point(s) that feeds cannot carry")
    return cleaned


def _decode(raw: bytes, warn: Callable[[str], None]) -> tuple[str, bool]:
    """The text of a file, and whether it was read as UTF-8."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16"), False
        except UnicodeDecodeError:
            pass
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]  # Jekyll drops a leading byte order mark too
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        warn(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} on line {line}); decoded as Windows-1252"
        )
        return raw.decode("cp1252", errors=_C1_ERRORS), False


def _changed_lines(before: str, after: str) -> str:
    old, new = before.split("\n"), after.split("\n")
    if len(old) != len(new):
        return ""
    lines = [str(i) for i, (a, b) in enumerate(zip(old, new, strict=True), 1) if a != b]
    if not lines:
        return ""
    shown = ", ".join(lines[:5]) + (", ..." if len(lines) > 5 else "")
    return f" on line{'s' if len(lines) > 1 else ''} {shown}"


_SCRIPT_STYLE_COMMENT = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.S | re.I)
_TAG = re.compile(r"</?[A-Za-z][^>]*>|<![^>]*>|<\?[^>]*>")
_SPACES = re.compile(r"[ \t\n\r\f\v]+")


def plain_text(text: str) -> str:
    """Markup removed, entities decoded, whitespace collapsed (Liquid ``strip_html``)."""
    if "<" in text:
        # Only real tags go (a letter, '/', '!' or '?' after '<'), so "a < b" survives.
        text = _TAG.sub("", _SCRIPT_STYLE_COMMENT.sub("", text))
    if "&" in text:
        text = html.unescape(text)
    return clean_line(text)


def clean_line(text: str) -> str:
    """Forbidden characters removed, whitespace collapsed and stripped."""
    if is_printable(text) and "  " not in text:
        return text.strip()  # its only whitespace is single spaces
    return _SPACES.sub(" ", strip_forbidden_chars(text)).strip()


# What the W3C validator takes for markup in a plain-text name (validators.py, nonhtml):
# an end tag, or an "&" and a word that is a character entity's name or not all letters.
# The feeds say such a name as it is, but readers and validators that guess at HTML in
# RSS (and the validator in Atom labels and titles too) read it as markup.
_END_TAG = re.compile(r"</[A-Za-z][\w-]*>")
_AMPERSAND_WORD = re.compile(r"&(#?\w+)")


def markup_in(name: str) -> str | None:
    """The part of a plain-text name that would be read as HTML markup, if any."""
    if "<" in name:
        found = _END_TAG.search(name)
        if found:
            return found.group()
    if "&" in name:
        for found in _AMPERSAND_WORD.finditer(name):
            word = found.group(1)
            if word in html.entities.name2codepoint or word == "apos" or not word.isalpha():
                return found.group()
    return None


def markup_message(key: str, name: str, markup: str) -> str:
    """The warning for a name that looks like HTML (``markup_in`` found ``markup``)."""
    return (
        f"{key}: {name!r} looks like HTML ({markup!r}): validators and some readers "
        'take it for markup; write the character itself ("&" and "<" alone are fine)'
    )
