"""Mergeable latency histograms (2 % buckets) and small helpers for percentiles and rates."""

from __future__ import annotations

import math
from typing import Any

_BASE_MS = 0.01  # bucket 0 starts at 10 microseconds
_GROWTH = 1.02  # each bucket is 2 % wider than the one before: percentiles within ~1 %
_LOG_GROWTH = math.log(_GROWTH)


class Histogram:
    """Latency histogram in milliseconds; JSON-serializable and mergeable across processes."""

    __slots__ = ("buckets", "count", "max", "min", "total")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.min = math.inf

    def add(self, ms: float) -> None:
        index = 0 if ms <= _BASE_MS else int(math.log(ms / _BASE_MS) / _LOG_GROWTH) + 1
        self.buckets[index] = self.buckets.get(index, 0) + 1
        self.count += 1
        self.total += ms
        if ms > self.max:
            self.max = ms
        if ms < self.min:
            self.min = ms

    def merge(self, other: Histogram) -> None:
        for index, n in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + n
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)
        self.min = min(self.min, other.min)

    def percentile(self, p: float) -> float:
        """The value below which `p` percent of the samples fall (upper bucket edge, capped
        at the exact maximum)."""
        if not self.count:
            return math.nan
        rank = max(1, math.ceil(self.count * p / 100.0))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                edge = _BASE_MS if index == 0 else _BASE_MS * _GROWTH**index
                return min(edge, self.max)
        return self.max

    def summary(self) -> dict[str, float | int | None]:
        if not self.count:
            return {"count": 0, "mean": None, "p50": None, "p95": None, "p99": None, "max": None}
        return {
            "count": self.count,
            "mean": round(self.total / self.count, 3),
            "min": round(self.min, 3),
            "p50": round(self.percentile(50), 3),
            "p95": round(self.percentile(95), 3),
            "p99": round(self.percentile(99), 3),
            "max": round(self.max, 3),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "b": {str(k): v for k, v in self.buckets.items()},
            "n": self.count,
            "t": self.total,
            "max": self.max,
            "min": self.min if self.count else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Histogram:
        hist = cls()
        hist.buckets = {int(k): int(v) for k, v in data["b"].items()}
        hist.count = int(data["n"])
        hist.total = float(data["t"])
        hist.max = float(data["max"])
        hist.min = math.inf if data.get("min") is None else float(data["min"])
        return hist


class HistogramSet:
    """Histograms by key (e.g. "inbound:steady" or a second of the timeline)."""

    def __init__(self) -> None:
        self.by_key: dict[str, Histogram] = {}

    def add(self, key: str, ms: float) -> None:
        hist = self.by_key.get(key)
        if hist is None:
            hist = self.by_key[key] = Histogram()
        hist.add(ms)

    def get(self, key: str) -> Histogram:
        return self.by_key.get(key) or Histogram()

    def merge_json(self, data: dict[str, Any]) -> None:
        for key, value in data.items():
            other = Histogram.from_json(value)
            mine = self.by_key.get(key)
            if mine is None:
                self.by_key[key] = other
            else:
                mine.merge(other)

    def to_json(self) -> dict[str, Any]:
        return {key: hist.to_json() for key, hist in self.by_key.items()}

    def merged(self, predicate: Any) -> Histogram:
        out = Histogram()
        for key, hist in self.by_key.items():
            if predicate(key):
                out.merge(hist)
        return out


def cpu_percent(cpu_seconds: float, wall_seconds: float) -> float:
    """CPU use as a percentage of one core (200 % = both cores of this machine busy)."""
    return round(100.0 * cpu_seconds / wall_seconds, 1) if wall_seconds > 0 else 0.0
