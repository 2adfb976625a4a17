"""bin/receiver as a real process: signature checking and each fault-injection flag."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pipeline.delivery.sender import attempt_headers
from pipeline.delivery.signing import secret_key
from tests.delivery_support import SECRET, free_port, receiver_stats, start_receiver, wait_until

pytestmark = pytest.mark.process  # every test here starts real processes

BODY = b'{"id":"job_1","schema_version":1}'


def _post(port: int, headers: dict[str, str], body: bytes = BODY) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}/webhook", content=body, headers=headers, timeout=5)


def _headers(payload_id: str = "job_1", body: bytes = BODY, at: float | None = None) -> dict[str, str]:
    return attempt_headers(secret_key(SECRET), payload_id, body, time.time() if at is None else at)


def test_secret_answers_401_to_bad_missing_or_stale_signatures(tmp_path: Path) -> None:
    """Only a fresh, matching signature is accepted (and stored with its webhook-id)."""
    port, store = free_port(), tmp_path / "r.jsonl"
    proc = start_receiver(port, "--secret", SECRET, "--store", str(store))
    try:
        good = _headers()
        missing = {k: v for k, v in good.items() if k != "webhook-signature"}
        stale = _headers(at=time.time() - 600)
        forged = {**good, "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
        tampered_body = b'{"id":"job_1","schema_version":2}'
        assert [_post(port, h).status_code for h in (missing, stale, forged)] == [401, 401, 401]
        assert _post(port, good, tampered_body).status_code == 401
        assert _post(port, good).status_code == 204
        stats = receiver_stats(port)
    finally:
        proc.kill()
    assert stats is not None and (stats["received"], stats["unique"], stats["duplicates"]) == (1, 1, 0)
    assert [json.loads(line)["webhook_id"] for line in store.read_text().splitlines()] == ["job_1"]


def test_reject_ids_and_fail_rate_with_retry_after(tmp_path: Path) -> None:
    """Listed ids get 400; --fail-rate 1 answers the chosen status with Retry-After on 429."""
    port = free_port()
    (tmp_path / "ids").write_text("job_bad\n")
    proc = start_receiver(port, "--reject-ids", str(tmp_path / "ids"))
    try:
        assert _post(port, _headers("job_bad")).status_code == 400
        assert _post(port, _headers("job_ok")).status_code == 204
    finally:
        proc.kill()
    port = free_port()
    proc = start_receiver(port, "--fail-rate", "1", "--fail-status", "429", "--retry-after", "7")
    try:
        answer = _post(port, _headers())
        assert (answer.status_code, answer.headers["retry-after"]) == (429, "7")
        assert receiver_stats(port) == {"received": 0, "unique": 0, "duplicates": 0}
        assert receiver_stats(port, "/answers") == {"answered": {"429": 1}, "dropped": 0}
    finally:
        proc.kill()


def test_drop_rate_closes_the_connection_without_an_answer() -> None:
    """--drop-rate 1: the client gets no HTTP answer at all."""
    port = free_port()
    proc = start_receiver(port, "--drop-rate", "1")
    try:
        with pytest.raises(httpx.TransportError):
            _post(port, _headers())
        assert (receiver_stats(port, "/answers") or {}).get("dropped") == 1
    finally:
        proc.kill()


def test_outage_refuses_connections_then_serves_again() -> None:
    """During --outage START,DURATION the port refuses connections; afterwards it answers again."""
    port = free_port()
    proc = start_receiver(port, "--outage", "2,1.5", wait=False)

    def refused() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) != 0

    try:
        wait_until(lambda: receiver_stats(port) is not None, interval=0.05)
        wait_until(refused, interval=0.05)
        with pytest.raises(httpx.ConnectError):
            _post(port, _headers())
        wait_until(lambda: receiver_stats(port) is not None, interval=0.05)
        assert _post(port, _headers()).status_code == 204
    finally:
        proc.kill()


def test_bad_fault_flags_are_usage_errors(tmp_path: Path) -> None:
    """A rate outside [0, 1], a malformed outage or a missing id file exits 2 before serving."""
    for flags in (["--fail-rate", "1.5"], ["--outage", "5"], ["--reject-ids", str(tmp_path / "nope")]):
        result = subprocess.run([sys.executable, "-m", "pipeline.commands.receiver", "--port", "1", *flags],
                                capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 2, flags
