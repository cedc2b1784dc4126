"""syndicate: Markdown posts to RSS 2.0 and Atom 1.0 feeds, served and syndicated."""

# The one place the version is written: pyproject.toml reads it from here (a literal, so
# starting a command never pays for importlib.metadata).
__version__ = "0.1.0"

USER_AGENT = f"syndicate/{__version__} (+https://github.com/syndicate-feeds/syndicate)"
