"""Deployment history as ranking input.

The CLI's state store supplies past attempts as ``[{"site", "ok", "duration_s", "finished_at"}]``
(finished_at: ISO 8601 or epoch seconds). Only the most recent attempts count, so a site that
failed last month and works now recovers its rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

RECENT_ATTEMPTS = 20


@dataclass(frozen=True)
class SiteHistory:
    attempts: int = 0
    failures: int = 0
    mean_duration_s: float | None = None

    @property
    def failure_rate(self) -> float:
        """Smoothed failure rate: a site with no history counts as 1 failure in 3 attempts."""
        return (self.failures + 1) / (self.attempts + 3)


def _when(entry: dict) -> float:
    value = entry.get("finished_at")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return 0.0


def summarise(history: list[dict] | None, site: str, recent: int = RECENT_ATTEMPTS) -> SiteHistory:
    """Failure count and mean duration of successful deployments over the site's recent attempts."""
    entries = [e for e in history or [] if isinstance(e, dict) and e.get("site") == site]
    # Sort by time, then by position, so equal timestamps stay deterministic.
    entries = [e for _, _, e in sorted((_when(e), i, e) for i, e in enumerate(entries))][-recent:]
    failures = sum(1 for e in entries if not e.get("ok"))
    durations = [
        float(e["duration_s"])
        for e in entries
        if e.get("ok") and isinstance(e.get("duration_s"), int | float)
    ]
    mean = sum(durations) / len(durations) if durations else None
    return SiteHistory(attempts=len(entries), failures=failures, mean_duration_s=mean)
