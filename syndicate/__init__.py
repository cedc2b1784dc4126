"""syndicate: Markdown posts to RSS 2.0 and Atom 1.0 feeds, served and syndicated."""

# The one place the version is written: pyproject.toml reads it from here (a literal, so
# starting a command never pays for importlib.metadata).
__version__ = "0.1.0"

USER_AGENT = f"syndicate/{__version__} (+https://github.com/syndicate-feeds/syndicate)"


def counted(count: int, noun: str, plural: str = "") -> str:
    """A count and its noun, singular for exactly one: "1 post", "0 posts", "2 errors".

    Every message that counts something (the command line's, the logs') says it so, never
    "1 problems"; an irregular plural is given (``counted(n, "entry", "entries")``). Here
    rather than in ``cli`` because the logs of every module use it too.
    """
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
