"""Secrets at rest and in messages: owner-only files, masked URL credentials, no locals in exception logs,
empty keys as unset, the receiver's --secret-file, and 400 (not 500) for requests no sender makes."""

from __future__ import annotations

import json
import stat
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import structlog

from pipeline import logs
from pipeline.config import load_settings
from pipeline.delivery.signing import secret_key, sign
from pipeline.secrets import mask_url
from tests.children import Child, running, wait_for
from tests.conftest import command, run
from tests.delivery_support import SECRET, receiver_stats


@pytest.mark.process
def test_state_files_are_owner_only(env: dict[str, str], tmp_path: Path) -> None:
    """Whatever the caller's umask: queues, locks and heartbeats are readable by their owner alone."""
    result = subprocess.run(["sh", "-c", 'umask 022 && exec "$@"', "sh", *command("scheduler", "--backfill", "1h")],
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    state = Path(env["STATE_DIR"])
    made = [state, *state.rglob("*")]
    assert {p.name for p in made} >= {"queues.db", "scheduler.lock", "live", "scheduler.json"}
    for path in made:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path}: {oct(path.stat().st_mode)}"


def test_url_credentials_are_masked_in_messages_and_logs(capsys: pytest.CaptureFixture[str]) -> None:
    """In a config error line and in any log field."""
    assert mask_url("to https://bob:hunter2@example.org/x and ftp://a@b") == "to https://***@example.org/x and ftp://***@b"
    logs.configure(json=True)
    try:
        structlog.get_logger().warning("delivery.failed", error="POST http://bob:hunter2@10.0.0.1/hook refused")
    finally:
        structlog.reset_defaults()
    err = capsys.readouterr().err
    assert "hunter2" not in err and "http://***@10.0.0.1/hook" in err


def test_exception_logs_carry_no_local_variables(capsys: pytest.CaptureFixture[str]) -> None:
    """A frame's locals (a key, a signed body) never reach the log; the exception and its place do."""
    logs.configure(json=True)

    def failing() -> None:
        api_key = "AIza-very-secret-local"  # noqa: F841 (the local the log must not show)
        raise RuntimeError("the request failed")

    try:
        try:
            failing()
        except RuntimeError:
            structlog.get_logger().exception("enrich.batch_failed")
    finally:
        structlog.reset_defaults()
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert "AIza-very-secret-local" not in line and "RuntimeError" in line and record["event"] == "enrich.batch_failed"


def test_an_empty_key_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """`GEMINI_API_KEY=` in the environment (or .env) is no key: the offline writer, not Gemini with ''."""
    monkeypatch.setenv("GEMINI_API_KEY", "")
    monkeypatch.setenv("WEBHOOK_SECRET", "")
    monkeypatch.setenv("ENRICHER", "auto")
    cfg = load_settings()
    assert cfg.gemini_api_key is None and cfg.webhook_secret is None and not cfg.use_gemini


def _post(port: int, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/webhook", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.process
def test_the_receiver_reads_its_secret_from_a_file_and_answers_400_to_malformed_requests(
        tmp_path: Path, env: dict[str, str]) -> None:
    """--secret-file keeps the secret out of `ps`; a bad timestamp or a body that is not JSON is a 400."""
    from pipeline.receiver import free_port

    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    port = free_port()
    receiver = Child("receiver", "--port", str(port), "--secret-file", str(secret_file), "--quiet", env=env,
                     logs=tmp_path / "logs")
    with running(receiver):
        wait_for(lambda: receiver_stats(port), "the receiver listens", [receiver])
        assert SECRET not in " ".join(receiver.proc.args)  # type: ignore[arg-type]
        now = str(int(time.time()))
        body = b'{"id": "job_1"}'
        good = {"webhook-id": "job_1", "webhook-timestamp": now, "content-type": "application/json",
                "webhook-signature": sign(secret_key(SECRET), "job_1", int(now), body)}
        assert _post(port, body, good) == 204
        for timestamp in ("12.5", "²", "9" * 5000, "-1", ""):
            assert _post(port, body, {**good, "webhook-timestamp": timestamp}) == 400, timestamp
        for bad_body in (b"not json", b"[1, 2]", b"\xff\xfe"):
            signed = {**good, "webhook-signature": sign(secret_key(SECRET), "job_1", int(now), bad_body)}
            assert _post(port, bad_body, signed) == 400, bad_body
        assert _post(port, body, {**good, "webhook-signature": "v1,AAAA"}) == 401
    assert "Traceback" not in receiver.output()
    bad = tmp_path / "bad-secret"
    bad.write_text("whsec_tooshort")
    result = run("receiver", "--port", "0", "--secret-file", str(bad), env=env)
    assert result.returncode == 78 and "whsec_tooshort" not in result.stderr and len(result.stderr.splitlines()) == 1
