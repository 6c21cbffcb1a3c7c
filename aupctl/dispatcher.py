"""The uploads queue's event source, played locally: SQS batches -> UploadScannerFunction, in-process.

Like Lambda's SQS event-source mapping with ``ReportBatchItemFailures``: a batch (up to the
template's ``BatchSize``) is handed to the handler in Lambda's SQS event shape; the messages it does
not report in ``batchItemFailures`` are deleted; the reported ones (or the whole batch when the
handler raises) stay and come back after the queue's visibility timeout, then go to the DLQ.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from aupctl.runner import FunctionRunner

log = logging.getLogger("aupctl.dispatcher")

FUNCTION = "UploadScannerFunction"
QUEUE = "UploadsQueue"


def lambda_sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One received SQS message in the shape Lambda's event-source mapping delivers it."""
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            k: attributes[k]
            for k in (
                "ApproximateReceiveCount",
                "SentTimestamp",
                "SenderId",
                "ApproximateFirstReceiveTimestamp",
            )
            if k in attributes
        },
        "messageAttributes": {
            name: {
                "stringValue": a.get("StringValue"),
                "binaryValue": a.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": a.get("DataType"),
            }
            for name, a in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def scan_verdict(s3: Any, bucket: str, key: str) -> dict[str, str] | None:
    """An upload's tags once the scanner has tagged it (``aup-verdict``), else None; an object gone from
    the uploads bucket was moved to quarantine, so its scan is done: ``{"aup-verdict": "quarantined"}``."""
    try:
        tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
    except s3.exceptions.ClientError:
        return {"aup-verdict": "quarantined"}
    return tags if "aup-verdict" in tags else None


class UploadsDispatcher:
    """Polls the uploads queue (long polling) and runs the scanner on each batch."""

    def __init__(self, runner: FunctionRunner, wait_seconds: int = 2) -> None:
        self.runner = runner
        self.wait_seconds = wait_seconds
        self.stopping = threading.Event()
        self.batches = 0
        local = runner.local
        self.sqs = local.client("sqs")
        self.queue_url = local.resources[QUEUE]
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events = local.template["Resources"][FUNCTION]["Properties"].get("Events", {})
        sqs_events = [e for e in events.values() if e.get("Type") == "SQS"]
        self.batch_size = min(10, int(sqs_events[0]["Properties"].get("BatchSize", 10)) if sqs_events else 10)

    def poll_once(self) -> int:
        """Receive one batch and dispatch it; returns the number of messages received."""
        received = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return 0
        records = [
            lambda_sqs_record(m, self.queue_arn, self.runner.local.session.region_name) for m in received
        ]
        failed: set[str] = {m["MessageId"] for m in received}  # a raising handler fails the whole batch
        try:
            result = self.runner.invoke(FUNCTION, {"Records": records}).result
            reported = (result or {}).get("batchItemFailures", []) if isinstance(result, dict) else []
            failed = {str(item.get("itemIdentifier")) for item in reported}
        except Exception:
            log.exception(
                "%s raised on a batch of %d; the messages stay on the queue", FUNCTION, len(received)
            )
        done = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(received)
            if m["MessageId"] not in failed
        ]
        if done:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=done)
        self.batches += 1
        log.info(
            "dispatched %d message(s) to %s: %d deleted, %d left for retry",
            len(received),
            FUNCTION,
            len(done),
            len(received) - len(done),
        )
        return len(received)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll_once()
            except Exception:  # the server stopping under us, or a transient error: keep going
                if self.stopping.is_set():
                    break
                log.exception("dispatcher poll failed")
                self.stopping.wait(1)

    def stop(self) -> None:
        self.stopping.set()
