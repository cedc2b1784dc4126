"""Exception hierarchy for syndicate. No I/O.

Errors are translated only at the edges: the CLI turns them into
``click.ClickException``, the web app into HTTP status codes.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar


class SyndicateError(Exception):
    """Base class of every error syndicate raises on purpose."""


class ConfigError(SyndicateError):
    """config.yaml is missing, unreadable or invalid; the message names the dotted key."""


class PostError(SyndicateError):
    """One post cannot be published; ``str()`` is ``"path: problem"``."""

    def __init__(self, path: Path | str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = Path(path)
        self.message = message

    def __reduce__(self) -> tuple[type[PostError], tuple[Path, str]]:
        # Raised in a worker process, it comes back pickled: rebuild it from both parts.
        return type(self), (self.path, self.message)


class PostChanged(PostError):
    """A post's file changed (or went away) after it was read, when its body, let go of
    meanwhile, was needed again: the post must be read again."""


class PublishError(SyndicateError):
    """A site could not be written out (for example a path that would escape the folder)."""


class LiveTreeChanged(PublishError):
    """A file of the live tree is not what this process wrote there (another process
    published since): the publish starts again from the tree as it is."""


class PublishRefused(SyndicateError):
    """A publish was refused to keep the live feeds as they are: nothing was written,
    recorded or queued. ``reason`` says which rule refused it (kept in the store, shown
    by ``status``); the message names the folder or the counts, and the way out."""

    reason: ClassVar[str] = "refused"


class PostsFolderError(PublishRefused):
    """``posts_dir`` is missing, not a folder or unreadable: publishing would empty
    every feed, so nothing is published (nor built, nor checked)."""

    reason = "posts_dir"


class RemovalRefused(PublishRefused):
    """A publish would remove every post, or more than ``publish.max_removed_share`` of
    them at once; ``republish --force`` allows it."""

    reason = "removal"


class StoreError(SyndicateError):
    """The state store failed."""


class StoreBusy(StoreError):
    """Another process held the store's lock past the busy timeout: worth trying again."""


class DeliveryError(SyndicateError):
    """A notification to a hub or ping server failed."""
