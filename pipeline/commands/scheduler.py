"""bin/scheduler: run the workload model on the simulated clock and write intents."""

from __future__ import annotations

from datetime import timedelta

from pipeline.commands import _cli
from pipeline.stream import establish_stream
from pipeline.workers.runner import Lifecycle
from pipeline.workers.scheduler import Scheduler
from pipeline.workload import Workload


@_cli.guarded
def main() -> int:
    """Entry point."""
    p = _cli.parser("scheduler", "Advance the simulated clock and write the job intents it passes.")
    p.add_argument("--backfill", type=_cli.duration, metavar="DURATION",
                   help="generate this much simulated time (e.g. 12h, 30d) as fast as possible, then exit")
    p.add_argument("--catch-up", action="store_true",
                   help="first advance the clock by the downtime times the scale factor, at once")
    p.add_argument("--scale-factor", type=float, help="simulated seconds per real second")
    p.add_argument("--tick-interval", type=float, help="real seconds between ticks")
    p.add_argument("--seed", type=int, help="seed of a new stream")
    p.add_argument("--sim-start", help="simulated start of a new stream (ISO 8601, UTC)")
    p.add_argument("--profile", help="workload profile (TOML)")
    args = p.parse_args()
    cfg = _cli.settings(args, scale_factor=args.scale_factor, tick_interval_sec=args.tick_interval,
                        seed=args.seed, sim_start=args.sim_start, profile=args.profile)
    try:
        workload = Workload.load(cfg.profile)
    except (ValueError, OSError) as exc:
        _cli.config_exit(f"PROFILE={cfg.profile}: {exc}")
    _lock, store = _cli.start_worker(cfg, "scheduler", consumer_of=())
    stream = establish_stream(store, cfg)

    async def make(life: Lifecycle) -> Scheduler:
        return Scheduler(
            store, workload, stream, life, scale_factor=cfg.scale_factor, tick_interval=cfg.tick_interval_sec,
            backfill=timedelta(seconds=args.backfill) if args.backfill is not None else None,
            catch_up=args.catch_up, cost_events="cost.usage" in cfg.webhook_event_types,
        )

    return _cli.run_worker(make, drain=args.backfill is not None)


if __name__ == "__main__":
    main()
