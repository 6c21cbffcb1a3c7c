"""Reading per-account metric series: the ``MetricsReader`` port and its CloudWatch adapter.

``GetMetricData`` takes at most 500 queries per call and pages its results with ``NextToken``
(a long answer can come back in several pages, each with part of a query's datapoints); the adapter
batches and pages, and merges the pages per query.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

MAX_QUERIES_PER_CALL = 500  # GetMetricData's limit (moto does not enforce it; AWS does)
DIMENSION = "AccountId"


@dataclass(frozen=True)
class SeriesQuery:
    """One account's metric, one statistic, one period."""

    account_id: str
    metric: str
    statistic: str
    period_seconds: int


@dataclass
class ReadStats:
    calls: int = 0  # GetMetricData requests, pages included
    queries: int = 0
    datapoints: int = 0
    partial: list[str] = field(default_factory=list)  # queries CloudWatch reported incomplete


class MetricsReader(Protocol):
    stats: ReadStats

    def read(
        self, queries: Sequence[SeriesQuery], start: datetime, end: datetime
    ) -> list[list[tuple[datetime, float]]]:
        """One list of (period start, value) per query, in the order of ``queries``."""
        ...


def _chunks(items: Sequence[SeriesQuery], size: int) -> Iterator[Sequence[SeriesQuery]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class CloudWatchMetricsReader:
    """``MetricsReader`` on CloudWatch ``GetMetricData``: up to 500 queries a call, every page read."""

    def __init__(self, namespace: str, client: Any = None, batch_size: int = MAX_QUERIES_PER_CALL) -> None:
        if not 1 <= batch_size <= MAX_QUERIES_PER_CALL:
            raise ValueError(f"batch_size must be 1..{MAX_QUERIES_PER_CALL}")
        self.namespace = namespace
        self._client = client
        self.batch_size = batch_size
        self.stats = ReadStats()

    @property
    def client(self) -> Any:
        if self._client is None:
            from aup.adapters.aws import client

            self._client = client("cloudwatch")
        return self._client

    def _query(self, n: int, q: SeriesQuery) -> dict[str, Any]:
        return {
            "Id": f"q{n}",
            "MetricStat": {
                "Metric": {
                    "Namespace": self.namespace,
                    "MetricName": q.metric,
                    "Dimensions": [{"Name": DIMENSION, "Value": q.account_id}],
                },
                "Period": q.period_seconds,
                "Stat": q.statistic,
            },
            "ReturnData": True,
        }

    def read(
        self, queries: Sequence[SeriesQuery], start: datetime, end: datetime
    ) -> list[list[tuple[datetime, float]]]:
        out: list[list[tuple[datetime, float]]] = []
        for batch in _chunks(queries, self.batch_size):
            out.extend(self._read_batch(batch, start, end))
        return out

    def _read_batch(
        self, batch: Sequence[SeriesQuery], start: datetime, end: datetime
    ) -> list[list[tuple[datetime, float]]]:
        results: dict[str, list[tuple[datetime, float]]] = {f"q{n}": [] for n in range(len(batch))}
        kwargs: dict[str, Any] = {
            "MetricDataQueries": [self._query(n, q) for n, q in enumerate(batch)],
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        self.stats.queries += len(batch)
        while True:
            resp = self.client.get_metric_data(**kwargs)
            self.stats.calls += 1
            for r in resp.get("MetricDataResults", []):
                points = results.get(r.get("Id", ""))
                if points is None:
                    continue
                pairs = list(zip(r.get("Timestamps", []), r.get("Values", []), strict=False))
                points.extend(pairs)
                self.stats.datapoints += len(pairs)
                if r.get("StatusCode") == "PartialData" and not resp.get("NextToken"):
                    self.stats.partial.append(r.get("Id", ""))
            token = resp.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
        return [sorted(results[f"q{n}"]) for n in range(len(batch))]
