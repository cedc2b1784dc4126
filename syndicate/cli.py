"""Command line: ``syndicate serve | worker | build | check | republish | status``. Thin.

Parse, load config, call Publisher (or the service in ``scheduler``), print, exit.
Reads the config file and writes to the terminal; everything else is delegated.
``worker`` stops gracefully on SIGTERM or SIGINT; ``serve`` runs one as a child process.
Post problems go to stderr one line each (``FILE: problem``); every ``SyndicateError``
becomes a ``click.ClickException`` (a clean message and exit 1, no traceback).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import click

from . import __version__, counted, readable
from .config import Config, load_config, state_dir
from .documents import absolute_url
from .errors import SyndicateError
from .service.process import PARENT_ENV, exit_at_once, skip_cyclic_collection, stop_on_signals

if TYPE_CHECKING:
    from .config import Config
    from .publisher import BuildResult

# Commands import the publishing stack (Markdown, XML, SQL, HTTP: most of a second) only
# when they need it: `republish` and `worker` with nothing to do never do.

F = TypeVar("F", bound=Callable[..., Any])


class _EchoHandler(logging.Handler):
    """Log records to click's stderr at emit time (so CliRunner captures them too)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(readable(self.format(record)), err=True)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def _not_a_post_problem(record: logging.LogRecord) -> bool:
    # The CLI prints post problems itself (paths relative to the current folder), so the
    # log lines about them (tagged `post_problem`, or logged with the PostProblem as the
    # argument) would only repeat them.
    if hasattr(record, "post_problem"):
        return False
    posts = sys.modules.get("syndicate.posts.post")  # where PostProblem lives
    if posts is None:
        return True  # no post was read in this process, so no problem to repeat
    args = record.args if isinstance(record.args, tuple) else ()
    return not any(isinstance(arg, posts.PostProblem) for arg in args)


# Long-running commands log post problems as they are found (nothing else reports them)
# and stamp each line with the time; one-shot commands print problems themselves.
_SERVICES = ("serve", "worker")


def _configure_logging(level: int, service: bool = False) -> None:
    logger = logging.getLogger("syndicate")
    for handler in [h for h in logger.handlers if isinstance(h, _EchoHandler)]:
        logger.removeHandler(handler)
    handler = _EchoHandler()
    if service:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler.addFilter(_not_a_post_problem)
    logger.addHandler(handler)
    logger.setLevel(level)


def _load_config(path: Path) -> Config:
    """``load_config``; for a Jekyll site's config, the Jekyll keys syndicate ignores are
    listed in one log line (not by the worker ``serve`` starts: ``serve`` said it)."""
    config = load_config(path)
    ignored = config.jekyll.ignored if config.jekyll is not None else ()
    if ignored and PARENT_ENV not in os.environ:
        logging.getLogger("syndicate.config").warning(
            "%s: Jekyll keys syndicate ignores: %s", path, ", ".join(ignored)
        )
    return config


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
        raise click.ClickException(readable(str(exc))) from None


