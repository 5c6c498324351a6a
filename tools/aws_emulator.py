"""Runs moto's server with every request applied one at a time, cheap transaction rollback and
a direct writer for DynamoDB attribute values in responses.

moto's threaded server lets concurrent requests mutate a table while a TransactWriteItems
deep-copies it (its rollback snapshot), which fails with an HTML 500. Real DynamoDB applies
each request atomically; serialising requests here gives the tests that guarantee while
connections stay concurrent.

moto's TransactWriteItems also deep-copies the whole table once per operation in the
transaction, before applying any, so a transaction costs O(operations x table size): an 11-item
transaction against a 10,000-item table copies 110,000 items. Here the snapshot is the items
the transaction names instead (the only ones it can change), restored if it is cancelled; the
semantics are moto's own (its checks and writes run unchanged).

moto's JSON response serialiser walks the model shape of every value it writes: for each
DynamoDB AttributeValue it tries all ten members (S, N, B, ... BOOL) through an alias-resolving
attribute picker, about 1 ms per item of ~15 attributes. A Scan page of 1,000 items took over
ten seconds to serialise. Here an AttributeValue is written directly in the same wire form
(strings as strings, binaries base64, maps and lists recursively); everything around the items
still goes through moto's serialiser.

Usage: python tools/aws_emulator.py -H 127.0.0.1 -p 5555
"""

import base64
import copy
import sys
import threading

from moto import server
from moto.core import serialize as moto_serialize
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


def _base64(value):
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(value).decode("utf-8")


_SCALARS = {"S": str, "N": str, "B": _base64, "NULL": lambda flag: flag, "BOOL": lambda flag: flag}
_SETS = {"SS": str, "NS": str, "BS": _base64}


class _LeftToMoto(Exception):
    """The value holds something moto's serialiser would treat differently."""


def _attribute_value(value):
    """An AttributeValue ({"S": ...}, {"M": {...}}, ...) in the wire form moto's serialiser gives
    it; raises _LeftToMoto for anything else."""
    if not isinstance(value, dict):
        raise _LeftToMoto
    wire = {}
    for tag, inner in value.items():
        if inner is None:
            continue
        if tag in _SCALARS:
            wire[tag] = _SCALARS[tag](inner)
        elif tag in _SETS:
            wire[tag] = [_SETS[tag](member) for member in inner]
        elif tag == "M" and isinstance(inner, dict):
            wire[tag] = {name: _attribute_value(member) for name, member in inner.items()}
        elif tag == "L" and isinstance(inner, list):
            wire[tag] = [_attribute_value(member) for member in inner]
        else:
            raise _LeftToMoto
    return wire


_serialize_structure = moto_serialize.JSONSerializer._serialize_type_structure


def _serialize_type_structure(self, serialized, value, shape, key):
    if shape.name == "AttributeValue" and isinstance(value, dict):
        try:
            wire = _attribute_value(value)
        except _LeftToMoto:
            pass
        else:
            if key:
                serialized[self.get_serialized_name(shape, key)] = wire
            else:
                serialized.update(wire)
            return
    _serialize_structure(self, serialized, value, shape, key)


moto_serialize.JSONSerializer._serialize_type_structure = _serialize_type_structure

if __name__ == "__main__":
    server.main(sys.argv[1:])
