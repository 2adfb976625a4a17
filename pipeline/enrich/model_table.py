"""The Gemini model table (data/gemini_models.toml): family, thinking setting, prices and successor."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline import ROOT
from pipeline.errors import ConfigError

TABLE = ROOT / "data" / "gemini_models.toml"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model's row."""

    name: str
    family: str
    thinking: Literal["budget", "level"]
    price_in: float
    price_out: float
    batch_price_in: float
    batch_price_out: float
    source: str
    checked: str
    successor: str | None = None


def load_table(path: Path = TABLE) -> dict[str, ModelInfo]:
    """Every model of the table; a broken table is a configuration error naming the file and key."""
    try:
        raw = tomllib.loads(path.read_text())["models"]
        return {name: ModelInfo(name=name, family=str(row["family"]), thinking=row["thinking"],
                                price_in=float(row["price_in"]), price_out=float(row["price_out"]),
                                batch_price_in=float(row["batch_price_in"]),
                                batch_price_out=float(row["batch_price_out"]), source=str(row["source"]),
                                checked=str(row["checked"]), successor=row.get("successor"))
                for name, row in raw.items()}
    except (OSError, KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("GEMINI model table", str(path), f"a readable table of models ({exc})") from None


def info_for(table: dict[str, ModelInfo], model: str) -> ModelInfo | None:
    """The row of a model; `models/` prefixes and `-latest`/preview suffixes are matched to their base."""
    name = model.removeprefix("models/")
    if name in table:
        return table[name]
    base = next((n for n in sorted(table, key=len, reverse=True) if name.startswith(n)), None)
    return table[base] if base else None


def thinking_of(model: str, info: ModelInfo | None) -> Literal["budget", "level"]:
    """2.5 models take thinking_budget; 3.x take thinking_level (judged by name when not in the table)."""
    if info is not None:
        return info.thinking
    return "budget" if "-2." in model or model.startswith("gemini-2") else "level"
