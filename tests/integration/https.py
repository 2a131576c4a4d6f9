"""A small HTTPS client for the integration tests (standard library only).

Contract: certificates are always verified against the instance's CA (never
ignored); every call has a timeout; bodies are bytes.
"""
from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import uuid
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Reply:
    status: int
    headers: dict[str, str]          # lower-cased names (last one wins)
    body: bytes
    all_headers: list[tuple[str, str]] = field(default_factory=list)

    def json(self):
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + token}


class Client:
    def __init__(self, port: int, ca: Path, host: str = "127.0.0.1", timeout: float = 30, source: str | None = None):
        self.source = (source, 0) if source else None
        self.port = port
        self.host = host
        self.timeout = timeout
        self.ctx = ssl.create_default_context(cafile=str(ca))
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_2

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None,
                timeout: float | None = None) -> Reply:
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout or self.timeout,
                                           source_address=self.source)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            pairs = r.getheaders()
            return Reply(r.status, {k.lower(): v for k, v in pairs}, data, pairs)
        finally:
            conn.close()

    def get(self, path: str, headers: dict[str, str] | None = None, **kw) -> Reply:
        return self.request("GET", path, headers, **kw)

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None, **kw) -> Reply:
        return self.request("POST", path, headers, body, **kw)

    def post_json(self, path: str, obj, headers: dict[str, str] | None = None) -> Reply:
        h = {"Content-Type": "application/json", **(headers or {})}
        return self.request("POST", path, h, json.dumps(obj).encode())

    def put_json(self, path: str, obj, headers: dict[str, str] | None = None) -> Reply:
        h = {"Content-Type": "application/json", **(headers or {})}
        return self.request("PUT", path, h, json.dumps(obj).encode())

    def raw_tls(self) -> ssl.SSLSocket:
        """A connected, verified TLS socket (for slow or malformed requests)."""
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout, source_address=self.source)
        return self.ctx.wrap_socket(sock, server_hostname=self.host)

    def login(self, user: str, password: str) -> tuple[str, str]:
        """(cookie header value, csrf token)."""
        r = self.post_json("/api/login", {"username": user, "password": password})
        if r.status != 200:
            raise AssertionError(f"login {user}: {r.status} {r.body[:200]!r}")
        cookie = r.header("set-cookie") or ""
        return cookie.split(";", 1)[0], r.json()["csrf_token"]


def multipart_related(parts: list[bytes], content_type: str = "application/dicom") -> tuple[bytes, str]:
    """(body, Content-Type header) for a STOW-RS request."""
    boundary = uuid.uuid4().hex
    out = bytearray()
    for p in parts:
        out += f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode() + p + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f'multipart/related; type="{content_type}"; boundary={boundary}'


def split_multipart(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]]:
    """Parts of a multipart/related response: [(headers, bytes)]."""
    boundary = None
    for param in content_type.split(";")[1:]:
        k, _, v = param.strip().partition("=")
        if k.lower() == "boundary":
            boundary = v.strip('"')
    assert boundary, content_type
    delim = b"--" + boundary.encode()
    parts = []
    chunks = body.split(b"\r\n" + delim)
    first = chunks[0]
    assert first.startswith(delim), body[:100]
    chunks[0] = first[len(delim):]
    for c in chunks:
        if c.startswith(b"--"):
            break
        c = c[2:] if c.startswith(b"\r\n") else c
        head, _, data = c.partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode().split("\r\n"):
            if ":" in line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        parts.append((headers, data))
    return parts
