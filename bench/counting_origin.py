#!/usr/bin/env python3
"""An origin for miss-path measurements: serves /<name>?size=N[&rate=BPS][&cc=...][&etag=...]
as N bytes, at most `rate` bytes a second, and counts the body bytes its sockets really took
(the return values of send). GET /_count answers that count; GET /_reset zeroes it.

    python3 bench/counting_origin.py PORT
"""
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

sent = 0
lock = threading.Lock()
CHUNK = b"x" * 65536


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.answer(head=True)

    def do_GET(self):
        self.answer(head=False)

    def answer(self, head):
        global sent
        url = urlsplit(self.path)
        if url.path in ("/_count", "/_reset"):
            with lock:
                if url.path == "/_reset":
                    sent = 0
                body = str(sent).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
            return
        q = parse_qs(url.query)
        size = int(q.get("size", ["1024"])[0])
        rate = int(q.get("rate", ["0"])[0])
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Cache-Control", q.get("cc", ["no-store"])[0])
        if "etag" in q:
            self.send_header("ETag", '"%s"' % q["etag"][0])
        self.end_headers()
        self.wfile.flush()
        if head:
            return
        sock = self.connection
        remaining = size
        start = time.monotonic()
        done = 0
        try:
            while remaining > 0:
                n = min(remaining, len(CHUNK) if rate == 0 else max(1024, min(len(CHUNK), rate // 20)))
                if rate:
                    due = start + done / rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                view = memoryview(CHUNK)[:n]
                while view:
                    k = sock.send(view)
                    with lock:
                        sent += k
                    view = view[k:]
                remaining -= n
                done += n
        except OSError:
            self.close_connection = True


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
