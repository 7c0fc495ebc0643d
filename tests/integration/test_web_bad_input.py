#!/usr/bin/env python3
"""HTTP and WebSocket on the daemons' http port (protocol.md section 9, docs/web.md), with
raw sockets: the embedded pages (GET and HEAD, Content-Type, Cache-Control, Content-Length),
an unknown path (404), POST (405), a malformed request (400, then close), a header block
over 16 KiB (431), bad upgrades (400, and 426 for another WebSocket version), a foreign
Origin (403; no Origin and the daemon's own origin are let in; with allowed-origins only
the listed ones), an unmasked client frame (close 1002), a binary frame (close 1003), a
message over the line maximum in one frame and fragmented (close 1009), ping (pong), the
close handshake, and a wrong token over /ws (EventError 5, then close). After each bad
input a new WebSocket client and a new TCP client of the same daemon are served, and so
are the clients connected before. A good WebSocket desktop registers, logs an agent in
and receives its status; a wallboard over /ws subscribes and sees it. A WebSocket session
counts against max-connections (503 over it), and the daemons stop cleanly with HTTP
connections still open."""
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack, expect_error  # noqa: E402

T = "Resources"
AGENTS = {"Resources/1001": "pw1001", "Resources/1002": "pw1002"}
RULES = """
rule "Chat3" { chat = chat >= 3; }
assign tenant "Resources" "Chat3";
"""
MAX_LINE = 65536
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# ---------------------------------------------------------------------------------------
# Raw HTTP
# ---------------------------------------------------------------------------------------


