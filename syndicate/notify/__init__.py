"""Telling aggregators that feeds changed: WebSub hubs and XML-RPC ping servers.

- ``policy``: what an answer means (``classify``, ``Outcome``) and when to retry
  (``RetryPolicy``). Pure.
- ``outbox``: the durable ``Outbox`` on the ``Store``; ``HttpSenders`` makes the clients on
  the first send.
- ``clients``: the HTTP clients (WebSub publish, weblogUpdates pings) on ``requests``.

The clients import ``requests`` (a large import for a worker that never notifies anyone), so
they are imported on first use: ``syndicate.notify.WebSubClient`` still works.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from .outbox import DeliveryReport, HttpSenders, Outbox, PingSender, WebSubSender
from .policy import (
    WEBLOG_EXTENDED_PING,
    WEBLOG_PING,
    Clock,
    Outcome,
    RetryPolicy,
    Verdict,
    classify,
    parse_retry_after,
    utc_now,
)

if TYPE_CHECKING:
    from .clients import PingClient as PingClient
    from .clients import RequestsTransport as RequestsTransport
    from .clients import TimeoutSession as TimeoutSession
    from .clients import WebSubClient as WebSubClient
    from .clients import is_method_unknown as is_method_unknown
    from .clients import make_session as make_session

__all__ = [
    "WEBLOG_EXTENDED_PING",
    "WEBLOG_PING",
    "Clock",
    "DeliveryReport",
    "HttpSenders",
    "Outbox",
    "Outcome",
    "PingClient",
    "PingSender",
    "RequestsTransport",
    "RetryPolicy",
    "TimeoutSession",
    "Verdict",
    "WebSubClient",
    "WebSubSender",
    "classify",
    "is_method_unknown",
    "make_session",
    "parse_retry_after",
    "utc_now",
]

_CLIENTS: Final = frozenset(
    {
        "PingClient",
        "RequestsTransport",
        "TimeoutSession",
        "WebSubClient",
        "is_method_unknown",
        "make_session",
    }
)


def __getattr__(name: str) -> Any:
    if name in _CLIENTS:
        from . import clients

        return getattr(clients, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
