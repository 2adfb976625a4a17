"""docs/PERFORMANCE.md from one run's results: the targets, the table, the machine, the command.

Only the part between the two markers is rewritten, so notes written by hand around it survive a rerun.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from harness.bench.footprint import GEMINI
from harness.bench.ours import ROLES

BEGIN, END = "<!-- bench:begin (written by bin/bench; edit outside these markers) -->", "<!-- bench:end -->"
RSS_LIMIT_MB = {"scheduler": 60.0, "enricher": 120.0, "deliverer": 60.0}


def _n(value: float, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def fsyncs_per_payload(r: dict[str, Any]) -> dict[str, float] | None:
    """Fsyncs per delivered payload, per worker and in total (None when strace was unavailable)."""
    f = r["fsyncs"]
    if "skipped" in f or not f["pipeline_payloads"]:
        return None
    per = {role: f["pipeline"][role] / f["pipeline_payloads"] for role in ROLES}
    per["total"] = sum(per.values())
    per["minimal"] = f["minimal"] / max(1, f["minimal_payloads"])
    return per


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each target of the issue; met is None when it could not be measured."""
    p, fs = r["pipeline"], fsyncs_per_payload(r)
    ratio = p["e2e"] / r["minimal"]["rate"]
    rss = {role: max(p["peak_rss_mb"][role], r["alone"]["peak_rss_mb"][role], r["idle"]["peak_rss_mb"][role])
           for role in ROLES}
    rss["enricher"] = max(rss["enricher"], r["idle"]["peak_rss_mb"][GEMINI])  # the limit is for the SDK loaded
    fill = r["backfill"]
    raw_time = fill["intents"] / r["raw_put"]
    exact = p["unique"] == p["received"] == p["emitted"] and not any(p["duplicates"])
    rows: list[tuple[str, str, bool | None]] = [
        ("every intent delivered exactly once (end-to-end runs)",
         f"{sum(p['unique']):,} of {sum(p['emitted']):,}, {sum(p['duplicates'])} duplicates", exact),
        ("end to end >= 1.9x the minimal pipeline",
         f"{_n(p['e2e'])}/s vs {_n(r['minimal']['rate'])}/s = {ratio:.2f}x", ratio >= 1.9),
        ("<= 2 fsyncs per payload at full load",
         "not measured: " + r["fsyncs"].get("skipped", "") if fs is None else f"{fs['total']:.2f}",
         None if fs is None else fs["total"] <= 2),
        ("pickup latency p99 <= 50 ms", f"{r['pickup_ms']['p99']:.1f} ms", r["pickup_ms"]["p99"] <= 50),
    ]
    rows += [(f"idle CPU <= 1 % ({role})", f"{r['idle']['cpu_percent'][role]:.2f} %",
              r["idle"]["cpu_percent"][role] <= 1.0) for role in (*ROLES, GEMINI)]
    rows += [(f"peak RSS <= {RSS_LIMIT_MB[role]:.0f} MB ({role}{' with google-genai' * (role == 'enricher')})",
              f"{rss[role]:.1f} MB",
              rss[role] <= RSS_LIMIT_MB[role]) for role in ROLES]
    rows.append((f"{fill['days']}-day backfill <= 2x raw puts of the same count",
                 f"{fill['seconds']:.2f} s vs {raw_time:.2f} s for {fill['intents']:,} puts = "
                 f"{fill['seconds'] / raw_time:.2f}x", fill["seconds"] <= 2 * raw_time))
    if "dashboard" in r:
        dash = r["dashboard"]
        rows += [("dashboard peak RSS <= 60 MB (one tab open)", f"{dash['peak_rss_mb']:.1f} MB",
                  dash["peak_rss_mb"] <= 60),
                 ("dashboard CPU <= 2 % of one core (one tab open)", f"{dash['cpu_percent']:.2f} %",
                  dash["cpu_percent"] <= 2.0)]
    return rows


