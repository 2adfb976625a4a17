"""What bin/queue-stats shows: one dict with every documented key, counted from the queue file."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline import backpressure, liveness
from pipeline.backpressure import Limits
from pipeline.clock import load_checkpoint, rfc3339
from pipeline.delivery import dead, retry_state
from pipeline.delivery.figures import DELIVERY_KEY
from pipeline.delivery.pause import read_pause
from pipeline.enrich.stats import ENRICHER_KEY
from pipeline.queues import View
from pipeline.secrets import mask_url
from pipeline.stream import read_stream
from pipeline.wallclock import BUILD_FLOOR

# Which role works off which queue: its rate over the last minute gives the queue's time to drain.
CONSUMERS = {"intents": "enricher", "payloads": "deliverer"}


def _defaults(scale_factor: float) -> dict[str, Any]:
    empty = {"ready": 0, "unacked": 0, "oldest_ready_age_s": None}
    return {
        "queues": {"intents": dict(empty), "payloads": {**empty, "waiting_retry": 0}},
        "dead": {"count": 0, "by_reason": {}, "by_status": {}},
        "sim_clock": {"start": None, "now": None, "scale_factor": scale_factor},
        "seed": None,
        "delivery": {"delivered_total": 0, "last_success_at": None, "last_error": None,
                     "breaker": "closed", "paused": False, "next_retry_at": None},
        "enricher": {"requests_today": 0, "tokens_in": 0, "tokens_out": 0, "est_cost_usd": 0.0,
                     "fallbacks": 0},
    }


def workers(state_dir: Path, now: float | None = None) -> dict[str, dict[str, Any]]:
    """Each role's liveness from its heartbeat: {role: {running, pid, since, last_heartbeat, ...}}."""
    return liveness.liveness(state_dir, now)


def _plausible(age_s: float | None, now: float) -> float | None:
    """An age only when both ends come from a plausible wall clock (no 1.79e9 s after an NTP jump)."""
    if age_s is None or now < BUILD_FLOOR or age_s > now - BUILD_FLOOR:
        return None
    return age_s


def _add_liveness(out: dict[str, Any], state_dir: Path, limits: Limits | None, store: View | None) -> None:
    now = time.time()
    roles = workers(state_dir, now)
    out["workers"] = roles
    out["wall_clock_plausible"] = now >= BUILD_FLOOR
    for name, role in CONSUMERS.items():
        queue = out["queues"][name]
        queue["oldest_ready_age_s"] = _plausible(queue["oldest_ready_age_s"], now)
        rate = roles[role]["rate_per_s"]
        waiting = queue["ready"] + queue["unacked"]
        queue["rate_per_min"] = None if rate is None else round(rate * 60, 1)
        queue["drain_s"] = 0.0 if not waiting else (round(waiting / rate, 1) if rate else None)
    if limits is not None:
        paused = roles["scheduler"]["paused"] if roles["scheduler"]["running"] else None
        out["backpressure"] = {
            "paused": paused is not None, "since": paused["since"] if paused else None,
            "reason": paused["reason"] if paused else None,
            "backlog": backpressure.backlog(store) if store is not None else 0, "max_backlog": limits.max_backlog,
            "free_disk_bytes": backpressure.disk_free(state_dir) + (
                backpressure.reusable_bytes(store) if store is not None else 0),
            "min_free_disk_bytes": limits.min_free_disk,
        }


