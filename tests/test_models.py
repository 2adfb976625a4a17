"""The payload contract: the committed JSON Schema is the one the models generate."""

from __future__ import annotations

from pathlib import Path

from pipeline.models import payload_schema

SCHEMA = Path(__file__).resolve().parent.parent / "docs" / "payload.schema.json"


def test_committed_schema_matches_the_models() -> None:
    """docs/payload.schema.json must be regenerated (python -m pipeline.models) when the models change."""
    assert SCHEMA.read_text() == payload_schema()


def test_schema_requires_the_design_fields() -> None:
    """The documented top-level payload keys are all required."""
    import json

    schema = json.loads(SCHEMA.read_text())
    assert set(schema["required"]) >= {"id", "occurred_at", "emitted_at", "request", "job", "cost", "truth",
                                       "generator"}
