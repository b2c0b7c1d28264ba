"""A front of the S3 stand-in that stores PutObject bodies after the clock: issue 22's backup target
("the tool's own backup time ... the S3 stand-in's time reported apart") measured, not estimated.

    python benchmarks/deferred_s3.py --upstream http://127.0.0.1:PORT     (benchmarks/backup.py starts it)

On a machine whose two cores also run the stand-in, moto's work for a backup (reading 950 MiB of
request bodies in Python, its MD5 ETag of every object: ~3 ms of CPU per MiB, 2.5-3.4 CPU s per
backup measured) is done on the same cores as the backup's, and no schedule takes it off them: the
moto-included time says how the two share the cores, not the tool's own time. This front listens on
127.0.0.1 in front of moto (`--upstream`):

- a PutObject (PUT of an object with no query string and no `x-amz-copy-source`: every other PUT
  on an object, UploadPart's and the sub-resources', has one) is read whole and kept in memory, in
  arrival order, and answered 200 with the checksum header it carried
  (S3 answers with the checksum it verified); the ETag, S3's MD5 of the body, is left out (moto
  computes it when the object is stored; the tool does not read it);
- every other request (GET, HEAD, LIST, DELETE, multipart uploads...) is passed to moto as it came,
  and moto's answer back: what the tool reads comes from moto.

After a timed run the benchmark sends `replay` on standard input: every kept PutObject is sent to
moto as it came (the manifests last, as the tool writes them last), each kept body first checked
against its `x-amz-checksum-sha256` (what S3 would have refused), and one JSON line comes back:
objects, bytes (the manifests' apart too), seconds, and any failure. The replay is the stand-in's
time, timed apart; the benchmark then reads the backup back from moto (`chefchatz backup verify`),
so a backup measured through the front is a whole, stored, verified backup. The front's own CPU
time (reading the request bodies from the sockets) is shown per run beside moto's.

What it leaves out is all of S3's time, latency included: each answer comes as soon as the body has
crossed the loopback. Against a real S3 every PutObject also waits for a round trip and the upload at
the network's bandwidth; the tool overlaps that wait with compressing the next chunk (a job's upload
runs outside its compression slot, `ops/backup/directory.py`), but the last chunks' uploads after
pg_dump ends (`upload_after_dump`) wait on it in full. TLS, whose encryption is the tool's CPU too,
is not on this plain-HTTP path either. The measured figure is the tool's time against an S3 whose
own time is nil: the lower bound that "the S3 stand-in's time reported apart" asks for.

Standard output: `listening <port>`, then one JSON line per `replay`. Standard input: `replay`, or
end of input to stop.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Hop-by-hop headers and those http.client sets itself: not passed on.
NOT_PASSED = {"connection", "keep-alive", "expect", "transfer-encoding", "content-length", "te", "upgrade"}
REPLAY_JOBS = 2


@dataclass(frozen=True)
class Kept:
    path: str
    headers: list[tuple[str, str]]
    body: bytes


def is_put_object(method: str, path: str, headers: dict[str, str]) -> bool:
    """PutObject, by S3's REST API: PUT /bucket/key without the sub-resources of other PUTs
    (UploadPart's partNumber/uploadId, PutObjectAcl's acl, tagging, retention, legal-hold...)
    and without x-amz-copy-source (CopyObject)."""
    parsed = urllib.parse.urlsplit(path)
    bucket, _, key = parsed.path.lstrip("/").partition("/")
    return method == "PUT" and bool(bucket and key) and not parsed.query and "x-amz-copy-source" not in headers


class Upstream:
    """One keep-alive connection to moto per thread of the front."""

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "http" or parsed.hostname != "127.0.0.1" or parsed.port is None:
            raise SystemExit(f"--upstream {url!r}: http://127.0.0.1:PORT expected (loopback only)")
        self.port = parsed.port
        self._local = threading.local()

    def send(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = self._local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
            try:
                conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    if name.lower() not in NOT_PASSED:
                        conn.putheader(name, value)
                conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                response = conn.getresponse()
                data = response.read()
                return response.status, response.getheaders(), data
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                # Once more only on a kept-alive connection moto may have closed meanwhile, and only
                # a request that does the same when sent twice (not a POST: CreateMultipartUpload...).
                if attempt == 2 or not reused or method == "POST":
                    raise
        raise AssertionError("unreachable")


class Front(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: Upstream) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.upstream = upstream
        self.kept: list[Kept] = []
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and `Expect: 100-continue` answered as botocore asks
    disable_nagle_algorithm = True  # headers and body written apart must not wait for a delayed ACK
    server: Front

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _body(self) -> bytes | None:
        """The request's body; None (answered 411) for a body without Content-Length, which botocore
        does not send here (bytes bodies; aws-chunked only over https)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.send_error(411, "a body with Content-Length expected")
            return None
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        # send_response writes its own Server and Date; moto's are not passed on twice.
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in NOT_PASSED | {"server", "date"}:
                self.send_header(name, value)
        if self.command == "HEAD":
            # A HEAD answer carries the object's Content-Length (moto's, passed on), and no body.
            length = next((v for k, v in headers if k.lower() == "content-length"), None)
            if length is not None:
                self.send_header("Content-Length", length)
        elif status not in (204, 304):  # no Content-Length on answers that never have a body (RFC 9110)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def _pass(self) -> None:
        body = self._body()
        if body is None:
            return
        status, headers, data = self.server.upstream.send(self.command, self.path, list(self.headers.items()), body)
        self._answer(status, headers, data)

    def do_PUT(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        if not is_put_object("PUT", self.path, headers):
            self._pass()
            return
        body = self._body()
        if body is None:
            return
        with self.server.lock:
            self.server.kept.append(Kept(self.path, list(self.headers.items()), body))
        answer = [(k, v) for k, v in headers.items() if k.startswith("x-amz-checksum-")]
        self._answer(200, [*answer, ("x-amz-request-id", "deferred")], b"")

    do_GET = do_HEAD = do_POST = do_DELETE = _pass


def replay(front: Front) -> dict[str, object]:
    """Every kept PutObject into moto, the manifests last; each body checked against its sha256 first."""
    with front.lock:
        kept, front.kept = front.kept, []
    failures: list[str] = []

    def store(item: Kept) -> int:
        headers = {k.lower(): v for k, v in item.headers}
        claimed = headers.get("x-amz-checksum-sha256")
        if claimed is not None and base64.b64encode(hashlib.sha256(item.body).digest()).decode() != claimed:
            failures.append(f"{item.path}: the body does not hash to its x-amz-checksum-sha256 (S3: BadDigest)")
            return 0
        try:
            status, _, data = front.upstream.send("PUT", item.path, item.headers, item.body)
        except (OSError, http.client.HTTPException) as exc:
            failures.append(f"{item.path}: moto did not answer: {exc!r}")
            return 0
        if status != 200:
            failures.append(f"{item.path}: moto answered {status}: {data[:300]!r}")
            return 0
        return len(item.body)

    start = time.perf_counter()
    first: list[Kept] = []
    last: list[Kept] = []
    for item in kept:
        (last if urllib.parse.urlsplit(item.path).path.endswith("/manifest.json") else first).append(item)
    with ThreadPoolExecutor(REPLAY_JOBS) as pool:
        stored = sum(pool.map(store, first))
    manifests = sum(map(store, last))
    return {
        "objects": len(kept),
        "bytes": stored + manifests,
        "manifest_bytes": manifests,
        "seconds": time.perf_counter() - start,
        "failures": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True, help="the moto server, http://127.0.0.1:PORT")
    args = parser.parse_args()
    front = Front(Upstream(args.upstream))
    threading.Thread(target=front.serve_forever, daemon=True).start()
    print(f"listening {front.server_address[1]}", flush=True)
    for line in sys.stdin:
        if line.strip() == "replay":
            print(json.dumps(replay(front)), flush=True)
        elif line.strip():
            print(json.dumps({"failures": [f"unknown command {line.strip()!r}: replay expected"]}), flush=True)
    front.shutdown()


if __name__ == "__main__":
    main()
