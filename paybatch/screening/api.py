"""The real-time screening path: 1–100 names per request, the same matcher as the nightly job.

``POST /screen`` with ``{"names": [{"id": "c1", "name": "…", "type": "individual", "dob": "1970", "country": "…"}]}``
(or plain strings) answers ``{"list_version": …, "results": [{"id": …, "matches": [...]}]}``. The index is
built once per process (a Lambda container, or ``paybatch screen serve``) and reused for every request.
``GET /health`` answers the list version and its size. Bad requests get HTTP 400 with the reason.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from paybatch.aws import AwsClients
from paybatch.config import load_settings
from paybatch.screening.lists import load_stored
from paybatch.screening.matcher import Customer, ListIndex
from paybatch.screening.similarity import ScoringPolicy

MAX_NAMES = 100


class BadRequest(ValueError):
    """A request the API refuses: the message says what to send instead."""


def parse_request(body: bytes) -> tuple[list[Customer], float | None]:
    try:
        data = json.loads(body or b"null")
    except ValueError:
        raise BadRequest("the body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("names"), list):
        raise BadRequest('send {"names": [...]}: 1 to 100 names (strings, or objects with id and name)')
    names = data["names"]
    if not 1 <= len(names) <= MAX_NAMES:
        raise BadRequest(f"send 1 to {MAX_NAMES} names per request, not {len(names)}")
    customers = []
    for i, item in enumerate(names):
        if isinstance(item, str):
            item = {"id": str(i), "name": item}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            raise BadRequest(f"names[{i}] has no name")
        customers.append(Customer(str(item.get("id", i)), item["name"], str(item.get("type") or "").lower(),
                                  str(item.get("dob") or ""), str(item.get("country") or "")))
    threshold = data.get("threshold")
    if threshold is not None and not (isinstance(threshold, int | float) and 0 < threshold <= 1):
        raise BadRequest("threshold must be a number in (0, 1]")
    return customers, threshold


def screen(index: ListIndex, body: bytes) -> dict[str, Any]:
    started = time.perf_counter()
    customers, threshold = parse_request(body)
    found: dict[str, list[dict[str, Any]]] = {c.id: [] for c in customers}
    for match in index.match(customers, threshold):
        found[match.customer_id].append({k: v for k, v in asdict(match).items() if k != "customer_id"})
    return {"list_version": index.version, "threshold": threshold or index.policy.threshold,
            "results": [{"id": c.id, "name": c.name, "matches": found[c.id]} for c in customers],
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 2)}


class _Handler(BaseHTTPRequestHandler):
    index: ListIndex

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._reply(200, {"list_version": self.index.version, "entries": len(self.index.sanctions.entries),
                              "names": len(self.index.names)})
        else:
            self._reply(404, {"error": "GET /health or POST /screen"})

    def do_POST(self) -> None:
        if self.path != "/screen":
            self._reply(404, {"error": "POST /screen"})
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            self._reply(200, screen(self.index, body))
        except BadRequest as exc:
            self._reply(400, {"error": str(exc)})

    def log_message(self, format: str, *args: Any) -> None:
        return


def server(index: ListIndex, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1 (``port`` 0: any free port) answering with ``index``."""
    handler = type("ScreeningHandler", (_Handler,), {"index": index})
    return ThreadingHTTPServer((host, port), handler)


def serve_in_background(index: ListIndex, port: int = 0) -> tuple[ThreadingHTTPServer, threading.Thread]:
    httpd = server(index, port)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return httpd, thread


_INDEX: ListIndex | None = None


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda function URL / API Gateway (payload 2.0) entry: the index is built on the container's first call."""
    global _INDEX
    if _INDEX is None:
        clients = AwsClients(load_settings())
        _INDEX = ListIndex(load_stored(clients), ScoringPolicy(threshold=clients.settings.screening.threshold))
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        import base64

        body = base64.b64decode(body).decode()
    try:
        payload, status = screen(_INDEX, body.encode()), 200
    except BadRequest as exc:
        payload, status = {"error": str(exc)}, 400
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(payload, default=str)}
