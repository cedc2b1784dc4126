"""Micro-benchmark for ``syndicate.posts``: time ``load_posts`` and ``render_post`` on a corpus.

    python bench/profile_posts.py /tmp/corpus10k [--profile] [--repeat N]

Reads ``config.yaml`` in the corpus folder. Renders every loaded post (a build renders
only the posts that land in some feed, about 4k of 10k with the generator's defaults),
so the render figure here is an upper bound for a build. ``--profile`` prints the top of
a cProfile run of both phases.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import time
from pathlib import Path

from syndicate.config import load_config
from syndicate.posts import load_posts, render_post


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--render", type=int, default=4148, help="posts to render (0: all)")
    args = parser.parse_args()
    os.chdir(args.corpus)
    config = load_config("config.yaml")

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


if __name__ == "__main__":
    main()
