"""Serving benchmark parts: nginx on a temporary config, wrk runs, one-request checks.

Stdlib only. I/O: starts nginx and wrk, sends HTTP requests, and only ever to
127.0.0.1. Every wrk run is bounded by its duration; nginx is stopped by the caller's
``finally`` (``measure.stop_process``).
"""

from __future__ import annotations

import dataclasses
import http.client
import os
import re
import shutil
import subprocess
from pathlib import Path

from measure import BenchError, free_port, wait_until

HOST = "127.0.0.1"

NGINX_CONF = """\
worker_processes {workers};
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
{user}
events {{
  worker_connections 4096;
}}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 10000000;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  types {{
    application/rss+xml rss;
    application/atom+xml atom;
    text/x-opml opml;
    text/html html;
  }}
  default_type application/octet-stream;
  charset utf-8;
  charset_types application/rss+xml application/atom+xml text/x-opml;
  server {{
    listen {host}:{port};
    root {root};
    etag on;
    gzip_static on;
    location / {{ }}
  }}
}}
"""


def start_nginx(root: Path, prefix: Path, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    """nginx serving root (the build's files and their .gz) on 127.0.0.1; (process, port)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise BenchError("nginx is not installed (apt-get install nginx-light)")
    if prefix.exists():
        shutil.rmtree(prefix)
    prefix.mkdir(parents=True)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            workers=workers,
            prefix=prefix,
            user="user root;" if os.geteuid() == 0 else "",
            host=HOST,
            port=port,
            root=root,
        )
    )
    log = open(prefix / "stderr.log", "wb")  # noqa: SIM115 - the process keeps it
    command = [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    proc = subprocess.Popen(
        command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
    )
    log.close()
    if not wait_until(lambda: proc.poll() is not None or _answers(port), timeout=15):
        raise BenchError("nginx did not start listening within 15 s")
    if proc.poll() is not None:
        text = (prefix / "stderr.log").read_text() + (prefix / "error.log").read_text()
        raise BenchError(f"nginx exited: {text[-1500:]}")
    return proc, port


def _answers(port: int) -> bool:
    try:
        get(port, "/")
    except OSError:
        return False
    return True


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def get(port: int, path: str, headers: dict[str, str] | None = None) -> Answer:
    """One GET to 127.0.0.1:port."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
    finally:
        conn.close()


@dataclasses.dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    bad: int  # non-2xx/3xx answers and socket errors


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise BenchError(f"wrk: cannot read latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    if not (rps and p50 and p99):
        raise BenchError(f"wrk: unexpected output:\n{output[-1500:]}")
    bad = 0
    non = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non:
        bad += int(non.group(1))
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sock:
        bad += sum(int(n) for n in sock.groups())
    return WrkResult(float(rps.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), bad)


def run_wrk(
    port: int,
    path: str,
    headers: dict[str, str],
    seconds: int,
    connections: int,
    threads: int,
) -> WrkResult:
    """One wrk run against 127.0.0.1:port/path."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk is not installed (apt-get install wrk)")
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "--latency",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://{HOST}:{port}{path}")
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, stdin=subprocess.DEVNULL
    )
    if proc.returncode != 0:
        raise BenchError(f"wrk failed: {proc.stderr[-1000:]}")
    return parse_wrk(proc.stdout)
