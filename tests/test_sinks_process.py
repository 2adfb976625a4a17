"""bin/deliverer with a DESTINATIONS file: the file sink and the NATS sink as real processes, kills included."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path

import pytest

from harness.nats import running
from pipeline.sinks.jsonl import read_all
from tests.conftest import command, intents_in, run, wait_until
from tests.test_sink_nats import stored

# Real nats-server and worker processes on loopback: not in bin/test --fast.
pytestmark = pytest.mark.process


def backfill(env: dict[str, str], span: str) -> list[str]:
    """Backfill and enrich a span; the ids of every event of it (all three types), in stream order."""
    assert run("scheduler", "--backfill", span, env=env).returncode == 0
    ids = [row["id"] for row in intents_in(Path(env["STATE_DIR"]))]
    assert len(ids) == len(set(ids)) > 300
    result = run("enricher", "--drain", env=env)
    assert result.returncode == 0, result.stderr
    return ids


def destinations(tmp_path: Path, text: str) -> str:
    """Write a destinations file; its path for DESTINATIONS."""
    path = tmp_path / "destinations.toml"
    path.write_text(text)
    return str(path)


def test_the_file_sink_gets_every_event_of_the_span_once(env: dict[str, str], tmp_path: Path) -> None:
    """A drained deliverer with a file destination leaves every event of the backfill in the JSON Lines files,
    rotated and compressed along the way, and the payloads queue empty."""
    expected = backfill(env, "1d")
    env["DESTINATIONS"] = destinations(tmp_path, '[[file]]\nname = "archive"\npath = "out"\nrotate_bytes = 65536\n')
    result = run("deliverer", "--drain", env=env)
    assert result.returncode == 0, result.stderr
    got = [json.loads(line)["id"] for line in read_all(tmp_path / "out")]
    assert sorted(got) == sorted(expected)  # every one, none twice
    assert len(list((tmp_path / "out").glob("*.jsonl.gz"))) >= 2
    stats = json.loads(run("queue-stats", "--json", env=env).stdout)
    assert stats["queues"]["payloads"]["ready"] == stats["queues"]["payloads"]["unacked"] == 0
    assert stats["dead"]["count"] == 0


def test_the_nats_sink_holds_every_event_exactly_once_after_deliverer_kills(env: dict[str, str],
                                                                           tmp_path: Path) -> None:
    """SIGKILLs of the deliverer mid-stream: its restarts publish again what they had not recorded, and
    JetStream's dedup by Nats-Msg-Id leaves each event of the span in the stream exactly once."""
    expected = backfill(env, "2d")
    with running(tmp_path / "nats", 1) as cluster:
        url = cluster.urls[0]
        env["DESTINATIONS"] = destinations(tmp_path, f'[[nats]]\nname = "bus"\nurl = "{url}"\n')
        env["DELIVERY_CONCURRENCY"] = "16"
        published = 0
        for kill in range(3):
            proc = subprocess.Popen(command("deliverer"), env=env, stderr=subprocess.PIPE)
            try:
                floor = published + 150
                wait_until(lambda floor=floor: _count(url) >= floor, timeout=90, interval=0.05)
            except AssertionError:
                proc.kill()
                raise AssertionError(f"kill {kill}: deliverer stalled: {proc.communicate()[1].decode()[-2000:]}"
                                     f"\n{cluster.logs()}") from None
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            published = _count(url)
        assert published < len(expected), "the kills landed after everything was published"
        result = run("deliverer", "--drain", env=env, timeout=300)
        assert result.returncode == 0, result.stderr
        messages = asyncio.run(stored(url, "FINOPS"))
    ids = [body_id for _, _, body_id in messages]
    assert len(ids) == len(set(ids)) and set(ids) == set(expected)
    assert all(subject.startswith("finops.") and header == body_id for subject, header, body_id in messages)


def _count(url: str) -> int:
    """Messages in the FINOPS stream (0 before the deliverer created it)."""

    async def count() -> int:
        import nats
        from nats.js.errors import NotFoundError

        nc = await nats.connect(servers=[url])
        try:
            return int((await nc.jetstream().stream_info("FINOPS")).state.messages)
        except NotFoundError:
            return 0
        finally:
            await nc.close()

    return asyncio.run(count())


def test_a_bad_destinations_file_stops_the_deliverer_with_78_and_one_line(env: dict[str, str],
                                                                          tmp_path: Path) -> None:
    """The file, the entry and the problem on one line; no state folder created."""
    env["DESTINATIONS"] = destinations(
        tmp_path, '[[endpoint]]\nname = "a"\nurl = "http://127.0.0.1:9/x"\nsecret = "plain"\n')
    result = run("deliverer", env=env)
    assert result.returncode == 78
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "destinations.toml: [[endpoint]] 'a': secret must be a Standard Webhooks" in lines[0]
    assert "plain" not in lines[0] and not Path(env["STATE_DIR"]).exists()


def test_several_destinations_are_refused_until_the_fan_out_lands(env: dict[str, str], tmp_path: Path) -> None:
    """Two destinations in the file: exit 78 saying this deliverer sends to one (never silently to one)."""
    env["DESTINATIONS"] = destinations(
        tmp_path, '[[file]]\nname = "a"\npath = "."\n\n[[file]]\nname = "b"\npath = "."\n')
    result = run("deliverer", env=env)
    assert result.returncode == 78 and "lists 2 destinations (a, b)" in result.stderr
