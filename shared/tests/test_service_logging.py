"""A service's logging (issue 12 point 9): httpx logs every request's full URL at INFO, and
Kavenegar's API key is part of its URL path, so httpx and httpcore log only warnings."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from shared.service import configure_logging

API_KEY = "4A6F7365-secret-api-key-77"


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def restored_logging() -> Iterator[None]:
    names = ("httpx", "httpcore")
    levels = {name: logging.getLogger(name).level for name in names}
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def test_after_the_service_logging_setup_an_http_request_logs_no_url(
    server, restored_logging, caplog
):
    configure_logging()
    with caplog.at_level(logging.INFO):
        answer = httpx.post(f"{server}/v1/{API_KEY}/sms/send.json", data={"receptor": "0912"})
        logging.getLogger("notifications").info("still logged")
    assert answer.status_code == 200
    assert API_KEY not in caplog.text
    assert "still logged" in caplog.text
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("httpcore").getEffectiveLevel() == logging.WARNING
