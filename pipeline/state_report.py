"""What bin/queue-stats shows: one dict with every documented key, counted from the queue file."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pipeline.clock import load_checkpoint, rfc3339
from pipeline.delivery import dead, retry_state
from pipeline.delivery.figures import DELIVERY_KEY
from pipeline.delivery.pause import read_pause
from pipeline.enrich.stats import ENRICHER_KEY
from pipeline.queues import View
from pipeline.stream import read_stream


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


def collect(store: View | None, scale_factor: float) -> dict[str, Any]:
    """The stats of a state folder (`store` None: a folder no worker has written yet)."""
    out = _defaults(scale_factor)
    if store is None:
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
    # The pause record itself, not the deliverer's last snapshot: `--resume` may have lifted it since.
    pause = read_pause(store)
    out["delivery"]["paused"] = pause is not None
    out["delivery"]["paused_since"] = pause.since if pause else None
    return out


def report(store: View | None, scale_factor: float, *, max_age: float | None = None,
           with_dead: bool = False) -> dict[str, Any]:
    """What `queue-stats --json` prints (and the dashboard shows): `collect`, plus the `check` key when
    `max_age` is given and the dead letters' list with `with_dead`."""
    stats = collect(store, scale_factor)
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
    ]
    return "\n".join(lines)


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
    return None if store is None else store.oldest_age("payloads")


def health_problems(stats: dict[str, Any], oldest_payload_s: float | None, max_age: float) -> list[str]:
    """Why `queue-stats --check` fails: dead letters, a paused deliverer, or a backlog older than max_age."""
    problems = []
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
