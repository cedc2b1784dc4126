"""The nginx map ``build`` writes for the config's ``redirects:`` (issue 21): one line
per old URL of each feed the build has, the same answers ``serve`` gives, loaded by a
real nginx (Debian's nginx-light) on 127.0.0.1; skipped where nginx is not installed.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from syndicate.cli import main
from syndicate.redirects import MAP_FILE, REDIRECT_CACHE_CONTROL

from .test_redirects import CONFIG, MOVED, NOT_MOVED, SITE, _request, write_site
from .test_scheduler import _free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
  worker_connections 64;
}}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  types {{
    application/rss+xml rss;
    application/atom+xml atom;
    text/html html;
  }}
  include {root}/{map_file};
  server {{
    listen 127.0.0.1:{port};
    root {root};
    if ($syndicate_redirect) {{ return 301 $syndicate_redirect; }}
    add_header Cache-Control $syndicate_redirect_cache_control;
    location / {{ }}
  }}
}}
"""


def _build(tmp_path: Path) -> Path:
    write_site(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["build", "--config", str(tmp_path / "config.yaml"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    # The paths: entry whose feed the site lacks: named, and left out of the map.
    assert "redirects.paths./gone.xml: /tag/nothing.rss is not a feed of this site" in result.output
    return out


def test_build_writes_the_nginx_map_one_line_per_old_url(tmp_path: Path) -> None:
    out = _build(tmp_path)
    text = (out / MAP_FILE).read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()]
    assert '"/feed/" "https://example.org/feed.rss";' in lines
    assert '"/feed" "https://example.org/feed.rss";' in lines
    assert '"/category/news/feed/atom/" "https://example.org/category/news.atom";' in lines
    assert '"/feed/Release Notes.xml" "https://example.org/category/release-notes.atom";' in lines
    assert '"/?feed=rss2" "https://example.org/feed.rss";' in lines
    assert '"/?tag=python&feed=rss2" "https://example.org/tag/python.rss";' in lines
    # No line for a document of the site, nor for the feed that is not there.
    assert not any(line.startswith(('"/category/news.rss"', '"/gone.xml"')) for line in lines)
    assert not any("nothing" in line or "/nope" in line for line in lines)
    # The same tree twice is the same bytes.
    again = _build(tmp_path)
    assert (again / MAP_FILE).read_bytes() == text.encode()


def test_build_without_redirects_writes_no_map(tmp_path: Path) -> None:
    write_site(tmp_path, CONFIG.split("redirects:")[0])
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["build", "--config", str(tmp_path / "config.yaml"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert not (out / MAP_FILE).exists()


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[str]:
    """nginx serving the build of the site with its redirect map included, on
    127.0.0.1: its base URL."""
    if not Path(NGINX).exists():
        pytest.skip(f"nginx is not installed ({NGINX}; apt-get install nginx-light)")
    root = _build(tmp_path)
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    port = _free_port()
    conf = prefix / "nginx.conf"
    text = NGINX_CONF.format(prefix=prefix, root=root, map_file=MAP_FILE, port=port)
    conf.write_text(text, encoding="utf-8")
    command = [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"nginx exited {process.returncode}: {output}")
            try:
                _request(base, "GET", "/feed.rss")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("nginx did not answer within 15 s")
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.communicate(timeout=15)


def test_nginx_answers_the_old_urls_from_the_map(nginx: str) -> None:
    for old, new in MOVED.items():
        status, headers, _ = _request(nginx, "GET", old)
        assert (status, headers.get("Location")) == (301, SITE + new.lstrip("/")), old
        assert headers["Cache-Control"] == REDIRECT_CACHE_CONTROL, old
    status, headers, body = _request(nginx, "HEAD", "/feed/by_tag/my_tag.xml")
    assert (status, headers["Location"], body) == (301, SITE + "tag/my-tag.atom", b"")
    # Any query on an old path without one, as serve does.
    assert _request(nginx, "GET", "/feed/?nocache=1")[1]["Location"] == SITE + "feed.rss"
    for old in NOT_MOVED:
        assert _request(nginx, "GET", old)[0] == 404, old
    # The site's own files are served as they are, with no Cache-Control of the map's.
    for path in ("/category/news.rss", "/feed.atom", "/?feed=nope", "/"):
        status, headers, _ = _request(nginx, "GET", path)
        assert status == 200, path
        assert "Location" not in headers and "Cache-Control" not in headers, path
