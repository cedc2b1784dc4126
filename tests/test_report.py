"""Reports (``publisher.report``): what the CLI, the editor API and the dashboard show of a
publish and of the store, made without the web stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from syndicate.config import Config
from syndicate.publisher import open_publisher
from syndicate.publisher.report import DELIVERY_NOTE, republish_json, status_json


def test_reports_are_made_without_flask() -> None:
    script = (
        "import sys\n"
        "import syndicate.publisher.report\n"
        "print(sorted(m for m in ('flask', 'werkzeug', 'syndicate.api') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_republish_and_status_report_the_same_publish(config: Config, posts_dir: Path) -> None:
    (posts_dir / "2024-04-01-one.md").write_text(
        "---\ntitle: One\ndate: 2024-04-01 10:00:00\n---\n\nBody.\n", encoding="utf-8"
    )
    (posts_dir / "2024-04-02-broken.md").write_text("---\ntitle: [x\n---\n", encoding="utf-8")
    publisher = open_publisher(config)
    try:
        result = publisher.publish()
        published = republish_json(result, config)
        status = status_json(publisher)
    finally:
        publisher.close()
    assert published["delivery"] == DELIVERY_NOTE
    assert published["post_count"] == 1
    assert {f["path"] for f in published["changed_feeds"]} == {
        "/feed.rss",
        "/feed.atom",
        "/feed.json",
    }
    assert published["changed_feeds"][0]["url"].startswith("https://example.org/feed.")
    assert [e["file"] for e in published["errors"]] == ["posts/2024-04-02-broken.md"]
    assert status["last_build"]["post_count"] == 1
    assert status["errors"] == published["errors"]
    assert status["refused"] is None
