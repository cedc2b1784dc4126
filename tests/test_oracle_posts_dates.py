"""Front-matter date strings: the fast path for common forms agrees with dateutil's parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest
from dateutil import parser as dateparser
from hypothesis import example, given
from hypothesis import strategies as st

from syndicate.posts import frontmatter
from syndicate.posts.frontmatter import (
    _DATE_DEFAULTS,
    InvalidValue,
    _parse_any_date,
    _parse_common_date,
)


def same_moment(a: datetime, b: datetime) -> bool:
    """Equal wall time and offset (naive only equals naive), which ``==`` does not check."""
    return (a.replace(tzinfo=None), a.utcoffset()) == (b.replace(tzinfo=None), b.utcoffset())


def offset(hours: int, minutes: int = 0) -> timezone:
    return timezone(timedelta(hours=hours, minutes=minutes))


def slow(text: str) -> datetime | str:
    """dateutil's answer for ``text``, or the message of the error it leads to."""
    try:
        return _parse_any_date(text, text, "date")
    except InvalidValue as exc:
        return str(exc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-06-19", datetime(2025, 6, 19)),
        ("2025-06-19 10:00", datetime(2025, 6, 19, 10, 0)),
        ("2025-06-19T10:00:05", datetime(2025, 6, 19, 10, 0, 5)),
        ("2025-06-19 10:00:05.25", datetime(2025, 6, 19, 10, 0, 5, 250000)),
        ("2025-06-19 10:00:05 +0100", datetime(2025, 6, 19, 10, 0, 5, tzinfo=offset(1))),
        ("2025-06-19 10:00:05+01:00", datetime(2025, 6, 19, 10, 0, 5, tzinfo=offset(1))),
        ("2025-06-19T10:00:05-05:30", datetime(2025, 6, 19, 10, 0, 5, tzinfo=offset(-5, -30))),
        ("2025-06-19T10:00:05 -03", datetime(2025, 6, 19, 10, 0, 5, tzinfo=offset(-3))),
        ("2025-06-19T10:00:05Z", datetime(2025, 6, 19, 10, 0, 5, tzinfo=UTC)),
        ("2025-06-19 10:00 Z", datetime(2025, 6, 19, 10, 0, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_common_forms_take_the_fast_path_and_agree_with_dateutil(
    text: str, expected: datetime
) -> None:
    fast = _parse_common_date(text)
    assert fast is not None and same_moment(fast, expected)
    reference = slow(text)
    assert isinstance(reference, datetime) and same_moment(fast, reference)


@pytest.mark.parametrize(
    "text",
    [
        "2025-02-30",  # impossible date: dateutil words the error
        "2025-06-19 24:00",  # ISO 8601 end of day: dateutil decides
        "2025-06-19T10:00:00,5",  # decimal comma
        "2025-06-19T10:00:00.1234567",  # more than microseconds
        "2025-06-19T10:00+24:00",
        "2025-06-19T10:00z",
        "0999-06-19",
        "20250619",
        "2025-06",
        "2025-06-19 10",
        "2025-06-19  10:00",
        "19 June 2025",
        "2025-06-19 10:00 UTC",
        "2025-06-19 10:00 Europe/Minsk",
        "\u0662\u0660\u0662\u0665-06-19",  # Arabic-Indic digits are not ASCII digits
    ],
)
def test_other_forms_are_left_to_dateutil(text: str) -> None:
    assert _parse_common_date(text) is None


def test_the_usual_jekyll_date_does_not_call_dateutil(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> datetime:
        raise AssertionError("dateutil called")

    monkeypatch.setattr(dateparser, "parse", fail)
    monkeypatch.setattr(dateparser, "isoparse", fail)
    moment = frontmatter.to_utc("2015-01-01 13:39:21 +0100", "date", UTC)
    assert moment == datetime(2015, 1, 1, 12, 39, 21, tzinfo=UTC)


def two_digits(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:02d}")


fractions = st.text("0123456789", min_size=1, max_size=7).map(lambda f: "." + f)

# Strings in and around the fast path's grammar: out-of-range fields, both separators,
# every offset spelling, with and without a space before the zone.
common_dates = st.builds(
    lambda y, mo, d, rest: f"{y}-{mo}-{d}{rest}",
    st.integers(1000, 9999).map(str),
    two_digits(0, 13),
    two_digits(0, 32),
    st.one_of(
        st.just(""),
        st.builds(
            lambda sep, h, mi, sec, space, zone: f"{sep}{h}:{mi}{sec}{space}{zone}",
            st.sampled_from(["T", " "]),
            two_digits(0, 25),
            two_digits(0, 60),
            st.one_of(
                st.just(""),
                st.builds(
                    lambda s, f: f":{s}{f}",
                    two_digits(0, 60),
                    st.one_of(st.just(""), fractions),
                ),
            ),
            st.sampled_from(["", " "]),
            st.one_of(
                st.sampled_from(["", "Z"]),
                st.builds(
                    lambda sign, h, colon, m: f"{sign}{h}{colon}{m}",
                    st.sampled_from("+-"),
                    two_digits(0, 25),
                    st.sampled_from(["", ":"]),
                    st.one_of(st.just(""), two_digits(0, 60)),
                ),
            ),
        ),
    ),
)  # fmt: skip


@given(common_dates)
@example("2015-01-01 13:39:21 +0100")
@example("2024-02-29T23:59:59.999999-23:59")
@example("2025-06-19 10:00 +00")
def test_fast_path_agrees_with_dateutil(text: str) -> None:
    fast = _parse_common_date(text)
    if fast is None:
        return  # outside the fast path: dateutil alone decides
    reference = slow(text)
    assert isinstance(reference, datetime), reference
    assert same_moment(fast, reference)


def two_parses(text: str) -> datetime | str:
    """The fallback as it was: ISO 8601, else parse twice, once with each default."""

    def zone(name: str | None, offset: int | None) -> tzinfo | None:
        if offset is not None:
            return timezone(timedelta(seconds=offset))
        if name and name.upper() in ("UTC", "GMT", "Z", "UT"):
            return UTC
        return None

    if not any(c.isdigit() for c in text):
        return f"date: cannot parse {text!r}"
    try:
        return dateparser.isoparse(text)
    except (ValueError, OverflowError):
        pass
    try:
        first, second = (dateparser.parse(text, default=d, tzinfos=zone) for d in _DATE_DEFAULTS)
    except (ValueError, OverflowError):
        return f"date: cannot parse {text!r}"
    if first.date() != second.date():
        return f"date: {text!r} is not a full date (year, month and day)"
    return first


# Free-form strings that dateutil reads, some naming a full date and some not: days 1 and 2
# and January/February are the defaults' own values, and weekdays move a missing day.
free_form = st.lists(
    st.one_of(
        st.sampled_from(["1", "2", "3", "29", "30", "31", "01", "02", "12"]),
        st.sampled_from(["January", "Feb", "February", "March", "Dec"]),
        st.sampled_from(["2000", "2001", "2015", "2024"]),
        st.sampled_from(["Mon", "Tuesday", "Sun", "Saturday"]),
        st.sampled_from(["10:00", "23:59:59", "00:00", "12pm"]),
        st.sampled_from(["GMT", "UTC", "+0100", "-05:00"]),
    ),
    min_size=1,
    max_size=5,
).map(" ".join)


@given(free_form)
@example("29 February")
@example("Sunday March 2015")
@example("February 2015 Sunday")
@example("December 2000 Mon")
@example("1 January 2000")
@example("2 February 2001")
def test_fallback_parses_once_but_answers_as_two_parses_did(text: str) -> None:
    result, reference = slow(text), two_parses(text)
    if isinstance(reference, datetime):
        assert isinstance(result, datetime) and same_moment(result, reference)
    else:
        assert result == reference