def collect(store: View | None, scale_factor: float, state_dir: Path | None = None,
            limits: Limits | None = None) -> dict[str, Any]:
    """The stats of a state folder (`store` None: a folder no worker has written yet).

    With `state_dir`, also each worker's liveness, rates and time to drain, and (with `limits`) the
    backpressure state.
    """
    out = _defaults(scale_factor)
    if store is None:
        if state_dir is not None:
            _add_liveness(out, state_dir, limits, store)
        return out
    for queue in ("intents", "payloads"):
        counts = store.counts(queue)
        out["queues"][queue].update(ready=counts.ready, unacked=counts.in_flight,
                                    oldest_ready_age_s=counts.oldest_ready_age_s)
    out["queues"]["payloads"]["waiting_retry"] = retry_state.waiting_count(store)
    out["dead"] = dead.summary(store)
    stream = read_stream(store)
    if stream is not None:
        out["seed"] = stream.seed
        out["sim_clock"]["start"] = rfc3339(stream.sim_start)
        out["sim_clock"]["now"] = rfc3339(stream.sim_start)
    checkpoint = load_checkpoint(store)
    if checkpoint is not None:
        out["sim_clock"]["now"] = rfc3339(checkpoint.sim_now)
        out["sim_clock"]["scale_factor"] = checkpoint.scale_factor
    for key, section in ((DELIVERY_KEY, "delivery"), (ENRICHER_KEY, "enricher")):
        text = store.get_meta(key)
        if text is not None:
            out[section].update(json.loads(text))
    if out["delivery"].get("last_error"):  # an error text may quote the URL, credentials included
        out["delivery"]["last_error"] = mask_url(str(out["delivery"]["last_error"]))
    # The pause record itself, not the deliverer's last snapshot: `--resume` may have lifted it since.
    pause = read_pause(store)
    out["delivery"]["paused"] = pause is not None
    out["delivery"]["paused_since"] = pause.since if pause else None
    if state_dir is not None:
        _add_liveness(out, state_dir, limits, store)
    return out


def report(store: View | None, scale_factor: float, *, max_age: float | None = None,
           with_dead: bool = False, state_dir: Path | None = None, limits: Limits | None = None) -> dict[str, Any]:
    """What `queue-stats --json` prints (and the dashboard shows): `collect`, plus the `check` key when
    `max_age` is given and the dead letters' list with `with_dead`; with `state_dir`, each worker's
    liveness (and with `limits` the backpressure state), which `check` then judges too."""
    stats = collect(store, scale_factor, state_dir, limits)
    if with_dead:
        letters = dead.read_all(store) if store is not None else []
        stats["dead"]["letters"] = [item.letter.model_dump(mode="json", exclude={"body"}) for item in letters]
    if max_age is not None:
        problems = health_problems(stats, oldest_payload_age(store), max_age)
        stats["check"] = {"healthy": not problems, "problems": problems}
    return stats


def render_table(stats: dict[str, Any]) -> str:
    """The readable form."""
    q, d, clock = stats["queues"], stats["delivery"], stats["sim_clock"]
    lines = [f"{'queue':<10} {'ready':>8} {'in flight':>10} {'oldest ready':>14}"]
    for name in ("intents", "payloads"):
        age = q[name]["oldest_ready_age_s"]
        lines.append(f"{name:<10} {q[name]['ready']:>8} {q[name]['unacked']:>10} "
                     f"{'-' if age is None else f'{age:.1f} s':>14}")
    lines += [
        f"dead letters: {stats['dead']['count']}{_breakdown(stats['dead'])}",
        f"waiting for retry: {q['payloads']['waiting_retry']} (next {d['next_retry_at'] or '-'})",
        f"sim clock: {clock['now'] or 'not started'} (start {clock['start'] or '-'}, "
        f"scale {clock['scale_factor']:g}), seed {stats['seed']}",
        f"delivery: {d['delivered_total']} delivered, breaker {d['breaker']}, last success "
        f"{d['last_success_at'] or '-'}{_last_hour(d)}",
        f"last error: {d['last_error'] or '-'}",
        *([f"PAUSED since {d.get('paused_since') or '?'}: the endpoint answered 410 Gone; "
           "fix it, then run bin/deliverer --resume"] if d["paused"] else []),
        "enricher: {requests_today} Gemini requests today, {tokens_in} tokens in, {tokens_out} out, "
        "${est_cost_usd:.4f}, {fallbacks} offline fallbacks".format(**stats["enricher"]),
        *_render_liveness(stats),
    ]
    return "\n".join(lines)


