"""TLS proxy for DCMTK tools without TLS options (getscu, movescu in DCMTK 3.6.7).

It verifies the server against the instance CA (and its 127.0.0.1 SAN), speaks
TLS 1.2+, presents an optional client certificate, can bind its outgoing side
to a chosen source address, and can add a user identity (type 2: username +
passcode) to the A-ASSOCIATE-RQ of tools that cannot send one.
"""
from __future__ import annotations

import select
import socket
import ssl
import struct
import threading
import time
from pathlib import Path


def add_user_identity(pdu: bytes, user: str, password: str) -> bytes:
    """Returns the A-ASSOCIATE-RQ `pdu` with a User Identity sub-item (PS3.7 D.3.3.7.1)."""
    assert pdu[0] == 0x01, "not an A-ASSOCIATE-RQ"
    (length,) = struct.unpack(">I", pdu[2:6])
    body = pdu[6:6 + length]
    fixed, items = body[:68], body[68:]
    u, p = user.encode(), password.encode()
    content = bytes([2, 0]) + struct.pack(">H", len(u)) + u + struct.pack(">H", len(p)) + p
    sub = bytes([0x58, 0]) + struct.pack(">H", len(content)) + content
    out = b""
    i = 0
    done = False
    while i + 4 <= len(items):
        itype = items[i]
        (ilen,) = struct.unpack(">H", items[i + 2:i + 4])
        data = items[i + 4:i + 4 + ilen]
        if itype == 0x50:
            data = data + sub
            done = True
        out += bytes([itype, 0]) + struct.pack(">H", len(data)) + data
        i += 4 + ilen
    if not done:
        out += bytes([0x50, 0]) + struct.pack(">H", len(sub)) + sub
    new_body = fixed + out
    return bytes([0x01, 0]) + struct.pack(">I", len(new_body)) + new_body + pdu[6 + length:]


class TlsProxy:
    def __init__(self, ca: Path, target_port: int, cert=None,
                 identity: tuple[str, str] | None = None, source: str = "127.0.0.1",
                 target_host: str = "127.0.0.1"):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ctx.load_verify_locations(str(ca))
        self.ctx.check_hostname = True
        if cert:
            self.ctx.load_cert_chain(str(cert.crt), str(cert.key))
        self.target = (target_host, target_port)
        self.identity = identity
        self.source = source
        from harness import free_port  # late: harness imports this module
        self.port = free_port()
        self.errors: list[str] = []
        self.connections = 0
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> "TlsProxy":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(16)
        s.settimeout(0.2)
        self._listener = s
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                c, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, client: socket.socket) -> None:
        up = None
        try:
            raw = socket.create_connection(self.target, timeout=10, source_address=(self.source, 0))
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            up = self.ctx.wrap_socket(raw, server_hostname=self.target[0])
            up.setblocking(False)
            client.setblocking(False)
            pending_first = self.identity is not None
            first = b""
            idle_deadline = time.monotonic() + 120
            while not self._stop.is_set() and time.monotonic() < idle_deadline:
                readable = [client, up]
                if up.pending():
                    r = [up]
                else:
                    r, _, _ = select.select(readable, [], [], 0.2)
                if client in r:
                    try:
                        data = client.recv(65536)
                    except BlockingIOError:
                        data = None
                    if data == b"":
                        break
                    if data:
                        idle_deadline = time.monotonic() + 120
                        if pending_first:
                            first += data
                            if len(first) >= 6:
                                (n,) = struct.unpack(">I", first[2:6])
                                if len(first) >= 6 + n:
                                    data = add_user_identity(first, *self.identity) if first[0] == 1 else first
                                    pending_first = False
                                    first = b""
                                else:
                                    data = None
                            else:
                                data = None
                        if data:
                            self._send_all(up, data)
                if up in r:
                    try:
                        data = up.recv(65536)
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                        continue
                    if data == b"":
                        break
                    idle_deadline = time.monotonic() + 120
                    self._send_all(client, data)
        except Exception as e:  # reported through self.errors; the client sees a closed connection
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            for s in (up, client):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass

    @staticmethod
    def _send_all(sock, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + 30
        while view:
            if time.monotonic() > deadline:
                raise TimeoutError("send stalled")
            try:
                n = sock.send(view)
                view = view[n:]
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                select.select([], [sock], [], 0.2)

    def close(self) -> None:
        self._stop.set()
        if self._listener:
            self._listener.close()
        for t in self._threads:
            t.join(timeout=5)
