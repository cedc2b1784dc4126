"""syndicate: Markdown posts to RSS 2.0 and Atom 1.0 feeds, served and syndicated."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("syndicate")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

USER_AGENT = f"syndicate/{__version__} (+https://github.com/syndicate-feeds/syndicate)"
