"""Where syndicate may write a tree of feeds (issue 16, cases 1 and 2): ``build --out DIR``
and ``output_dir`` write only into a folder that is absent, empty, or a tree syndicate
wrote; never into, above or inside the folders it reads (posts, assets, the config's,
the state's). Anything else is refused before anything is touched, in one line.

Real parts: a project folder in tmp_path (config.yaml, posts, assets, a git folder, a
thesis beside it), the CLI through CliRunner (and ``worker`` in a process of its own),
a real SQLite store. Each refusal is checked byte for byte against the files before.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner, Result
from lxml import etree

from syndicate import outdir
from syndicate.cli import main
from syndicate.config import MANIFEST, Config, load_config, place_problem
from syndicate.errors import ConfigError, PublishError
from syndicate.outdir import MARKER
from syndicate.publisher import open_publisher
from syndicate.publisher import orchestrator as publisher_module
from syndicate.service.scheduler import Service
from syndicate.site import files as files_module
from syndicate.site import manifest as manifest_module
from syndicate.web import create_app

from .servers import FakeClock

CONFIG = """\
site:
  title: Example News
  url: https://example.org/
posts_dir: posts
assets_dir: assets
"""
POST = "---\ntitle: Hello\ndate: 2024-04-01 10:00:00\ntags: [news]\n---\n\nHello, world.\n"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A user's folder: a thesis, notes and dot files, and the project beside them."""
    home = tmp_path / "home"
    (home / "thesis" / "notes").mkdir(parents=True)
    (home / "thesis" / "thesis.tex").write_text("\\documentclass{article}\n", encoding="utf-8")
    (home / "thesis" / "notes" / "todo.txt").write_text("finish chapter 3\n", encoding="utf-8")
    (home / "thesis" / ".latexmkrc").write_text("$pdf_mode = 1;\n", encoding="utf-8")
    (home / ".bashrc").write_text("export EDITOR=vi\n", encoding="utf-8")
    return home


