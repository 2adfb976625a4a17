"""bin/dashboard as a process: the token rule, the same figures as queue-stats, and nothing written."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.delivery import dead
from pipeline.models import DeadLetter
from pipeline.queues import open_store
from tests.conftest import run
from tests.dashboard_support import TOKEN, Dashboard, queue_stats
from tests.delivery_support import free_port, put_payloads, receiver_stats, start_receiver

pytestmark = pytest.mark.process  # every test here starts real processes


def _state(tmp_path: Path) -> Path:
    """A state folder with three ready payloads and one dead letter, and no worker running."""
    state = tmp_path / "state"
    put_payloads(state, ["p1", "p2", "p3"])
    store = open_store(state)
    try:
        now = datetime.now(UTC)
        letter = DeadLetter(payload_id="p0", body='{"id":"p0"}', reason="rejected", last_status=400,
                            response_snippet="no", attempts=3, first_attempt_at=now, last_attempt_at=now, dead_at=now)
        with store.transaction() as tx:
            tx.put("payloads", [b'{"id":"p0"}'])
        pqid = store.rows("payloads", newest_first=True, limit=1)[0].pqid
        with store.transaction() as tx:
            dead.bury(tx, pqid, letter)
    finally:
        store.close()
    return state


def _without_ages(stats: dict[str, Any]) -> dict[str, Any]:
    """The report with the ages (which grow between two readings) left out."""
    text = json.dumps(stats)
    out: dict[str, Any] = json.loads(text)
    for queue in out["queues"].values():
        queue.pop("oldest_ready_age_s")
    return out


def test_a_non_loopback_address_needs_a_token(tmp_path: Path, env: dict[str, str]) -> None:
    """Without DASHBOARD_TOKEN, --host 0.0.0.0 stops at once with exit 78 and one line naming the setting."""
    (tmp_path / "state").mkdir()
    env.pop("DASHBOARD_TOKEN", None)
    done = run("dashboard", "--host", "0.0.0.0", "--port", "1", env=env)
    assert done.returncode == 78, done.stderr
    assert "DASHBOARD_TOKEN" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_every_request_needs_the_token_when_one_is_set(tmp_path: Path, env: dict[str, str]) -> None:
    """Bound to all addresses with a token: no token or a wrong one is 401 on every path; the header works;
    /?token= trades the token for an HttpOnly cookie; the token is never printed or served."""
    state = _state(tmp_path)
    dash = Dashboard(state, {**env, "DASHBOARD_TOKEN": TOKEN}, tmp_path / "dash.log", host="0.0.0.0")
    try:
        for path in ("/", "/api/snapshot", "/api/events", "/static/app.js"):
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                try:
                    urllib.request.urlopen(urllib.request.Request(dash.url + path, headers=headers), timeout=10)
                    raise AssertionError(f"{path} answered without the token")
                except urllib.error.HTTPError as exc:
                    assert exc.code == 401, path
        snapshot = dash.get("/api/snapshot")
        assert snapshot is not None and snapshot["stats"]["dead"]["count"] == 1

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any) -> None:
                return None

        try:
            urllib.request.build_opener(NoRedirect).open(f"{dash.url}/?token={TOKEN}", timeout=10)
            raise AssertionError("/?token= did not redirect")
        except urllib.error.HTTPError as exc:
            assert exc.code == 303 and exc.headers["Location"] == "/"
            cookie = exc.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        with urllib.request.urlopen(urllib.request.Request(
                dash.url + "/", headers={"Cookie": cookie.split(";")[0]}), timeout=10) as resp:
            assert resp.status == 200 and b"uPlot" in resp.read()
        assert TOKEN not in json.dumps(snapshot)
    finally:
        assert dash.stop() == 0
    assert TOKEN not in dash.output()


def test_the_page_shows_what_queue_stats_json_prints(tmp_path: Path, env: dict[str, str]) -> None:
    """On a quiet state folder the snapshot's `stats` is queue-stats --json --check, key for key; the dead
    letter comes with its exact replay command and the ready payloads are listed."""
    state = _state(tmp_path)
    dash = Dashboard(state, env, tmp_path / "dash.log")
    try:
        before = queue_stats(state, env)
        snapshot = dash.get("/api/snapshot")
        after = queue_stats(state, env)
    finally:
        assert dash.stop() == 0
    assert snapshot is not None
    assert _without_ages(before) == _without_ages(after) == _without_ages(snapshot["stats"])
    assert snapshot["stats"]["check"] == before["check"] and not before["check"]["healthy"]
    (letter,) = snapshot["dead_letters"]
    assert letter["payload_id"] == "p0" and letter["reason"] == "rejected" and letter["attempts"] == 3
    assert letter["command"] == f"bin/replay-dead --state-dir {state} --id p0"
    assert "body" not in letter
    listed = {(p["id"], p["status"]) for p in snapshot["payloads"]}
    assert listed == {("p1", "ready"), ("p2", "ready"), ("p3", "ready"), ("p0", "dead")}
    assert [(w["running"], w["last_seen_s"]) for w in snapshot["workers"]] == [(False, None)] * 3


def _fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.iterdir())}


def test_the_dashboard_writes_nothing_to_the_state_folder(tmp_path: Path, env: dict[str, str]) -> None:
    """Snapshots and an event stream later, every file of the folder is byte for byte and time for time the
    same, and no file was added (no -wal, no -shm, no lock)."""
    state = _state(tmp_path)
    before = _fingerprint(state)
    dash = Dashboard(state, env, tmp_path / "dash.log", "--refresh", "0.5")
    try:
        for _ in range(3):
            assert dash.get("/api/snapshot") is not None
        with urllib.request.urlopen(dash.url + "/api/events", timeout=10) as events:
            seen = 0
            while seen < 2:
                line = events.readline()
                seen += line.startswith(b"data: ")
    finally:
        assert dash.stop() == 0
    assert _fingerprint(state) == before


def test_a_missing_state_folder_is_one_line_and_exit_2(tmp_path: Path, env: dict[str, str]) -> None:
    """The dashboard never creates a state folder."""
    done = run("dashboard", "--state-dir", str(tmp_path / "nope"), env=env)
    assert done.returncode == 2 and "no such state folder" in done.stderr
    assert not (tmp_path / "nope").exists()


def test_the_receiver_serves_the_page_of_what_it_received(tmp_path: Path, env: dict[str, str]) -> None:
    """bin/receiver's / is the dashboard page; its snapshot lists the newest payload first, marks a repeat as
    a duplicate, and counts the money of each payload once."""
    port = free_port()
    proc = start_receiver(port)
    try:
        body = {"id": "job_a", "occurred_at": "2026-03-04T10:00:00+00:00", "request": {"text": "two H100s"},
                "truth": {"team": "vision", "cost_center": "CC-1", "gpu_count": 2, "gpu_type": "H100"},
                "cost": {"estimated_cost": 12.5, "estimated_list_cost": 20.0}}
        for webhook_id in ("job_a", "job_a"):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/webhook", data=json.dumps(body).encode(),
                                             headers={"webhook-id": webhook_id, "content-type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as resp:
                assert resp.status == 204
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
            assert b"/static/app.js" in resp.read()
        snapshot = receiver_stats(port, "/api/snapshot")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert snapshot is not None and snapshot["mode"] == "receiver"
    assert snapshot["receiver"] | {"answered": None} == {"received": 2, "unique": 1, "duplicates": 1,
                                                         "dropped": 0, "answered": None}
    assert [p["status"] for p in snapshot["payloads"]] == ["duplicate", "received"]
    today = snapshot["money"]["today"]
    assert (today["jobs"], today["estimated_usd"], today["by_team"], today["day"]) == (1, 12.5, {"vision": 12.5},
                                                                                     "2026-03-04")
