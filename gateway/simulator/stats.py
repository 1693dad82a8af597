"""What reached the simulated providers: call counts and the most recent requests."""

from __future__ import annotations

import copy
import threading
import time
from collections import Counter, deque
from typing import Any

RECENT_REQUESTS = 100


class SimStats:
    """Counts per api_style and per model, plus the last ``keep`` requests as received.

    Entries are recorded before the answer is produced and completed with the status sent, so a
    test can check what a gateway forwarded (body, headers minus secrets) and what it got back.
    """

    def __init__(self, keep: int = RECENT_REQUESTS) -> None:
        self._lock = threading.Lock()
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._by_style: Counter[str] = Counter()
        self._by_model: Counter[str] = Counter()
        self._total = 0

    def record(self, api_style: str, model: str, entry: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._total += 1
            self._by_style[api_style] += 1
            self._by_model[model] += 1
            entry.update(seq=self._total, ts=time.time(), api_style=api_style, model=model)
            self._recent.append(entry)
        return entry

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self._total,
                "by_api_style": dict(self._by_style),
                "by_model": dict(self._by_model),
                "recent": copy.deepcopy(list(self._recent)),
            }

    def reset(self) -> None:
        with self._lock:
            self._recent.clear()
            self._by_style.clear()
            self._by_model.clear()
            self._total = 0
