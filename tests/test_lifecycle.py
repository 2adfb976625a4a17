"""Lifecycle.sleep: the one wait every worker uses must end at once on a stop request."""

from __future__ import annotations

import asyncio

from pipeline.workers.runner import Lifecycle
from pipeline.workers.sdnotify import Notifier


def test_stop_ends_a_long_sleep_and_reports_it() -> None:
    """A stop requested during an hour-long sleep ends it with False; later sleeps return False at once."""

    async def main() -> tuple[bool, bool]:
        life = Lifecycle(Notifier.from_environ({}))
        asyncio.get_running_loop().call_later(0.05, life.request_stop)
        first = await asyncio.wait_for(life.sleep(3600), timeout=30)
        second = await asyncio.wait_for(life.sleep(3600), timeout=30)
        return first, second

    assert asyncio.run(main()) == (False, False)


def test_sleep_without_stop_runs_to_its_end() -> None:
    """A short sleep with no stop returns True, after the full time has passed."""

    async def main() -> tuple[bool, float]:
        life = Lifecycle(Notifier.from_environ({}))
        loop = asyncio.get_running_loop()
        start = loop.time()
        done = await life.sleep(0.05)
        return done, loop.time() - start

    done, waited = asyncio.run(main())
    assert done is True
    assert waited >= 0.05
