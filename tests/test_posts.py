"""Reading posts: discovery, front matter rules, text hygiene and problems (syndicate.posts)."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syndicate.config import Author, Config
from syndicate.posts import (
    Post,
    PostProblem,
    load_post,
    load_post_statted,
    load_posts,
    render_post,
)
from syndicate.posts.post import read_all

from .conftest import ConfigFactory

DATA = Path(__file__).parent / "data" / "posts"


def write(posts_dir: Path, name: str, front: str, body: str = "Body text.\n") -> Path:
    """Write a post file with the given front matter lines (without the --- fences)."""
    path = posts_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\n{front}\n---\n{body}", encoding="utf-8")
    return path


def copy_case(posts_dir: Path, name: str) -> Path:
    """Copy one case file from tests/data/posts into the posts folder."""
    target = posts_dir / name
    shutil.copyfile(DATA / name, target)
    return target


def load_one(path: Path, config: Config) -> tuple[Post | None, list[PostProblem]]:
    post, problems = load_post(path, config)
    return post, list(problems)


def errors(problems: list[PostProblem]) -> list[str]:
    return [p.message for p in problems if p.severity == "error"]


def warnings_(problems: list[PostProblem]) -> list[str]:
    return [p.message for p in problems if p.severity == "warning"]


# --------------------------------------------------------------------------- discovery


def test_every_post_file_type_under_posts_dir_is_read_in_sorted_order(
    posts_dir: Path, config: Config
) -> None:
    front = "title: T\ndate: 2025-01-01"
    for name in ["b.md", "a.markdown", "sub/deeper/c.txt", "sub/d.html", "Z.MD"]:
        write(posts_dir, name, front)

    posts, problems = load_posts(config)

    assert problems == []
    assert [p.relpath for p in posts] == [
        "Z.MD",
        "a.markdown",
        "b.md",
        "sub/d.html",
        "sub/deeper/c.txt",
    ]
    assert [p.is_html for p in posts] == [False, False, False, True, False]


@pytest.mark.parametrize(
    "name",
    [
        ".hidden.md",
        ".drafts/post.md",
        "post.md~",
        "post.md.swp",
        "#post.md#",
        "notes.rst",
        "image.jpg",
    ],
)
def test_hidden_temporary_and_other_files_are_skipped_without_a_problem(
    posts_dir: Path, config: Config, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    write(posts_dir, name, "title: T\ndate: 2025-01-01")
    write(posts_dir, "real.md", "title: Real\ndate: 2025-01-01")

    with caplog.at_level(logging.DEBUG, logger="syndicate.posts"):
        posts, problems = load_posts(config)

    assert [p.relpath for p in posts] == ["real.md"]
    assert problems == []
    skipped = Path(name).parts[0]
    assert any(skipped in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no_front_matter.md", "no front matter (a post starts with a '---' line); skipped"),
        ("empty_file.md", "empty file; skipped"),
    ],
)
def test_a_file_without_front_matter_is_a_warning(
    posts_dir: Path, config: Config, name: str, message: str
) -> None:
    """A post file type without front matter is not a post; the editor is told, not left
    to wonder why the post is missing."""
    source = copy_case(posts_dir, name)

    posts, problems = load_posts(config)

    assert posts == []
    assert problems == [PostProblem(source, message, "warning")]


def test_an_empty_front_matter_is_a_post_named_by_its_file(posts_dir: Path, config: Config) -> None:
    """``---`` twice and nothing between is a post, as in Jekyll: dated and titled by its
    file name, which is reported; without a date in the name it is an error."""
    dated = posts_dir / "2024-05-01-empty-front-matter.md"
    shutil.copyfile(DATA / "empty_front_matter.md", dated)
    undated = copy_case(posts_dir, "empty_front_matter.md")

    posts, problems = load_posts(config)

    assert [(p.title, p.date) for p in posts] == [
        ("Empty Front Matter", datetime(2024, 5, 1, tzinfo=UTC))
    ]
    assert [(p.path, p.severity) for p in problems] == [
        (dated, "warning"),  # title: from the file name
        (undated, "warning"),
        (undated, "error"),  # date: missing
    ]


def test_missing_posts_dir_is_an_error(make_config: ConfigFactory, tmp_path: Path) -> None:
    config = make_config(posts_dir="nowhere")

    posts, problems = load_posts(config)

    assert posts == []
    assert [(p.path, p.message) for p in problems] == [
        (tmp_path / "nowhere", "posts folder not found")
    ]


def test_source_relpath_and_digest(posts_dir: Path, config: Config) -> None:
    path = write(posts_dir, "news/2025/item.md", "title: T\ndate: 2025-01-01")

    [post], _ = load_posts(config)

    assert post.source == path and post.source.is_absolute()
    assert post.relpath == "news/2025/item.md"
    assert post.digest == hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- title


@pytest.mark.parametrize(
    ("yaml_title", "expected"),
    [
        ("Plain title", "Plain title"),
        ('"<em>Fish</em> &amp; Chips"', "Fish & Chips"),
        ('"a < b and c > d"', "a < b and c > d"),
        ('"Hello <script>alert(1)</script>world"', "Hello world"),
        ('"  spaced\\n\\tout  "', "spaced out"),
        ('"&#8220;quoted&#8221; &lt;tag&gt;"', "\u201cquoted\u201d <tag>"),
    ],
)
def test_title_is_plain_text(
    posts_dir: Path, config: Config, yaml_title: str, expected: str
) -> None:
    path = write(posts_dir, "p.md", f"title: {yaml_title}\ndate: 2025-01-01")

    post, problems = load_post(path, config)

    assert post is not None and post.title == expected
    assert problems == []


def test_title_markup_case_file(posts_dir: Path, config: Config) -> None:
    path = copy_case(posts_dir, "title_markup.md")

    post, _ = load_post(path, config)

    assert post is not None
    assert post.title == "Fish & Chips <3 \u201cquoted\u201d"


@pytest.mark.parametrize(
    ("yaml_title", "type_name"),
    [("2024", "int"), ("3.5", "float"), ("[a, b]", "list"), ("{a: b}", "mapping"), ("yes", "bool")],
)
def test_title_of_the_wrong_type_is_an_error(
    posts_dir: Path, config: Config, yaml_title: str, type_name: str
) -> None:
    path = write(posts_dir, "p.md", f"title: {yaml_title}\ndate: 2025-01-01")

    post, problems = load_one(path, config)

    assert post is None
    assert errors(problems) == [f"title: expected a string, got {type_name}"]


@pytest.mark.parametrize("front", ["date: 2025-01-02", "title:\ndate: 2025-01-02", 'title: ""'])
def test_missing_title_is_a_warning_and_comes_from_the_file_name(
    posts_dir: Path, config: Config, front: str
) -> None:
    path = write(posts_dir, "2025-01-02-my-first-post.md", front)

    post, problems = load_one(path, config)

    assert post is not None and post.title == "My First Post"
    assert warnings_(problems) == ["title: missing; using 'My First Post' from the file name"]


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("yaml_date", "expected_utc"),
    [
        # Naive values are in site.timezone (Europe/Minsk is UTC+3 all year).
        ("2025-06-19T23:21:18", datetime(2025, 6, 19, 20, 21, 18, tzinfo=UTC)),
        ("2025-06-19 10:00:00", datetime(2025, 6, 19, 7, 0, tzinfo=UTC)),
        ("2025-06-19", datetime(2025, 6, 18, 21, 0, tzinfo=UTC)),
        ("2025-06-19 10:00:00 +01:00", datetime(2025, 6, 19, 9, 0, tzinfo=UTC)),
        ('"2025-06-19 10:00:00 +0100"', datetime(2025, 6, 19, 9, 0, tzinfo=UTC)),
        ('"2025-06-19T10:00:00Z"', datetime(2025, 6, 19, 10, 0, tzinfo=UTC)),
        ('"2025-06-19T10:00:00-05:00"', datetime(2025, 6, 19, 15, 0, tzinfo=UTC)),
        ('"19 June 2025 10:00"', datetime(2025, 6, 19, 7, 0, tzinfo=UTC)),
        ('"Thu, 19 Jun 2025 10:00:00 GMT"', datetime(2025, 6, 19, 10, 0, tzinfo=UTC)),
    ],
)
def test_date_forms_become_aware_utc(
    posts_dir: Path, make_config: ConfigFactory, yaml_date: str, expected_utc: datetime
) -> None:
    config = make_config(site={"timezone": "Europe/Minsk"})
    path = write(posts_dir, "p.md", f"title: T\ndate: {yaml_date}")

    post, problems = load_post(path, config)

    assert problems == []
    assert post is not None
    assert post.date == expected_utc
    assert post.date.tzinfo is UTC


def test_naive_date_uses_daylight_saving_of_the_site_zone(
    posts_dir: Path, make_config: ConfigFactory
) -> None:
    config = make_config(site={"timezone": "Europe/London"})
    winter = write(posts_dir, "w.md", "title: W\ndate: 2025-01-15 12:00:00")
    summer = write(posts_dir, "s.md", "title: S\ndate: 2025-07-15 12:00:00")

    w, _ = load_post(winter, config)
    s, _ = load_post(summer, config)

    assert w is not None and w.date == datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
    assert s is not None and s.date == datetime(2025, 7, 15, 11, 0, tzinfo=UTC)


def test_absent_date_comes_from_the_file_name(posts_dir: Path, make_config: ConfigFactory) -> None:
    config = make_config(site={"timezone": "Europe/Minsk"})
    path = copy_case(posts_dir, "2025-03-04-filename-date.md")

    post, problems = load_post(path, config)

    assert problems == []
    assert post is not None
    assert post.date == datetime(2025, 3, 3, 21, 0, tzinfo=UTC)  # midnight in Minsk


@pytest.mark.parametrize(
    ("yaml_date", "message"),
    [
        ('"next tuesday"', "date: cannot parse 'next tuesday'"),
        ('"2025-99-99"', "date: cannot parse '2025-99-99'"),
        ('"June 19"', "date: 'June 19' is not a full date (year, month and day)"),
        ('"10:30"', "date: '10:30' is not a full date (year, month and day)"),
        ('"2025-06-19 10:00 XYZT"', "date: unknown time zone 'XYZT' in '2025-06-19 10:00 XYZT'"),
        ("20250619", "date: expected a date, got int"),
        ("[2025, 6, 19]", "date: expected a date, got list"),
    ],
)
def test_unparseable_date_is_an_error_naming_the_value(
    posts_dir: Path, config: Config, yaml_date: str, message: str
) -> None:
    path = write(posts_dir, "2025-01-01-has-date-in-name.md", f"title: T\ndate: {yaml_date}")

    post, problems = load_one(path, config)

    assert post is None
    assert errors(problems) == [message]


def test_missing_date_without_dated_file_name_is_an_error(posts_dir: Path, config: Config) -> None:
    path = write(posts_dir, "undated.md", "title: T")

    post, problems = load_one(path, config)

    assert post is None
    assert errors(problems) == ["date: missing, and the file name does not start with YYYY-MM-DD-"]


@pytest.mark.parametrize("key", ["last_modified_at", "updated"])
def test_updated_comes_from_last_modified_at_or_updated(
    posts_dir: Path, make_config: ConfigFactory, key: str
) -> None:
    config = make_config(site={"timezone": "Europe/Minsk"})
    path = write(posts_dir, "p.md", f"title: T\ndate: 2025-01-01\n{key}: 2025-02-03 04:05:06")

    post, _ = load_post(path, config)

    assert post is not None and post.updated == datetime(2025, 2, 3, 1, 5, 6, tzinfo=UTC)


def test_updated_is_none_when_absent_and_an_error_when_unparseable(
    posts_dir: Path, config: Config
) -> None:
    plain = write(posts_dir, "a.md", "title: T\ndate: 2025-01-01")
    broken = write(posts_dir, "b.md", "title: T\ndate: 2025-01-01\nupdated: soon")

    post, _ = load_post(plain, config)
    bad, problems = load_one(broken, config)

    assert post is not None and post.updated is None
    assert bad is None and errors(problems) == ["updated: cannot parse 'soon'"]


def test_future_posts_are_returned(posts_dir: Path, config: Config) -> None:
    write(posts_dir, "future.md", "title: Later\ndate: 2999-01-01")

    [post], problems = load_posts(config)

    assert problems == [] and post.date.year == 2999 and post.published


# --------------------------------------------------------------------------- author


@pytest.mark.parametrize(
    ("yaml_author", "expected"),
    [
        ("badely", Author("Badely", "badely@example.org", "https://example.org/about")),
        ("Jane Doe", Author("Jane Doe")),
        ("{name: Ann, email: ann@example.org}", Author("Ann", "ann@example.org")),
        ("{name: Ann, uri: 'https://ann.example'}", Author("Ann", None, "https://ann.example")),
        ("[badely, someone]", Author("Badely", "badely@example.org", "https://example.org/about")),
    ],
)
def test_author(posts_dir: Path, config: Config, yaml_author: str, expected: Author) -> None:
    path = write(posts_dir, "p.md", f"title: T\ndate: 2025-01-01\nauthor: {yaml_author}")

    post, problems = load_post(path, config)

    assert problems == []
    assert post is not None and post.author == expected


def test_absent_author_is_none(posts_dir: Path, config: Config) -> None:
    path = write(posts_dir, "p.md", "title: T\ndate: 2025-01-01")

    post, _ = load_post(path, config)

    assert post is not None and post.author is None


@pytest.mark.parametrize(
    ("yaml_author", "message"),
    [
        ("{email: a@example.org}", "author: a mapping needs a 'name'"),
        ("{name: Ann, email: 5}", "author.email: expected a string, got int"),
        ("42", "author: expected a string or a mapping, got int"),
    ],
)
def test_bad_author_is_an_error(
    posts_dir: Path, config: Config, yaml_author: str, message: str
) -> None:
    path = write(posts_dir, "p.md", f"title: T\ndate: 2025-01-01\nauthor: {yaml_author}")

    post, problems = load_one(path, config)

    assert post is None and errors(problems) == [message]


# --------------------------------------------------------------------------- categories, tags


@pytest.mark.parametrize(
    ("front", "categories", "tags"),
    [
        ("categories: [News, World]\ntags: [a, b]", ("News", "World"), ("a", "b")),
        ("categories: News World\ntags: 'a b  c'", ("News", "World"), ("a", "b", "c")),
        ("category: Big News\ntag: two words", ("Big News",), ("two words",)),
        ("category: One\ncategories: [Two]", ("One",), ()),
        ("categories: [News, ' News ', World, News]\ntags: [x, x]", ("News", "World"), ("x",)),
        ("categories: [2024, true, '', null]\ntags: [1.5]", ("2024", "true"), ("1.5",)),
        ("categories: []\ntags:", (), ()),
        ("", (), ()),
    ],
)
def test_categories_and_tags(
    posts_dir: Path,
    config: Config,
    front: str,
    categories: tuple[str, ...],
    tags: tuple[str, ...],
) -> None:
    path = write(posts_dir, "p.md", f"title: T\ndate: 2025-01-01\n{front}")

    post, problems = load_post(path, config)

    assert problems == []
    assert post is not None
    assert (post.categories, post.tags) == (categories, tags)


# --------------------------------------------------------------------------- excerpt


def test_front_matter_excerpt_is_kept_as_source_and_rendered_as_summary(
    posts_dir: Path, config: Config
) -> None:
    path = write(
        posts_dir,
        "p.md",
        'title: T\ndate: 2025-01-01\nexcerpt: "A *short* [intro](more.html)."',
        "First paragraph.\n\n<!--more-->\n\nRest.\n",
    )

    post, _ = load_post(path, config)
    assert post is not None
    rendered = render_post(post, config)

    assert post.excerpt == "A *short* [intro](more.html)."
    assert rendered.summary_html == (
        '<p>A <em>short</em> <a href="https://example.org/2025/01/01/more.html">intro</a>.</p>'
    )


@pytest.mark.parametrize(
    ("separator", "body", "summary"),
    [
        (None, "Intro **bold**.\n\n<!--more-->\n\nRest.", "<p>Intro <strong>bold</strong>.</p>"),
        ("<!-- cut -->", "One.\n\nTwo.\n<!-- cut -->\nThree.", "<p>One.</p>\n<p>Two.</p>"),
        (None, "# Heading\n\nFirst para.\n\nSecond para.", "<p>First para.</p>"),
        (None, "> quoted\n\nAfter.", "<p>After.</p>"),
        (None, "> only a quote", "<p>only a quote</p>"),
        (None, "", "T"),  # no body: the title, never a blank summary (issue 18)
    ],
)
def test_summary_without_front_matter_excerpt(
    posts_dir: Path,
    make_config: ConfigFactory,
    separator: str | None,
    body: str,
    summary: str,
) -> None:
    config = make_config(excerpt_separator=separator) if separator else make_config()
    path = write(posts_dir, "p.md", "title: T\ndate: 2025-01-01", body)

    post, _ = load_post(path, config)
    assert post is not None

    assert post.excerpt is None
    assert render_post(post, config).summary_html == summary


# --------------------------------------------------------------------------- image


@pytest.mark.parametrize(
    ("yaml_image", "url", "media_type"),
    [
        ("assets/images/x.jpg", "https://example.org/assets/images/x.jpg", "image/jpeg"),
        ("/assets/images/x.png", "https://example.org/assets/images/x.png", "image/png"),
        ("https://cdn.example.net/a/b.webp", "https://cdn.example.net/a/b.webp", "image/webp"),
        ("//cdn.example.net/c.gif", "https://cdn.example.net/c.gif", "image/gif"),
        (
            "{path: img/photo.avif, alt: A photo}",
            "https://example.org/img/photo.avif",
            "image/avif",
        ),
        ("'img/my photo.JPEG'", "https://example.org/img/my%20photo.JPEG", "image/jpeg"),
        (
            "img/file.unknownext",
            "https://example.org/img/file.unknownext",
            "application/octet-stream",
        ),
    ],
)
def test_image_url_and_media_type(
    posts_dir: Path, config: Config, yaml_image: str, url: str, media_type: str
) -> None:
    # A post deep in the tree: relative image paths still resolve against the SITE url.
    path = write(posts_dir, "deep/dir/p.md", f"title: T\ndate: 2025-01-01\nimage: {yaml_image}")

    post, problems = load_post(path, config)

    assert problems == []
    assert post is not None and post.image is not None
    assert (post.image.url, post.image.media_type, post.image.length) == (url, media_type, None)


def test_image_against_a_site_url_with_a_path(posts_dir: Path, make_config: ConfigFactory) -> None:
    config = make_config(site={"url": "https://example.org/blog/"})
    path = write(posts_dir, "p.md", "title: T\ndate: 2025-01-01\nimage: /assets/x.jpg")

    post, _ = load_post(path, config)

    assert post is not None and post.image is not None
    assert post.image.url == "https://example.org/blog/assets/x.jpg"


@pytest.mark.parametrize(
    ("yaml_image", "length"),
    [
        ("assets/images/pic.jpg", 1234),  # assets_dir.parent / path
        ("images/pic.jpg", 1234),  # assets_dir / path
        ("https://example.org/assets/images/pic.jpg", 1234),
        ("assets/images/missing.jpg", None),
        ("https://other.example/assets/images/pic.jpg", None),
        ("posts/secret.jpg", None),  # exists, but outside assets_dir
        ("assets/../posts/secret.jpg", None),
        ("assets/images/../../posts/secret.jpg", None),
        ("assets/link.jpg", None),  # symlink inside assets pointing outside
    ],
)
def test_image_length_only_for_files_inside_assets_dir(
    tmp_path: Path, posts_dir: Path, make_config: ConfigFactory, yaml_image: str, length: int | None
) -> None:
    (tmp_path / "assets" / "images").mkdir(parents=True)
    (tmp_path / "assets" / "images" / "pic.jpg").write_bytes(b"x" * 1234)
    (posts_dir / "secret.jpg").write_bytes(b"s" * 99)
    (tmp_path / "assets" / "link.jpg").symlink_to(posts_dir / "secret.jpg")
    config = make_config(assets_dir="assets")
    path = write(posts_dir, "p.md", f"title: T\ndate: 2025-01-01\nimage: {yaml_image}")

    post, _ = load_post(path, config)

    assert post is not None and post.image is not None
    assert post.image.length == length


NOT_IN_ASSETS = "is not in assets_dir (assets); its enclosure has no length"
CLIMBS = "climbs out of the site with '..' (an image path is relative to the site's root)"


@pytest.mark.parametrize(
    ("yaml_image", "length", "warning"),
    [
        ("assets/images/pic.jpg", 1234, None),
        ("images/pic.jpg", 1234, None),
        ("a/../assets/images/pic.jpg", 1234, None),  # ".." that stays in the site
        ("https://example.org/assets/images/missing.jpg", None, None),  # not a local path
        ("//cdn.example.net/missing.jpg", None, None),
        ("assets/images/missing.jpg", None, NOT_IN_ASSETS),
        ("posts/secret.jpg", None, NOT_IN_ASSETS),  # in the site, not in assets_dir
        ("assets/../posts/secret.jpg", None, NOT_IN_ASSETS),
        ("assets/link.jpg", None, NOT_IN_ASSETS),  # a link out of assets_dir
        ("../assets/images/pic.jpg", 1234, CLIMBS),  # as if relative to the post's file
        ("/../../posts/secret.jpg", None, CLIMBS),  # never read outside assets_dir
        ("a/../../posts/secret.jpg", None, CLIMBS),
        ("'%2e%2e/posts/secret.jpg'", None, CLIMBS),  # quoted: YAML reserves a leading %
    ],
)
def test_an_image_not_in_assets_or_climbing_out_is_a_warning(
    tmp_path: Path,
    posts_dir: Path,
    make_config: ConfigFactory,
    yaml_image: str,
    length: int | None,
    warning: str | None,
) -> None:
    """A local image path is checked against assets_dir; the post is published anyway."""
    (tmp_path / "assets" / "images").mkdir(parents=True)
    (tmp_path / "assets" / "images" / "pic.jpg").write_bytes(b"x" * 1234)
    (posts_dir / "secret.jpg").write_bytes(b"s" * 99)
    (tmp_path / "assets" / "link.jpg").symlink_to(posts_dir / "secret.jpg")
    config = make_config(assets_dir="assets")
    path = write(posts_dir, "p.md", f"title: T\ndate: 2025-01-01\nimage: {yaml_image}")

    post, problems = load_one(path, config)

    assert post is not None and post.image is not None
    assert post.image.length == length
    ref = yaml_image.strip("'")
    assert warnings_(problems) == ([f"image: {ref!r} {warning}"] if warning else [])


def test_no_image_length_without_assets_dir(
    tmp_path: Path, posts_dir: Path, config: Config
) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "x.jpg").write_bytes(b"x")
    path = write(posts_dir, "p.md", "title: T\ndate: 2025-01-01\nimage: assets/x.jpg")

    post, _ = load_post(path, config)

    assert post is not None and post.image is not None and post.image.length is None


@pytest.mark.parametrize(
    ("yaml_image", "warning"),
    [
        ("42", "image: expected a string or a mapping with 'path', got int"),
        (
            "'javascript:alert(1)'",
            "image: 'javascript:alert(1)' is not an http(s) URL or a path; ignored",
        ),
    ],
)
def test_unusable_image_is_a_warning(
    posts_dir: Path, config: Config, yaml_image: str, warning: str
) -> None:
    path = write(posts_dir, "p.md", f"title: T\ndate: 2025-01-01\nimage: {yaml_image}")

    post, problems = load_one(path, config)

    assert post is not None and post.image is None
    assert warnings_(problems) == [warning]


# --------------------------------------------------------------------------- permalink


@pytest.mark.parametrize(
    ("name", "front", "pattern", "url"),
    [
        # Jekyll's default "date" style, the config default.
        ("2025-06-19-hello-world.md", "categories: [News, Big World]", None,
         "https://example.org/news/big-world/2025/06/19/hello-world.html"),
        ("2025-06-19-hello-world.md", "", None, "https://example.org/2025/06/19/hello-world.html"),
        ("plain.md", "", None, "https://example.org/2025/06/19/plain.html"),
        ("2025-06-19.md", "title: Only A Date", None,
         "https://example.org/2025/06/19/only-a-date.html"),
        ("2025-06-19-x.md", "slug: Custom Slug", "/:slug/", "https://example.org/custom-slug/"),
        ("2025-06-19-Hello-World.md", "", "/blog/:year/:i_month/:i_day/:title:output_ext",
         "https://example.org/blog/2025/6/19/Hello-World.html"),
        ("2025-06-19-hello.md", "",
         "/:short_year/:short_month/:long_month/:y_day/:hour:minute:second/",
         "https://example.org/25/Jun/June/170/103005/"),
        ("2025-06-19-hello.md", "categories: [C++]", "/:categories/:name/:unknown",
         "https://example.org/c/2025-06-19-hello/:unknown"),
        ("2025-06-19-hello.md", "permalink: /about/x.html", None, "https://example.org/about/x.html"),
        ("2025-06-19-hello.md", "permalink: about/", None, "https://example.org/about/"),
        ("2025-06-19-hello.md", "permalink: /archive/:year/:title/", None,
         "https://example.org/archive/2025/hello/"),
        ("2025-06-19-hello.md", "permalink: 'https://other.example/p'", None,
         "https://other.example/p"),
        ("2025-06-19-café au lait.md", "", None,
         "https://example.org/2025/06/19/caf%C3%A9%20au%20lait.html"),
    ],
)  # fmt: skip
def test_permalink(
    posts_dir: Path,
    make_config: ConfigFactory,
    name: str,
    front: str,
    pattern: str | None,
    url: str,
) -> None:
    site = {"permalink": pattern} if pattern else {}
    config = make_config(site=site)
    path = write(posts_dir, name, f"title: T\ndate: 2025-06-19 10:30:05\n{front}")

    post, problems = load_post(path, config)

    assert warnings_(list(problems)) == []
    assert post is not None and post.url == url


def test_permalink_date_parts_are_in_the_site_zone_and_site_path_is_kept(
    posts_dir: Path, make_config: ConfigFactory
) -> None:
    config = make_config(site={"timezone": "Asia/Tokyo", "url": "https://example.org/blog/"})
    # 20:00 UTC on the 19th is already the 20th in Tokyo.
    path = write(posts_dir, "2025-06-19-late.md", "title: T\ndate: 2025-06-19 20:00:00 +00:00")

    post, _ = load_post(path, config)

    assert post is not None
    assert post.url == "https://example.org/blog/2025/06/20/late.html"


# --------------------------------------------------------------------------- id


def test_entry_id_is_a_tag_uri_from_domain_date_and_path(posts_dir: Path, config: Config) -> None:
    path = write(
        posts_dir, "news/2025-06-19-hello wörld.md", "title: T\ndate: 2025-06-19 23:30:00 -02:00"
    )

    post, _ = load_post(path, config)

    # RFC 4151: the date is the post's UTC day; the specific part is the percent-encoded path.
    assert post is not None
    assert post.entry_id == "tag:example.org,2025-06-20:news/2025-06-19-hello%20w%C3%B6rld"


def test_entry_id_does_not_change_with_title_or_permalink(
    posts_dir: Path, make_config: ConfigFactory
) -> None:
    first = write(posts_dir, "p.md", "title: Old\ndate: 2025-06-19")
    post1, _ = load_post(first, make_config())
    second = write(posts_dir, "p.md", "title: New\ndate: 2025-06-19\npermalink: /moved/")
    post2, _ = load_post(second, make_config(site={"permalink": "/:title/"}))

    assert post1 is not None and post2 is not None
    assert post1.url != post2.url and post1.title != post2.title
    assert post1.entry_id == post2.entry_id == "tag:example.org,2025-06-19:p"


@pytest.mark.parametrize(
    ("yaml_id", "entry_id", "warned"),
    [
        ("urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
         "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a", False),
        ("'https://old.example/posts/1'", "https://old.example/posts/1", False),
        ("post-17", "post-17", True),
    ],
)  # fmt: skip
def test_front_matter_id_is_used_as_is(
    posts_dir: Path, config: Config, yaml_id: str, entry_id: str, warned: bool
) -> None:
    path = write(posts_dir, "p.md", f"title: T\ndate: 2025-01-01\nid: {yaml_id}")

    post, problems = load_one(path, config)

    assert post is not None and post.entry_id == entry_id
    assert bool(warnings_(problems)) is warned


def test_duplicate_ids_keep_the_first_post_and_report_the_second(
    posts_dir: Path, config: Config
) -> None:
    write(posts_dir, "a.md", "title: A\ndate: 2025-01-01\nid: urn:x:1")
    write(posts_dir, "b.md", "title: B\ndate: 2025-01-01\nid: urn:x:1")

    posts, problems = load_posts(config)

    assert [p.relpath for p in posts] == ["a.md"]
    assert [str(p) for p in problems] == [
        f"{posts_dir / 'b.md'}: id: 'urn:x:1' is already used by a.md"
    ]


# --------------------------------------------------------------------------- lang, published


def test_lang(posts_dir: Path, config: Config) -> None:
    with_lang = write(posts_dir, "a.md", "title: T\ndate: 2025-01-01\nlang: be")
    without = write(posts_dir, "b.md", "title: T\ndate: 2025-01-01")

    a, _ = load_post(with_lang, config)
    b, _ = load_post(without, config)

    assert a is not None and a.lang == "be"
    assert b is not None and b.lang is None


@pytest.mark.parametrize(
    ("front", "published"),
    [
        ("", True),
        ("published: true", True),
        ("published: false", False),
        ("published: 'false'", False),
        ("draft: true", False),
        ("draft: false", True),
        ("published: true\ndraft: true", False),
    ],
)
def test_published_and_draft(posts_dir: Path, config: Config, front: str, published: bool) -> None:
    write(posts_dir, "p.md", f"title: T\ndate: 2025-01-01\n{front}")

    posts, problems = load_posts(config)

    # Unpublished posts are still returned, so feeds can leave them out.
    assert problems == []
    assert [p.published for p in posts] == [published]


# --------------------------------------------------------------------------- problems


def test_broken_yaml_names_the_file_and_line_and_other_posts_still_load(
    posts_dir: Path, config: Config
) -> None:
    broken = copy_case(posts_dir, "broken_yaml.md")
    write(posts_dir, "good.md", "title: Good\ndate: 2025-01-01")

    posts, problems = load_posts(config)

    assert [p.title for p in posts] == ["Good"]
    [problem] = problems
    assert problem.path == broken and problem.severity == "error"
    assert problem.message.startswith("invalid YAML front matter: ")
    assert "line 3" in problem.message  # where the unclosed list starts
    assert str(problem) == f"{broken}: {problem.message}"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("front_matter_not_mapping.md", "front matter: expected a mapping, got list"),
        (
            "unclosed_front_matter.md",
            "front matter starts with '---' but has no closing '---' line",
        ),
    ],
)
def test_front_matter_shape_errors(
    posts_dir: Path, config: Config, case: str, message: str
) -> None:
    path = copy_case(posts_dir, case)

    post, problems = load_one(path, config)

    assert post is None
    assert [(p.path, p.message, p.severity) for p in problems] == [(path, message, "error")]


def test_impossible_yaml_date_is_an_error(posts_dir: Path, config: Config) -> None:
    path = write(posts_dir, "p.md", "title: T\ndate: 2025-02-30")

    post, problems = load_one(path, config)

    assert post is None
    assert errors(problems) == ["invalid YAML front matter: day is out of range for month"]


def test_unreadable_file_is_an_error(posts_dir: Path, config: Config) -> None:
    (posts_dir / "dangling.md").symlink_to(posts_dir / "gone.md")
    write(posts_dir, "ok.md", "title: OK\ndate: 2025-01-01")

    posts, problems = load_posts(config)

    assert [p.relpath for p in posts] == ["ok.md"]
    assert [(p.path.name, p.severity) for p in problems] == [("dangling.md", "error")]
    assert problems[0].message.startswith("cannot read file: ")


def test_a_folder_named_like_a_post_cannot_be_read(posts_dir: Path, config: Config) -> None:
    (posts_dir / "folder.md").mkdir()
    post, problems, statted = load_post_statted(posts_dir / "folder.md", config)
    assert post is None and statted is not None
    assert [p.message for p in problems] == ["cannot read file: Is a directory"]


def test_a_post_comes_with_the_stat_of_the_file_it_was_read_from(
    posts_dir: Path, config: Config
) -> None:
    write(posts_dir, "p.md", "title: P\ndate: 2025-01-01")
    post, problems, statted = load_post_statted(posts_dir / "p.md", config)
    assert post is not None and problems == [] and statted is not None
    on_disk = os.stat(posts_dir / "p.md")
    assert (statted.st_ino, statted.st_mtime_ns, statted.st_size) == (
        on_disk.st_ino,
        on_disk.st_mtime_ns,
        on_disk.st_size,
    )
    assert load_post_statted(posts_dir / "gone.md", config)[2] is None


def test_a_file_that_grew_after_its_stat_is_read_to_its_end(tmp_path: Path) -> None:
    path = tmp_path / "p.md"
    path.write_bytes(b"x" * 10)
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        with open(path, "ab") as file:
            file.write(b"y" * 100_000)  # more than one read's worth
        assert read_all(fd, size, 1 << 20) == b"x" * 10 + b"y" * 100_000
    finally:
        os.close(fd)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert read_all(fd, 100_010, 1 << 20) == b"x" * 10 + b"y" * 100_000  # as stat'ed
    finally:
        os.close(fd)


def test_a_file_that_grew_past_the_limit_is_read_to_one_byte_over_it(tmp_path: Path) -> None:
    path = tmp_path / "p.md"
    path.write_bytes(b"x" * 10)
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        with open(path, "ab") as file:
            file.write(b"y" * 1_000_000)
        assert read_all(fd, size, 70_000) == b"x" * 10 + b"y" * 69_991  # limit + 1
    finally:
        os.close(fd)


def test_empty_front_matter_is_a_post(posts_dir: Path, config: Config) -> None:
    path = posts_dir / "2025-01-01-empty.md"
    path.write_text("---\n---\nHello.\n", encoding="utf-8")

    post, problems = load_one(path, config)

    assert post is not None and post.title == "Empty"
    assert warnings_(problems) == ["title: missing; using 'Empty' from the file name"]


def test_problems_are_returned_not_logged_above_debug(
    posts_dir: Path, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    """The caller (publisher, CLI) reports each problem once; posts only logs at debug."""
    copy_case(posts_dir, "broken_yaml.md")
    write(posts_dir, "untitled.md", "date: 2025-01-01")

    with caplog.at_level(logging.DEBUG, logger="syndicate.posts"):
        _, problems = load_posts(config)

    assert [p.severity for p in problems] == ["error", "warning"]
    assert "broken_yaml.md" in str(problems[0]) and "untitled.md" in str(problems[1])
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert debug.count(str(problems[0])) == 1 and debug.count(str(problems[1])) == 1


def test_posts_with_values_that_used_to_stop_the_build_are_reported_one_by_one(
    posts_dir: Path, make_config: ConfigFactory
) -> None:
    assets = posts_dir.parent / "assets"
    assets.mkdir()
    (assets / "loop").symlink_to(assets / "loop")
    config = make_config(assets_dir="assets", site={"timezone": "Pacific/Kiritimati"})
    front = {
        "ok.md": "date: 2025-01-01",
        "v6-image.md": 'date: 2025-01-01\nimage: "http://[oops/a.jpg"',
        "v6-permalink.md": 'date: 2025-01-01\npermalink: "//[oops/a"',
        "loop.md": "date: 2025-01-01\nimage: /assets/loop",
        "utc-overflow.md": "date: 9999-12-31 23:59:59 -1200",
        "local-overflow.md": "date: 9999-12-31 23:00:00 +0000",  # +14:00 in Kiritimati
    }
    for name, lines in front.items():
        (posts_dir / name).write_text(f"---\ntitle: {name}\n{lines}\n---\nBody.\n")

    found, problems = load_posts(config)

    by_title = {post.title: post for post in found}
    assert sorted(by_title) == ["loop.md", "ok.md", "v6-image.md", "v6-permalink.md"]
    assert by_title["v6-image.md"].image is None
    assert by_title["v6-permalink.md"].url == "https://example.org/2025/01/01/v6-permalink.html"
    loop_image = by_title["loop.md"].image
    assert loop_image is not None and loop_image.length is None
    messages = {p.path.name: (p.severity, p.message) for p in problems}
    assert messages == {
        "v6-image.md": (
            "warning",
            "image: 'http://[oops/a.jpg' is not a valid URL (Invalid IPv6 URL); ignored",
        ),
        "v6-permalink.md": (
            "warning",
            "permalink: '//[oops/a' is not a valid URL (Invalid IPv6 URL); ignored",
        ),
        "loop.md": (  # a symlink loop is no file: the image is not found in assets_dir
            "warning",
            "image: '/assets/loop' is not in assets_dir (assets); its enclosure has no length",
        ),
        "utc-overflow.md": (
            "error",
            "date: 9999-12-31 23:59:59-12:00 is out of the range of dates",
        ),
        "local-overflow.md": (
            "error",
            "date: 9999-12-31 23:00:00+00:00 is out of the range of dates",
        ),
    }
