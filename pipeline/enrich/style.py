"""Style hints: the voice, language habits and optional facts of one intent's request, drawn exactly as the
offline writer draws them (render.py, from the intent id), so Gemini, phrasebank and offline payloads state
facts equally often and sound alike per channel and office.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.enrich.render import render
from pipeline.models import Intent

# Facts every request states; the others are stated or left out as the offline writer's draw says.
REQUIRED = ("gpu_type", "gpu_count", "est_duration_hours", "job_type")
OPTIONAL = ("team", "project", "cost_center", "office", "cloud_region", "model_family", "priority", "spot_ok")

TONES = {
    "slack": ("casual ask, may open with a greeting", "team introduces itself, terse",
              "quick ask, list-like", "project first, chatty"),
    "jira": ("ticket titled with the project in brackets", "Summary: line then Details: line",
             "formal request from the team"),
    "email": ("polite, on behalf of the team", "short booking request"),
    "cli": ("one command line of a GPU request tool with flags",),
}
# Office names (any profile) to a language habit; the offline writer's greetings follow the same split.
_LANGUAGE_WORDS = {"ja": ("japan", "tokyo", "osaka"), "de": ("europe", "berlin", "munich", "germany", "hamburg"),
                   "en-IN": ("india", "bangalore", "bengaluru", "hyderabad", "pune")}
HABITS = {"ja": "a Japanese engineer writing English; may open with お疲れ様です",
          "de": "a German engineer writing English; may open with Moin or Hallo",
          "en-IN": "Indian English; may open with Hi team",
          "en": "US English, casual"}


def language_of(office: str) -> str:
    """The language habit of an office: "ja", "de", "en-IN" or "en"."""
    name = office.lower()
    return next((lang for lang, words in _LANGUAGE_WORDS.items() if any(w in name for w in words)), "en")


@dataclass(frozen=True, slots=True)
class StyleHint:
    """How one intent's request should read, and which optional facts it states."""

    channel: str
    tone: str
    language: str
    state: tuple[str, ...]
    omit: tuple[str, ...]

    def as_prompt(self) -> dict[str, object]:
        """The hint as it goes into the prompt line of its intent."""
        return {"tone": self.tone, "language": HABITS[self.language], "omit": list(self.omit)}


def style_hint(intent: Intent) -> StyleHint:
    """The offline writer's draw for this intent, as a hint for Gemini."""
    rendered = render(intent)
    tones = TONES[intent.channel]
    state = tuple(f for f in OPTIONAL if f in rendered.stated)
    omit = tuple(f for f in OPTIONAL if f not in rendered.stated)
    return StyleHint(intent.channel, tones[rendered.voice % len(tones)], language_of(intent.office), state, omit)
