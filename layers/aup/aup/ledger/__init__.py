"""The enforcement record: accounts, violations, reviews, audit, counters (one DynamoDB table)."""

from aup.ledger.base import (
    AccountExists,
    AccountNotFound,
    CounterUpdate,
    Ledger,
    LedgerError,
    Page,
    ReviewClosed,
    ReviewNotFound,
)
from aup.ledger.dynamo import DynamoLedger

__all__ = [
    "AccountExists",
    "AccountNotFound",
    "CounterUpdate",
    "DynamoLedger",
    "Ledger",
    "LedgerError",
    "Page",
    "ReviewClosed",
    "ReviewNotFound",
]
