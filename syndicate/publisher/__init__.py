"""Publisher: turns the posts into the live tree, the store's rows and the outbox's
notifications. This face does no I/O and imports nothing heavy.

``orchestrator`` holds ``Publisher`` and ``open_publisher``. A publish reads the posts
(``reading``, through the post cache, ``cache``), settles their entry ids against the
store (``ids``), builds the Site with ``feeds``, finds what changed (``changes``), checks
it (``gate``) and writes it with ``site``; ``preview`` is the same publish, not written.
``stamp`` records what a finished publish was made from, so that a start with nothing
changed needs none (``confirm_current``); ``report`` is what the CLI, the editor API and
the dashboard show of it.

The names below are imported when first asked for (PEP 562): ``syndicate republish``
with nothing to do confirms the stamp without importing the Markdown, XML, SQL and HTTP
stack that ``orchestrator`` needs.
"""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
    from ..config import Config
    from .ids import IdPlan, reconcile_ids, removed_posts
    from .orchestrator import Clock, Publisher, existing_store, open_publisher
    from .report import BuildResult, PublishResult
    from .stamp import Stamp

__all__ = [
    "BuildResult",
    "confirm_current",
    "Clock",
    "IdPlan",
    "PublishResult",
    "Publisher",
    "existing_store",
    "open_publisher",
    "reconcile_ids",
    "removed_posts",
]

# name -> the module of this package that defines it, imported when the name is asked for
_HOMES = {
    "BuildResult": "report",
    "Clock": "orchestrator",
    "IdPlan": "ids",
    "PublishResult": "report",
    "Publisher": "orchestrator",
    "existing_store": "orchestrator",
    "open_publisher": "orchestrator",
    "reconcile_ids": "ids",
    "removed_posts": "ids",
}


def __getattr__(name: str) -> typing.Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # asked once: the next lookups find it at once
    return value


def confirm_current(config: Config, force: bool = False) -> Stamp | None:
    """The last publish's stamp if the live tree is still what a publish of the posts
    would make now, so that a command may skip the publish (see ``stamp``); None if one
    is needed, and always with ``force``. Imports nothing heavy (see ``stamp``)."""
    if force:
        return None
    from . import stamp

    return stamp.confirm(config)
