"""Micro-benchmark for ``syndicate.posts``: time ``load_posts`` and ``render_post`` on a corpus.

    python bench/profile_posts.py /tmp/corpus10k [--profile] [--repeat N] [--stages]

Reads ``config.yaml`` in the corpus folder. Renders every loaded post (a build renders
only the posts that land in some feed, about 4k of 10k with the generator's defaults),
so the render figure here is an upper bound for a build. ``--profile`` prints the top of
a cProfile run of both phases. ``--stages`` times the steps of reading one post instead
(file read, text hygiene, front matter, the whole of ``load_post``), per post.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from syndicate.config import Config, load_config
from syndicate.posts import frontmatter, load_post, load_posts, render_post, walk
from syndicate.posts import text as hygiene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--render", type=int, default=4148, help="posts to render (0: all)")
    parser.add_argument("--stages", action="store_true", help="time the steps of load_post")
    args = parser.parse_args()
    os.chdir(args.corpus)
    config = load_config("config.yaml")
    if args.stages:
        time_stages(config, args.repeat)
        return

    def run() -> tuple[float, float, int, int]:
        start = time.perf_counter()
        posts, problems = load_posts(config)
        loaded = time.perf_counter()
        chosen = posts if not args.render else posts[-args.render :]
        for post in chosen:
            render_post(post, config)
        return loaded - start, time.perf_counter() - loaded, len(posts), len(chosen)

    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(run)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        return
    loads, renders = [], []
    for _ in range(args.repeat):
        load_s, render_s, n_posts, n_rendered = run()
        loads.append(load_s)
        renders.append(render_s)
    for name, times in (("load_posts", loads), (f"render {n_rendered}", renders)):
        print(
            f"{name:>12}: min {min(times):.2f} s  median {statistics.median(times):.2f} s"
            f"  max {max(times):.2f} s  ({n_posts} posts)"
        )


def time_stages(config: Config, repeat: int) -> None:
    """Per-post time of each step of ``load_post``, each over every post in turn."""
    paths = [path for _, path in walk.candidates(config.posts_dir, print)]
    raws = [path.read_bytes() for path in paths]
    texts = [hygiene.read_text(raw, lambda message: None) for raw in raws]
    front_matters = []
    for text in texts:
        opening = frontmatter.FM_BOUNDARY.match(text)
        closing = frontmatter.FM_BOUNDARY.search(text, opening.end()) if opening else None
        if opening and closing:
            front_matters.append(text[opening.end() : closing.start()])
    stages: dict[str, Callable[[], object]] = {
        "read file": lambda: [path.read_bytes() for path in paths],
        "text hygiene": lambda: [hygiene.read_text(raw, lambda message: None) for raw in raws],
        "front matter": lambda: [frontmatter.parse_yaml(source, 1) for source in front_matters],
        "load_post": lambda: [load_post(path, config) for path in paths],
    }
    for name, stage in stages.items():
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            stage()
            times.append(time.perf_counter() - start)
        per_post = [t / len(paths) * 1e6 for t in times]
        print(
            f"{name:>12}: min {min(per_post):.1f} us  median {statistics.median(per_post):.1f} us"
            f"  max {max(per_post):.1f} us  per post ({len(paths)} posts)"
        )


if __name__ == "__main__":
    main()
