"""The ledger's DynamoDB adapter: item codecs (``codecs``) and the store (``ledger.DynamoStore``)."""

from aup.adapters.dynamodb.ledger import DynamoStore

__all__ = ["DynamoStore"]
