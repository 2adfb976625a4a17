"""A Pi without a real-time clock starts at 1970: nothing is fixed, stamped or signed until the clock is set.

The workers run under Debian's libfaketime (installed by .ci/run): its clock reads 1970 until the test
rewrites the timestamp file to "+0" (the real time). The monotonic clock is left alone, as NTP leaves it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.wallclock import BUILD_FLOOR, age, plausible
from tests.children import Child, running, stats, wait_for
from tests.conftest import run
from tests.delivery_support import SECRET, receiver_stats

LIBFAKETIME = next((p for p in (Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),
                                Path("/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"),
                                Path("/usr/lib/arm-linux-gnueabihf/faketime/libfaketime.so.1"),
                                Path("/usr/lib/faketime/libfaketime.so.1")) if p.exists()), None)


def test_ages_are_never_negative_or_absurd() -> None:
    """A clock set back gives 0, a row stamped before the build (1970) gives no age at all."""
    now = BUILD_FLOOR + 1000
    assert age(now, now + 50) == 0.0
    assert age(now, 0.5) is None and age(10.0, 5.0) is None
    assert age(now, now - 30) == 30


def test_a_clock_earlier_than_the_last_write_is_implausible(tmp_path: Path) -> None:
    """The state folder's last write is a floor too: a clock set back an hour waits for it."""
    (tmp_path / "queues.db").write_bytes(b"")
    written = (tmp_path / "queues.db").stat().st_mtime
    assert plausible(written, tmp_path) and plausible(written + 3600, tmp_path)
    assert not plausible(written - 3600, tmp_path) and not plausible(0.0, tmp_path)


def _stream_meta(state: Path) -> dict[str, object] | None:
    if not (state / "queues.db").exists():
        return None
    conn = sqlite3.connect(state / "queues.db")
    try:
        row = conn.execute("SELECT value FROM pipeline_meta WHERE key = 'stream'").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    return None if row is None else dict(json.loads(row[0]))


@pytest.mark.process
@pytest.mark.skipif(LIBFAKETIME is None and os.environ.get("REQUIRE_FAKETIME") != "1",
                    reason="Debian's faketime is not installed (.ci/run installs it)")
def test_a_first_start_at_1970_fixes_nothing_and_signs_nothing_until_the_clock_is_set(
        tmp_path: Path, env: dict[str, str]) -> None:
    """Scheduler: no stream until the clock is right, then SIM_START is the real now. Deliverer: no request
    while the clock reads 1970, then every payload arrives signed, none dead for a 401."""
    assert LIBFAKETIME is not None, "REQUIRE_FAKETIME=1 but libfaketime.so.1 was not found"
    from pipeline.receiver import free_port

    # Payloads to deliver, made with the real clock in a folder of their own.
    ready = dict(env, STATE_DIR=str(tmp_path / "ready"))
    for name, args in (("scheduler", ("--backfill", "2h")), ("enricher", ("--drain",))):
        result = run(name, *args, env=ready)
        assert result.returncode == 0, result.stderr
    queued = stats(ready)["queues"]["payloads"]["ready"]
    assert queued > 10

    clock_file = tmp_path / "faketime"
    clock_file.write_text("@1970-01-01 00:00:00\n")
    fake = {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME_TIMESTAMP_FILE": str(clock_file), "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    port = free_port()
    fresh = {k: v for k, v in env.items() if k != "SIM_START"} | fake | {"STATE_DIR": str(tmp_path / "fresh")}
    sender = ready | fake | {"WEBHOOK_URL": f"http://127.0.0.1:{port}/webhook", "WEBHOOK_SECRET": SECRET,
                             "DELIVERY_RETRY_SCHEDULE": "0.2,0.5,1"}
    logs = tmp_path / "logs"
    receiver = Child("receiver", "--port", str(port), "--secret", SECRET, "--quiet", env=env, logs=logs)
    scheduler = Child("scheduler", env=fresh, logs=logs)
    deliverer = Child("deliverer", env=sender, logs=logs)
    everyone = [receiver, scheduler, deliverer]
    with running(*everyone):
        wait_for(lambda: receiver_stats(port), "the receiver listens", everyone)
        for child in (scheduler, deliverer):
            def waiting(c: Child = child) -> bool:
                return "clock.implausible" in c.output()

            wait_for(waiting, f"{child.label} waits for the clock", everyone)
        time.sleep(3)  # long enough for a tick, a stream and a delivery, had any of them happened
        assert _stream_meta(tmp_path / "fresh") is None, "no SIM_START fixed at 1970"
        assert receiver_stats(port) == {"received": 0, "unique": 0, "duplicates": 0}
        answered = receiver_stats(port, "/answers")
        assert answered is not None and answered["answered"] == {}, "not one signed request went out"

        set_at = time.time()
        clock_file.write_text("+0\n")
        meta = wait_for(lambda: _stream_meta(tmp_path / "fresh"), "the stream starts", everyone)
        started = datetime.fromisoformat(str(meta["sim_start"])).timestamp()
        assert set_at - 5 <= started <= time.time() + 1, "SIM_START is the real time the clock was set"
        wait_for(lambda: stats(ready)["queues"]["payloads"]["ready"] == 0
                 and stats(ready)["delivery"]["delivered_total"] >= queued, "every payload delivered", everyone)
        answered = receiver_stats(port, "/answers")
        assert answered is not None and "401" not in answered["answered"], answered
        assert stats(ready)["dead"]["count"] == 0
        for child in (scheduler, deliverer):
            out = child.output()
            assert out.count("clock.implausible") == 1 and out.count("clock.sane") == 1, out[-2000:]
    assert datetime.now(UTC).timestamp() > BUILD_FLOOR
