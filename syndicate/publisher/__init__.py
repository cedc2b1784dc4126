"""Publisher: the orchestrator that turns the posts into the live tree, the store's rows
and the outbox's notifications. This face does no I/O and imports nothing heavy.

``Publisher`` and ``open_publisher`` (in ``orchestrator``) read the posts through the
post cache (``cache``), settle their entry ids against the store (``ids``), build the
Site with ``feeds`` and write it with ``site``. ``stamp`` records what a finished publish
was made from, so that a start with nothing changed needs none.

The names below are imported when first asked for (PEP 562): ``syndicate republish``
with nothing to do confirms the stamp through ``syndicate.publisher.stamp`` without
importing the Markdown, XML, SQL and HTTP stack that ``orchestrator`` needs.
"""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
    from .ids import IdPlan, reconcile_ids, removed_posts
    from .orchestrator import (
        BuildResult,
        Clock,
        Publisher,
        PublishResult,
        existing_store,
        open_publisher,
    )

__all__ = [
    "BuildResult",
    "Clock",
    "IdPlan",
    "PublishResult",
    "Publisher",
    "existing_store",
    "open_publisher",
    "reconcile_ids",
    "removed_posts",
]

# name -> the module of this package that defines it
_HOMES = dict.fromkeys(__all__, "orchestrator") | dict.fromkeys(
    ["IdPlan", "reconcile_ids", "removed_posts"], "ids"
)


def __getattr__(name: str) -> typing.Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # asked once: the next lookups find it at once
    return value
