"""The nginx map of the config's ``redirects:`` that ``build`` writes into its tree
(``redirects.MAP_FILE``), from the Site it built. No I/O of its own: the tree writes it.
"""

from __future__ import annotations

import logging

from ..config import Config
from ..documents import Site
from ..redirects import MAP_FILE, Redirects
from ..site.files import StaticTree

# The name the log lines have always had (``syndicate.publisher``), not the module's.
log = logging.getLogger("syndicate.publisher")


def add_redirect_map(tree: StaticTree, config: Config, site: Site) -> None:
    """Put ``MAP_FILE`` into ``tree`` when the config has redirects: every old URL of
    ``redirects.paths`` and of the presets' layouts, one line each, for the feeds of
    ``site``. A ``redirects.paths`` entry whose feed the site lacks is a warning."""
    if not config.redirects.paths and not config.redirects.preset:
        return
    redirects = Redirects(config.redirects, config.site.url)
    text, problems = redirects.nginx_map(site.documents, site.feeds)
    for problem in problems:
        log.warning("%s", problem)
    tree.extra(MAP_FILE, text.encode("utf-8"))
    log.info("redirects: wrote %s for nginx", MAP_FILE)
