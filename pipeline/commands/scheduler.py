"""bin/scheduler: run the workload model on the simulated clock and write intents."""

from __future__ import annotations

from datetime import timedelta

import structlog

from pipeline.commands import _cli
from pipeline.stream import establish_stream
from pipeline.workers.runner import Lifecycle
from pipeline.workers.scheduler import Scheduler
from pipeline.workload.profile import headcount

log = structlog.get_logger()


@_cli.guarded
def main() -> int:
    """Entry point."""
    p = _cli.parser("scheduler", "Advance the simulated clock and write the job intents it passes.", examples=[
        "bin/scheduler                          # run forever at SCALE_FACTOR",
        "bin/scheduler --scale-factor realtime  # one simulated second per real second",
        "bin/scheduler --backfill 30d           # write 30 simulated days at once, then exit",
    ])
    p.add_argument("--backfill", type=_cli.duration, metavar="DURATION",
                   help="generate this much simulated time (e.g. 12h, 30d) as fast as possible, then exit")
    p.add_argument("--catch-up", action="store_true",
                   help="first advance the clock by the downtime times the scale factor, at once")
    p.add_argument("--scale-factor", type=_cli.scale_factor, metavar="SCALE_FACTOR",
                   help="simulated seconds per real second, or realtime (1), demo (60), default (720) "
                        "(default: SCALE_FACTOR, else 720)")
    p.add_argument("--tick-interval", type=float, metavar="TICK_INTERVAL_SEC",
                   help="real seconds between ticks (default: TICK_INTERVAL_SEC, else 1)")
    p.add_argument("--seed", type=int, metavar="SEED", help="seed of a new stream (default: SEED, else random)")
    p.add_argument("--sim-start", metavar="SIM_START",
                   help="simulated start of a new stream, ISO 8601 UTC (default: SIM_START, else now)")
    p.add_argument("--profile", metavar="PROFILE",
                   help="workload profile, TOML (default: PROFILE, else data/profiles/default.toml)")
    p.add_argument("--company-size", type=_cli.positive_int, metavar="COMPANY_SIZE",
                   help="engineers in the simulated company (default: COMPANY_SIZE, else the profile's)")
    args = p.parse_args()
    cfg = _cli.settings(args, scale_factor=args.scale_factor, tick_interval_sec=args.tick_interval,
                        seed=args.seed, sim_start=args.sim_start, profile=args.profile,
                        company_size=args.company_size)
    workload = _cli.load_workload(cfg.profile, cfg.company_size)  # a bad profile stops before any state
    _lock, store = _cli.start_worker(cfg, "scheduler", consumer_of=())
    stream = establish_stream(store, cfg)
    if stream.company_size != cfg.company_size:  # the persisted size rules when COMPANY_SIZE is unset
        workload = _cli.load_workload(cfg.profile, stream.company_size)
    log.info("scheduler.pace", scale_factor=cfg.scale_factor, jobs_per_sim_day=round(workload.expected_per_day()),
             jobs_per_real_minute=round(_cli.jobs_per_real_minute(workload, cfg.scale_factor), 1),
             company_size=headcount(workload.profile))

    async def make(life: Lifecycle) -> Scheduler:
        return Scheduler(
            store, workload, stream, life, scale_factor=cfg.scale_factor, tick_interval=cfg.tick_interval_sec,
            backfill=timedelta(seconds=args.backfill) if args.backfill is not None else None,
            catch_up=args.catch_up, cost_events="cost.usage" in cfg.webhook_event_types,
        )

    return _cli.run_worker(make, drain=args.backfill is not None)


if __name__ == "__main__":
    main()
