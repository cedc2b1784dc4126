"""Micro-benchmark: the CPU a post's feed entries cost, per post, in both formats.

    python bench/entries.py CONFIG [--posts 1500] [--repeat 5]

Loads the last ``--posts`` posts of the config's ``posts_dir`` (``load_post``), renders
them (``render_post``), then times with ``time.process_time``, per post (median of the
repeats): ``serialise_entries`` (what a cold build's worker processes run: both formats
written and deflated), each format's entry written directly (``_entry_bytes``, the HTML
escaped for that format alone) and built feedgen's way (``make_entry``, ``rss_entry()``
/ ``atom_entry()``, ``_Context.serialise``), and checks the two give the same bytes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from syndicate.config import load_config
from syndicate.feeds import _entry, _prepared
from syndicate.feeds._feedgen import Format
from syndicate.posts import load_post, render_post, walk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config")
    parser.add_argument("--posts", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    config = load_config(args.config)
    paths = [path for _, path in walk.candidates(config.posts_dir, print)][-args.posts :]
    items = []
    for path in paths:
        post, _ = load_post(path, config)
        if post is not None:
            items.append((post, render_post(post, config)))
    (_, rss), (_, atom) = contexts = _prepared._reference_contexts(config)

    def per_post(run: Callable[[], object]) -> float:
        times = []
        for _ in range(args.repeat):
            start = time.process_time()
            run()
            times.append(time.process_time() - start)
        return statistics.median(times) / len(items) * 1e6

    def feedgen(fmt: Format) -> list[bytes]:
        out = []
        for post, rendered in items:
            entry = _entry.make_entry(post, rendered, config)
            context = rss if fmt == "rss" else atom
            out.append(context.serialise(entry.rss_entry() if fmt == "rss" else entry.atom_entry()))
        return out

    def direct(fmt: Format) -> list[bytes]:
        context = rss if fmt == "rss" else atom
        return [_entry._entry_bytes(p, _entry._Html(r), config, fmt, context) for p, r in items]

    same = all(feedgen(fmt) == direct(fmt) for fmt, _ in contexts)
    print(f"{len(items)} posts; direct bytes == feedgen's: {same}")
    ahead = per_post(lambda: _prepared.serialise_entries(items, config))
    print(f"serialise_entries  {ahead:6.1f} µs")
    for fmt in ("rss", "atom"):
        print(f"{fmt:>4} direct        {per_post(lambda: direct(fmt)):6.1f} µs")  # noqa: B023
        print(f"{fmt:>4} feedgen       {per_post(lambda: feedgen(fmt)):6.1f} µs")  # noqa: B023


if __name__ == "__main__":
    main()
