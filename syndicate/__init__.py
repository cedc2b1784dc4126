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


def readable(text: str) -> str:
    """``text`` safe to encode as UTF-8: what a file name that is not UTF-8 leaves in it
    (lone surrogates, from ``os.fsdecode``) shown as U+FFFD.

    Every text shown to editors (JSON, HTML pages, the command line) passes through it,
    so one such file costs a replacement character, never a 500. Cheap when there is
    nothing to replace: one encode.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            # The file name's own bytes back, then each byte that is not UTF-8 as U+FFFD.
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:  # a surrogate no file name made (from JSON, say)
            return text.encode("utf-8", "replace").decode("utf-8")
    return text
