"""The mod_proxy backend: an HTTP/1.1 server on 127.0.0.1 that answers
every request as identity_app.plan() says. Run as
`python3 identity_server.py PORT`; it prints "ready" once it listens."""

import http.server
import socketserver
import sys
import time

from identity_app import plan, reason


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        query = self.path.partition("?")[2]
        status, headers, pieces, chunked = plan(query, list(self.headers.items()))
        out = [b"HTTP/1.1 %d %s\r\n" % (status, reason(status))]
        out += [name + b": " + value + b"\r\n" for name, value in headers]
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
            self.wfile.write(b"0\r\n\r\n")

    do_HEAD = do_GET
    do_POST = do_GET


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    server.serve_forever()
