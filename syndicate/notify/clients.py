"""The outbox's HTTP clients: a ``requests`` session with a timeout, WebSub hubs and
XML-RPC ``weblogUpdates`` pings. Does network I/O.

Apart from the outbox and the policy so that a process that never sends a notification
never imports requests: ``HttpSenders`` imports this module when the first one is sent.
``from syndicate.notify import WebSubClient`` (and the other names here) still works.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
import xmlrpc.client
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from xml.parsers.expat import ExpatError

import requests

from .. import USER_AGENT
from ..config import NotifyConfig
from .policy import (
    WEBLOG_EXTENDED_PING,
    WEBLOG_PING,
    Clock,
    Outcome,
    Verdict,
    classify,
    retry_after,
    utc_now,
)

if TYPE_CHECKING:
    from _typeshed import SizedBuffer

log = logging.getLogger("syndicate.notify")


def _elapsed_ms(start: float) -> int:
    return round((time.perf_counter() - start) * 1000)


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def _describe(exc: BaseException, timeout: float) -> str:
    """A short, log-friendly description of a transport error."""
    if isinstance(exc, requests.Timeout):
        return f"timeout after {timeout:g} s"
    text = str(exc)
    match = _ERRNO.search(text)
    if match:
        return match.group(1).strip().lower()
    return text if len(text) <= 200 else text[:197] + "..."


def _http_error(response: requests.Response) -> str:
    snippet = " ".join(response.text.split())[:120] if response.content else ""
    message = f"HTTP {response.status_code} {response.reason or ''}".rstrip()
    return f"{message}: {snippet}" if snippet else message


# --------------------------------------------------------------------------- HTTP session


class TimeoutSession(requests.Session):
    """A ``requests.Session`` whose every request has a timeout.

    requests has no session-wide timeout (its default is to wait forever), so
    ``request()`` fills one in when the caller gave none.
    """

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if kwargs.get("timeout") is None and len(args) < 7:  # else args[6] is the timeout
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)


def make_session(timeout: float, user_agent: str = USER_AGENT) -> TimeoutSession:
    """A session for notifications: ``timeout`` seconds per request, and a
    ``User-Agent`` naming syndicate and its version (hubs and ping services log it)."""
    session = TimeoutSession(timeout)
    session.headers["User-Agent"] = user_agent
    return session


def _session_timeout(session: requests.Session, timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    if isinstance(session, TimeoutSession):
        return session.timeout
    return NotifyConfig().timeout


# --------------------------------------------------------------------------- WebSub


class WebSubClient:
    """Publishes to WebSub hubs.

    The W3C WebSub Recommendation leaves how a publisher notifies its hub to the
    hub. The de facto protocol, from PubSubHubbub 0.3/0.4, is a form POST with
    ``hub.mode=publish`` and ``hub.url=<topic>``, which Google's hub and most
    publishers use; some WebSub-era publishers send ``hub.topic`` instead (the
    WordPress WebSub plugin's implementation report), and hubs such as phubb
    accept either. So both are sent, with the same value: hubs ignore form
    parameters they do not read. Success is any 2xx (PubSubHubbub says 204); a 4xx
    other than 408 and 429 is the hub refusing it (``classify``).
    """

    def __init__(
        self, session: requests.Session, timeout: float | None = None, clock: Clock = utc_now
    ) -> None:
        self.session = session
        self.timeout = _session_timeout(session, timeout)
        self.clock = clock  # only to read an HTTP-date Retry-After without a Date header

    def publish(self, hub: str, feed_url: str) -> Outcome:
        """Tell ``hub`` that the feed at ``feed_url`` changed; never raises for network errors."""
        data = {"hub.mode": "publish", "hub.url": feed_url, "hub.topic": feed_url}
        start = time.perf_counter()
        try:
            with self.session.post(hub, data=data, timeout=self.timeout) as response:
                _ = response.content  # read it all inside the timeout, then free the connection
        except (requests.Timeout, requests.ConnectionError) as exc:
            return Outcome(
                "retry", latency_ms=_elapsed_ms(start), error=_describe(exc, self.timeout)
            )
        except requests.RequestException as exc:  # invalid URL, too many redirects, ...
            return Outcome("fail", latency_ms=_elapsed_ms(start), error=_describe(exc, 0))
        latency = _elapsed_ms(start)
        verdict = classify(response.status_code)
        return Outcome(
            verdict,
            http_status=response.status_code,
            latency_ms=latency,
            error=None if verdict == "ok" else _http_error(response),
            retry_after=retry_after(response.headers, self.clock()),
        )


# --------------------------------------------------------------------------- XML-RPC pings


class RequestsTransport(xmlrpc.client.Transport):
    """An ``xmlrpc.client`` transport that posts through a requests session, so the
    session's timeout, User-Agent and proxies apply; it always posts to ``url``
    (``ServerProxy`` would otherwise post to ``/RPC2`` for a URL with no path).
    Keeps the last HTTP status and headers for the caller."""

    def __init__(self, session: requests.Session, url: str, timeout: float) -> None:
        super().__init__()
        self.session = session
        self.url = url
        self.timeout = timeout
        self.status: int | None = None
        self.headers: Mapping[str, str] = {}

    def request(
        self, host: Any, handler: str, request_body: SizedBuffer, verbose: bool = False
    ) -> tuple[Any, ...]:
        with self.session.post(
            self.url,
            data=bytes(request_body),
            headers={"Content-Type": "text/xml"},
            timeout=self.timeout,
        ) as response:
            content = response.content
        self.status = response.status_code
        self.headers = response.headers
        if response.status_code == 200:
            return _unmarshal(content)  # raises xmlrpc.client.Fault for a fault response
        protocol_error = xmlrpc.client.ProtocolError(
            self.url, response.status_code, _http_error(response), dict(response.headers)
        )
        # The spec says every answer is 200, faults included, but servers send faults
        # with 500 (and some with a 4xx): read the body as XML-RPC whatever the status,
        # except where the status itself says "try later" (408, 429, 502-504), and let
        # the status decide only when the body is not XML-RPC (an HTML error page).
        if not _body_is_read(response.status_code):
            raise protocol_error
        try:
            return _unmarshal(content)
        except (ExpatError, xmlrpc.client.ResponseError, ValueError, TypeError):
            raise protocol_error from None


def _body_is_read(status: int) -> bool:
    """Whether a non-200 answer's body may be an XML-RPC answer worth reading."""
    return status == 500 or (400 <= status < 500 and classify(status) != "retry")


class _LenientUnmarshaller(xmlrpc.client.Unmarshaller):
    """Python's unmarshaller, but ``<boolean>`` also takes ``true``/``false`` (any case,
    blanks around): XML-RPC says 0 or 1, and some ping servers write the words."""

    dispatch = dict(xmlrpc.client.Unmarshaller.dispatch)

    def end_boolean(self, data: str) -> None:
        value = data.strip().lower()
        if value in ("0", "false"):
            self.append(False)
        elif value in ("1", "true"):
            self.append(True)
        else:
            raise TypeError(f"bad boolean value {data!r}")
        self._value = False

    dispatch["boolean"] = end_boolean  # type: ignore[assignment]  # the subclass's own


def _unmarshal(content: bytes) -> tuple[Any, ...]:
    """The values of an XML-RPC ``methodResponse``; raises ``Fault`` for a fault."""
    unmarshaller = _LenientUnmarshaller()
    parser = xmlrpc.client.ExpatParser(unmarshaller)
    parser.feed(content)
    parser.close()
    return unmarshaller.close()


# Faults that mean "I don't know that method": -32601 is the code from the XML-RPC
# fault code interoperability spec; others say it in words, with codes of their own
# (Python's server answers 1, 'method "weblogUpdates.extendedPing" is not supported';
# Frontier answers 4, 'Can't call "weblogUpdates.extendedPing" because the name hasn't
# been defined.').
METHOD_NOT_FOUND: Final = -32601
_UNKNOWN_METHOD = re.compile(
    r"not\s+(?:be\s+)?(?:found|supported|implemented|defined|exists?|available|recogni[sz]ed)"
    r"|(?:has|have|is|was|does)n['’]?t\s+(?:been\s+)?(?:found|defined|implemented|exist)"
    r"|(?:has|have|is|was)\s+not\s+been\s+(?:found|defined|implemented)"
    r"|unknown|unsupported|unrecogni[sz]ed|no\s+such|undefined|invalid\s+method",
    re.IGNORECASE,
)


def is_method_unknown(fault: xmlrpc.client.Fault, method: str | None = None) -> bool:
    """Whether a fault means the server does not know the method called (``method``,
    if given: a fault that names it counts as mentioning a method)."""
    if fault.faultCode == METHOD_NOT_FOUND:
        return True
    text = str(fault.faultString)
    mentions_method = bool(
        re.search(r"method|procedure|function|extendedping", text, re.IGNORECASE)
        or (method and method.lower() in text.lower())
    )
    return mentions_method and bool(_UNKNOWN_METHOD.search(text))


def _flerror(value: Any) -> bool:
    """``flerror`` as the server meant it: a boolean, an int, or (from servers that
    write booleans as text) a string such as "false"."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no")
    return bool(value)


class PingClient:
    """Sends XML-RPC ``weblogUpdates`` pings (weblogs.com's interface, used by
    Ping-O-Matic and friends).

    ``weblogUpdates.extendedPing(name, url, changed_url, feed_url)`` first; if the
    server does not know it, ``weblogUpdates.ping(name, url)``. Both answer a
    struct ``{flerror, message}``; ``flerror`` true means the server refused the
    ping (spam filter, rate limit, bad URL), which retrying soon will not change,
    so it is refused with the server's message, as any other fault is. Transport
    problems, 5xx, 408 and 429 retry.

    Servers bend the spec, and pings must still get through: ``flerror`` may be
    written ``true``/``false``; a fault may come with HTTP 500 (or a 4xx), and is
    read as a fault; "unknown method" may be worded rather than coded -32601
    (``is_method_unknown``). A 500 whose body is not XML-RPC is a transport error.
    """

    def __init__(
        self, session: requests.Session, timeout: float | None = None, clock: Clock = utc_now
    ) -> None:
        self.session = session
        self.timeout = _session_timeout(session, timeout)
        self.clock = clock

    def ping(
        self, server: str, site_name: str, site_url: str, changed_url: str, feed_url: str
    ) -> Outcome:
        """Ping ``server`` about the site; never raises for network errors."""
        start = time.perf_counter()
        transport = RequestsTransport(self.session, server, self.timeout)
        method = WEBLOG_EXTENDED_PING
        try:
            with xmlrpc.client.ServerProxy(server, transport=transport) as proxy:
                try:
                    result = proxy.weblogUpdates.extendedPing(
                        site_name, site_url, changed_url, feed_url
                    )
                except xmlrpc.client.Fault as fault:
                    if not is_method_unknown(fault, method):
                        raise
                    log.debug("ping %s: %s unknown, falling back: %s", server, method, fault)
                    method = WEBLOG_PING
                    result = proxy.weblogUpdates.ping(site_name, site_url)
        except xmlrpc.client.Fault as fault:
            error = f"XML-RPC fault {fault.faultCode}: {fault.faultString}"
            return self._outcome("refused", transport, start, method, error)
        except xmlrpc.client.ProtocolError as exc:
            verdict = classify(exc.errcode)
            return dataclasses.replace(
                self._outcome(verdict, transport, start, method, exc.errmsg),
                retry_after=retry_after(transport.headers, self.clock()),
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            error = _describe(exc, self.timeout)
            return self._outcome("retry", transport, start, method, error)
        except requests.RequestException as exc:
            return self._outcome("fail", transport, start, method, _describe(exc, 0))
        except (ExpatError, xmlrpc.client.ResponseError, ValueError, TypeError) as exc:
            # 200 but not XML-RPC: most likely not a ping endpoint at all.
            error = f"malformed XML-RPC response: {exc}"
            return self._outcome("fail", transport, start, method, error)
        return self._result(result, transport, start, method)

    def _result(
        self, result: Any, transport: RequestsTransport, start: float, method: str
    ) -> Outcome:
        if not isinstance(result, dict):
            error = f"unexpected {method} response: {result!r}"[:200]
            return self._outcome("fail", transport, start, method, error)
        message = str(result.get("message", ""))
        if _flerror(result.get("flerror")):
            return self._outcome("refused", transport, start, method, message or "flerror true")
        return self._outcome("ok", transport, start, method, None)

    @staticmethod
    def _outcome(
        verdict: Verdict,
        transport: RequestsTransport,
        start: float,
        method: str,
        error: str | None,
    ) -> Outcome:
        return Outcome(
            verdict,
            http_status=transport.status,
            latency_ms=_elapsed_ms(start),
            error=error,
            method=method,
        )
