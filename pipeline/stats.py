"""What bin/queue-stats shows: one dict with every key DESIGN.md promises, counted from SQL."""

from __future__ import annotations

import json
from typing import Any

from pipeline.clock import load_checkpoint
from pipeline.queues import Store
from pipeline.stream import read_stream

# Workers publish their own figures under these meta keys (merged over the defaults below).
DELIVERY_KEY, ENRICHER_KEY = "delivery_stats", "enricher_stats"


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


def collect(store: Store | None, scale_factor: float) -> dict[str, Any]:
    """The stats of a state folder (`store` None: a folder no worker has written yet)."""
    out = _defaults(scale_factor)
    if store is None:
        return out
    out["queues"]["intents"].update(store.counts("intents"))
    out["queues"]["payloads"].update(store.counts("payloads"))
    out["dead"]["count"] = store.counts("dead")["ready"]
    stream = read_stream(store)
    if stream is not None:
        out["seed"] = stream.seed
        out["sim_clock"]["start"] = stream.sim_start.isoformat()
        out["sim_clock"]["now"] = stream.sim_start.isoformat()
    checkpoint = load_checkpoint(store)
    if checkpoint is not None:
        out["sim_clock"]["now"] = checkpoint.sim_now.isoformat()
        out["sim_clock"]["scale_factor"] = checkpoint.scale_factor
    for key, section in ((DELIVERY_KEY, "delivery"), (ENRICHER_KEY, "enricher")):
        text = store.get_meta(key)
        if text is not None:
            out[section].update(json.loads(text))
    return out


def render_table(stats: dict[str, Any]) -> str:
    """The readable form."""
    q, d, clock = stats["queues"], stats["delivery"], stats["sim_clock"]
    lines = [f"{'queue':<10} {'ready':>8} {'in flight':>10} {'oldest ready':>14}"]
    for name in ("intents", "payloads"):
        age = q[name]["oldest_ready_age_s"]
        lines.append(f"{name:<10} {q[name]['ready']:>8} {q[name]['unacked']:>10} "
                     f"{'-' if age is None else f'{age:.1f} s':>14}")
    lines += [
        f"dead letters: {stats['dead']['count']}",
        f"waiting for retry: {q['payloads']['waiting_retry']}",
        f"sim clock: {clock['now'] or 'not started'} (start {clock['start'] or '-'}, "
        f"scale {clock['scale_factor']:g}), seed {stats['seed']}",
        f"delivery: {d['delivered_total']} delivered, breaker {d['breaker']}"
        f"{', PAUSED' if d['paused'] else ''}, last success {d['last_success_at'] or '-'}, "
        f"last error {d['last_error'] or '-'}",
        "enricher: {requests_today} Gemini requests today, {tokens_in} tokens in, {tokens_out} out, "
        "${est_cost_usd:.4f}, {fallbacks} offline fallbacks".format(**stats["enricher"]),
    ]
    return "\n".join(lines)