def _shown(path: Path) -> str:
    """The path relative to the current folder when it is inside it, else as given."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class _Problem(Protocol):
    @property
    def path(self) -> Path: ...
    @property
    def message(self) -> str: ...


def _report(problems: Sequence[_Problem]) -> None:
    for problem in problems:
        # readable: a file name that is not UTF-8 shows as U+FFFD, on any terminal.
        click.echo(readable(f"{_shown(problem.path)}: {problem.message}"), err=True)


def _summary(result: BuildResult) -> str:
    return (
        f"{counted(result.post_count, 'post')}, {counted(len(result.site.feeds), 'feed')}, "
        f"{counted(len(result.errors), 'error')}, {counted(len(result.warnings), 'warning')}"
    )


def _strict_options(strict_help: str, warnings_help: str) -> Callable[[F], F]:
    """``--strict`` (a post with an error fails the command) and ``--strict-warnings``
    (a warning fails it too), which mean the same in ``build``, ``check`` and ``republish``."""

    def decorate(func: F) -> F:
        func = click.option("--strict-warnings", is_flag=True, help=warnings_help)(func)
        return click.option("--strict", is_flag=True, help=strict_help)(func)

    return decorate


def _strict_failure(errors: int, warnings: int, strict: bool, strict_warnings: bool) -> str | None:
    """Why the run fails ``--strict`` (an error) or ``--strict-warnings`` (any problem):
    "1 error with --strict"; None if it does not."""
    if strict_warnings and (errors or warnings):
        found = [counted(n, noun) for n, noun in ((errors, "error"), (warnings, "warning")) if n]
        return f"{', '.join(found)} with --strict-warnings"
    if strict and errors:
        return f"{counted(errors, 'error')} with --strict"
    return None


class _Syndicate(click.Group):
    """The command group. Run from the command line (``args`` None: ``sys.argv``), a
    one-shot command that has done its work ends the process at once (``exit_at_once``:
    nobody waits for the interpreter's teardown). Under ``CliRunner`` (``args`` given)
    nothing changes.
    """

    def main(self, args: Sequence[str] | None = None, *rest: Any, **extra: Any) -> Any:
        global _done, _command_line
        _done = False
        _command_line = args is None
        try:
            return super().main(args, *rest, **extra)
        except SystemExit as exc:
            if args is None and _done:
                exit_at_once(exc.code)
            raise


# Set by a one-shot command that finished its work: nothing it leaves needs finalising
# (its files are closed, its worker processes stopped, its store closed).
_done = False
# Whether this process runs the command line (not a CliRunner in a test's process).
_command_line = False


def _finished() -> None:
    global _done
    _done = True


@click.group(name="syndicate", cls=_Syndicate)
@click.version_option(__version__, "--version", prog_name="syndicate")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", count=True, help="Less log output (errors only).")
def main(verbose: int, quiet: int) -> None:
    """Publish Markdown posts as RSS 2.0, Atom 1.0 and JSON Feed 1.1 feeds."""
    levels = [logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG]
    index = max(0, min(len(levels) - 1, 1 + verbose - quiet))
    command = click.get_current_context().invoked_subcommand
    _configure_logging(levels[index], service=command in _SERVICES)


@main.command()
@_config_option
@click.option("--host", help="Address to listen on [default: serve.host from the config].")
@click.option("--port", type=click.IntRange(1, 65535), help="[default: serve.port from the config]")
@click.option(
    "--no-scheduler",
    is_flag=True,
    help="Serve only; a `syndicate worker` elsewhere keeps the live tree up to date.",
)
def serve(config_path: Path, host: str | None, port: int | None, no_scheduler: bool) -> None:
    """Serve the feeds over HTTP (granian), with the scheduler in a `worker` child process."""
    from .outdir import check_live
    from .service.server import listen, local_url
    from .service.supervise import WorkerLock, WorkerProcess

    # Load here as well as in the workers, so a bad config is a clean error up front.
    with _clean_errors():
        config = _load_config(config_path)
        if not no_scheduler:
            # The worker would refuse output_dir after it started; say so up front. A web
            # tier alone only reads it.
            check_live(config)
        # The port and the state are ours alone, or nothing starts: a second server on
        # the port would share it (two sites answering in turn), and a second scheduler
        # on the state would publish and notify everything twice.
        listener = listen(host or config.serve.host, port or config.serve.port)
        click.get_current_context().call_on_close(listener.close)
        lock = None
        if not no_scheduler:
            lock = WorkerLock.acquire(state_dir(config), serving=True)
            click.get_current_context().call_on_close(lock.release)
    level = logging.getLogger("syndicate").getEffectiveLevel()
    # A server's start, address and stop are worth seeing without -v; -q still hides them.
    log_level = logging.INFO if level == logging.WARNING else level
    logging.getLogger("syndicate").setLevel(log_level)
    worker = None
    if lock is not None:
        # Exactly one scheduler per deployment: a child process, started before granian
        # forks its web workers (which only serve the live tree the worker writes). It
        # shares our lock, and it tells hubs of a change only once the web tier answers
        # (a hub fetches the feed at once; until granian runs, nothing would answer).
        worker = WorkerProcess.spawn(
            config_path, config, _verbosity(level), lock=lock, wait_for=local_url(listener)
        )
    try:
        # Imported while the worker checks the live tree, not before starting it.
        from .service.server import run_server

        if worker is not None:
            with _clean_errors():
                worker.wait_ready()
            worker.supervise()
        run_server(config_path, listener, workers=config.serve.workers, log_level=log_level)
    finally:
        if worker is not None:
            worker.stop()


@main.command()
@_config_option
@click.option(
    "--wait-for",
    metavar="URL",
    help="Notify hubs and ping servers only once this URL (a feed of the web tier) answers.",
)
def worker(config_path: Path, wait_for: str | None) -> None:
    """Run the scheduler alone: watch the posts, publish, notify; stop on SIGTERM or SIGINT."""
    from .publisher import confirm_current
    from .service.process import die_with_parent, one_malloc_arena
    from .service.supervise import WorkerLock, signal_ready

    one_malloc_arena()  # before any thread starts
    if wait_for is not None and not _is_http_url(wait_for):
        raise click.BadParameter("expected an http:// or https:// URL", param_hint="--wait-for")
    with _clean_errors():
        config = _load_config(config_path)
        # Before anything is read or published: one scheduler per state folder, held
        # until the command is done.
        lock = WorkerLock.acquire(state_dir(config))
        click.get_current_context().call_on_close(lock.release)
        logger = logging.getLogger("syndicate")
        if logger.getEffectiveLevel() == logging.WARNING:
            # A service's one line per event is worth seeing without -v; -q still hides it.
            logger.setLevel(logging.INFO)
        stop = stop_on_signals()
        die_with_parent()
        confirmed = confirm_current(config)
        if confirmed is not None:
            # The web tier can serve the live tree now; the service itself (its first
            # publish loads every post for quick edits later) follows.
            logger.info(
                "live tree %s is current: %s, %s, nothing changed since the last publish",
                config.output_dir,
                counted(confirmed.post_count, "post"),
                counted(confirmed.feed_count, "feed"),
            )
            signal_ready()
        from .service.scheduler import run_worker

        run_worker(config, stop, wait_for=wait_for)


def _is_http_url(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError if it is not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _verbosity(level: int) -> list[str]:
    """The -v/-q options that give a child process our log level."""
    return {logging.DEBUG: ["-vv"], logging.INFO: ["-v"], logging.ERROR: ["-q"]}.get(level, [])


@main.command()
@_config_option
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder: new, empty, or a tree syndicate wrote; replaced atomically.",
)
@_strict_options(
    "A post with an error fails the build (exit 1) and nothing is written; warnings do not.",
    "Like --strict, and a warning fails the build too.",
)
@click.option(
    "--no-cache", is_flag=True, help="Parse and render every post afresh (the cache is not used)."
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace DIR even if it holds other files (never the posts, assets, config or state "
    "folder).",
)
def build(
    config_path: Path,
    out_dir: Path,
    strict: bool,
    strict_warnings: bool,
    no_cache: bool,
    force: bool,
) -> None:
    """Write every feed, the OPML and the index page as static files (plus .gz)."""
    if _command_line:
        # One pass, then the process ends at once (_finished).
        skip_cyclic_collection()
    from .outdir import static_target
    from .publisher import Publisher, existing_store
    from .publisher.cache import PostCache

    with _clean_errors():
        config = _load_config(config_path)
        static_target(out_dir, config, force)  # refused before the store is even opened
        store = existing_store(config)
        cache = PostCache(None if no_cache else state_dir(config) / "cache", config)
        try:
            publisher = Publisher(config, store=store, cache=cache)
            # Each document is written (to a tree swapped in at the end) as it is made.
            with publisher.build_static(out_dir, force=force) as result:
                _report(result.problems)
                failure = _strict_failure(
                    len(result.errors), len(result.warnings), strict, strict_warnings
                )
                if failure is not None:
                    raise click.ClickException(f"{failure}; {out_dir} left unchanged")
        finally:
            if store is not None:
                store.close()
    click.echo(f"{_summary(result)}; wrote {len(result.site.documents)} documents to {out_dir}")
    _finished()


@main.command()
@_config_option
@_strict_options(
    "A post with an error fails the check (exit 1), as it always does; warnings do not.",
    "Like --strict, and a warning fails the check too.",
)
def check(config_path: Path, strict: bool, strict_warnings: bool) -> None:
    """Report every problem in every post; exit 1 if any post has an error."""
    from .posts import site_markup_problems
    from .publisher import Publisher, existing_store

    with _clean_errors():
        config = _load_config(config_path)
        store = existing_store(config)
        try:
            result = Publisher(config, store=store).build()
        finally:
            if store is not None:
                store.close()
    # The site's own names go in every feed: what a validator would say of them too.
    site_problems = site_markup_problems(config, config_path)
    if site_problems:
        result = dataclasses.replace(result, problems=(*site_problems, *result.problems))
    _report(result.problems)
    click.echo(_summary(result))
    # Errors fail a check with or without --strict, which is accepted so that one flag
    # means the same in build, check and republish.
    failure = _strict_failure(len(result.errors), len(result.warnings), True, strict_warnings)
    if failure is not None:
        if not (strict or strict_warnings):
            raise click.exceptions.Exit(1)  # the summary says why
        raise click.ClickException(failure)


@main.command()
@_config_option
@click.option(
    "--force",
    is_flag=True,
    help="Queue notifications for every feed, changed or not, and publish even if most or "
    "all posts are gone.",
)
@_strict_options(
    "Exit 1 if a post has an error (the rest is published) or the publish gate holds a "
    "document back; warnings do not fail it. With --dry-run: if the publish would fail so, "
    "or be refused.",
    "Like --strict, and a warning fails it too.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show what would change (feed by feed, entry by entry) and whom it would notify; "
    "write and queue nothing.",
)
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: print it as JSON.")
def republish(
    config_path: Path,
    force: bool,
    strict: bool,
    strict_warnings: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Rebuild now and queue notifications for the feeds that changed.

    Safe while `serve` or `worker` runs: they share the store, and one publish runs at a
    time. The scheduler of `serve` or `worker` delivers what is queued. A missing posts
    folder, or most posts gone at once, is refused (exit 1) and changes nothing.
    """
    from .outdir import check_live
    from .publisher import confirm_current

    if as_json and not dry_run:
        raise click.UsageError("--json goes with --dry-run (status --json shows the last publish)")
    with _clean_errors():
        config = _load_config(config_path)
        check_live(config)  # before the store is made: output_dir may be someone's folder
    if dry_run:
        _dry_run(config, force, strict, strict_warnings, as_json)
        return
    confirmed = confirm_current(config, force=force)
    if confirmed is not None:
        # Nothing changed since the last publish finished: nothing to rebuild or queue.
        _report(confirmed.problems)
        warnings = len(confirmed.problems) - len(confirmed.errors)
        click.echo(
            f"{counted(confirmed.post_count, 'post')}, {counted(confirmed.feed_count, 'feed')}: "
            f"0 changed, 0 removed; 0 notifications queued (nothing changed since the last "
            f"publish); {counted(len(confirmed.errors), 'error')}, {counted(warnings, 'warning')}"
        )
        failure = _strict_failure(len(confirmed.errors), warnings, strict, strict_warnings)
        if failure is not None:
            raise click.ClickException(failure)
        return
    from .publisher import open_publisher

    with _clean_errors():
        publisher = open_publisher(config)
        try:
            result = publisher.publish(force=force)
        finally:
            if publisher.store is not None:
                publisher.store.close()
    _report(result.problems)
    site_url = publisher.config.site.url
    for path in result.changed_feeds:
        click.echo(f"changed {absolute_url(site_url, path)}")
    for path in result.removed_feeds:
        click.echo(f"removed {absolute_url(site_url, path)}")
    for path, problem in result.held:
        click.echo(f"held {absolute_url(site_url, path)}: {problem} (last good version kept)")
    warnings = len(result.problems) - len(result.errors)
    click.echo(
        f"{counted(result.post_count, 'post')}, {counted(len(result.site.feeds), 'feed')}: "
        f"{len(result.changed_feeds)} changed, {len(result.removed_feeds)} removed; "
        f"{counted(result.queued, 'notification')} queued{' (--force)' if force else ''} "
        f"for serve or worker to deliver; {counted(len(result.errors), 'error')}, "
        f"{counted(warnings, 'warning')}"
    )
    failure = _strict_failure(len(result.errors), warnings, strict, strict_warnings)
    if failure is None and result.held and (strict or strict_warnings):
        failure = f"{counted(len(result.held), 'document')} held back by the publish gate"
    if failure is not None:
        raise click.ClickException(failure)


def _dry_run(
    config: Config, force: bool, strict: bool, strict_warnings: bool, as_json: bool
) -> None:
    """``republish --dry-run``: the publish built but not written (``publisher.preview``)."""
    import json

    from .publisher import existing_store
    from .publisher.preview import (
        failures,
        preview_json,
        preview_lines,
        preview_publish,
        read_only_cache,
    )
    from .store.sql import SqlStore

    with _clean_errors():
        # No store yet: an empty one in memory, as a first publish would start from.
        store = existing_store(config) or SqlStore("sqlite://")
        try:
            cache = read_only_cache(config)
            data = preview_json(preview_publish(config, _utcnow, store, cache, force))
        finally:
            store.close()
    if as_json:
        click.echo(readable(json.dumps(data, indent=2, ensure_ascii=False)))
    else:
        for problem in (*data["errors"], *data["warnings"]):
            click.echo(readable(f"{problem['file']}: {problem['message']}"), err=True)
        for line in preview_lines(data):
            click.echo(readable(line))
    reasons = failures(data, warnings=strict_warnings)
    if reasons and (strict or strict_warnings):
        flag = "--strict-warnings" if strict_warnings else "--strict"
        raise click.ClickException(f"the publish would fail {flag}: {'; '.join(reasons)}")
    _finished()


def _utcnow() -> datetime:
    return datetime.now(UTC)


@main.command()
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Print the JSON of GET /api/status.")
def status(config_path: Path, as_json: bool) -> None:
    """Show the last build, post errors, scheduled posts and the notification outbox."""
    import json

    from .publisher import Publisher
    from .publisher.report import status_json
    from .store.sql import SqlStore

    with _clean_errors():
        config = _load_config(config_path)
        # SQLite makes the file, not its folder (a Jekyll site's .syndicate/ before its
        # first publish), as open_publisher does.
        state_dir(config).mkdir(parents=True, exist_ok=True)
        with SqlStore(config.storage.url) as store:
            data = status_json(Publisher(config, store=store))
    if as_json:
        click.echo(readable(json.dumps(data, indent=2, ensure_ascii=False)))
        return
    for line in _status_lines(data):
        click.echo(readable(line))


# Readable status lists stop here; --json has everything.
_STATUS_SHOWN = 10


def _status_lines(data: dict[str, Any]) -> Iterator[str]:
    refused = data["refused"]
    if refused is not None:
        yield f"Publishing refused at {refused['time']}: {refused['message']}"
    build = data["last_build"]
    if build is None:
        yield "Last build: none yet"
    else:
        yield (
            f"Last build: {build['time']} ({build['duration']:.2f} s): "
            f"{counted(build['post_count'], 'post')}, {counted(build['feed_count'], 'feed')}, "
            f"{counted(build['error_count'], 'error')}, "
            f"{counted(len(build['changed_feeds']), 'feed')} changed"
        )
        yield from _listed([f"changed {feed['url']}" for feed in build["changed_feeds"]])
    yield f"Post errors: {len(data['errors'])}"
    yield from _listed([f"{e['file']}: {e['message']}" for e in data["errors"]])
    if data.get("held"):
        # The publish gate's: each served at its last good version, its feed not notified.
        yield f"Held back by the publish gate: {counted(len(data['held']), 'document')}"
        yield from _listed([f"{h['url']}: {h['problem']}" for h in data["held"]])
    yield f"Scheduled posts: {len(data['scheduled'])}"
    yield from _listed([f"{s['time']} {s['file']}" for s in data["scheduled"]])
    yield f"Pending notifications: {len(data['pending'])}"
    yield from _listed(
        [
            f"{n['kind']} {n['feed']} -> {n['target']}: {counted(n['attempts'], 'attempt')}, "
            f"next {n['next_attempt']}"
            + (f"; last error: {n['last_error']}" if n["last_error"] else "")
            for n in data["pending"]
        ]
    )
    yield f"Failed notifications: {len(data['failed'])}"
    yield from _listed(
        [
            f"{n['kind']} {n['feed']} -> {n['target']}: {counted(n['attempts'], 'attempt')}; "
            f"{n['last_error']}"
            for n in data["failed"]
        ]
    )
    refusals = data["refused_by_targets"]
    yield f"Refused by hubs and ping servers: {counted(len(refusals), 'target')}"
    yield from _listed(
        [
            f"{'hub' if r['kind'] == 'websub' else 'ping server'} {r['target']} refused "
            f"{counted(r['count'], 'notification')} since {r['since']}; latest at {r['time']} "
            f"for {r['feed']}: {r['message']}"
            for r in refusals
        ]
    )
    yield f"Recent attempts: {len(data['recent_attempts'])}"
    yield from _listed(
        [
            f"{a['time']} {a['status']} {a['kind']} {a['feed']} -> {a['target']}"
            + (f" HTTP {a['http_status']}" if a["http_status"] is not None else "")
            + f" in {a['latency_ms']} ms"
            + (f": {a['error']}" if a["error"] else "")
            for a in data["recent_attempts"]
        ]
    )


def _listed(lines: Sequence[str]) -> Iterator[str]:
    for line in lines[:_STATUS_SHOWN]:
        yield "  " + line
    if len(lines) > _STATUS_SHOWN:
        yield f"  ... and {len(lines) - _STATUS_SHOWN} more (--json lists them all)"
