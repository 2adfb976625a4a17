"""Intents for the enricher's tests: realistic values (the default profile's vocabulary), built by hand or drawn."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

from pipeline.models import Cost, Intent

TEAMS = ["foundation-models", "search-ranking", "ads-ml", "ml-platform", "risk-models", "recommendations",
         "data-science", "speech", "vision", "nlp-research", "support-ai", "document-ai", "mlops", "robotics"]
PROJECTS = ["atlas-llm", "atlas-eval-harness", "tokenizer-v3", "ranker-v7", "ctr-model", "serving-benchmarks",
            "gpu-fleet-tests", "fraud-detector", "eval-pipeline", "model-registry", "vlm-ja", "sim2real", "ocr"]
MODELS = ["llama-3.1-8b", "llama-3.1-70b", "mistral-7b", "qwen2.5-14b", "in-house-lm", "whisper-large-v3",
          "clip-vit-l-14", "bert-large", "vit-b-16", "resnet-50", "two-tower-recsys", "diffusion-unet"]
GPUS = ["L4", "A10G", "A100-40GB", "A100-80GB", "H100", "T4"]
OFFICES = ["us-west", "us-east", "europe", "india", "japan"]
REGIONS = ["us-west-2", "us-east-1", "eu-central-1", "eu-west-1", "ap-south-1", "ap-northeast-1"]
JOBS = ["evaluation", "inference_batch", "notebook", "fine_tuning", "training", "pretraining", "hyperparameter_sweep"]
CHANNELS = ["slack", "jira", "email", "cli"]
PRIORITIES = ["low", "normal", "high", "urgent"]
_COST = Cost(pricing="on_demand", gpu_hour_list_price=2.0, gpu_hour_price=2.0, estimated_list_cost=4.0,
             estimated_cost=4.0)


def make_intent(k: int, **fields: object) -> Intent:
    """The k-th test intent: values cycle through the vocabulary; `fields` override."""
    values: dict[str, object] = {
        "id": f"job_{k:020x}", "window": 1, "index": k, "occurred_at": datetime(2026, 3, 2, 14, tzinfo=UTC),
        "office": OFFICES[k % len(OFFICES)], "team": TEAMS[k % len(TEAMS)], "cost_center": f"CC-{1100 + k % 7}",
        "project": PROJECTS[k % len(PROJECTS)], "author": "Priya Patel", "channel": CHANNELS[k % 4],
        "cloud_region": REGIONS[k % len(REGIONS)], "job_type": JOBS[k % len(JOBS)],
        "model_family": MODELS[k % len(MODELS)], "gpu_type": GPUS[k % len(GPUS)], "gpu_count": [1, 2, 4, 8, 16][k % 5],
        "est_duration_hours": [0.05, 0.5, 2.0, 6.5, 12.0, 30.0][k % 6], "priority": PRIORITIES[k % 4],
        "spot_ok": k % 3 == 0, "cost": _COST,
    }
    values.update(fields)
    return Intent.model_validate(values)


# Durations as the workload draws them: thousandths of an hour, from a minute to two weeks.
hours = st.one_of(st.integers(1, 336_000).map(lambda c: c / 1000), st.sampled_from([0.5, 1.0, 1.5, 12.0, 24.0, 48.0]))

intents = st.builds(
    make_intent,
    st.integers(0, 10**9),
    office=st.sampled_from(OFFICES), team=st.sampled_from(TEAMS), project=st.sampled_from(PROJECTS),
    cost_center=st.integers(1000, 99999).map(lambda n: f"CC-{n}"), channel=st.sampled_from(CHANNELS),
    cloud_region=st.sampled_from(REGIONS), job_type=st.sampled_from(JOBS), model_family=st.sampled_from(MODELS),
    gpu_type=st.sampled_from(GPUS), gpu_count=st.sampled_from([1, 2, 3, 4, 8, 12, 16, 32, 64, 128, 256, 1024]),
    est_duration_hours=hours, priority=st.sampled_from(PRIORITIES), spot_ok=st.booleans(),
    author=st.sampled_from(["Priya Patel", "Lukas Weber", "Yui Sato", "Sam Kim"]),
)
