"""What the test applications answer, shared by the CGI script and the
HTTP server behind mod_proxy, so both backends behave alike.

The query string is the whole program:

  status=N        response status (default 200)
  user=V          send `X-Remote-User: V` (V is taken byte for byte after
                  percent-decoding, so %09 or a 300-byte value are possible)
  user2=V         send a second `X-Remote-User: V` after the first
  type=V          send `X-Auth-Type: V`
  chunked=1       stream the body in three flushed pieces (no Content-Length)
  etag=V          send `ETag: "V"`; answer 304 when If-None-Match matches
  cond=apache     leave If-None-Match to Apache (the CGI then sends no Status
                  line, so Apache's ap_meets_conditions may answer 304)
  echo=1          the body lists the request headers the app received, and
                  the app copies a received X-Remote-User into its response
                  (an app that trusts request headers: the spoofing risk)
"""

import json
import urllib.parse

REASONS = {200: "OK", 204: "No Content", 304: "Not Modified", 401: "Unauthorized",
           404: "Not Found", 500: "Internal Server Error"}


def plan(query, request_headers):
    """(status, [(name bytes, value bytes)], [body pieces]) for a query
    string and the request headers as (name, value) str pairs."""
    args = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True,
                                             encoding="latin-1"):
        args[key] = value.encode("latin-1")
    status = int(args.get("status", b"200"))
    headers = []
    if "user" in args:
        headers.append((b"X-Remote-User", args["user"]))
    if "user2" in args:
        headers.append((b"X-Remote-User", args["user2"]))
    if "type" in args:
        headers.append((b"X-Auth-Type", args["type"]))
    if "etag" in args:
        etag = b'"' + args["etag"] + b'"'
        headers.append((b"ETag", etag))
        wanted = dict((k.lower(), v) for k, v in request_headers).get("if-none-match")
        if (wanted is not None and wanted.encode("latin-1") == etag
                and args.get("cond") != b"apache"):
            status = 304
    if args.get("echo") == b"1":
        received = [[k, v] for k, v in request_headers]
        for name, value in request_headers:
            if name.lower() == "x-remote-user":
                headers.append((b"X-Remote-User", value.encode("latin-1")))
        pieces = [json.dumps(received).encode() + b"\n"]
    elif status in (204, 304):
        pieces = []
    elif args.get("chunked") == b"1":
        pieces = [b"one\n", b"two\n", b"three\n"]
    else:
        pieces = [b"status %d from the app\n" % status]
    if status in (204, 304):
        pieces = []
    elif not any(k.lower() == b"content-type" for k, _ in headers):
        headers.append((b"Content-Type", b"text/plain"))
    return status, headers, pieces, args.get("chunked") == b"1"


def reason(status):
    return REASONS.get(status, "Status").encode()