def _render_liveness(stats: dict[str, Any]) -> list[str]:
    lines = []
    for role, state in (stats.get("workers") or {}).items():
        if state["running"]:
            rate = "-" if state["rate_per_s"] is None else f"{state['rate_per_s'] * 60:.0f}/min"
            extra = ", WAITING for a plausible wall clock" if state.get("waiting_for_clock") else ""
            lines.append(f"{role:<10} running, pid {state['pid']} since {state['since']}, {rate}{extra}")
        else:
            lines.append(f"{role:<10} stopped" + (f": {state['problem']}" if state["problem"] else " (never ran here)"))
    for name in CONSUMERS:
        queue = stats["queues"][name]
        if "drain_s" in queue and queue["ready"] + queue["unacked"]:
            drain = "-" if queue["drain_s"] is None else f"{queue['drain_s']:.0f} s"
            lines.append(f"{name} drain at the last minute's rate: {drain}")
    bp = stats.get("backpressure")
    if bp:
        state = f"PAUSED since {bp['since']}: {bp['reason']}" if bp["paused"] else "not paused"
        lines.append(f"backpressure: {state}; backlog {bp['backlog']} of {bp['max_backlog']}, free disk "
                     f"{bp['free_disk_bytes'] / 2**20:.0f} MiB (floor {bp['min_free_disk_bytes'] / 2**20:.0f} MiB)")
    return lines


def _breakdown(dead_stats: dict[str, Any]) -> str:
    if not dead_stats["count"]:
        return ""
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(dead_stats["by_reason"].items()))
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(dead_stats["by_status"].items()))
    return f" (by reason: {reasons}; by last status: {statuses})"


def _last_hour(d: dict[str, Any]) -> str:
    if not d.get("attempts_1h"):
        return ""
    latency = (f", p50 {d['latency_p50_ms']} ms, p95 {d['latency_p95_ms']} ms"
               if d.get("latency_p50_ms") is not None else "")
    return f"; last hour: {d['attempts_1h']} attempts, {d['success_rate_1h']:.1%} ok{latency}"


def oldest_payload_age(store: View | None) -> float | None:
    """Seconds since the oldest payload still in the queue was stored, whether ready or waiting a retry."""
    return None if store is None else _plausible(store.oldest_age("payloads"), time.time())


def health_problems(stats: dict[str, Any], oldest_payload_s: float | None, max_age: float) -> list[str]:
    """Why `queue-stats --check` fails: dead letters, a paused deliverer, a backlog older than max_age, a
    live worker that died, hangs or was stopped, the scheduler paused by backpressure, an implausible clock."""
    problems = liveness.problems(stats.get("workers") or {})
    bp = stats.get("backpressure")
    if bp and bp["paused"]:
        problems.append(f"scheduler paused by backpressure since {bp['since']}: {bp['reason']}")
    if stats.get("wall_clock_plausible") is False:
        problems.append("the wall clock reads earlier than this build: ages are not judged until it is set")
    if stats["dead"]["count"]:
        problems.append(f"{stats['dead']['count']} dead letters (bin/queue-stats --dead; bin/replay-dead)")
    if stats["delivery"]["paused"]:
        problems.append("delivery paused by a 410 Gone (bin/deliverer --resume)")
    ages = {"intents": stats["queues"]["intents"]["oldest_ready_age_s"], "payloads": oldest_payload_s}
    for name, age in ages.items():
        if age is not None and age > max_age:
            problems.append(f"oldest {name} item is {age:.0f} s old (more than {max_age:.0f} s)")
    return problems


def render_dead(letters: list[dict[str, Any]]) -> str:
    """The `--dead` listing, oldest first (the `dead.letters` of `report(..., with_dead=True)`)."""
    if not letters:
        return "no dead letters"
    lines = [f"{'payload id':<28} {'reason':<11} {'status':>6} {'attempts':>8}  {'first attempt':<20} "
             f"{'dead at':<20} response"]
    for d in letters:
        lines.append(f"{d['payload_id']:<28} {d['reason']:<11} {d['last_status'] or '-':>6} {d['attempts']:>8}  "
                     f"{_when(d['first_attempt_at'])}  {_when(d['dead_at'])}  "
                     f"{' '.join(d['response_snippet'].split())[:60]}")
    return "\n".join(lines)


def _when(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S")