@pytest.fixture
def project(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """home/project: config.yaml, posts/, assets/, a README and .git; the current folder."""
    root = home / "project"
    (root / "posts").mkdir(parents=True)
    (root / "posts" / "2024-04-01-hello.md").write_text(POST, encoding="utf-8")
    (root / "assets" / "images").mkdir(parents=True)
    (root / "assets" / "images" / "x.jpg").write_bytes(b"\xff\xd8\xff\xe0 a jpeg")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    (root / "README.md").write_text("# My site\n", encoding="utf-8")
    (root / "config.yaml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.chdir(root)
    return root


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every entry under root: a file's bytes, a folder's None (a link: its target)."""
    found: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[name] = os.readlink(path).encode()
        elif path.is_file():
            found[name] = path.read_bytes()
        else:
            found[name] = None
    return found


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def refused(result: Result, *words: str) -> str:
    """Assert a clean refusal: exit 1, one line on stderr holding ``words``; that line."""
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def feed_titles(path: Path) -> list[str]:
    body = path.read_bytes()
    etree.fromstring(body)
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return [entry.title for entry in parsed.entries]


@pytest.fixture
def nothing_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """For targets where a failure of the rule would wipe more than tmp_path (``/``):
    any attempt to start a tree or swap one in fails the test instead."""

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("a tree was about to be written")

    monkeypatch.setattr(publisher_module, "StaticTree", never)
    monkeypatch.setattr(files_module, "swap_in", never)


# --------------------------------------------------------------------------- build --out


@pytest.mark.parametrize(
    ("out", "words"),
    [
        (".", ["is the config's folder"]),
        ("posts", ["is the posts folder (posts_dir)"]),
        ("assets", ["is the assets folder (assets_dir)"]),
        ("posts/site", ["is inside the posts folder (posts_dir"]),
        ("assets/feeds", ["is inside the assets folder (assets_dir"]),
        ("posts/../posts/", ["is the posts folder (posts_dir)"]),
    ],
)
def test_build_out_a_source_folder_is_refused_and_touches_nothing(
    home: Path, project: Path, out: str, words: list[str]
) -> None:
    before = snapshot(home)
    line = refused(run("build", "--out", out), f"--out {os.path.abspath(project / out)} ", *words)
    assert "use a new folder" in line
    assert snapshot(home) == before


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_build_out_above_the_project_is_refused_even_with_force(
    home: Path, project: Path, nothing_written: None, force: list[str]
) -> None:
    before = snapshot(home)
    line = refused(run("build", "--out", "..", *force), f"holds the config's folder ({project})")
    assert line.startswith(f"Error: --out {home} holds")
    assert snapshot(home) == before


def test_build_out_root_is_refused(home: Path, project: Path, nothing_written: None) -> None:
    before = snapshot(home)
    refused(run("build", "--out", "/", "--force"), "--out / holds the config's folder")
    assert snapshot(home) == before


def test_build_out_the_state_folder_is_refused(home: Path, project: Path) -> None:
    (project / "config.yaml").write_text(
        CONFIG + "storage:\n  url: sqlite:///state/syndicate.db\n", encoding="utf-8"
    )
    (project / "state").mkdir()
    (project / "state" / "syndicate.db").write_bytes(b"SQLite format 3\0 (a store)")
    before = snapshot(home)
    refused(
        run("build", "--out", "state", "--force"), f"--out {project / 'state'} is the state folder;"
    )
    assert snapshot(home) == before


def test_build_out_a_link_to_the_posts_is_refused(home: Path, project: Path) -> None:
    (project / "public").symlink_to(project / "posts", target_is_directory=True)
    before = snapshot(home)
    refused(run("build", "--out", "public"), f"--out {project / 'public'} is the posts folder")
    assert snapshot(home) == before


def test_build_out_a_folder_of_someone_elses_files_is_refused(home: Path, project: Path) -> None:
    before = snapshot(home)
    thesis = home / "thesis"
    line = refused(
        run("build", "--out", str(thesis)), f"--out {thesis} is not empty and not a syndicate tree"
    )
    assert "--force" in line
    assert "new or empty folder" in line
    assert snapshot(home) == before


def test_build_out_someone_elses_folder_of_dot_files_is_refused(home: Path, project: Path) -> None:
    (home / "dots").mkdir()
    (home / "dots" / ".profile").write_text("umask 022\n", encoding="utf-8")
    before = snapshot(home)
    refused(run("build", "--out", "../dots"), "not empty", "--force")
    assert snapshot(home) == before


def test_build_out_with_force_replaces_someone_elses_folder(home: Path, project: Path) -> None:
    old = home / "old-site"
    old.mkdir()
    (old / "index.html").write_text("<p>another site</p>", encoding="utf-8")
    result = run("build", "--out", str(old), "--force")
    assert result.exit_code == 0, result.output
    assert not (old / "index.html").read_text(encoding="utf-8").startswith("<p>another")
    assert feed_titles(old / "feed.atom") == ["Hello"]
    assert (old / MARKER).is_file()


def test_build_out_a_file_is_refused(home: Path, project: Path) -> None:
    (project / "notes.txt").write_text("notes\n", encoding="utf-8")
    before = snapshot(home)
    result = run("build", "--out", "notes.txt", "--force")
    assert result.exit_code != 0
    assert "notes.txt" in result.stderr and "is a file" in result.stderr
    assert "Traceback" not in result.output
    assert snapshot(home) == before


@pytest.mark.parametrize("state", ["absent", "empty", "built", "live"])
def test_build_out_a_new_empty_or_syndicate_folder_is_written(project: Path, state: str) -> None:
    out = project / "public"
    if state == "empty":
        out.mkdir()
    elif state == "built":
        assert run("build", "--out", "public").exit_code == 0
        (out / "tag" / "gone.rss").write_bytes(b"<rss/>")  # from an older build
    elif state == "live":  # the live tree that `republish` keeps, written in place
        (project / "config.yaml").write_text(CONFIG + "output_dir: public\n", encoding="utf-8")
        assert run("republish").exit_code == 0
        assert (out / MANIFEST).is_file()
    result = run("build", "--out", "public")
    assert result.exit_code == 0, result.output
    assert feed_titles(out / "feed.rss") == ["Hello"]
    assert not (out / "tag" / "gone.rss").exists()
    assert (out / MARKER).is_file()
    assert not [p for p in project.iterdir() if ".public." in p.name]  # nothing left beside


def test_build_out_where_no_folder_can_be_made_is_a_clean_error(
    home: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder one may not write to (tests run as root here, so the refusal is made)."""
    import tempfile

    def denied(*args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", denied)
    before = snapshot(home)
    refused(
        run("build", "--out", "public"),
        f"{project / 'public'}: cannot make the new tree beside it (Permission denied)",
    )
    assert snapshot(home) == before


def test_a_static_tree_carries_the_marker_and_is_reproducible(project: Path) -> None:
    assert run("build", "--out", "a").exit_code == 0
    assert run("build", "--out", "b").exit_code == 0
    assert snapshot(project / "a") == snapshot(project / "b")
    marker = project / "a" / MARKER
    assert b"syndicate" in marker.read_bytes()
    # Dated like the tree's newest document, not like the build.
    newest = max(p.stat().st_mtime for p in (project / "a").rglob("*.rss"))
    assert marker.stat().st_mtime == newest


def test_build_out_through_a_link_writes_where_it_points_and_keeps_the_link(
    home: Path, project: Path
) -> None:
    www = home / "www"
    (project / "public").symlink_to(www, target_is_directory=True)
    assert run("build", "--out", "public").exit_code == 0
    assert run("build", "--out", "public").exit_code == 0  # a previous tree, through the link
    assert (project / "public").is_symlink()
    assert feed_titles(www / "feed.atom") == ["Hello"]


# --------------------------------------------------------------------------- output_dir


@pytest.mark.parametrize(
    ("output_dir", "words"),
    [
        (".", ["is the config's folder"]),
        ("posts", ["is the posts folder (posts_dir)"]),
        ("assets", ["is the assets folder (assets_dir)"]),
        ("posts/_site", ["is inside the posts folder (posts_dir"]),
        ("..", ["holds the config's folder"]),
    ],
)
def test_output_dir_on_a_source_folder_is_a_config_error(
    home: Path, project: Path, output_dir: str, words: list[str]
) -> None:
    (project / "config.yaml").write_text(CONFIG + f"output_dir: {output_dir}\n", encoding="utf-8")
    before = snapshot(home)
    for command in (["republish"], ["republish", "--force"], ["worker"], ["check"]):
        line = refused(run(*command), "config.yaml: output_dir: ", *words)
        assert "set output_dir to a folder of its own" in line
    assert snapshot(home) == before


def test_output_dir_on_the_state_folder_is_a_config_error(project: Path) -> None:
    (project / "config.yaml").write_text(
        CONFIG + "output_dir: state\nstorage:\n  url: sqlite:///state/syndicate.db\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"^.*config.yaml: output_dir: .* is the state folder"):
        load_config(project / "config.yaml")


def someone_elses_site(project: Path) -> Path:
    public = project / "public"
    (public / "css").mkdir(parents=True)
    (public / "index.html").write_text("<h1>Another site</h1>\n", encoding="utf-8")
    (public / "css" / "site.css").write_text("h1 { color: red }\n", encoding="utf-8")
    (project / "config.yaml").write_text(CONFIG + "output_dir: public\n", encoding="utf-8")
    return public


def test_republish_into_someone_elses_output_dir_is_refused(home: Path, project: Path) -> None:
    public = someone_elses_site(project)
    before = snapshot(home)
    line = refused(run("republish"), f"output_dir: {public} is not empty and not a syndicate tree")
    assert "set output_dir to a new or empty folder" in line
    assert snapshot(home) == before  # not even a store was made


def test_worker_with_someone_elses_output_dir_exits_with_one_line(
    home: Path, project: Path
) -> None:
    public = someone_elses_site(project)
    before = snapshot(public)
    done = subprocess.run(
        [sys.executable, "-m", "syndicate", "worker"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"Error: output_dir: {public} is not empty" in done.stderr.strip().splitlines()[-1]
    assert snapshot(public) == before


def test_serve_with_someone_elses_output_dir_is_refused_before_it_starts(
    home: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syndicate.service import supervise

    def spawn(*args: object, **kwargs: object) -> None:
        raise AssertionError("a worker was started")

    monkeypatch.setattr(supervise.WorkerProcess, "spawn", spawn)
    public = someone_elses_site(project)
    before = snapshot(home)
    refused(run("serve"), f"output_dir: {public} is not empty")
    assert snapshot(home) == before


def test_a_web_tier_without_scheduler_only_reads_output_dir(project: Path) -> None:
    """``serve --no-scheduler``: a folder that is no live tree is never written; the
    feeds are built in memory meanwhile."""
    public = someone_elses_site(project)
    before = snapshot(public)
    client = create_app(load_config(project / "config.yaml"), reload_interval=None).test_client()
    response = client.get("/feed.atom")
    assert response.status_code == 200
    assert feedparser.parse(response.data).entries[0].title == "Hello"
    assert snapshot(public) == before


def clear(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()


def test_the_service_refuses_someone_elses_output_dir(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A service that finds it at start raises (the worker exits 1); one that finds it
    later (its live tree replaced by a deploy script) logs it at each publish and
    publishes nothing there."""
    public = someone_elses_site(project)
    (project / "posts" / "2024-05-02-later.md").write_text(
        POST.replace("Hello", "Later").replace("2024-04-01", "2024-05-02"), encoding="utf-8"
    )
    config = load_config(project / "config.yaml")
    before = snapshot(public)
    clock = FakeClock(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    publisher = open_publisher(config, clock)
    assert publisher.store is not None
    try:
        with pytest.raises(PublishError, match=f"output_dir: {public} is not empty"):
            Service(config, publisher).start(paused=True)
        assert snapshot(public) == before

        clear(public)
        service = Service(config, publisher)
        service.start(paused=True)
        try:
            assert (public / MANIFEST).is_file() and (public / MARKER).is_file()
            clear(public)
            someone_elses_site(project)
            clock.advance(days=1)  # the later post is due: a publish
            assert service.run_due()[0] == "post:2024-05-02-later.md"
            assert snapshot(public) == before
            failed = [r for r in caplog.records if r.getMessage().startswith("publish failed")]
            assert failed and "is not empty and not a syndicate tree" in failed[-1].getMessage()
            assert failed[-1].exc_info is None  # one line for the operator, no traceback
        finally:
            service.shutdown()
    finally:
        publisher.store.close()


def test_the_first_publish_marks_the_live_tree_before_writing_anything(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first publish that dies half-way (a crash, a full disk) leaves a folder that
    is still known as syndicate's: the next publish goes on, not refused."""
    (project / "config.yaml").write_text(CONFIG + "output_dir: public\n", encoding="utf-8")
    real = manifest_module._write_documents
    calls: list[int] = []

    def dies(jobs: list[tuple[Path, object]], *args: object) -> None:
        calls.append(len(jobs))
        real(jobs[:1], *args)  # type: ignore[arg-type]
        raise OSError("killed")

    monkeypatch.setattr(manifest_module, "_write_documents", dies)
    assert run("republish").exit_code == 1
    assert calls and (project / "public" / MARKER).is_file()
    assert not (project / "public" / MANIFEST).exists()
    monkeypatch.setattr(manifest_module, "_write_documents", real)
    result = run("republish")
    assert result.exit_code == 0, result.output
    assert feed_titles(project / "public" / "feed.atom") == ["Hello"]


# --------------------------------------------------------------------------- the rule


@pytest.fixture
def rule_config(tmp_path: Path) -> Config:
    root = tmp_path / "site"
    (root / "posts").mkdir(parents=True)
    (root / "config.yaml").write_text(
        CONFIG + "storage:\n  url: sqlite:////var/lib/syndicate/example/syndicate.db\n",
        encoding="utf-8",
    )
    return load_config(root / "config.yaml")


@pytest.mark.parametrize(
    ("where", "problem"),
    [
        ("site", "is the config's folder"),
        ("site/posts", "is the posts folder (posts_dir)"),
        ("site/assets", "is the assets folder (assets_dir)"),
        (
            "site/posts/2024",
            "is inside the posts folder (posts_dir: {root}/posts), whose files syndicate reads",
        ),
        (
            "site/assets/img/x",
            "is inside the assets folder (assets_dir: {root}/assets), whose files syndicate reads",
        ),
        ("", "holds the config's folder ({root})"),
        ("/", "holds the config's folder ({root})"),
        ("/var/lib/syndicate/example", "is the state folder"),
        ("/var/lib", "holds the state folder (/var/lib/syndicate/example)"),
        ("site/_site", None),
        ("site/public/feeds", None),
        ("site/postscript", None),  # a sibling whose name starts the same
        ("elsewhere", None),
        ("/var/lib/syndicate/example/public", None),  # inside the state folder
    ],
)
def test_place_problem(
    rule_config: Config, tmp_path: Path, where: str, problem: str | None
) -> None:
    out = Path(where) if where.startswith("/") else tmp_path / where
    expected = problem.format(root=rule_config.root) if problem is not None else None
    assert place_problem(out, rule_config) == expected


def test_place_problem_resolves_links_and_dots(rule_config: Config, tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(rule_config.posts_dir, target_is_directory=True)
    assert place_problem(tmp_path / "link", rule_config) == ("is the posts folder (posts_dir)")
    dotted = rule_config.root / "public" / ".." / "posts"
    assert place_problem(dotted, rule_config) == "is the posts folder (posts_dir)"
    # A config whose paths were not resolved (made in code) is compared resolved too.
    unresolved = dataclasses.replace(rule_config, posts_dir=tmp_path / "link")
    assert place_problem(rule_config.posts_dir, unresolved) == ("is the posts folder (posts_dir)")


def test_contents(tmp_path: Path) -> None:
    assert outdir.contents(tmp_path / "absent") == "absent"
    (tmp_path / "file").write_bytes(b"x")
    assert outdir.contents(tmp_path / "file") == "file"
    (tmp_path / "empty").mkdir()
    assert outdir.contents(tmp_path / "empty") == "empty"
    for name in (MARKER, MANIFEST):
        (tmp_path / name).mkdir()
        (tmp_path / name / "feed.rss").write_bytes(b"<rss/>")
        (tmp_path / name / name).write_bytes(b"{}")
        assert outdir.contents(tmp_path / name) == "tree"
    (tmp_path / "dots").mkdir()
    (tmp_path / "dots" / ".profile").write_bytes(b"x")
    assert outdir.contents(tmp_path / "dots") == "foreign"
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / MARKER).mkdir()  # a folder of that name is no marker
    assert outdir.contents(tmp_path / "fake") == "foreign"


def test_static_target_refuses_a_mount_point(
    rule_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tree is swapped in whole, which a mount point cannot be (EBUSY)."""
    mount = tmp_path / "usb"
    mount.mkdir()
    monkeypatch.setattr(os.path, "ismount", lambda path: Path(path) == mount)
    with pytest.raises(PublishError, match=r"is a mount point.*use a folder inside it"):
        outdir.static_target(mount, rule_config, force=True)
    assert outdir.static_target(mount / "feeds", rule_config) == mount / "feeds"


def test_a_swap_that_the_system_refuses_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``rename`` of a busy folder (a mount point, a process's root): no traceback."""
    import errno

    staging, out = tmp_path / ".out.new-1", tmp_path / "out"
    staging.mkdir()
    out.mkdir()

    def busy(a: Path, b: Path) -> bool:
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(b))

    monkeypatch.setattr(files_module, "_exchange", busy)
    with pytest.raises(PublishError, match=f"{out}: cannot replace it"):
        files_module.swap_in(staging, out)
    assert out.is_dir()


def test_claim_live_marks_a_new_folder_and_keeps_a_live_tree(tmp_path: Path) -> None:
    new = tmp_path / "new" / "live"
    outdir.claim_live(new)
    assert [p.name for p in new.iterdir()] == [MARKER]
    old = tmp_path / "old"
    old.mkdir()
    (old / MANIFEST).write_text(json.dumps({"generation": 3}), encoding="utf-8")
    outdir.claim_live(old)
    assert [p.name for p in old.iterdir()] == [MANIFEST]  # known by its manifest
    with pytest.raises(PublishError, match="not a folder"):
        outdir.claim_live(old / MANIFEST)
