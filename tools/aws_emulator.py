"""Runs moto's server with every request applied one at a time, and cheap transaction rollback.

moto's threaded server lets concurrent requests mutate a table while a TransactWriteItems
deep-copies it (its rollback snapshot), which fails with an HTML 500. Real DynamoDB applies
each request atomically; serialising requests here gives the tests that guarantee while
connections stay concurrent.

moto's TransactWriteItems also deep-copies the whole table once per operation in the
transaction, before applying any, so a transaction costs O(operations x table size): an 11-item
transaction against a 10,000-item table copies 110,000 items. Here the snapshot is the items
the transaction names instead (the only ones it can change), restored if it is cancelled; the
semantics are moto's own (its checks and writes run unchanged).

Usage: python tools/aws_emulator.py -H 127.0.0.1 -p 5555
"""

import copy
import sys
import threading

from moto import server
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server import werkzeug_app

_lock = threading.Lock()
_dispatch = werkzeug_app.DomainDispatcherApplication.__call__


def _one_at_a_time(self, environ, start_response):
    with _lock:
        result = _dispatch(self, environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    return [body]


werkzeug_app.DomainDispatcherApplication.__call__ = _one_at_a_time


class _TablesByReference:
    """The `copy` module as moto's DynamoDB backend sees it, except that a Table is not copied:
    the transaction's whole-table snapshots become references, and `_transact_write_items`
    keeps the snapshot that matters."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _key(table, operation):
    """The (hash, range) key an operation of a transaction names, as moto indexes items."""
    attributes = operation.get("Key") or operation.get("Item") or {}
    hash_value = attributes.get(table.hash_key_attr)
    if hash_value is None:
        return None
    range_value = None
    if table.range_key_attr:
        wire = attributes.get(table.range_key_attr)
        if wire is None:
            return None
        range_value = DynamoType(wire)
    return DynamoType(hash_value), range_value


def _restore(table, hash_value, range_value, item):
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
    elif item is None:
        table.items.get(hash_value, {}).pop(range_value, None)
    else:
        table.items[hash_value][range_value] = item


_transact = dynamodb_models.DynamoDBBackend.transact_write_items


def _transact_write_items(self, transact_items):
    saved = []
    for entry in transact_items:
        for operation in entry.values():
            table = self.tables.get(operation.get("TableName")) if isinstance(operation, dict) else None
            key = _key(table, operation) if table is not None else None
            if key is not None:
                saved.append((table, *key, copy.deepcopy(table.get_item(*key))))
    try:
        return _transact(self, transact_items)
    except BaseException:
        # Undo in reverse so that, if an item is named twice, its oldest state wins.
        for table, hash_value, range_value, item in reversed(saved):
            _restore(table, hash_value, range_value, item)
        raise


dynamodb_models.copy = _TablesByReference()
dynamodb_models.DynamoDBBackend.transact_write_items = _transact_write_items

if __name__ == "__main__":
    server.main(sys.argv[1:])
