"""A local HTTP server (127.0.0.1, a free port) that serves files and misbehaves on request.

``server.files[path] = bytes`` publishes a file; ``server.plan[path] = [...]`` lists what the next
requests for it do, one action each (then plain service):

- ``"ok"``: serve normally (Range honoured);
- ``"drop:N"``: announce the full length, send N bytes, then close the connection;
- ``"stall:N"``: send N bytes, then send nothing until the test ends;
- ``"status:C"``: answer HTTP C (e.g. 404, 500, 503);
- ``"norange"``: ignore the Range header (200 with the whole file);
- ``"416"``: answer 416 to a Range request whatever the range;
- ``"wrong"``: serve the right length of wrong bytes;
- ``"html"``: a web page instead of the file;
- ``"huge"``: announce a Content-Length of 10**12 and send the file.

``server.requests`` records (path, Range header) of every request.
"""
from __future__ import annotations

import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):
        state: ModelServer = self.server.state
        path = self.path.split("?", 1)[0]
        rng = self.headers.get("Range")
        with state.lock:
            state.requests.append((path, rng))
            steps = state.plan.get(path) or []
            action = steps.pop(0) if steps else "ok"
        data = state.files.get(path)
        if action.startswith("status:") or data is None:
            code = int(action.split(":")[1]) if action.startswith("status:") else 404
            return self._reply(code, b"no" if code >= 400 else b"")
        if action == "html":
            return self._reply(200, b"<html><body>Sign in</body></html>", "text/html")
        start, status, headers = 0, 200, {}
        match = re.match(r"bytes=(\d+)-$", rng or "")
        if match and action != "norange":
            start = int(match.group(1))
            if start >= len(data) or action == "416":
                return self._reply(416, b"", extra={"Content-Range": f"bytes */{len(data)}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        if action == "wrong":
            body = bytes((b + 1) % 256 for b in body)
        length = 10 ** 12 if action == "huge" else len(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("ETag", state.etag)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if action.startswith(("drop:", "stall:")):
            n = int(action.split(":")[1])
            self.wfile.write(body[:n])
            self.wfile.flush()
            if action.startswith("stall:"):
                state.release.wait(30)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        for i in range(0, len(body), 1 << 16):
            self.wfile.write(body[i:i + (1 << 16)])
        if action == "huge":
            self.close_connection = True

    def _reply(self, code, body, ctype="text/plain", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that hangs up (on purpose, in these tests) is not an error


class ModelServer:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.plan: dict[str, list[str]] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.etag = '"v1"'
        self._httpd = _QuietServer(("127.0.0.1", 0), _Handler)
        self._httpd.state = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    def ranges(self, path: str) -> list[str | None]:
        return [r for p, r in self.requests if p == path]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
