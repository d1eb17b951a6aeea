"""The mod_proxy backend: an HTTP/1.1 server on 127.0.0.1 that answers
every request as identity_app.plan() says. Run as
`python3 identity_server.py PORT`; it prints "ready" once it listens.

Two things only an HTTP server can do, on top of identity_app's query
language:

  trailer_user=V  answer chunked and send `X-Remote-User: V` as a trailer
  trailer_type=V  (and `X-Auth-Type: V`) after the last chunk, announced
                  with a `Trailer:` header
  hints=1         send `103 Early Hints` carrying the identity headers of the
                  query (and a Link) before the response
  WebSocket       a request with `Upgrade: websocket` gets `101 Switching
                  Protocols` carrying the identity headers of the query
                  (user=, type=); the server then answers one text frame
                  with "echo:" + its payload, sends a close frame and
                  closes the connection
"""

import base64
import hashlib
import http.server
import socketserver
import sys
import time
import urllib.parse

from identity_app import plan, reason

WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def read_exact(stream, count):
    data = b""
    while len(data) < count:
        more = stream.read(count - len(data))
        if not more:
            raise ConnectionError("connection closed inside a WebSocket frame")
        data += more
    return data


def read_frame(stream):
    """One client WebSocket frame: (opcode, unmasked payload)."""
    first, second = read_exact(stream, 2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(read_exact(stream, 2), "big")
    elif length == 127:
        length = int.from_bytes(read_exact(stream, 8), "big")
    mask = read_exact(stream, 4) if second & 0x80 else b"\0\0\0\0"
    payload = read_exact(stream, length)
    return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def frame(opcode, payload):
    """An unmasked server frame (payloads under 126 bytes)."""
    assert len(payload) < 126
    return bytes([0x80 | opcode, len(payload)]) + payload


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        query = self.path.partition("?")[2]
        status, headers, pieces, chunked = plan(query, list(self.headers.items()))
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self.websocket(headers)
            return
        args = dict(urllib.parse.parse_qsl(query, encoding="latin-1"))
        trailers = [(name, args[key].encode("latin-1"))
                    for name, key in ((b"X-Remote-User", "trailer_user"),
                                      (b"X-Auth-Type", "trailer_type")) if key in args]
        chunked = chunked or bool(trailers)
        if args.get("hints") == "1":
            self.wfile.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n"
                             + b"".join(name + b": " + value + b"\r\n" for name, value in headers
                                        if name.lower() in (b"x-remote-user", b"x-auth-type"))
                             + b"\r\n")
            self.wfile.flush()
        out = [b"HTTP/1.1 %d %s\r\n" % (status, reason(status))]
        out += [name + b": " + value + b"\r\n" for name, value in headers]
        if trailers:
            out.append(b"Trailer: " + b", ".join(name for name, _ in trailers) + b"\r\n")
        if status not in (204, 304):
            if chunked:
                out.append(b"Transfer-Encoding: chunked\r\n")
            else:
                out.append(b"Content-Length: %d\r\n" % sum(map(len, pieces)))
        out.append(b"\r\n")
        self.wfile.write(b"".join(out))
        if self.command == "HEAD" or status in (204, 304):
            return
        for piece in pieces:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            self.wfile.flush()
            if chunked:
                time.sleep(0.02)
        if chunked:
            self.wfile.write(b"0\r\n" + b"".join(name + b": " + value + b"\r\n"
                                                  for name, value in trailers) + b"\r\n")

    do_HEAD = do_GET
    do_POST = do_GET

    def websocket(self, identity_headers):
        key = self.headers.get("Sec-WebSocket-Key", "").encode("latin-1")
        accept = base64.b64encode(hashlib.sha1(key + WEBSOCKET_GUID).digest())
        out = [b"HTTP/1.1 101 Switching Protocols\r\n", b"Upgrade: websocket\r\n",
               b"Connection: Upgrade\r\n", b"Sec-WebSocket-Accept: " + accept + b"\r\n"]
        out += [name + b": " + value + b"\r\n" for name, value in identity_headers
                if name.lower() in (b"x-remote-user", b"x-auth-type")]
        self.wfile.write(b"".join(out) + b"\r\n")
        self.wfile.flush()
        self.close_connection = True
        try:
            opcode, payload = read_frame(self.rfile)
        except ConnectionError:
            return
        self.wfile.write(frame(0x1, b"echo:" + payload) + frame(0x8, b"\x03\xe8"))
        self.wfile.flush()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    server.serve_forever()
