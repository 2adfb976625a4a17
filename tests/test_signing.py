"""Standard Webhooks signing: the published vector, the reference library, tampering and staleness."""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook, WebhookVerificationError
from werkzeug import Request, Response

from pipeline.delivery.sender import HttpSender, attempt_headers
from pipeline.delivery.signing import secret_key, sign, verify
from tests.delivery_support import SECRET

# The vector the Standard Webhooks libraries test against (svix-webhooks, worker.rs).
VECTOR_ID, VECTOR_TS, VECTOR_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

ids = st.text(st.characters(min_codepoint=48, max_codepoint=122, exclude_characters="."), min_size=1, max_size=40)


def test_signer_reproduces_the_published_test_vector() -> None:
    """Our HMAC over id.timestamp.body gives the spec's expected signature byte for byte."""
    assert sign(secret_key(SECRET), VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE


def test_a_real_delivery_verifies_with_the_standardwebhooks_package(httpserver: HTTPServer) -> None:
    """The sender's actual request (headers and exact bytes) passes the reference library's verify."""
    captured: list[Request] = []

    def handler(request: Request) -> Response:
        captured.append(request)
        return Response(status=204)

    httpserver.expect_request("/webhook", method="POST").respond_with_handler(handler)
    body = b'{"id":"job_abc","schema_version":1,"text":"caf\xc3\xa9 \\u00e9"}'

    async def send() -> int | None:
        sender = HttpSender(httpserver.url_for("/webhook"), secret=SECRET, connect_timeout=5, timeout=5,
                            concurrency=1)
        try:
            return (await sender.send("job_abc", body)).status
        finally:
            await sender.aclose()

    assert asyncio.run(send()) == 204
    request = captured[0]
    assert request.get_data() == body
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["webhook-id"] == "job_abc"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("finops-input-generator/")
    Webhook(SECRET).verify(body, headers)  # raises WebhookVerificationError on any mismatch


@given(msg_id=ids, body=st.binary(max_size=300), timestamp=st.integers(1_600_000_000, 2_000_000_000))
def test_our_signature_matches_the_reference_signer(msg_id: str, body: bytes, timestamp: int) -> None:
    """For any id, time and body the reference library computes the same signature as ours."""
    text = body.decode("latin-1")
    expected = Webhook(SECRET).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), text)
    assert sign(secret_key(SECRET), msg_id, timestamp, text.encode()) == expected


@given(body=st.binary(min_size=1, max_size=200), flip=st.integers(0, 199))
def test_verify_refuses_a_tampered_body(body: bytes, flip: int) -> None:
    """Changing any byte of the body invalidates the signature."""
    key, now = secret_key(SECRET), 1_700_000_000
    headers = attempt_headers(key, "job_x", body, now)
    tampered = bytearray(body)
    tampered[flip % len(body)] ^= 0x01
    assert verify(key, "job_x", headers["webhook-timestamp"], headers["webhook-signature"], body, now=now)
    assert not verify(key, "job_x", headers["webhook-timestamp"], headers["webhook-signature"],
                      bytes(tampered), now=now)


def test_verify_refuses_stale_missing_and_foreign_signatures() -> None:
    """A timestamp beyond 5 minutes, an empty header, or another key's signature is refused."""
    key, body, now = secret_key(SECRET), b"{}", 1_700_000_000
    headers = attempt_headers(key, "job_x", body, now)
    ts, sig = headers["webhook-timestamp"], headers["webhook-signature"]
    assert not verify(key, "job_x", ts, sig, body, now=now + 301)
    assert not verify(key, "job_x", ts, "", body, now=now)
    assert not verify(key, "job_x", "", sig, body, now=now)
    other = base64.b64decode("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert not verify(other, "job_x", ts, sig, body, now=now)
    # A rotation header carrying an unknown signature first still verifies on the second.
    assert verify(key, "job_x", ts, f"v1,AAAA {sig}", body, now=now)


def test_each_attempt_is_signed_afresh_with_its_own_timestamp() -> None:
    """A retry carries a new timestamp and signature that verify now, where the first attempt's would not."""
    key, body = secret_key(SECRET), b'{"id":"job_r"}'
    first = attempt_headers(key, "job_r", body, time.time() - 3600)
    retry = attempt_headers(key, "job_r", body, time.time())
    assert first["webhook-id"] == retry["webhook-id"]
    assert first["webhook-signature"] != retry["webhook-signature"]
    Webhook(SECRET).verify(body, retry)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, first)
