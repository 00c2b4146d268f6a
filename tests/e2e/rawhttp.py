"""Plain HTTP requests to spillway, for inputs the SDKs refuse to send (bad JSON, wrong
types, bad percent-encoding, odd methods and headers), and the one check every error
answer must pass: Bedrock-shaped, the expected shape and status, never a 5xx, and a
message that names what is wrong."""

import http.client
import json
import urllib.parse

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU_PATH = urllib.parse.quote(HAIKU, safe="")


def scope(region):
    """An Authorization header whose credential scope names `region` (open mode reads it)."""
    return {"Authorization": f"AWS4-HMAC-SHA256 Credential=AKID/20260101/{region}/bedrock/aws4_request, SignedHeaders=host, Signature=00"}


def send(server, method, path, body=None, headers=None):
    """One request on its own connection: (status, lower-cased headers, body bytes).
    `body`: None, bytes, str, or anything JSON-encodable."""
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    url = urllib.parse.urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        headers = dict(headers or {})
        if body is not None and not any(k.lower() in ("content-length", "transfer-encoding") for k in headers):
            headers["Content-Length"] = str(len(body))
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        if body:
            try:
                conn.send(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer before it read a body it refuses
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def assert_bedrock_error(status, headers, body, want_status, want_code, want_text):
    """The answer is the Bedrock error `want_code` with `want_status`, and its message
    contains `want_text` (the field, path or value at fault)."""
    assert status < 500, f"5xx answer: {status} {body[:300]!r}"
    assert headers.get("x-amzn-errortype") == want_code, f"{status} {headers.get('x-amzn-errortype')} {body[:300]!r}"
    assert status == want_status, f"{status} {body[:300]!r}"
    assert headers.get("content-type") == "application/json"
    assert headers.get("x-amzn-requestid")
    parsed = json.loads(body)
    assert parsed["__type"] == want_code
    assert want_text in parsed["message"], f"{want_text!r} not in {parsed['message']!r}"
