"""Command line: ``syndicate serve | build | check``. Thin: parse, load config, call Publisher.

Reads the config file and writes to the terminal; everything else is delegated.
Post problems go to stderr one line each (``FILE: problem``); every ``SyndicateError``
becomes a ``click.ClickException`` (a clean message and exit 1, no traceback).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .config import load_config
from .errors import SyndicateError
from .posts import PostProblem
from .publisher import BuildResult, Publisher

F = TypeVar("F", bound=Callable[..., Any])


class _EchoHandler(logging.Handler):
    """Log records to click's stderr at emit time (so CliRunner captures them too)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def _not_a_post_problem(record: logging.LogRecord) -> bool:
    # The CLI prints post problems itself (paths relative to the current folder), so the
    # log lines about them (tagged `post_problem`, or logged with the PostProblem as the
    # argument) would only repeat them.
    if hasattr(record, "post_problem"):
        return False
    args = record.args if isinstance(record.args, tuple) else ()
    return not any(isinstance(arg, PostProblem) for arg in args)


def _configure_logging(level: int) -> None:
    logger = logging.getLogger("syndicate")
    for handler in [h for h in logger.handlers if isinstance(h, _EchoHandler)]:
        logger.removeHandler(handler)
    handler = _EchoHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_not_a_post_problem)
    logger.addHandler(handler)
    logger.setLevel(level)


def _config_option(func: F) -> F:
    decorator = click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=Path("config.yaml"),
        show_default=True,
        help="Config file; relative paths in it are relative to its folder.",
    )
    return decorator(func)


@contextlib.contextmanager
def _clean_errors() -> Iterator[None]:
    """Errors are translated at the edge: a SyndicateError is a message, not a traceback."""
    try:
        yield
    except SyndicateError as exc:
        raise click.ClickException(str(exc)) from None


def _shown(path: Path) -> str:
    """The path relative to the current folder when it is inside it, else as given."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _report(problems: Sequence[PostProblem]) -> None:
    for problem in problems:
        click.echo(f"{_shown(problem.path)}: {problem.message}", err=True)


def _summary(result: BuildResult) -> str:
    return (
        f"{result.post_count} posts, {len(result.site.feeds)} feeds, "
        f"{len(result.errors)} errors, {len(result.warnings)} warnings"
    )


@click.group(name="syndicate")
@click.version_option(__version__, "--version", prog_name="syndicate")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", count=True, help="Less log output (errors only).")
def main(verbose: int, quiet: int) -> None:
    """Publish Markdown posts as RSS 2.0 and Atom 1.0 feeds."""
    levels = [logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG]
    index = max(0, min(len(levels) - 1, 1 + verbose - quiet))
    _configure_logging(levels[index])


@main.command()
@_config_option
@click.option("--host", help="Address to listen on [default: serve.host from the config].")
@click.option("--port", type=click.IntRange(1, 65535), help="[default: serve.port from the config]")
def serve(config_path: Path, host: str | None, port: int | None) -> None:
    """Serve the feeds over HTTP with a production WSGI server (granian)."""
    from .web import run_server

    # Load here as well as in the workers, so a bad config is a clean error up front.
    with _clean_errors():
        config = load_config(config_path)
    level = logging.getLogger("syndicate").getEffectiveLevel()
    run_server(
        config_path,
        host=host or config.serve.host,
        port=port or config.serve.port,
        workers=config.serve.workers,
        # A server's start, address and stop are worth seeing without -v; -q still hides them.
        log_level=logging.INFO if level == logging.WARNING else level,
    )


@main.command()
@_config_option
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder; replaced atomically.",
)
@click.option("--strict", is_flag=True, help="Any problem is a failure; nothing is written.")
def build(config_path: Path, out_dir: Path, strict: bool) -> None:
    """Write every feed, the OPML and the index page as static files (plus .gz)."""
    with _clean_errors():
        publisher = Publisher(load_config(config_path))
        result = publisher.build()
        _report(result.problems)
        if strict and result.problems:
            raise click.ClickException(
                f"{len(result.problems)} problems with --strict; {out_dir} left unchanged"
            )
        publisher.write_static(result.site, out_dir)
    click.echo(f"{_summary(result)}; wrote {len(result.site.documents)} documents to {out_dir}")


@main.command()
@_config_option
def check(config_path: Path) -> None:
    """Report every problem in every post; exit 1 if any post has an error."""
    with _clean_errors():
        result = Publisher(load_config(config_path)).build()
    _report(result.problems)
    click.echo(_summary(result))
    if result.errors:
        raise click.exceptions.Exit(1)
