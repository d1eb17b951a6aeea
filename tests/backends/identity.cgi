#!/usr/bin/python3 -S
"""The CGI backend: answers as identity_app.plan() says (the script sits
next to identity_app.py)."""

import os
import sys
import time
import urllib.parse

from identity_app import plan, reason

request_headers = [
    (key[5:].replace("_", "-").title(), value)
    for key, value in os.environ.items() if key.startswith("HTTP_")
]
query = os.environ.get("QUERY_STRING", "")
status, headers, pieces, chunked = plan(query, request_headers)
out = sys.stdout.buffer
if urllib.parse.parse_qs(query).get("cond") == ["apache"]:
    head = []
else:
    head = [b"Status: %d %s\r\n" % (status, reason(status))]
head += [name + b": " + value + b"\r\n" for name, value in headers]
out.write(b"".join(head) + b"\r\n")
out.flush()
# No body for HEAD: Apache 2.4.71's mod_http2 sometimes forwards a CGI's HEAD
# body as a DATA frame, and curl then resets the stream (with or without
# reflection).
if os.environ.get("REQUEST_METHOD") == "HEAD":
    pieces = []
for piece in pieces:
    out.write(piece)
    out.flush()
    if chunked:
        time.sleep(0.02)
