"""Proof of no loss: the whole pipeline as real processes under random kills, a reboot and an outage.

CHAOS_SECONDS sets the length of the kill phase (default 110; the whole test takes about 20-40 s more).
The figures are printed (run with -s to see them).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline import soak

CHAOS_SECONDS = float(os.environ.get("CHAOS_SECONDS", "110"))
MIN_KILLS, MIN_KILLS_IN_FLIGHT, MIN_PAYLOADS = 30, 10, 2000


@pytest.mark.slow
@pytest.mark.timeout(int(3 * CHAOS_SECONDS) + 900)
def test_no_payload_lost_or_invented_under_kills_reboot_and_outage(tmp_path: Path) -> None:
    """Every intent of the simulated span arrives, nothing else does, repeats are identical, files intact."""
    scenario = soak.Scenario(kill_seconds=CHAOS_SECONDS, min_kills=MIN_KILLS,
                             min_kills_in_flight=MIN_KILLS_IN_FLIGHT, outage_seconds=20.0)
    report = soak.run(scenario, tmp_path)
    print(f"\nchaos (driver seed {scenario.driver_seed}):\n{report.final()}\n"
          f"payloads during the kill phase {report.payloads_in_kill_phase}, kills in flight {report.kills_in_flight}")

    assert report.lost == [], f"{len(report.lost)} intents never arrived, e.g. {report.lost[:5]}"
    assert report.unexpected == [], f"ids no intent defines arrived: {report.unexpected[:5]}"
    assert report.differing == [], f"a repeated webhook-id carried another body: {report.differing[:5]}"
    assert report.dead_letters == 0
    assert all(report.integrity.values()), report.integrity
    # The run really was the scenario it claims to be.
    assert sum(report.kills.values()) >= MIN_KILLS and all(report.kills[r] > 0 for r in soak.WORKERS)
    assert report.kills_in_flight >= MIN_KILLS_IN_FLIGHT
    assert report.payloads_in_kill_phase >= MIN_PAYLOADS
    assert report.reboots == 1 and report.outages == 1
