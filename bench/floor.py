"""The floor: read every post's bytes, parse its YAML front matter with libyaml
(``CSafeLoader``) and render its Markdown with markdown-it-py; nothing else, one core.

    python bench/floor.py POSTS_DIR [--phases]

No feed could be built with less work per post, so a build that renders every post
cannot be faster than this. Runs in the tools environment. I/O: reads the posts.
``--phases`` prints the seconds spent reading, in YAML and in Markdown as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import yaml
from markdown_it import MarkdownIt


def main() -> None:
    posts_dir = Path(sys.argv[1])
    md = MarkdownIt("commonmark").enable("table")
    spent = {"read": 0.0, "yaml": 0.0, "markdown": 0.0}
    count = 0
    for path in sorted(posts_dir.iterdir()):
        if path.suffix != ".md":
            continue
        t0 = time.perf_counter()
        text = path.read_bytes().decode("utf-8")
        t1 = time.perf_counter()
        _, head, body = text.split("---\n", 2)
        meta = yaml.load(head, Loader=yaml.CSafeLoader)
        t2 = time.perf_counter()
        html = md.render(body)
        t3 = time.perf_counter()
        spent["read"] += t1 - t0
        spent["yaml"] += t2 - t1
        spent["markdown"] += t3 - t2
        count += bool(meta) and bool(html)
    if "--phases" in sys.argv[2:]:
        print(json.dumps({"posts": count, **spent}))


if __name__ == "__main__":
    main()
