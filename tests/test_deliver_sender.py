"""The HTTP sender against pytest-httpserver: every outcome becomes an Attempt, redirects are not followed."""

from __future__ import annotations

import asyncio
import time

from pytest_httpserver import HTTPServer

from pipeline.delivery.sender import Attempt, HttpSender
from tests.delivery_support import free_port


def _send(url: str, body: bytes = b'{"id":"job_1"}', timeout: float = 5) -> Attempt:
    async def go() -> Attempt:
        sender = HttpSender(url, secret=None, connect_timeout=timeout, timeout=timeout, concurrency=2)
        try:
            return await sender.send("job_1", body)
        finally:
            await sender.aclose()

    return asyncio.run(go())


def test_a_redirect_is_a_failure_and_is_not_followed(httpserver: HTTPServer) -> None:
    """A 302 comes back as status 302; the redirect target never sees the payload."""
    httpserver.expect_request("/webhook").respond_with_data("", status=302,
                                                            headers={"location": httpserver.url_for("/elsewhere")})
    httpserver.expect_request("/elsewhere").respond_with_data("", status=204)
    attempt = _send(httpserver.url_for("/webhook"))
    assert attempt.status == 302
    assert [r.path for r, _ in httpserver.log] == ["/webhook"]


def test_a_refusal_keeps_retry_after_and_a_snippet(httpserver: HTTPServer) -> None:
    """A 503's Retry-After header and the start of its body reach the policy."""
    httpserver.expect_request("/webhook").respond_with_data("x" * 5000, status=503, headers={"retry-after": "42"})
    attempt = _send(httpserver.url_for("/webhook"))
    assert (attempt.status, attempt.retry_after, attempt.error) == (503, "42", None)
    assert attempt.snippet == "x" * 300


def test_the_exact_stored_bytes_are_posted(httpserver: HTTPServer) -> None:
    """The body is sent byte for byte as stored (never re-serialised)."""
    body = b'{ "id" : "job_1",  "odd spacing": [1,2] }'
    httpserver.expect_request("/webhook", data=body, headers={"webhook-id": "job_1"}).respond_with_data("", 204)
    assert _send(httpserver.url_for("/webhook"), body).status == 204


def test_connection_refused_is_an_attempt_without_status() -> None:
    """Nothing listening: no exception, status None and an error naming what happened."""
    attempt = _send(f"http://127.0.0.1:{free_port()}/webhook")
    assert attempt.status is None
    assert attempt.error is not None and "Connect" in attempt.error


def test_a_timeout_is_an_attempt_without_status(httpserver: HTTPServer) -> None:
    """An endpoint slower than DELIVERY_TIMEOUT yields status None (transient), not a hang or a crash."""
    def slow(_: object) -> None:
        time.sleep(1.0)

    httpserver.expect_request("/webhook").respond_with_handler(slow)  # type: ignore[arg-type]
    attempt = _send(httpserver.url_for("/webhook"), timeout=0.2)
    assert attempt.status is None
    assert attempt.error is not None and "Timeout" in attempt.error
