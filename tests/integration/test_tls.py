#!/usr/bin/env python3
"""TLS on every port (issue 12, docs/operations.md "TLS"). Certificates are made with the
openssl command in the temp dir: a CA, a second CA that the daemons do not trust, server
certificates for localhost and 127.0.0.1 (a second one with another serial for the
renewal), a client certificate of the CA and one of the other CA.

- ixn-a runs TLS on its protocol port and its http port, with tls-ca: its protocol port
  asks every client for a certificate of the CA (the http port never does). stat-1 runs TLS
  on its StatClient port and its http port without tls-ca, and its link to ixn-a runs over
  TLS, verifying ixn-a with the CA and presenting the client certificate.
- On each of the four ports: a handshake with the CA works (and the protocol behind it: a
  desktop logs in and receives its status, which crossed the statserver's TLS link; a
  StatClient registers; https pages; a wss:// desktop over /ws), a client that trusts the
  other CA refuses the server, and a plaintext client is refused cleanly (closed without a
  byte on the protocol ports, 400 on the http ports) while the clients already connected
  and new ones go on being served. On ixn-a's protocol port a client without a certificate
  and one with a certificate of the other CA are refused too.
- A link whose tls-ca is the other CA does not come up, and says why in its log.
- SIGHUP reloads the certificate: a new connection sees the new serial and subject, the
  connections made before go on, the statserver's link included.
- agentdesk, wallboard and agentsim connect with --tls-ca (and a client certificate).
- A TLS desktop that reads nothing is cut by its output limit.
- Insecure configurations are refused (--check-config and at start) and accepted with
  insecure = yes (--check-config only: the test never listens beyond loopback)."""
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack  # noqa: E402

T = "Resources"
AGENTS = {"Resources/1001": "pw1001", "Resources/1002": "pw1002", "Resources/1003": "pw1003",
          "Resources/1004": "pw1004"}
RULES = """
rule "Chat3" { chat = chat >= 3; }
assign tenant "Resources" "Chat3";
"""


# ---------------------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------------------


