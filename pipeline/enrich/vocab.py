"""Words shared by the offline writer and the parser: numbers, GPU names, job kinds, priorities.

The writer draws its phrasings from these tables and the parser reads them back, so a phrasing added
here is understood by both (tests/test_enrich_offline.py checks the round trip).
"""

from __future__ import annotations

import re

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "twelve": 12, "sixteen": 16, "twenty": 20, "twenty-four": 24, "thirty-two": 32,
    "forty-eight": 48, "sixty-four": 64,
}
WORD_OF = {n: w for w, n in NUMBER_WORDS.items()}

# Canonical GPU names (as the workload profile spells them) and a pattern for each that accepts the
# spellings people use: "a100 80gb", "A100-80G", "A100 (80GB)", "h100s", "MI300X".
_GPU_PATTERNS = {
    "A100-80GB": r"a100[ -]?\(?80\s?g(?:b)?\)?",
    "A100-40GB": r"a100[ -]?\(?40\s?g(?:b)?\)?",
    "H100": r"h100",
    "H200": r"h200",
    "B200": r"b200",
    "A100": r"a100",
    "A10G": r"a10g",
    "L40S": r"l40s",
    "L4": r"l4",
    "T4": r"t4",
    "V100": r"v100",
    "MI300X": r"mi300x",
}
_GPU_ALTERNATIVES = "|".join(f"(?P<g{i}>{p})" for i, p in enumerate(_GPU_PATTERNS.values()))
# Stands alone as a word, or right after a count's "x" ("8xH100").
GPU_RE = re.compile(r"(?:(?<=\dx)|(?<=\dX)|(?<![\w-]))(" + _GPU_ALTERNATIVES + r")(?:s|'s)?(?![\w-])", re.IGNORECASE)
GPU_NAMES = tuple(_GPU_PATTERNS)


def gpu_name(match: re.Match[str]) -> str:
    """The canonical name of a GPU_RE match."""
    index = next(i for i, name in enumerate(GPU_NAMES) if match[f"g{i}"])
    return GPU_NAMES[index]


# Job kinds, most specific first: "pre-training" must win over "training", "fine-tune" over "tune".
JOB_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("hyperparameter_sweep", r"hyper-?parameter|sweep|\bhpo\b|grid search"),
    ("pretraining", r"pre-?train"),
    ("fine_tuning", r"fine[- ]?tun|\bsft\b|\blora\b|finetun"),
    ("inference_batch", r"inference|offline scoring|\bscoring\b|transcrib|embed(?:ding)?s? (?:job|run)"),
    ("notebook", r"notebook|jupyter|interactive|debug session|\bsandbox\b"),
    ("evaluation", r"\beval|benchmark"),
    ("training", r"\b(?:re)?train"),
)

# What each phrasing of a priority means; "not urgent" must be read before "urgent".
PRIORITY_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("low", r"not urgent|no rush|low[- ]pri(?:ority|o)?|whenever|\bp3\b|when there(?:'s| is) (?:spare )?capacity"),
    ("urgent", r"urgent|asap|\bblocker\b|\bp0\b|critical|drop everything"),
    ("high", r"high[- ]pri(?:ority|o)?|\bp1\b|important|time[- ]sensitive"),
    ("normal", r"normal[- ]pri(?:ority|o)?|standard priority|\bp2\b"),
)