def connect(port, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_response(s, head_only=False, timeout=5):
    """(status, {lower-case header: value}, body, rest) of one HTTP response; body read by
    Content-Length."""
    s.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise harness.Failure("connection closed before a whole response: %r" % buf[:200])
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = 0 if head_only or status == 101 else int(headers.get("content-length", "0"))
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            break
        rest += d
    return status, headers, rest[:n], rest[n:]


def request(port, raw, head_only=False):
    """Sends raw bytes on a new connection; returns (status, headers, body, socket)."""
    s = connect(port)
    s.sendall(raw)
    status, headers, body, _ = read_response(s, head_only)
    return status, headers, body, s


def closed_by_server(s, timeout=3):
    """True when the server ends the connection (EOF or reset) within timeout."""
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not s.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def get(port, path, extra="", method="GET"):
    raw = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n" % (method, path, port, extra)).encode()
    status, headers, body, s = request(port, raw, head_only=(method == "HEAD"))
    s.close()
    return status, headers, body


# ---------------------------------------------------------------------------------------
# WebSocket client
# ---------------------------------------------------------------------------------------


def frame(opcode, payload, fin=True, mask=True):
    """One client frame."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class WS:
    """A WebSocket client of /ws speaking the protocol: one JSON message per text frame,
    seq checked like harness.Client."""

    def __init__(self, port, origin=None, extra="", timeout=5):
        self.port = port
        self.sock = connect(port, timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        hdr = ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               % (port, key))
        if origin:
            hdr += "Origin: %s\r\n" % origin
        self.sock.sendall((hdr + extra + "\r\n").encode())
        self.status, self.headers, _, self.buf = read_response(self.sock)
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        self.accepted = (self.status == 101 and self.headers.get("sec-websocket-accept") == want
                         and self.headers.get("upgrade", "").lower() == "websocket")
        self.seq = 0
        self.ref = 0
        self.queue = []
        self.close_code = None
        self.closed = False

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, obj):
        self.send_raw(frame(1, json.dumps(obj, separators=(",", ":")).encode()))

    def _need(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise harness.Timeout("no frame from port %d in time" % self.port)
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                raise harness.Timeout("no frame from port %d in time" % self.port)
            except ConnectionResetError:
                d = b""
            if not d:
                self.closed = True
                raise EOFError()
            self.buf += d

    def read_frame(self, timeout=5):
        """(fin, opcode, payload) of the next server frame; server frames must be unmasked."""
        deadline = time.monotonic() + timeout
        self._need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        if b1 & 0x80:
            raise harness.Failure("server frame is masked")
        n = b1 & 0x7F
        off = 2
        if n == 126:
            self._need(4, deadline)
            n = struct.unpack("!H", self.buf[2:4])[0]
            off = 4
        elif n == 127:
            self._need(10, deadline)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            off = 10
        self._need(off + n, deadline)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def _accept(self, payload):
        if payload.endswith(b"\n"):
            raise harness.Failure("a text frame ends with a newline: %r" % payload[-40:])
        m = json.loads(payload.decode("utf-8"))
        if not isinstance(m, dict) or m.get("seq") != self.seq + 1:
            raise harness.Failure("port %d /ws: seq %r after %d: %r"
                                  % (self.port, m.get("seq"), self.seq, payload[:200]))
        self.seq = m["seq"]
        self.queue.append(m)

    def next(self, pred=None, timeout=5, what="a message"):
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.queue):
                if pred is None or pred(m):
                    return self.queue.pop(i)
            try:
                fin, op, payload = self.read_frame(max(0.01, deadline - time.monotonic()))
            except EOFError:
                raise harness.Timeout("port %d /ws closed while waiting for %s" % (self.port, what))
            if op == 1:
                check(fin, "server text frames are final")
                self._accept(payload)
            elif op == 8:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise harness.Timeout("port %d /ws sent close %s while waiting for %s"
                                      % (self.port, self.close_code, what))

    def request(self, obj, timeout=5):
        obj = dict(obj)
        self.ref += 1
        obj["referenceId"] = self.ref
        self.send(obj)
        rid = self.ref
        return self.next(lambda m: m.get("message") in ("EventAck", "EventError")
                         and m.get("referenceId") == rid, timeout,
                         "answer to %s" % obj.get("message"))

    def register(self, client_type, token):
        return self.request({"message": "RequestRegisterClient", "clientName": "ws-it",
                             "clientType": client_type, "token": token})

    def wait_close(self, timeout=3):
        """The close code the server sends (text frames before it are queued), then checks
        that the server also ends the TCP connection. None when no close frame came."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                fin, op, payload = self.read_frame(max(0.01, deadline - time.monotonic()))
            except (EOFError, harness.Timeout):
                return None
            if op == 1:
                self._accept(payload)
            elif op == 8:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                break
        self.closed = closed_by_server(self.sock, max(0.1, deadline - time.monotonic()))
        return self.close_code

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------


class Daemon:
    def __init__(self, label, proc, client_type, token):
        self.label = label
        self.proc = proc
        self.http = proc.ports.get("http")
        self.client_type = client_type
        self.token = token


def ws_served(d, what):
    """A new WebSocket client registers and pings; a new TCP client too."""
    w = WS(d.http)
    check(w.accepted, "%s: %s: a new WebSocket client is upgraded" % (d.label, what))
    expect_ack(w.register(d.client_type, d.token), "%s: %s: new WebSocket client registers"
               % (d.label, what))
    expect_ack(w.request({"message": "RequestPing"}), "%s: %s: new WebSocket client pings"
               % (d.label, what))
    w.close()
    c = harness.Client(d.proc.port)
    expect_ack(c.register(d.client_type, d.token), "%s: %s: new TCP client registers"
               % (d.label, what))
    c.close()


def http_checks(d, page_type="text/html"):
    L = d.label
    st, h, body = get(d.http, "/")
    check(st == 200 and h.get("content-type", "").startswith(page_type),
          "%s: GET / is 200 %s (got %s %s)" % (L, page_type, st, h.get("content-type")))
    check(h.get("cache-control") == "no-cache", "%s: GET / has Cache-Control: no-cache" % L)
    check(int(h.get("content-length", "-1")) == len(body) > 0,
          "%s: GET / has a Content-Length matching its body" % L)
    check(b"<html" in body.lower(), "%s: GET / is the embedded page" % L)
    st, h2, body2 = get(d.http, "/", method="HEAD")
    check(st == 200 and h2.get("content-length") == h.get("content-length") and body2 == b"",
          "%s: HEAD / has the same headers and no body" % L)
    st, h, body = get(d.http, "/assets/app.js")
    check(st == 200 and h.get("content-type", "").startswith("text/javascript") and body,
          "%s: GET /assets/app.js is 200 text/javascript (got %s)" % (L, st))
    st, h, body = get(d.http, "/no/such/page")
    check(st == 404, "%s: unknown path: 404 (got %s)" % (L, st))
    st, h, body = get(d.http, "/", extra="Content-Length: 4\r\n", method="POST")
    check(st == 405 and "GET" in h.get("allow", ""), "%s: POST: 405 with Allow (got %s)" % (L, st))
    ws_served(d, "after 404 and 405")

    st, h, body, s = request(d.http, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n")
    check(st == 400, "%s: a malformed header line: 400 (got %s)" % (L, st))
    check(closed_by_server(s), "%s: closed after 400" % L)
    s.close()
    st, h, body, s = request(d.http, b"GARBAGE\r\n\r\n")
    check(st == 400 and closed_by_server(s), "%s: a malformed request line: 400 and close" % L)
    s.close()
    st, h, body, s = request(d.http, b"GET / HTTP/1.1\nHost: x\n\n")
    check(st == 400, "%s: bare LF line ends: 400 (got %s)" % (L, st))
    s.close()
    st, h, body, s = request(d.http, b"GET / HTTP/1.1\r\n\r\n")
    check(st == 400, "%s: HTTP/1.1 without Host: 400 (got %s)" % (L, st))
    s.close()
    big = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-Fill-%d: %s\r\n" % (i, b"a" * 1000) for i in range(20)) + b"\r\n"
    st, h, body, s = request(d.http, big)
    check(st == 431, "%s: a header block over 16 KiB: 431 (got %s)" % (L, st))
    check(closed_by_server(s), "%s: closed after 431" % L)
    s.close()
    st, h, body, s = request(d.http, b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: " + b"b" * 20000)
    check(st == 431, "%s: an endless header line: 431 (got %s)" % (L, st))
    s.close()
    st, h, body, s = request(d.http, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")
    check(st == 505, "%s: HTTP/2.0 on this port: 505 (got %s)" % (L, st))
    s.close()
    # Keep-alive: two requests on one connection.
    s = connect(d.http)
    s.sendall(("GET /assets/app.js HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
              .encode())
    st1, _, _, rest = read_response(s)
    s2 = rest
    check(st1 == 200, "%s: keep-alive: first answer" % L)
    if b"\r\n\r\n" not in s2:
        s.settimeout(3)
        s2 += s.recv(65536)
    check(s2.startswith(b"HTTP/1.1 200"), "%s: keep-alive: second answer on the same connection" % L)
    s.close()
    ws_served(d, "after bad HTTP requests")


def upgrade_checks(d, own_origin_allowed=True):
    L = d.label
    base = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % d.http
    good_key = base64.b64encode(os.urandom(16)).decode()
    for extra, want, what in (
            ("Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
             % good_key, 400, "no Upgrade header"),
            ("Upgrade: websocket\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
             % good_key, 400, "no Connection: Upgrade"),
            ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
             400, "no Sec-WebSocket-Key"),
            ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\n"
             "Sec-WebSocket-Version: 13\r\n", 400, "a key that is not 16 bytes"),
            ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
             "Sec-WebSocket-Version: 8\r\n" % good_key, 426, "version 8")):
        st, h, body, s = request(d.http, (base + extra + "\r\n").encode())
        check(st == want, "%s: bad upgrade (%s): %d (got %s)" % (L, what, want, st))
        if want == 426:
            check(h.get("sec-websocket-version") == "13", "%s: 426 names version 13" % L)
        check(closed_by_server(s), "%s: closed after the bad upgrade (%s)" % (L, what))
        s.close()
    st, h, body, s = request(d.http, ("POST /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                      "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                                      "Sec-WebSocket-Version: 13\r\n\r\n" % good_key).encode())
    check(st == 405, "%s: an upgrade by POST: 405 (got %s)" % (L, st))
    s.close()
    w = WS(d.http, origin="http://evil.example")
    check(w.status == 403, "%s: foreign Origin: 403 (got %s)" % (L, w.status))
    check(closed_by_server(w.sock), "%s: closed after 403" % L)
    w.close()
    w = WS(d.http, origin="null")
    check(w.status == 403, "%s: Origin null: 403 (got %s)" % (L, w.status))
    w.close()
    w = WS(d.http, origin="http://127.0.0.1:%d" % d.http)
    if own_origin_allowed:
        check(w.accepted, "%s: the daemon's own origin is let in (got %s)" % (L, w.status))
    else:
        check(w.status == 403, "%s: with allowed-origins the own origin is not let in (got %s)"
              % (L, w.status))
    w.close()
    w = WS(d.http)
    check(w.accepted, "%s: no Origin (not a browser) is let in, Sec-WebSocket-Accept right" % L)
    w.close()
    ws_served(d, "after bad upgrades")


def frame_checks(d):
    L = d.label

    def fresh():
        w = WS(d.http)
        check(w.accepted, "%s: upgraded" % L)
        return w

    # Unmasked client frame: 1002, before and after registering.
    w = fresh()
    w.send_raw(frame(1, b'{"message":"RequestPing","referenceId":1}', mask=False))
    check(w.wait_close() == 1002 and w.closed, "%s: unmasked client frame: close 1002" % L)
    w.close()
    ws_served(d, "after an unmasked frame")

    w = fresh()
    expect_ack(w.register(d.client_type, d.token), "%s: registered" % L)
    w.send_raw(frame(2, b"\x00\x01binary"))
    check(w.wait_close() == 1003 and w.closed, "%s: binary frame: close 1003" % L)
    w.close()
    ws_served(d, "after a binary frame")

    w = fresh()
    expect_ack(w.register(d.client_type, d.token), "%s: registered" % L)
    w.send_raw(frame(1, b"x" * 40000, fin=False))
    w.send_raw(frame(0, b"y" * 40000, fin=True))
    check(w.wait_close() == 1009 and w.closed,
          "%s: fragmented message of 80,000 bytes: close 1009" % L)
    w.close()
    ws_served(d, "after a fragmented message over the limit")

    w = fresh()
    # Only the header of a huge frame: refused from its length alone.
    w.send_raw(struct.pack("!BBQ", 0x81, 0x80 | 127, MAX_LINE + 1) + os.urandom(4) + b"{")
    check(w.wait_close() == 1009, "%s: one frame over the limit: close 1009" % L)
    w.close()

    w = fresh()
    msg = {"message": "RequestPing", "referenceId": 1, "pad": "p" * (MAX_LINE - 60)}
    raw = json.dumps(msg, separators=(",", ":")).encode()
    check(len(raw) <= MAX_LINE, "%s: a message just under the limit is %d bytes" % (L, len(raw)))
    expect_ack(w.register(d.client_type, d.token), "%s: registered" % L)
    w.send_raw(frame(1, raw[:30000], fin=False) + frame(9, b"mid") +
               frame(0, raw[30000:], fin=True))
    fin, op, payload = w.read_frame()
    check(op == 10 and payload == b"mid", "%s: a ping between fragments gets its pong first" % L)
    a = w.next(lambda m: m.get("referenceId") == 1, what="answer to the big ping")
    expect_ack(a, "%s: a fragmented message under the limit is one message" % L)
    w.send_raw(frame(9, b"hello"))
    fin, op, payload = w.read_frame()
    check(op == 10 and payload == b"hello", "%s: ping: pong with the same payload" % L)
    w.send_raw(frame(1, b"not json"))
    expect_error(w.next(what="error"), 1, "%s: not JSON over /ws" % L, ref=False)
    w.send_raw(frame(1, b'{"message":"RequestPing","referenceId":9}\n{"message":"RequestPing",'
                        b'"referenceId":10}'))
    e = w.next(what="answer to two lines in one frame")
    check(e.get("message") == "EventError" and e.get("errorCode") == 1,
          "%s: two messages in one frame are one (invalid) message" % L)
    expect_ack(w.request({"message": "RequestPing"}), "%s: still served" % L)
    w.send_raw(frame(8, struct.pack("!H", 1000) + b"bye"))
    check(w.wait_close() == 1000 and w.closed, "%s: close handshake: 1000 answered, closed" % L)
    w.close()

    w = fresh()
    ans = w.register(d.client_type, "wrong-token")
    expect_error(ans, 5, "%s: wrong token over /ws" % L)
    check(w.wait_close() is not None and w.closed, "%s: wrong token: closed with a close frame" % L)
    w.close()

    w = fresh()
    w.send({"message": "RequestPing", "referenceId": 1})
    expect_error(w.next(what="NotRegistered"), 4, "%s: request before registering over /ws" % L)
    check(w.wait_close() is not None, "%s: then closed" % L)
    w.close()

    # A frame that arrives in pieces, right behind the handshake.
    s = connect(d.http)
    key = base64.b64encode(os.urandom(16)).decode()
    hello = frame(1, json.dumps({"message": "RequestRegisterClient", "referenceId": 1,
                                 "clientName": "piecewise", "clientType": d.client_type,
                                 "token": d.token}).encode())
    s.sendall(("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode()
              + hello[:3])
    time.sleep(0.1)
    s.sendall(hello[3:])
    w = WS.__new__(WS)
    w.port, w.sock, w.seq, w.ref, w.queue, w.close_code, w.closed = d.http, s, 0, 1, [], None, False
    st, h, _, w.buf = read_response(s)
    check(st == 101, "%s: handshake with a frame right behind it" % L)
    expect_ack(w.next(what="registration"), "%s: a frame split over two writes" % L)
    w.close()
    ws_served(d, "after the frame checks")


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=120) as env:
        ixn = env.start_ixn("ixn-w", agents=AGENTS, extra_server="http = 127.0.0.1:0",
                            extra="[queues]\nResources/chat-sales = chat\n"
                                  "[reasons]\n3 = Lunch\n7 = Training \"B\"")
        stat = env.start_stat("stat-w", ixns=[ixn], rules=RULES,
                              extra_server="http = 127.0.0.1:0")
        check("http" in ixn.ports, "ixnserver writes http=PORT to its port file")
        check("http" in stat.ports, "statserver writes http=PORT to its port file")
        di = Daemon("ixnserver", ixn, "AgentApplication", harness.DESK_TOKEN)
        ds = Daemon("statserver", stat, "StatClient", harness.WALLBOARD_TOKEN)

        # Left open to the end: the daemons must still stop cleanly on SIGTERM with a
        # keep-alive HTTP connection and a half-sent request open.
        idle_http = connect(ixn.ports["http"])
        idle_http.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        check(read_response(idle_http)[0] == 200, "a keep-alive connection stays open")
        half = connect(stat.ports["http"])
        half.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")

        # Clients connected before all the bad input, checked at the end.
        desk_tcp = harness.agent(ixn.port, T, "1001", "P1001", "pw1001", media={"chat": 1})
        wall_tcp = harness.statclient(stat.port)
        expect_ack(wall_tcp.request({"message": "RequestSubscribeAgentStatus"}), "TCP wallboard")

        desk = WS(ixn.ports["http"])
        check(desk.accepted, "ixnserver: desktop upgraded")
        expect_ack(desk.register("AgentApplication", harness.DESK_TOKEN), "desktop registers over /ws")
        expect_ack(desk.request({"message": "RequestAgentLogin", "tenant": T, "agentId": "1002",
                                 "placeId": "P1002", "password": "pw1002",
                                 "mediaList": {"chat": 1}}), "agent logs in over /ws")
        st = desk.next(lambda m: m.get("message") == "EventCurrentAgentStatus", timeout=10,
                       what="status of 1002")
        check(st.get("agentId") == "1002" and st["media"]["chat"]["max"] == 3,
              "the desktop over /ws receives its status (chat max 3)")
        wall = WS(stat.ports["http"])
        check(wall.accepted, "statserver: wallboard upgraded")
        expect_ack(wall.register("StatClient", harness.WALLBOARD_TOKEN), "wallboard registers over /ws")
        expect_ack(wall.request({"message": "RequestSubscribeAgentStatus", "tenants": [T]}),
                   "wallboard subscribes over /ws")
        wall.next(lambda m: m.get("message") == "EventAgentStatusSnapshotDone", what="snapshot")

        for d in (di, ds):
            http_checks(d)
            upgrade_checks(d)
            frame_checks(d)

        st, h, body = get(ixn.ports["http"], "/desk-config.json")
        check(st == 200 and h.get("content-type", "").startswith("application/json"),
              "GET /desk-config.json is JSON")
        cfg = json.loads(body)
        check(cfg.get("serverName") == "ixn-w" and cfg.get("media") == ["voice", "chat", "email"],
              "desk-config.json names the server and its media")
        check(cfg.get("reasons") == [{"code": 3, "description": "Lunch"},
                                     {"code": 7, "description": 'Training "B"'}],
              "desk-config.json lists the [reasons] (got %s)" % cfg.get("reasons"))
        check("queues" not in cfg and T.encode() not in body,
              "desk-config.json names no queue and no tenant (got %s)" % cfg)
        st, h, body = get(stat.ports["http"], "/wallboard-config.json")
        check(st == 200 and json.loads(body).get("serverName") == "stat-w",
              "GET /wallboard-config.json names the server")

        # Everything connected before is still served, and a change reaches all of them.
        expect_ack(desk.request({"message": "RequestNotReadyForMedia", "media": "chat",
                                 "reason": {"code": 3, "description": "Lunch"}}),
                   "desktop over /ws goes not ready")
        st = desk.next(lambda m: m.get("message") == "EventCurrentAgentStatus"
                       and m["media"]["chat"]["ready"] is False, timeout=10,
                       what="not-ready status")
        check(st["media"]["chat"]["available"] == 0, "the desktop over /ws sees itself not ready")
        wall.next(lambda m: m.get("message") == "EventCurrentAgentStatus"
                  and m.get("agentId") == "1002" and m["media"]["chat"]["ready"] is False,
                  timeout=10, what="not-ready status on the wallboard")
        check(True, "the wallboard over /ws sees the change")
        wall_tcp.next(lambda m: m.get("message") == "EventCurrentAgentStatus"
                      and m.get("agentId") == "1002" and m["media"]["chat"]["ready"] is False,
                      timeout=10, what="not-ready status on the TCP wallboard")
        check(True, "the TCP wallboard sees the change")
        expect_ack(desk_tcp.request({"message": "RequestPing"}), "the TCP desktop is still served")

        # allowed-origins: only the listed origins, the daemon's own no longer.
        st2 = env.start_stat("stat-o", ixns=[], rules=RULES, extra_server=(
            "http = 127.0.0.1:0\nallowed-origins = http://wall.example:8080, https://ops.example"))
        do = Daemon("stat-o", st2, "StatClient", harness.WALLBOARD_TOKEN)
        w = WS(do.http, origin="http://wall.example:8080")
        check(w.accepted, "allowed-origins: a listed origin is let in")
        w.close()
        w = WS(do.http, origin="https://ops.example")
        check(w.accepted, "allowed-origins: the second listed origin is let in")
        w.close()
        w = WS(do.http, origin="http://wall.example:8081")
        check(w.status == 403, "allowed-origins: another port is foreign: 403")
        w.close()
        upgrade_checks(do, own_origin_allowed=False)

        # max-connections counts WebSocket sessions too: over it, 503.
        small = env.start_ixn("ixn-small", agents={}, extra_server=(
            "http = 127.0.0.1:0\nmax-connections = 1"))
        one = WS(small.ports["http"])
        check(one.accepted, "max-connections 1: the first WebSocket client is let in")
        w = WS(small.ports["http"])
        check(w.status == 503, "max-connections 1: the second gets 503 (got %s)" % w.status)
        w.close()
        one.close()
        time.sleep(0.2)
        w = WS(small.ports["http"])
        check(w.accepted, "max-connections 1: a closed session gives its place back")
        w.close()
        desk.close()
        wall.close()


if __name__ == "__main__":
    main()