def openssl(env, *args):
    r = subprocess.run(["openssl"] + list(args), cwd=env.dir, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    if r.returncode != 0:
        raise harness.Failure("openssl %s failed: %s" % (" ".join(args),
                                                        r.stderr.decode(errors="replace")))


def make_ca(env, name, cn):
    openssl(env, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", name + ".key", "-out", name + ".pem", "-days", "2",
            "-subj", "/CN=" + cn, "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def make_leaf(env, name, cn, ca, serial, san=None):
    openssl(env, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn)
    ext = "basicConstraints=CA:FALSE\n"
    if san:
        ext += "subjectAltName=%s\n" % san
    env.write(name + ".ext", ext)
    openssl(env, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey",
            ca + ".key", "-set_serial", str(serial), "-days", "2", "-out", name + ".pem",
            "-extfile", name + ".ext")


def make_certs(env):
    make_ca(env, "ca", "Test CA")
    make_ca(env, "other-ca", "Other CA")
    san = "DNS:localhost,IP:127.0.0.1"
    make_leaf(env, "server", "server one", "ca", 4097, san)
    make_leaf(env, "server2", "server two", "ca", 4098, san)
    make_leaf(env, "client", "client one", "ca", 8193)
    make_leaf(env, "rogue", "rogue client", "other-ca", 8194)
    # The daemons read these two; the renewal copies server2 over them.
    shutil.copy(env.path("server.pem"), env.path("live.pem"))
    shutil.copy(env.path("server.key"), env.path("live.key"))


# ---------------------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------------------


def context(env, ca="ca", cert=None):
    ctx = ssl.create_default_context(cafile=env.path(ca + ".pem"))
    if cert:
        ctx.load_cert_chain(env.path(cert + ".pem"), env.path(cert + ".key"))
    return ctx


class TlsClient(harness.Client):
    """harness.Client over TLS: the handshake is done when it returns."""

    def __init__(self, port, ctx, timeout=5):
        super().__init__(port, timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")

    def peer_serial(self):
        return self.sock.getpeercert().get("serialNumber")


def tls_refused(port, ctx, what, register=False):
    """Checks that a TLS connection with ctx fails: in the handshake, or (TLS 1.3 client
    certificates are checked after the client finished) at the first read."""
    refused = False
    why = ""
    try:
        c = TlsClient(port, ctx)
        if register:
            c.sock.sendall(b'{"message":"RequestPing","referenceId":1}\n')
            c.sock.settimeout(5)
            data = c.sock.recv(65536)
            refused = data == b""
            why = "read %r" % data[:80]
        c.close()
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
        refused = True
        why = str(e)
    check(refused, "%s: refused (%s)" % (what, why[:120]))


def plaintext_refused(port, what):
    """A plaintext client of a TLS protocol port: closed, with nothing sent back."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b'{"message":"RequestRegisterClient","referenceId":1,"clientType":'
              b'"AgentApplication","clientName":"plain","token":"desk-secret"}\n')
    got = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
    except ConnectionResetError:
        pass
    s.close()
    check(got == b"", "%s: a plaintext client is closed without a byte (got %r)"
          % (what, got[:80]))


def https_get(port, ctx, path):
    """(status, body) of GET path over TLS."""
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                        server_hostname="localhost")
    s.sendall(("GET %s HTTP/1.1\r\nHost: localhost:%d\r\nConnection: close\r\n\r\n"
               % (path, port)).encode())
    data = b""
    while True:
        try:
            d = s.recv(65536)
        except (ssl.SSLError, ConnectionResetError):
            break
        if not d:
            break
        data += d
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, body


def http_plaintext(port):
    """(status, body) of a plaintext GET on a TLS http port."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(("GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port).encode())
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except ConnectionResetError:
        pass
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, body


class Wss:
    """A wss:// client of /ws: one JSON message per text frame."""

    def __init__(self, port, ctx):
        self.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                                    server_hostname="localhost")
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET /ws HTTP/1.1\r\nHost: localhost:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\nOrigin: https://localhost:%d\r\n\r\n"
                           % (port, key, port)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise harness.Failure("wss: closed during the upgrade")
            self.buf += d
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        want = base64.b64encode(hashlib.sha1(
            key.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()).decode()
        self.accepted = head.startswith(b"HTTP/1.1 101") and want.encode() in head
        self.ref = 0

    def send(self, obj):
        payload = json.dumps(obj, separators=(",", ":")).encode()
        n = len(payload)
        head = struct.pack("!BB", 0x81, 0x80 | n) if n < 126 else struct.pack("!BBH", 0x81, 0xFE, n)
        mask = os.urandom(4)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _need(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(65536)
            if not d:
                raise harness.Failure("wss: closed")
            self.buf += d

    def read(self):
        self._need(2)
        n = self.buf[1] & 0x7F
        off = 2
        if n == 126:
            self._need(4)
            n = struct.unpack("!H", self.buf[2:4])[0]
            off = 4
        elif n == 127:
            self._need(10)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            off = 10
        self._need(off + n)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return json.loads(payload.decode())

    def request(self, obj):
        self.ref += 1
        obj = dict(obj, referenceId=self.ref)
        self.send(obj)
        while True:
            m = self.read()
            if m.get("referenceId") == self.ref and m.get("message") in ("EventAck", "EventError"):
                return m


def tls_desk(port, ctx, agent_id, media=None):
    """A desktop over TLS with the agent logged in."""
    c = TlsClient(port, ctx)
    expect_ack(c.register("AgentApplication", harness.DESK_TOKEN), "desk %s registers" % agent_id)
    expect_ack(c.request({"message": "RequestAgentLogin", "tenant": T, "agentId": agent_id,
                          "placeId": "P" + agent_id, "password": "pw" + agent_id,
                          "mediaList": media or {"chat": 1}}), "agent %s logs in" % agent_id)
    return c


def wait_log(proc, pattern, count=1, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(re.findall(pattern, proc.stderr())) >= count:
            return True
        time.sleep(0.05)
    return False


def ping_ok(c, what):
    expect_ack(c.request({"message": "RequestPing"}), what)


def slow_reader(env, ctx):
    """A TLS desktop that pipelines pings and never reads is cut by its output limit, which
    counts what waits encrypted as well as what waits to be encrypted."""
    tls = "tls-cert = %s\ntls-key = %s\n" % (env.path("server.pem"), env.path("server.key"))
    ixn = env.start_ixn("ixn-s", agents={}, extra_server="out-limit = 1m 256k 2\n" + tls)
    c = TlsClient(ixn.port, ctx)
    expect_ack(c.register("AgentApplication", harness.DESK_TOKEN), "ixn-s: a desktop registers")
    c.sock.settimeout(10)
    ref = 2
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and "event=conn_slow" not in ixn.stderr():
        batch = b"".join(b'{"message":"RequestPing","referenceId":%d}\n' % (ref + i)
                         for i in range(200))
        ref += 200
        try:
            c.sock.sendall(batch)
        except (OSError, ssl.SSLError):
            break
        time.sleep(0.005)
    check(wait_log(ixn, r"event=conn_slow "), "ixn-s: the TLS desktop that reads nothing is cut "
          "as slow (after %d pings)" % (ref - 2))
    check(wait_log(ixn, r"event=session_closed .*reason=slow"), "ixn-s: its session closes")
    c.close()
    d = TlsClient(ixn.port, ctx)
    expect_ack(d.register("MediaServer", harness.MEDIA_TOKEN), "ixn-s: serves a new client after")
    ixn.kill(signal.SIGTERM)


# ---------------------------------------------------------------------------------------
# Insecure configurations
# ---------------------------------------------------------------------------------------


def check_config(env, prog, name, text):
    path = env.write(name, text)
    return env.run([prog, "--check-config", "-c", path], timeout=20, label=name)


def insecure_configs(env):
    base_ixn = ("[server]\nname = ixn-x\nlisten = %s\nmedia = chat\n%s[tokens]\n"
                "AgentApplication = %s\nReportingEngine = stat-secret\n")
    tls = "tls-cert = %s\ntls-key = %s\n" % (env.path("server.pem"), env.path("server.key"))
    cases = [
        ("ixn-open.ini", base_ixn % ("0.0.0.0:7000", "", "desk-secret"), False,
         "not a loopback address and TLS is off"),
        ("ixn-empty-token.ini", base_ixn % ("0.0.0.0:7000", tls, ""), False,
         "[tokens] AgentApplication is empty"),
        ("ixn-http-open.ini", base_ixn % ("127.0.0.1:7000", "http = [::]:7080\n",
                                          "desk-secret"), False, "[server] http = [::]:7080"),
        ("ixn-loopback.ini", base_ixn % ("127.0.0.1:7000", "", ""), True, None),
        ("ixn-tls.ini", base_ixn % ("0.0.0.0:7000", tls, "desk-secret"), True, None),
        ("ixn-insecure.ini", base_ixn % ("0.0.0.0:7000", "insecure = yes\n", ""), True, None),
    ]
    for name, text, ok, message in cases:
        rc, out, err = check_config(env, "ixnserver", name, text)
        if ok:
            check(rc == 0, "ixnserver --check-config %s: accepted (%s)" % (name, err.strip()[-200:]))
        else:
            check(rc == 1 and message in err,
                  "ixnserver --check-config %s: refused, saying %r (%s)"
                  % (name, message, err.strip()[-300:]))
    # A refused configuration stops the daemon at start, before it listens.
    path = env.path("ixn-open.ini")
    rc, out, err = env.run(["ixnserver", "-c", path], timeout=20, label="ixn-open")
    check(rc == 1 and "not a loopback address" in err,
          "ixnserver refuses to start on 0.0.0.0 without TLS (exit %s)" % rc)

    base_stat = "[server]\nname = stat-x\nlisten = %s\ntoken = %s\n%s"
    cases = [
        ("stat-open.ini", base_stat % ("0.0.0.0:7100", "", ""), False,
         "not a loopback address and TLS is off"),
        ("stat-empty-token.ini", base_stat % ("0.0.0.0:7100", "", tls), False,
         "[server] token is empty"),
        ("stat-default.ini", "[server]\nname = stat-x\n", True, None),
        ("stat-tls.ini", base_stat % ("0.0.0.0:7100", "wb-secret", tls), True, None),
        ("stat-insecure.ini", base_stat % ("0.0.0.0:7100", "", "insecure = yes\n"), True, None),
        ("stat-half.ini", base_stat % ("127.0.0.1:7100", "", "tls-cert = %s\n"
                                       % env.path("server.pem")), False,
         "give both or neither"),
        ("stat-bad-key.ini", base_stat % ("127.0.0.1:7100", "", "tls-cert = %s\ntls-key = %s\n"
                                          % (env.path("server.pem"), env.path("client.key"))),
         False, "does not belong"),
        ("stat-link-ca.ini", "[server]\nname = stat-x\n[ixn:a]\naddress = 127.0.0.1:7000\n"
         "tls-ca = %s\n" % env.path("nothing.pem"), False, "[ixn:a] TLS"),
    ]
    for name, text, ok, message in cases:
        rc, out, err = check_config(env, "statserver", name, text)
        if ok:
            check(rc == 0, "statserver --check-config %s: accepted (%s)"
                  % (name, err.strip()[-200:]))
        else:
            check(rc == 1 and message in err,
                  "statserver --check-config %s: refused, saying %r (%s)"
                  % (name, message, err.strip()[-300:]))
    path = env.path("stat-open.ini")
    rc, out, err = env.run(["statserver", "-c", path], timeout=20, label="stat-open")
    check(rc == 1 and "not a loopback address" in err,
          "statserver refuses to start on 0.0.0.0 without TLS (exit %s)" % rc)


# ---------------------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------------------


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=180) as env:
        make_certs(env)
        good = context(env, cert="client")
        anon = context(env)
        wrong_ca = context(env, ca="other-ca", cert="client")
        rogue = context(env, cert="rogue")

        ixn_tls = ("http = 127.0.0.1:0\ntls-cert = %s\ntls-key = %s\ntls-ca = %s\n"
                   % (env.path("live.pem"), env.path("live.key"), env.path("ca.pem")))
        ixn = env.start_ixn("ixn-a", agents=AGENTS, extra_server=ixn_tls)
        check(wait_log(ixn, r"event=tls_on .*serial=1001"), "ixn-a: TLS on with serial 1001")
        link = ("[ixn:ixn-a]\naddress = 127.0.0.1:%d\ntoken = %s\ntls-ca = %s\ntls-cert = %s\n"
                "tls-key = %s\n" % (ixn.port, harness.STAT_TOKEN, env.path("ca.pem"),
                                    env.path("client.pem"), env.path("client.key")))
        stat_tls = ("http = 127.0.0.1:0\ntls-cert = %s\ntls-key = %s\n"
                    % (env.path("live.pem"), env.path("live.key")))
        stat = env.start_stat("stat-1", rules=RULES, extra_server=stat_tls, extra=link)

        # ---- ixn-a, protocol port (client certificates required) ----
        desk = tls_desk(ixn.port, good, "1001")
        check(desk.sock.version() in ("TLSv1.3", "TLSv1.2"),
              "ixn-a protocol port: handshake (%s)" % desk.sock.version())
        st = desk.next(lambda m: harness.is_status(m, "1001"), timeout=15,
                       what="the status of 1001 through the statserver's TLS link")
        check(st.get("agentId") == "1001", "a status arrives through the TLS link")
        tls_refused(ixn.port, wrong_ca, "ixn-a protocol port, client trusting another CA")
        tls_refused(ixn.port, anon, "ixn-a protocol port, client without a certificate",
                    register=True)
        tls_refused(ixn.port, rogue, "ixn-a protocol port, certificate of another CA",
                    register=True)
        plaintext_refused(ixn.port, "ixn-a protocol port")
        check(wait_log(ixn, r"event=tls_refused .*why=plaintext_client"),
              "ixn-a logs the plaintext client")
        check(wait_log(ixn, r"event=tls_failed "), "ixn-a logs the failed handshakes")
        ping_ok(desk, "ixn-a: the desktop connected before is still served")
        media = TlsClient(ixn.port, good)
        expect_ack(media.register("MediaServer", harness.MEDIA_TOKEN),
                   "ixn-a: a new MediaServer registers over TLS after the refusals")

        # ---- ixn-a, http port (no client certificate asked) ----
        hp = ixn.ports["http"]
        status, body = https_get(hp, anon, "/")
        check(status == 200 and b"<html" in body.lower(), "ixn-a https: GET / (status %d)" % status)
        status, body = https_get(hp, anon, "/desk-config.json")
        check(status == 200 and b'"serverName":"ixn-a"' in body,
              "ixn-a https: GET /desk-config.json")
        ws = Wss(hp, anon)
        check(ws.accepted, "ixn-a wss: upgraded")
        ans = ws.request({"message": "RequestRegisterClient", "clientType": "AgentApplication",
                          "clientName": "wss-desk", "token": harness.DESK_TOKEN})
        expect_ack(ans, "ixn-a wss: registers")
        ans = ws.request({"message": "RequestAgentLogin", "tenant": T, "agentId": "1002",
                          "placeId": "P1002", "password": "pw1002", "mediaList": {"chat": 1}})
        expect_ack(ans, "ixn-a wss: agent 1002 logs in")
        tls_refused(hp, wrong_ca, "ixn-a https, client trusting another CA")
        status, body = http_plaintext(hp)
        check(status == 400 and b"HTTPS" in body,
              "ixn-a http port: plaintext GET answered 400 (%d %r)" % (status, body[:60]))
        status, _ = https_get(hp, anon, "/")
        check(status == 200, "ixn-a https: still served after the plaintext client")
        # The metrics count what happened: two plaintext clients (one per port), the four
        # refused handshakes, and the handshakes completed (desk, link, media server, wss,
        # the pages).
        status, body = https_get(hp, anon, "/metrics")
        mt = {}
        for line in body.decode().splitlines():
            if line.startswith("contactcore_tls_"):
                name, value = line.split()
                mt[name] = float(value)
        check(status == 200 and mt.get("contactcore_tls_plaintext_refused_total") == 2,
              "ixn-a /metrics: 2 plaintext clients refused (%d %s)" % (status, mt))
        check(mt.get("contactcore_tls_failures_total", 0) >= 4,
              "ixn-a /metrics: at least the 4 refused handshakes failed (%s)" % mt)
        check(mt.get("contactcore_tls_handshakes_total", 0) >= 6,
              "ixn-a /metrics: the handshakes completed are counted (%s)" % mt)

        # ---- stat-1, StatClient port and http port ----
        sc = TlsClient(stat.port, anon)
        expect_ack(sc.register("StatClient", harness.WALLBOARD_TOKEN),
                   "stat-1 StatClient port: registers over TLS")
        tls_refused(stat.port, wrong_ca, "stat-1 StatClient port, client trusting another CA")
        plaintext_refused(stat.port, "stat-1 StatClient port")
        check(wait_log(stat, r"event=tls_refused "), "stat-1 logs the plaintext client")
        ping_ok(sc, "stat-1: the StatClient connected before is still served")
        sp = stat.ports["http"]
        status, body = https_get(sp, anon, "/wallboard-config.json")
        check(status == 200 and b"ixn-a" in body, "stat-1 https: GET /wallboard-config.json")
        tls_refused(sp, wrong_ca, "stat-1 https, client trusting another CA")
        status, body = http_plaintext(sp)
        check(status == 400, "stat-1 http port: plaintext GET answered 400 (%d)" % status)

        # ---- a link that does not trust ixn-a ----
        bad_link = ("[ixn:ixn-a]\naddress = 127.0.0.1:%d\ntoken = %s\ntls-ca = %s\n"
                    % (ixn.port, harness.STAT_TOKEN, env.path("other-ca.pem")))
        bad = env.start_stat("stat-bad", rules=RULES, extra=bad_link)
        check(wait_log(bad, r"event=tls_failed .*certificate verify failed"),
              "stat-bad: its link refuses ixn-a's certificate")
        check(wait_log(bad, r"event=link_down .*why=tls"), "stat-bad: the link is down")
        check("event=link_up" not in bad.stderr(), "stat-bad: the link never came up")
        bad.kill(signal.SIGTERM)

        # ---- renewal: SIGHUP reads the files again ----
        check(desk.peer_serial() == "1001", "before the reload the server shows serial 1001")
        shutil.copy(env.path("server2.pem"), env.path("live.pem"))
        shutil.copy(env.path("server2.key"), env.path("live.key"))
        ixn.kill(signal.SIGHUP)
        stat.kill(signal.SIGHUP)
        check(wait_log(ixn, r"event=tls_reloaded what=listen .*serial=1002"),
              "ixn-a: the protocol port reloaded (serial 1002)")
        check(wait_log(ixn, r"event=tls_reloaded what=http .*serial=1002"),
              "ixn-a: the http port reloaded")
        check(wait_log(stat, r"event=tls_reloaded what=listen .*serial=1002"),
              "stat-1: reloaded")
        check(wait_log(stat, r"event=tls_reloaded what=ixn:ixn-a "),
              "stat-1: the link's context reloaded")
        d3 = tls_desk(ixn.port, good, "1003")
        check(d3.peer_serial() == "1002", "a new connection sees serial 1002 (got %s)"
              % d3.peer_serial())
        subject = dict(x[0] for x in d3.sock.getpeercert()["subject"])
        check(subject.get("commonName") == "server two", "its subject is the new one")
        ping_ok(desk, "the connection made before the reload goes on")
        check(desk.peer_serial() == "1001", "and still shows serial 1001")
        st = d3.next(lambda m: harness.is_status(m, "1003"), timeout=15,
                     what="the status of 1003 through the link made before the reload")
        check(st.get("agentId") == "1003", "the statserver's link goes on after the reload")
        status, _ = https_get(hp, anon, "/")
        check(status == 200, "ixn-a https after the reload")
        s2 = TlsClient(stat.port, anon)
        check(s2.peer_serial() == "1002", "stat-1 shows serial 1002 after its reload")
        s2.close()

        # ---- the tools ----
        pw = env.write("pw-1004.txt", "pw1004\n")
        tls_args = ["--tls-ca", env.path("ca.pem"), "--tls-cert", env.path("client.pem"),
                    "--tls-key", env.path("client.key")]
        rc, out, err = env.run(["agentdesk", "--server", "127.0.0.1:%d" % ixn.port,
                                "--token", harness.DESK_TOKEN, "--tenant", T, "--agent", "1004",
                                "--place", "P1004", "--password-file", pw, "--media", "chat"]
                               + tls_args, input="wait-status\nlogout\n", timeout=30,
                               label="agentdesk-tls")
        check(rc == 0 and "logged in" in out,
              "agentdesk logs in over TLS (exit %s: %s)" % (rc, err.strip()[-200:]))
        rc, out, err = env.run(["agentdesk", "--server", "127.0.0.1:%d" % ixn.port,
                                "--token", harness.DESK_TOKEN, "--tenant", T, "--agent", "1004",
                                "--place", "P1004", "--password-file", pw,
                                "--tls-ca", env.path("other-ca.pem")],
                               input="logout\n", timeout=30, label="agentdesk-wrong-ca")
        check(rc != 0 and "logged in" not in out,
              "agentdesk trusting another CA does not log in (exit %s)" % rc)
        rc, out, err = env.run(["wallboard", "--server", "127.0.0.1:%d" % stat.port,
                                "--token", harness.WALLBOARD_TOKEN, "--once",
                                "--tls-ca", env.path("ca.pem")], timeout=30, label="wallboard")
        check(rc == 0 and "logged_in=" in out,
              "wallboard --once over TLS (exit %s: %s)" % (rc, err.strip()[-200:]))
        rc, out, err = env.run(["agentsim", "--server", "127.0.0.1:%d" % ixn.port,
                                "--token", harness.DESK_TOKEN, "--tenant", T,
                                "--agents", "1004-1004", "--password-file", pw,
                                "--media", "chat", "--seconds", "2"] + tls_args,
                               timeout=30, label="agentsim")
        check(rc == 0 and "event=tls_failed" not in err,
              "agentsim runs over TLS (exit %s: %s)" % (rc, err.strip()[-200:]))

        # ---- output limits over TLS ----
        slow_reader(env, anon)

        # ---- insecure configurations ----
        insecure_configs(env)

        ping_ok(desk, "ixn-a still serves its first desktop at the end")
        ping_ok(sc, "stat-1 still serves its first StatClient at the end")
        harness.alive(ixn, stat)


if __name__ == "__main__":
    main()
