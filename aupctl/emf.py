"""Embedded-metric-format lines -> CloudWatch ``put_metric_data``, as Lambda's log pipeline does on AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

_MAX_DATA = 1000  # put_metric_data's limit of metric data items per call


def parse_emf(line: str) -> dict[str, Any] | None:
    """The EMF document on ``line``, or None when the line is not one (a log line, plain text)."""
    text = line.strip()
    if not text.startswith("{") or '"_aws"' not in text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    aws = doc.get("_aws") if isinstance(doc, dict) else None
    return doc if isinstance(aws, dict) and isinstance(aws.get("CloudWatchMetrics"), list) else None


def metric_data(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Namespace -> MetricData items for one EMF document (one item per metric per dimension set)."""
    aws = doc["_aws"]
    ts_ms = aws.get("Timestamp")
    when = datetime.fromtimestamp(ts_ms / 1000, UTC) if isinstance(ts_ms, int | float) else datetime.now(UTC)
    out: dict[str, list[dict[str, Any]]] = {}
    for directive in aws["CloudWatchMetrics"]:
        namespace = directive.get("Namespace") or "aws-embedded-metrics"
        dim_sets = directive.get("Dimensions") or [[]]
        for metric in directive.get("Metrics", []):
            name = metric.get("Name")
            value = doc.get(name)
            if name is None or value is None:
                continue
            values = value if isinstance(value, list) else [value]
            for dims in dim_sets:
                item: dict[str, Any] = {
                    "MetricName": name,
                    "Dimensions": [{"Name": d, "Value": str(doc[d])} for d in dims if d in doc],
                    "Timestamp": when,
                    "Unit": metric.get("Unit") or "None",
                }
                if len(values) == 1:
                    item["Value"] = float(values[0])
                else:
                    item["Values"] = [float(v) for v in values]
                if metric.get("StorageResolution") == 1:
                    item["StorageResolution"] = 1
                out.setdefault(namespace, []).append(item)
    return out


def publish(lines: list[str], cloudwatch: Any) -> int:
    """Publish every EMF document among ``lines``; returns the number of metric data items sent."""
    batches: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        doc = parse_emf(line)
        if doc is not None:
            for namespace, items in metric_data(doc).items():
                batches.setdefault(namespace, []).extend(items)
    sent = 0
    for namespace, items in batches.items():
        for start in range(0, len(items), _MAX_DATA):
            chunk = items[start : start + _MAX_DATA]
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=chunk)
            sent += len(chunk)
    return sent
