"""Support for the contract tests: Prism serving the providers' OpenAPI documents on loopback, behind a
recorder that keeps every exchange.

The adapters talk to the recorder; the recorder forwards to Prism and keeps the request (headers, body)
and Prism's answer, whose `sl-violations` header names any rule of the document the request broke.
Specs come from `$AFTERCARE_PROVIDER_SPECS/mock`; Prism from `$AFTERCARE_PRISM_BIN` or
`<project root>/.tools/prism/node_modules/.bin/prism` (`npm install --prefix .tools/prism
@stoplight/prism-cli`). Without either, the contract tests skip and say why.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.conftest import skip_or_fail

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    request_headers: dict[str, str]  # lower-case names
    body: bytes
    status: int
    response_headers: dict[str, str]  # lower-case names
    started: float  # time.monotonic() when the request reached the recorder

    @property
    def violations(self) -> str | None:
        return self.response_headers.get("sl-violations")

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        fields = parse_qs(self.body.decode(), keep_blank_values=True)
        return {key: values[0] for key, values in fields.items()}


@dataclass
class MockProvider:
    url: str
    spec: Path
    exchanges: list[Exchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> list[Exchange]:
        """The exchanges since the last call, oldest first."""
        with self.lock:
            taken, self.exchanges[:] = list(self.exchanges), []
        return sorted(taken, key=lambda exchange: exchange.started)


def assert_all_valid(exchanges: list[Exchange]) -> None:
    """Fail when Prism found any request breaking the provider's OpenAPI document."""
    broken = [(e.method, e.path, e.violations) for e in exchanges if e.violations]
    assert not broken, f"requests broke the provider's OpenAPI document: {broken}"


def assert_requests_valid(exchanges: list[Exchange]) -> None:
    """Fail when a request broke the provider's document; ignore Prism's complaints about its own answers.

    Twilio's list examples carry relative `uri` / `first_page_uri` / `next_page_uri` where the document says
    `format: uri`, so Prism flags every list response it serves; what we send is what this contract checks.
    """
    broken = [(e.method, e.path, [v for v in json.loads(e.violations) if v.get("location", [""])[0] != "response"])
              for e in exchanges if e.violations]
    broken = [b for b in broken if b[2]]
    assert not broken, f"requests broke the provider's OpenAPI document: {broken}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prism_bin() -> Path | None:
    configured = os.environ.get("AFTERCARE_PRISM_BIN")
    candidate = Path(configured) if configured else PROJECT_ROOT / ".tools/prism/node_modules/.bin/prism"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def mock_spec(name: str) -> Path:
    root = os.environ.get("AFTERCARE_PROVIDER_SPECS")
    if not root:
        skip_or_fail("contract tests need AFTERCARE_PROVIDER_SPECS (the folder holding specs/ and mock/)")
    spec = Path(root) / "mock" / name
    if not spec.is_file():
        skip_or_fail(f"contract tests need {spec} (AFTERCARE_PROVIDER_SPECS points at the wrong folder?)")
    return spec


def recorder(upstream_port: int, provider: MockProvider) -> ThreadingHTTPServer:
    class Recorder(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            started = time.monotonic()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
            try:
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
                response_headers = response.getheaders()
            finally:
                upstream.close()
            with provider.lock:
                provider.exchanges.append(
                    Exchange(
                        method=self.command,
                        path=self.path,
                        request_headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                        status=response.status,
                        response_headers={k.lower(): v for k, v in response_headers},
                        started=started,
                    )
                )
            self.send_response(response.status)
            for name, value in response_headers:
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.daemon_threads = True
    return server


def start_prism(spec: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    prism = _prism_bin()
    if prism is None:
        skip_or_fail(
            "contract tests need Prism: npm install --prefix .tools/prism @stoplight/prism-cli "
            "(or set AFTERCARE_PRISM_BIN)"
        )
    port = _free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(prism), "mock", "-h", "127.0.0.1", "-p", str(port), str(spec)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped by our pid below
        )
    deadline = time.monotonic() + 90
    while "Prism is listening" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            pytest.fail(f"Prism did not start for {spec.name}:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    return process, port


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
