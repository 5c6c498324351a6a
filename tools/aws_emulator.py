"""Runs moto's server with every request applied one at a time.

moto's threaded server lets concurrent requests mutate a table while a TransactWriteItems
deep-copies it (its rollback snapshot), which fails with an HTML 500. Real DynamoDB applies
each request atomically; serialising requests here gives the tests that guarantee while
connections stay concurrent. Usage: python tools/aws_emulator.py -H 127.0.0.1 -p 5555
"""

import sys
import threading

from moto import server
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

if __name__ == "__main__":
    server.main(sys.argv[1:])
