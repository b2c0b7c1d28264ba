"""The one Lambda function URL stand-in: an HTTP server on 127.0.0.1 that invokes a handler the way a function URL
does, turning each request into the event Lambda sends and the handler's result into the HTTP response.

The event is a ``LambdaFunctionURLEvent`` and the result a ``LambdaFunctionURLResult`` of ``@types/aws-lambda``
(community types from DefinitelyTyped, pinned in ``tests/contracts/node/package-lock.json``), cross-checked with
AWS's "Invoking Lambda function URLs", request and response payloads (payload format 2.0):
https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html. ``tests/contracts/test_lambda_url_contract.py``
type-checks every event the stand-in sends and every result it is given.

Where the two sources differ, the stand-in takes the reading both allow (docs/contracts.md):

- AWS's page sets ``requestContext.authentication`` and ``requestContext.authorizer`` to ``null`` for a URL
  without IAM auth, and sets ``pathParameters`` and ``stageVariables`` to ``null`` or leaves them out; the types
  allow none of these ``null``s (and have no ``authorizer`` on this event). The stand-in leaves all four out.
- The body is base64-encoded "if the content type of the request is binary" (AWS's page, which lists no content
  types); the stand-in sends ``text/*`` and ``application/json`` bodies as text and any other as base64. A request
  without a body has no ``body`` key (optional in the types).

Request header names are lower-cased and repeated headers joined with commas, as AWS's example shows; cookies are
not split out of the headers (no test sends one).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Handler = Callable[[dict[str, Any], Any], Any]

URL_ID = "standinurlid0chefchatz0slo0recv"
DOMAIN = f"{URL_ID}.lambda-url.us-east-1.on.aws"
_request_ids = itertools.count()


def _as_text(body: bytes, content_type: str | None) -> str | None:
    """The body as the text Lambda sends for a text content type; None: Lambda sends it base64-encoded."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if not (media.startswith("text/") or media == "application/json"):
        return None
    try:
        return body.decode()
    except UnicodeDecodeError:
        return None


def function_url_event(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str, now: float
) -> dict[str, Any]:
    """The event a function URL invokes its function with for this request (payload format 2.0)."""
    url = urlsplit(target)
    joined: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",  # function URLs have no routes: AWS's placeholder
        "rawPath": url.path or "/",
        "rawQueryString": url.query,
        "headers": joined,
    }
    if url.query:
        parameters: dict[str, str] = {}
        for name, value in parse_qsl(url.query, keep_blank_values=True):
            parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
        event["queryStringParameters"] = parameters
    event["requestContext"] = {
        "accountId": "anonymous",  # what a URL without IAM auth reports
        "apiId": URL_ID,
        "domainName": DOMAIN,
        "domainPrefix": URL_ID,
        "http": {
            "method": method,
            "path": url.path or "/",
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": joined.get("user-agent", ""),
        },
        "requestId": f"standin-{next(_request_ids):08d}",
        "routeKey": "$default",
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "timeEpoch": int(now * 1000),
    }
    text = _as_text(body, joined.get("content-type"))
    if body:
        event["body"] = text if text is not None else base64.b64encode(body).decode()
    event["isBase64Encoded"] = bool(body) and text is None
    return event


def http_response(result: Any) -> tuple[int, dict[str, str], bytes]:
    """The HTTP response Lambda makes of a function's result (AWS's page, "Response payload format")."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # Anything else is the body of a 200 JSON answer, as Lambda infers it.
        return 200, {"content-type": "application/json"}, json.dumps(result).encode()
    body = str(result.get("body", ""))
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    return int(result["statusCode"]), headers, payload


@dataclass(frozen=True)
class Invocation:
    event: dict[str, Any]
    result: Any


@dataclass
class FunctionUrl:
    url: str = ""
    invocations: list[Invocation] = field(default_factory=list)


@contextmanager
def serve(handler: Handler) -> Iterator[FunctionUrl]:
    """``handler`` behind a function URL at ``FunctionUrl.url``; every invocation is kept, in order."""
    state = FunctionUrl()

    class Request(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

        def _invoke(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            event = function_url_event(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0], time.time()
            )
            result = handler(event, None)
            state.invocations.append(Invocation(event, result))
            status, headers, payload = http_response(result)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = _invoke

    server = ThreadingHTTPServer(("127.0.0.1", 0), Request)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
