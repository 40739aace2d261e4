"""A throw-away HTTP server on 127.0.0.1 serving one folder, for the download tests (loopback only)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *arguments):
        """Keep the test output clean."""


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP while the block runs; yields the base URL (no trailing slash)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    # shutdown() returns at the loop's next poll: every 0.5 s by default, half a second per test
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
