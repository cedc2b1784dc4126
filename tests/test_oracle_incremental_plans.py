"""Incremental feed planning gives what planning from scratch gives, step after step."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicate.config import Author
from syndicate.feeds import Built, Rendering, build_site
from syndicate.feeds._plan import PlanState, plan_feeds
from syndicate.posts import Post

from .conftest import ConfigFactory
from .test_feeds import BADELY, FakeRender, make_post

CATEGORIES = ("News", "news", "Café", "Cafe", "Ops")
TAGS = ("python", "Python", "c++", "c#", "rust")
START = datetime(2025, 6, 1, tzinfo=UTC)
# The authors of `authors:` (each has a feed), one named only in a post, and none.
ZED = Author(name="Zed", email="zed@example.org")
AUTHORS: tuple[Author | None, ...] = (BADELY, ZED, Author(name="Free Name"), None)
PEOPLE = {"zed": {"name": "Zed", "email": "zed@example.org"}}

# (action, post number, day offset, hour, category mask, tag mask)
Step = tuple[str, int, int, int, int, int]

steps = st.lists(
    st.tuples(
        st.sampled_from(
            ["write", "write", "delete", "unpublish", "same-id", "tick", "retitle", "reauthor"]
        ),
        st.integers(0, 9),
        st.integers(-3, 20),
        st.integers(0, 23),
        st.integers(0, 2 ** len(CATEGORIES) - 1),
        st.integers(0, 2 ** len(TAGS) - 1),
    ),
    min_size=1,
    max_size=25,
)


def _stamped(post: Post) -> Post:
    """The post with a digest of its content, as a post read from a file has."""
    content = repr(dataclasses.replace(post, digest=""))
    return dataclasses.replace(post, digest=hashlib.sha256(content.encode()).hexdigest())


def _post(n: int, day: int, hour: int, cats: int, tags: int, entry_id: str = "") -> Post:
    return _stamped(
        make_post(
            (n % 28) + 1,
            relpath=f"p{n}.md",
            entry_id=entry_id or f"tag:example.org,2025:p{n}",
            date=START + timedelta(days=day, hours=hour),
            categories=tuple(c for i, c in enumerate(CATEGORIES) if cats & (1 << i)),
            tags=tuple(t for i, t in enumerate(TAGS) if tags & (1 << i)),
        )
    )


def _apply(posts: dict[str, Post], step: Step) -> timedelta:
    """Change the posts as an editor would; returns how far the clock moves."""
    action, n, day, hour, cats, tags = step
    path = f"p{n}.md"
    if action == "delete":
        posts.pop(path, None)
    elif action == "unpublish" and path in posts:
        posts[path] = _stamped(dataclasses.replace(posts[path], published=False))
    elif action == "same-id":
        # Two posts claiming one entry id: only one may be in the feeds.
        posts[path] = _post(n, day, hour, cats, tags, entry_id="tag:example.org,2025:p0")
    elif action == "tick":
        return timedelta(days=day % 5, hours=hour)
    elif action == "reauthor" and path in posts:
        # Moves the post from one author feed to another, or out of them all.
        author = AUTHORS[day % len(AUTHORS)]
        posts[path] = _stamped(dataclasses.replace(posts[path], author=author))
    elif action == "retitle" and path in posts:
        posts[path] = _stamped(dataclasses.replace(posts[path], title=f"Retitled {day}"))
    else:
        posts[path] = _post(n, day, hour, cats, tags)
    return timedelta(0)


def _same(a: PlanState, b: PlanState) -> None:
    assert [dataclasses.astuple(p) for p in a.order] == [dataclasses.astuple(p) for p in b.order]
    assert [dataclasses.astuple(p) for p in a.archive_order] == [
        dataclasses.astuple(p) for p in b.archive_order
    ]


# Archive pages (RFC 5005) for every feed, two posts a page: the posts (May 29 to June
# 25) fill several pages in two months, which the steps add to, empty and move.
FEEDS = {"limit": 3, "archives": "all", "archive_page_size": 2}


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps)
def test_incremental_plans_equal_full_plans(
    make_config: ConfigFactory, sequence: list[Step]
) -> None:
    config = make_config(feeds=FEEDS, authors=PEOPLE)
    posts = {f"p{n}.md": _post(n, n, 9, 1 << (n % 5), n) for n in range(6)}
    now = START + timedelta(days=4)
    state = plan_feeds(posts.values(), config, now)
    for step in sequence:
        now += _apply(posts, step)
        state = plan_feeds(posts.values(), config, now, previous=state)
        _same(state, plan_feeds(posts.values(), config, now))


def test_a_spent_state_is_not_used_twice(make_config: ConfigFactory) -> None:
    config = make_config()
    posts = [_post(n, n, 9, 1, 1) for n in range(3)]
    first = plan_feeds(posts, config, START + timedelta(days=9))
    plan_feeds(posts[:1], config, START + timedelta(days=9), previous=first)
    # `first` was changed in place by that build: using it again must not trust it.
    again = plan_feeds(posts, config, START + timedelta(days=9), previous=first)
    _same(again, plan_feeds(posts, config, START + timedelta(days=9)))


def test_only_the_feeds_of_a_changed_post_get_new_plans(make_config: ConfigFactory) -> None:
    config = make_config()
    posts = {f"p{n}.md": _post(n, n, 9, 1 << (n % 5), 1 << (n % 5)) for n in range(10)}
    first = plan_feeds(posts.values(), config, START + timedelta(days=30))
    before = {p.rss_path: p for p in first.order}
    posts["p3.md"] = _stamped(dataclasses.replace(posts["p3.md"], title="Changed"))
    second = plan_feeds(posts.values(), config, START + timedelta(days=30), previous=first)
    changed = {p.rss_path for p in second.order if before.get(p.rss_path) is not p}
    # p3 is in the site feed, category "Cafe" and tag "c#", which keep the bare slugs
    # against "Café" and "c++" (ASCII first; then "#" sorts before "+").
    assert changed == {"/feed.rss", "/category/cafe.rss", "/tag/c.rss", "/author/badely.rss"}


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps)
def test_incremental_sites_equal_full_sites(
    make_config: ConfigFactory, sequence: list[Step]
) -> None:
    config = make_config(feeds=FEEDS, authors=PEOPLE)
    render = FakeRender()
    posts = {f"p{n}.md": _post(n, n, 9, 1 << (n % 5), n) for n in range(6)}
    now = START + timedelta(days=4)
    built: Built = build_site(posts.values(), config, now, Rendering(render))
    for step in sequence:
        now += _apply(posts, step)
        built = build_site(posts.values(), config, now, Rendering(render), previous=built)
        site = built.site
        full = build_site(posts.values(), config, now, Rendering(render)).site
        assert {p: d.body for p, d in site.documents.items()} == {
            p: d.body for p, d in full.documents.items()
        }
        assert site.feeds == full.feeds
        assert site.signatures == full.signatures


HANDINGS = ["same", "same", "copy", "other", "none"]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps, st.lists(st.sampled_from(HANDINGS), min_size=25, max_size=25))
def test_incremental_plans_with_slug_records_equal_full_plans(
    make_config: ConfigFactory, sequence: list[Step], handing: list[str]
) -> None:
    """As the publisher plans: the records the last plan made are given to the next one
    (the very mapping, or an equal one read back from the store), or the store's as
    another process left them, or none; from the last state or from scratch, the same
    plans and records."""
    config = make_config(feeds=FEEDS, authors=PEOPLE)
    posts = {f"p{n}.md": _post(n, n, 9, 1 << (n % 5), n) for n in range(6)}
    now = START + timedelta(days=4)
    state = plan_feeds(posts.values(), config, now, slugs={})
    for step, how in zip(sequence, handing, strict=False):
        now += _apply(posts, step)
        records = state.slugs
        if how == "copy":
            records = dict(records)
        elif how == "other":
            # Another process published meanwhile a post in every category and tag,
            # since removed: the names this one has not seen have records too.
            every = _post(99, 0, 1, 2 ** len(CATEGORIES) - 1, 2 ** len(TAGS) - 1)
            records = plan_feeds([every], config, now - timedelta(hours=1), slugs=records).slugs
        elif how == "none":
            records = {}
        before = {(p.kind, p.name): p.slug for p in state.order}
        state = plan_feeds(posts.values(), config, now, previous=state, slugs=records)
        full = plan_feeds(posts.values(), config, now, slugs=records)
        _same(state, full)
        assert state.slugs == full.slugs
        for plan in state.order:
            # A feed that was there before keeps its URL (given the records of it).
            if how != "none":
                assert before.get((plan.kind, plan.name), plan.slug) == plan.slug


def test_a_new_colliding_name_remakes_only_its_own_feed(make_config: ConfigFactory) -> None:
    config = make_config()
    posts = {f"p{n}.md": _post(n, n, 9, 0b100, 0b1) for n in range(3)}  # "Café", "python"
    now = START + timedelta(days=30)
    first = plan_feeds(posts.values(), config, now, slugs={})
    before = {p.rss_path: p for p in first.order}
    assert "/category/cafe.rss" in before
    posts["p9.md"] = _post(9, 9, 9, 0b1000, 0b10)  # "Cafe" and "Python", each a newcomer
    second = plan_feeds(posts.values(), config, now, previous=first, slugs=first.slugs)
    by_name = {p.name: p for p in second.order}
    assert by_name["Café"] is before["/category/cafe.rss"]
    assert by_name["python"] is before["/tag/python.rss"]
    assert by_name["Cafe"].rss_path.startswith("/category/cafe-")
    assert by_name["Python"].rss_path.startswith("/tag/python-")
