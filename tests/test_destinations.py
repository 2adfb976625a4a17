"""The destinations file: every entry checked, each bad one named with its file, entry and problem (exit 78)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from pipeline.destinations import DestinationsError, Endpoint, FileSink, NatsSink, load, shorthand
from pipeline.errors import EX_CONFIG
from pipeline.models import EVENT_TYPES

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123").decode()

GOOD = f"""
[[endpoint]]
name = "ledger"
url = "http://127.0.0.1:9001/webhook"
secret = "{SECRET}"
events = ["job.requested", "job.finished"]
rate_limit = 20
concurrency = 8

[[endpoint]]
name = "alerts"
url = "https://alerts.example/hook"
secret_file = "alerts.secret"

[[file]]
name = "archive"
path = "out"
rotate = "day"

[[nats]]
name = "bus"
url = "nats://127.0.0.1:4222"
events = ["job.finished"]
"""


def write(tmp_path: Path, text: str) -> Path:
    """A destinations file in tmp_path, with the secret file the good example points at."""
    (tmp_path / "alerts.secret").write_text(SECRET + "\n")
    path = tmp_path / "destinations.toml"
    path.write_text(text)
    return path


def test_a_good_file_gives_every_destination_with_its_settings(tmp_path: Path) -> None:
    """Kinds, filters, limits and secrets (also from a file, relative to the destinations file) come through."""
    ledger, alerts, archive, bus = load(write(tmp_path, GOOD))
    assert isinstance(ledger, Endpoint) and isinstance(alerts, Endpoint)
    assert (ledger.name, ledger.events, ledger.rate_limit, ledger.concurrency) == (
        "ledger", ("job.requested", "job.finished"), 20.0, 8)
    assert ledger.secret is not None and ledger.secret.get_secret_value() == SECRET
    assert alerts.secret is not None and alerts.secret.get_secret_value() == SECRET
    assert (alerts.events, alerts.rate_limit, alerts.concurrency) == (EVENT_TYPES, None, None)
    assert isinstance(archive, FileSink) and archive.directory == tmp_path / "out" and archive.rotate == "day"
    assert isinstance(bus, NatsSink) and (bus.subject, bus.stream, bus.events) == (
        "finops.{type}", "FINOPS", ("job.finished",))
    assert SECRET not in repr(ledger)


def test_the_shorthand_is_one_endpoint_named_default() -> None:
    """WEBHOOK_URL alone stands for one endpoint, as before destinations files existed."""
    (only,) = shorthand("http://127.0.0.1:8080/webhook", None, EVENT_TYPES)
    assert isinstance(only, Endpoint) and only.name == "default" and only.events == EVENT_TYPES


@pytest.mark.parametrize(
    ("edit", "entry", "problem"),
    [
        (lambda t: t.replace('rate_limit = 20', 'rate_limt = 20'), "[[endpoint]] 'ledger'", "unknown key 'rate_limt'"),
        (lambda t: t + '\n[[webhook]]\nname = "x"\n', "[webhook]", "unknown kind of entry"),
        (lambda t: t.replace('name = "alerts"', 'name = "ledger"'), "[[endpoint]] 'ledger'", "duplicate name"),
        (lambda t: t.replace('name = "bus"', 'name = "archive"'), "[[nats]] 'archive'", "duplicate name"),
        (lambda t: t.replace('path = "out"', 'path = "missing/deeper/out"'), "[[file]] 'archive'",
         "cannot be written"),
        (lambda t: t.replace(SECRET, "s3cr3t-not-whsec"), "[[endpoint]] 'ledger'", "Standard Webhooks secret"),
        (lambda t: t.replace('"alerts.secret"', '"nowhere.secret"'), "[[endpoint]] 'alerts'", "cannot be read"),
        (lambda t: t.replace('"job.finished"]\n', '"job.done"]\n', 1), "[[endpoint]] 'ledger'", "unknown: job.done"),
        (lambda t: t.replace("http://127.0.0.1:9001", "ftp://127.0.0.1:9001"), "[[endpoint]] 'ledger'",
         "url must start with"),
        (lambda t: t.replace("concurrency = 8", "concurrency = 0"), "[[endpoint]] 'ledger'", "concurrency must be"),
        (lambda t: t.replace("rate_limit = 20", "rate_limit = -1"), "[[endpoint]] 'ledger'", "rate_limit must be"),
        (lambda t: t.replace('rotate = "day"', 'rotate = "hourly"'), "[[file]] 'archive'", "rotate must be"),
        (lambda t: t.replace('name = "bus"', 'name = "Bus Stop"'), "[[nats]] 'Bus Stop'", "name must be"),
        (lambda t: t.replace('secret_file = "alerts.secret"',
                             f'secret_file = "alerts.secret"\nsecret = "{SECRET}"'), "[[endpoint]] 'alerts'",
         "not both"),
        (lambda t: t + "\n[[file]\n", "file", "not valid TOML"),
    ],
)
def test_each_bad_entry_is_named_with_its_problem(tmp_path: Path, edit: object, entry: str, problem: str) -> None:
    """One error per bad file naming the file, the entry and what is wrong; never the secret's value."""
    assert callable(edit)
    path = write(tmp_path, edit(GOOD))
    with pytest.raises(DestinationsError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {entry}: "), message
    assert problem in message
    assert "\n" not in message and SECRET not in message and "s3cr3t" not in message
    assert caught.value.exit_code == EX_CONFIG


def test_an_empty_or_missing_file_is_refused(tmp_path: Path) -> None:
    """A file listing nothing would silently send nowhere; a missing one cannot be read."""
    with pytest.raises(DestinationsError, match="lists no destination"):
        load(write(tmp_path, "# nothing yet\n"))
    with pytest.raises(DestinationsError, match="cannot be read"):
        load(tmp_path / "absent.toml")