def table(r: dict[str, Any]) -> list[str]:
    """The measurements, one row each."""
    p, alone, m = r["pipeline"], r["alone"], r["minimal"]
    stage_base = {"scheduler": ("raw put", r["raw_put"]), "enricher": ("raw get+ack", r["raw_get_ack"]),
                  "deliverer": ("raw HTTP loop", r["http"])}
    rows = [
        "| section | measure | value | baseline (same run) | ratio |",
        "| --- | --- | --- | --- | --- |",
        f"| (a) | raw persist-queue put (WAL, FULL, json), items/s | {_n(r['raw_put'])} | | |",
        f"| (a) | raw persist-queue get+ack (pruned every 1000), items/s | {_n(r['raw_get_ack'])} | | |",
        f"| (a) | raw HTTP POST loop to bin/receiver, deliverer's sender at c={r['settings']['delivery_concurrency']}, "
        f"req/s | {_n(r['http'])} | | |",
        f"| (a) | minimal pipeline (3 processes, raw persist-queue), payloads/s | {_n(m['rate'])} | | |",
        f"| (b) | end to end, stages concurrent, payloads/s | {_n(p['e2e'])} | {_n(m['rate'])} minimal | "
        f"{_ratio(p['e2e'], m['rate'])} |",
    ]
    for role in ROLES:
        name, base = stage_base[role]
        rows.append(f"| (b) | {role} while concurrent, items/s | {_n(p['stages'][role])} | {_n(base)} {name} | "
                    f"{_ratio(p['stages'][role], base)} |")
    for role in ROLES:
        name, base = stage_base[role]
        rows.append(f"| (b) | {role} alone, items/s | {_n(alone['rates'][role])} | {_n(base)} {name} | "
                    f"{_ratio(alone['rates'][role], base)} |")
    parts = ("scheduler", "enricher", "deliverer", "receiver")
    ours_cpu, min_cpu = (" + ".join(f"{cpu[k]:.3f}" for k in parts) + f" = {sum(cpu.values()):.3f}"
                         for cpu in (p["cpu_ms"], m["cpu_ms"]))
    rows.append(f"| (b) | CPU ms per payload, concurrent (scheduler + enricher + deliverer + receiver) | {ours_cpu} | "
                f"{min_cpu} minimal | {_ratio(sum(p['cpu_ms'].values()), sum(m['cpu_ms'].values()))} |")
    delivered = ", ".join(f"{u:,}/{e:,}" for u, e in zip(p["unique"], p["emitted"], strict=True))
    rows += [
        f"| (b) | delivered/written per run (duplicates {sum(p['duplicates'])}) | {delivered} | | |",
        f"| (c) | backfill, simulated days per real second | {_n(alone['sim_days_per_s'], 1)} | | |",
        f"| (c) | {r['backfill']['days']}-day backfill, seconds ({r['backfill']['intents']:,} intents) | "
        f"{r['backfill']['seconds']:.2f} | {r['backfill']['intents'] / r['raw_put']:.2f} raw puts | "
        f"{_ratio(r['backfill']['seconds'], r['backfill']['intents'] / r['raw_put'])} |",
    ]
    for role in ROLES:
        rows.append(f"| (d) | {role}: peak RSS (under load / idle), MB | {p['peak_rss_mb'][role]:.1f} / "
                    f"{r['idle']['peak_rss_mb'][role]:.1f} | | |")
    rows.append(f"| (d) | enricher with ENRICHER=gemini (SDK loaded, idle): peak RSS, MB | "
                f"{r['idle']['peak_rss_mb'][GEMINI]:.1f} | | |")
    for role in (*ROLES, GEMINI):
        rows.append(f"| (d) | {role}: idle CPU at SCALE_FACTOR=1, % | {r['idle']['cpu_percent'][role]:.2f} | | |")
    startup = " / ".join(f"{r['idle']['startup_s'][role]:.2f}" for role in (*ROLES, GEMINI))
    rows.append(f"| (d) | start-up, spawn to worker.started, s ({' / '.join((*ROLES, GEMINI))}; started together) | "
                f"{startup} | | |")
    pk, st = r["pickup_ms"], r["steady_ms"]
    rows += [
        f"| (d) | pickup latency put->get (enricher), p50 / p99 ms, {pk['n']} samples | "
        f"{pk['p50']:.1f} / {pk['p99']:.1f} | | |",
        f"| (e) | delivery latency at SCALE_FACTOR={st['scale']:g}, occurrence->received, p50 / p99 ms, "
        f"{st['n']} samples | {st['p50']:.0f} / {st['p99']:.0f} | | |",
        f"| (e) | of which enriched->received (deliverer pickup + POST), p50 / p99 ms | "
        f"{st['emitted_p50']:.1f} / {st['emitted_p99']:.1f} | | |",
    ]
    fs = fsyncs_per_payload(r)
    if fs is None:
        rows.append(f"| (b) | fsyncs per payload | skipped: {r['fsyncs']['skipped']} | | |")
    else:
        split = " + ".join(f"{fs[role]:.3f}" for role in ROLES)
        rows.append(f"| (b) | fsyncs per payload (scheduler + enricher + deliverer) | {split} = {fs['total']:.2f} | "
                    f"{fs['minimal']:.2f} minimal | {_ratio(fs['total'], fs['minimal'])} |")
    return rows


def render(r: dict[str, Any], command: str, when: str) -> str:
    """The generated block of the report."""
    mc, plan = r["machine"], r["plan"]
    lines = [BEGIN, "", f"Measured {when} with `{command}`"
             f" (N = {plan['n']:,} intents requested, span {r['span_s'] / 86400:.2f} simulated days; "
             f"medians of {plan['runs']} run(s); durability `SYNCHRONOUS=FULL`, offline enricher, "
             f"`DELIVERY_CONCURRENCY={r['settings']['delivery_concurrency']}`, "
             f"`ENRICH_BATCH_SIZE={r['settings']['enrich_batch_size']}`).", "",
             f"Machine: {mc['cores']} cores, {mc['cpu']}, Linux {mc['kernel']}; Python {mc['python']}, "
             f"SQLite {mc['sqlite']}, persist-queue {mc['persist-queue']}, httpx {mc['httpx']}, "
             f"aiohttp {mc['aiohttp']}; one 1 KB write + fsync takes {mc['fsync_ms']:.3f} ms here.", "",
             "### Targets", "", "| target | measured | met |", "| --- | --- | --- |"]
    for name, measured, met in targets(r):
        lines.append(f"| {name} | {measured} | {'n/a' if met is None else 'yes' if met else '**no**'} |")
    lines += ["", "### Measurements", "", *table(r), "", END]
    return "\n".join(lines) + "\n"


HEADER = """# Performance

What the pipeline achieves on one machine, against the raw ceilings of its parts measured in the same
run. `bin/bench` rewrites the block below; `bin/bench --quick` is the smoke check the tests run.

"""


def write(path: Path, block: str) -> None:
    """Replace the generated block of `path` (or create the file), keeping everything outside the markers."""
    text = path.read_text() if path.exists() else HEADER + BEGIN + "\n" + END + "\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
