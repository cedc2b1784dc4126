"""Language tags (BCP 47, RFC 5646): well-formedness and the usual case. Pure, no I/O.

``site.language`` goes to RSS ``<language>`` and Atom ``xml:lang``, a post's ``lang`` to
its entry's ``xml:lang``. Both must be BCP 47 tags (RFC 4287 2 and XML 1.0 2.12 via RFC
5646; the W3C validator and the RFC 4287 RELAX NG schema reject ``en_US``). A locale
name with ``_`` (``pt_BR``, as gettext and POSIX spell it) is the obvious slip and is
mended; anything else that is not a well-formed tag is refused by the caller.

Well-formedness is the RFC 5646 section 2.1 ABNF, written out below as a regular
expression: a small, total check, without the registry (a library that knows the IANA
registry would also refuse well-formed tags it does not list, and change deprecated
ones, which is not this module's business).
"""

from __future__ import annotations

import re

_ALNUM = "[a-z0-9]"
# RFC 5646 section 2.1, on a lowercased tag (the ABNF is case-insensitive).
_LANGTAG = (
    r"(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})"  # language ["-" extlang]
    r"(?:-[a-z]{4})?"  # script
    r"(?:-(?:[a-z]{2}|[0-9]{3}))?"  # region
    rf"(?:-(?:{_ALNUM}{{5,8}}|[0-9]{_ALNUM}{{3}}))*"  # variants
    rf"(?:-[0-9a-wy-z](?:-{_ALNUM}{{2,8}})+)*"  # extensions
    rf"(?:-x(?:-{_ALNUM}{{1,8}})+)?"  # private use
)
_PRIVATE_USE = rf"x(?:-{_ALNUM}{{1,8}})+"
# The grandfathered tags, irregular and regular, as RFC 5646 lists them.
_GRANDFATHERED = (
    "en-gb-oed i-ami i-bnn i-default i-enochian i-hak i-klingon i-lux i-mingo i-navajo "
    "i-pwn i-tao i-tay i-tsu sgn-be-fr sgn-be-nl sgn-ch-de art-lojban cel-gaulish no-bok "
    "no-nyn zh-guoyu zh-hakka zh-min zh-min-nan zh-xiang"
).split()
_TAG = re.compile(
    rf"(?:{_LANGTAG}|{_PRIVATE_USE}|{'|'.join(map(re.escape, _GRANDFATHERED))})", re.ASCII
)


def is_well_formed(tag: str) -> bool:
    """Whether ``tag`` is a well-formed BCP 47 language tag (RFC 5646 section 2.1)."""
    return _TAG.fullmatch(tag.lower()) is not None


def normalise_language(value: str) -> str | None:
    """``value`` as a BCP 47 tag in the usual case (``en_us`` -> ``en-US``); None if,
    with ``_`` read as ``-``, it is not a well-formed tag."""
    tag = value.strip().replace("_", "-")
    if not tag.isascii() or not is_well_formed(tag):
        return None
    if tag.lower() not in _GRANDFATHERED and 4 <= len(tag.split("-", 1)[0]) <= 8:
        # Well-formed, but no language has such a subtag: 4 letters are reserved, and 5 to
        # 8 are for languages registered with IANA, of which there are none (RFC 5646
        # 2.2.1). What a user writes there is a name ("English"), not a tag.
        return None
    # RFC 5646 2.1.1: language lowercase, script titlecase, region uppercase, the rest
    # lowercase; only up to the first singleton (extensions and private use keep theirs).
    subtags = tag.lower().split("-")
    for i, subtag in enumerate(subtags):
        if len(subtag) == 1:
            break
        if i > 0 and len(subtag) == 2:
            subtags[i] = subtag.upper()
        elif i > 0 and len(subtag) == 4 and subtag.isalpha():
            subtags[i] = subtag.title()
    return "-".join(subtags)
