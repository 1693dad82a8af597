"""Quality scores for the ``cheapest`` strategy: "the cheapest model that is good enough".

A score is an operator's judgement of general capability on a 0–100 scale; the defaults below
follow the relative order of public leaderboards (LMArena, vendors' own tiers) for the models
the simulator and the demo use, rounded to tiers of 5 so nobody mistakes them for
measurements. Operators set their own per provider in ``providers.json`` (``"quality":
{"model": score}``); a model with neither scores 0, so ``min_quality`` never picks an unknown.
"""

from __future__ import annotations

# Longest prefix wins: "gpt-4o-mini-2024-07-18" scores as "gpt-4o-mini", not "gpt-4o".
DEFAULT_QUALITY: dict[str, int] = {
    "o3": 90,
    "o3-mini": 85,
    "o1": 90,
    "gpt-4.1": 85,
    "gpt-4o": 85,
    "gpt-4o-mini": 70,
    "gpt-4.1-mini": 75,
    "gpt-4.1-nano": 60,
    "claude-3-7-sonnet": 90,
    "claude-3-5-sonnet": 85,
    "claude-3-5-haiku": 70,
    "claude-3-haiku": 60,
    "claude-3-opus": 85,
    "gemini-1.5-pro": 80,
    "gemini-1.5-flash": 65,
    "gemini-2.0-flash": 75,
    "gemini-2.5-pro": 90,
    "command-r-plus": 70,
    "command-r": 60,
}


def default_quality(model: str) -> int:
    best = max((p for p in DEFAULT_QUALITY if model.startswith(p)), key=len, default=None)
    return DEFAULT_QUALITY[best] if best is not None else 0
