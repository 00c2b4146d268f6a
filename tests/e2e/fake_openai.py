"""A misbehaving OpenAI-compatible server for the fault tests. The backend model name of
each request picks the fault; the first path segment (`/east/v1/…`, `/west/v1/…`) says
which spillway region called, so one server can fail in one region and answer in
another."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WORDS = ["Hello", " from", " the", " fake", " server", "."]
# How long a hanging backend keeps the connection open without a byte (longer than any
# backend timeout the tests configure).
HANG_SECONDS = 30


def sse(obj):
    return f"data: {json.dumps(obj)}\n\n".encode()


def delta(text):
    return sse({"choices": [{"index": 0, "delta": {"content": text}}]})


class FaultyOpenAI(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    calls = []  # (region, fault, stream) of every request, in order

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        region = self.path.strip("/").split("/")[0]
        fault = body["model"]
        # A fault named "<fault>@<region>" only strikes in that region; elsewhere it answers.
        if "@" in fault:
            fault, where = fault.split("@")
            fault = fault if where == region else "ok"
        stream = bool(body.get("stream"))
        FaultyOpenAI.calls.append((region, fault, stream))
        getattr(self, "fault_" + fault.replace("-", "_"))(stream)

    # --- behaviours ---------------------------------------------------------------

    content_type = None  # set by a fault that lies about the content type

    def fault_ok(self, stream):
        if not stream:
            return self.reply(200, self.content_type or "application/json", json.dumps({
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(WORDS)}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 6, "total_tokens": 17},
            }).encode())
        self.start_stream()
        for w in WORDS:
            self.wfile.write(delta(w))
        self.wfile.write(sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        self.wfile.write(sse({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 6, "total_tokens": 17}}))
        self.wfile.write(b"data: [DONE]\n\n")
        self.finish_stream()

    def fault_dies_mid_stream(self, stream):
        """Two chunks, then the socket is cut (no [DONE], no final chunk)."""
        self.start_stream()
        self.wfile.write(delta("Hello") + delta(" from"))
        self.wfile.flush()
        time.sleep(0.2)
        self.cut()

    def fault_garbage(self, stream):
        """A 200 whose body is neither JSON nor SSE."""
        self.reply(200, "text/plain", b"<html>this is not the API you are looking for</html>")

    def fault_wrong_json(self, stream):
        """A 200 JSON body of the wrong shape (no choices), even when a stream was asked."""
        self.reply(200, "application/json", json.dumps({"result": "nothing here"}).encode())

    def fault_wrong_content_type(self, stream):
        """A good answer under a content type that says otherwise."""
        self.content_type = "text/html" if not stream else "text/plain"
        self.fault_ok(stream)

    def fault_hangs(self, stream):
        """Reads the request, then never answers."""
        time.sleep(HANG_SECONDS)
        self.cut()

    def fault_closes(self, stream):
        """Reads the request and closes the connection without a byte of answer."""
        self.cut()

    # --- plumbing -----------------------------------------------------------------

    def reply(self, status, content_type, raw):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def start_stream(self):
        self.send_response(200)
        self.send_header("content-type", self.content_type or "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()

    def finish_stream(self):
        self.wfile.flush()
        self.close_connection = True

    def cut(self):
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def start():
    """The server, serving in a daemon thread: (server, base URL)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FaultyOpenAI)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
