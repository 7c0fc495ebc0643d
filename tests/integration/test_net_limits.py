#!/usr/bin/env python3
"""Connection limits of docs/operations.md ("Connections and memory"), each at its edge,
on loopback (the per-address checks use 127.0.0.2 and up, which Linux routes to lo too):

- register-timeout: a TCP peer that sends only blank lines is closed with EventError 4
  once the deadline passes (blank lines do not count); a WebSocket one too; one that
  registers in time stays.
- Before registration a line, or a WebSocket message, is at most 4096 bytes: exactly
  4096 registers, 4097 gets 11 (TCP) or close 1009 (WebSocket); a message may come in 64
  fragments, not 65 (close 1008).
- http-header-timeout: a header trickled a byte at a time gets 408 and is closed when the
  deadline passes, counted from its first byte (an idle connection before that is not).
- http-max-per-address: N connections from one address are taken, the next gets 429,
  and another address is served meanwhile; http-max-connections: N in all, then 503.
- HTTP errors of one address are logged once per interval, not once per request.
- statserver max-connections: N taken, the next gets EventError 12 and is closed (503
  over /ws), and a closed one gives its place back.
- The idle check after a stall: the statserver is stopped (SIGSTOP) past its idle
  timeout while a StatClient goes on pinging; after SIGCONT the client stays."""
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack, expect_error  # noqa: E402
from test_web_bad_input import WS, closed_by_server, frame, read_response  # noqa: E402

REG_MAX = 4096
FRAG_MAX = 64


def padded_register(total, token=harness.DESK_TOKEN, ctype="AgentApplication"):
    head = ('{"message":"RequestRegisterClient","referenceId":1,"clientName":"t",'
            '"clientType":"%s","token":"%s"' % (ctype, token))
    return (head + " " * (total - len(head) - 1) + "}").encode()


def raw_tcp(port, src="127.0.0.1", timeout=5):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def read_lines(s, timeout=3):
    """Reads until the server closes (or timeout); returns (lines, closed)."""
    s.settimeout(timeout)
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            d = s.recv(65536)
            if not d:
                return buf.decode().splitlines(), True
            buf += d
    except (ConnectionResetError, BrokenPipeError):
        return buf.decode().splitlines(), True
    except socket.timeout:
        pass
    return buf.decode().splitlines(), False


def registration_checks(ixn):
    # register-timeout = 1: blank lines every 0.2 s do not keep a peer.
    s = raw_tcp(ixn.port)
    s.settimeout(0.2)
    t0 = time.monotonic()
    buf = b""
    closed = False
    while time.monotonic() - t0 < 4 and not closed:
        try:
            s.sendall(b"\n")
            d = s.recv(65536)
            if not d:
                closed = True
            buf += d
        except socket.timeout:
            pass
        except (ConnectionResetError, BrokenPipeError):
            closed = True
    took = time.monotonic() - t0
    check(closed and 0.9 <= took <= 2.5,
          "register-timeout 1: a peer sending blank lines is closed after %.2fs" % took)
    check(b'"errorCode":4' in buf and b"register-timeout" in buf,
          "register-timeout: EventError 4 before the close (got %r)" % buf[:200])
    s.close()

    # A peer that registers within the deadline stays past it.
    c = harness.Client(ixn.port)
    time.sleep(0.5)
    expect_ack(c.register("AgentApplication", harness.DESK_TOKEN), "registered within the deadline")
    time.sleep(1.2)
    expect_ack(c.request({"message": "RequestPing"}), "a registered peer stays past the deadline")
    c.close()

    # Before registration: 4096 bytes are a line, 4097 are too many.
    s = raw_tcp(ixn.port)
    s.sendall(padded_register(REG_MAX) + b"\n")
    lines, _ = read_lines(s, 1)
    check(len(lines) == 1 and '"EventAck"' in lines[0],
          "a %d-byte register line is taken (got %s)" % (REG_MAX, lines))
    s.close()
    s = raw_tcp(ixn.port)
    s.sendall(padded_register(REG_MAX + 1) + b"\n")
    lines, closed = read_lines(s, 3)
    check(closed and len(lines) == 1 and '"errorCode":11' in lines[0],
          "a %d-byte line before registration gets 11 and a close (got %s)" % (REG_MAX + 1, lines))
    s.close()
    # A half line is held up to the maximum and its CR; one byte more is refused at once,
    # without waiting for its end.
    s = raw_tcp(ixn.port)
    s.sendall(b"x" * REG_MAX + b"\r")
    lines, closed = read_lines(s, 0.5)
    check(not closed and not lines, "a 4096-byte half line and its CR wait for the LF")
    s.sendall(b"x")
    lines, closed = read_lines(s, 0.5)
    check(closed and len(lines) == 1 and '"errorCode":11' in lines[0],
          "one byte more before registration is refused at once (got %s)" % lines)
    s.close()


def ws_registration_checks(ixn):
    http = ixn.ports["http"]
    w = WS(http)
    w.send_raw(frame(1, padded_register(REG_MAX)))
    m = w.next(what="the answer to a 4096-byte register")
    check(m.get("message") == "EventAck", "/ws: a %d-byte register message is taken" % REG_MAX)
    w.close()
    w = WS(http)
    w.send_raw(frame(1, padded_register(REG_MAX + 1)))
    check(w.wait_close() == 1009, "/ws: a %d-byte message before registration: close 1009 (got %s)"
          % (REG_MAX + 1, w.close_code))
    w.close()

    def fragments(n):
        msg = padded_register(200)
        parts = [msg[i:i + 1] for i in range(n - 1)] + [msg[n - 1:]]
        check(all(parts) and len(parts) == n, "the register splits into %d fragments" % n)
        return b"".join(frame(1 if i == 0 else 0, p, fin=(i == n - 1)) for i, p in enumerate(parts))

    w = WS(http)
    w.send_raw(fragments(FRAG_MAX))
    m = w.next(what="the answer to a register in %d fragments" % FRAG_MAX)
    check(m.get("message") == "EventAck", "/ws: a register in %d fragments is taken" % FRAG_MAX)
    w.close()
    w = WS(http)
    w.send_raw(fragments(FRAG_MAX + 1))
    check(w.wait_close() == 1008, "/ws: %d fragments: close 1008 (got %s)"
          % (FRAG_MAX + 1, w.close_code))
    w.close()

    # The registration deadline over /ws: EventError 4, then the stream ends.
    w = WS(http)
    t0 = time.monotonic()
    m = w.next(what="EventError 4", timeout=4)
    check(m.get("message") == "EventError" and m.get("errorCode") == 4,
          "/ws: no registration within register-timeout: EventError 4 (got %s)" % m)
    check(w.wait_close() is not None and time.monotonic() - t0 < 3,
          "/ws: then the stream is closed")
    w.close()


def http_checks(ixn):
    http = ixn.ports["http"]
    # An idle connection is not timed by the header deadline (only from its first byte).
    idle = raw_tcp(http)
    time.sleep(0.2)
    # Trickled: one byte every 0.25 s, never complete.
    s = raw_tcp(http)
    s.settimeout(0.25)
    t0 = time.monotonic()
    data = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    got = b""
    closed = False
    for i in range(len(data)):
        try:
            s.send(data[i:i + 1])
        except (ConnectionResetError, BrokenPipeError):
            closed = True
            break
        try:
            d = s.recv(65536)
            if not d:
                closed = True
                break
            got += d
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed = True
            break
        if time.monotonic() - t0 > 5:
            break
    took = time.monotonic() - t0
    check(got.startswith(b"HTTP/1.1 408"), "a trickled header gets 408 (got %r)" % got[:40])
    check(1.9 <= took <= 3.5, "http-header-timeout 2: at %.2fs after its first byte" % took)
    s.close()
    # A header that completes within the deadline, trickled too, is served.
    s = raw_tcp(http)
    req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    for i in range(len(req)):
        s.send(req[i:i + 1])
        time.sleep(1.0 / len(req))
    st, _, _, _ = read_response(s)
    check(st == 200, "a header trickled over 1s is served (%d)" % st)
    s.close()
    # The idle one, 2.5 s later, still gets served.
    idle.sendall(req)
    st, _, _, _ = read_response(idle)
    check(st == 200, "a connection idle before its first byte is not timed by the header deadline")
    idle.close()

    # http-max-per-address = 4: the fifth from 127.0.0.2 gets 429.
    held = [raw_tcp(http, "127.0.0.2") for _ in range(4)]
    time.sleep(0.3)
    fifth = raw_tcp(http, "127.0.0.2")
    st, _, body, _ = read_response(fifth)
    check(st == 429, "http-max-per-address 4: the fifth connection from one address gets 429 (%d)"
          % st)
    check(closed_by_server(fifth), "and is closed")
    fifth.close()
    for h in held:
        h.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        st, _, _, _ = read_response(h, head_only=True)
        check(st == 200, "one of the four from that address is served")
    other = raw_tcp(http, "127.0.0.1")
    other.sendall(req)
    st, _, _, _ = read_response(other)
    check(st == 200, "another address is served meanwhile")
    other.close()
    time.sleep(0.3)

    # http-max-connections = 6: four from .2, two from .3, then the seventh gets 503.
    more = [raw_tcp(http, "127.0.0.3") for _ in range(2)]
    time.sleep(0.3)
    seventh = raw_tcp(http, "127.0.0.4")
    st, _, _, _ = read_response(seventh)
    check(st == 503, "http-max-connections 6: the seventh gets 503 (%d)" % st)
    seventh.close()
    for h in held + more:
        h.close()
    time.sleep(0.5)
    again = raw_tcp(http, "127.0.0.2")
    again.sendall(req)
    st, _, _, _ = read_response(again)
    check(st == 200, "closed connections give their places back")
    again.close()

    # 30 requests for a missing page from one address: one log line, not 30.
    for _ in range(30):
        c = raw_tcp(http, "127.0.0.5")
        c.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        st, _, _, _ = read_response(c)
        c.close()
    check(st == 404, "the missing page is 404")
    time.sleep(0.3)
    lines = [ln for ln in ixn.stderr().splitlines()
             if "event=http_error" in ln and "peer=127.0.0.5:" in ln]
    check(len(lines) == 1, "30 errors from one address are logged once (got %d lines)" % len(lines))


def stat_checks(env):
    stat = env.start_stat("stat-n", ixns=[], extra_server=(
        "http = 127.0.0.1:0\nmax-connections = 3\nidle-timeout = 2\nregister-timeout = 0"))
    a = harness.statclient(stat.port)
    b = raw_tcp(stat.port)
    w = WS(stat.ports["http"])
    check(w.accepted, "statserver max-connections 3: a third one over /ws is let in")
    d = raw_tcp(stat.port)
    lines, closed = read_lines(d, 3)
    check(closed and len(lines) == 1 and '"errorCode":12' in lines[0],
          "statserver max-connections 3: the fourth gets EventError 12 and is closed (%s)" % lines)
    d.close()
    w2 = WS(stat.ports["http"])
    check(w2.status == 503, "statserver max-connections 3: over /ws 503 (%s)" % w2.status)
    w2.close()
    b.close()
    w.close()
    time.sleep(0.3)
    c = harness.statclient(stat.port)
    expect_ack(c.request({"message": "RequestPing"}), "a closed connection gives its place back")
    c.close()

    # Stopped past the idle timeout (2 s) while the client pings every 0.5 s.
    refs = []
    for i in range(2):
        a.send({"message": "RequestPing", "referenceId": 100 + i})
        refs.append(100 + i)
        time.sleep(0.5)
    os.kill(stat.pid, signal.SIGSTOP)
    try:
        for i in range(2, 9):
            a.send({"message": "RequestPing", "referenceId": 100 + i})
            refs.append(100 + i)
            time.sleep(0.5)
    finally:
        os.kill(stat.pid, signal.SIGCONT)
    for r in refs:
        m = a.next(lambda m, r=r: m.get("referenceId") == r, what="ack of ping %d" % r)
        check(m.get("message") == "EventAck", "ping %d during the stop is answered" % r)
    a.send({"message": "RequestPing", "referenceId": 200})
    m = a.next(lambda m: m.get("referenceId") == 200, what="ack after the stop")
    check(m.get("message") == "EventAck",
          "a StatClient that pinged through a 3.5s stop (idle-timeout 2) stays")
    check("event=conn_idle" not in stat.stderr(), "nobody was closed as idle")
    a.close()


CONFIG_EDGES = [
    # (daemon, key, value, accepted)
    ("ixnserver", "register-timeout", "3600", True),
    ("ixnserver", "register-timeout", "3601", False),
    ("ixnserver", "max-memory", "1m", True),
    ("ixnserver", "max-memory", "1048575", False),
    ("ixnserver", "max-memory", "0", True),
    ("ixnserver", "out-limit", "64k", True),
    ("ixnserver", "out-limit", "65535", False),
    ("ixnserver", "out-limit-desktop", "1m 1m 86400", True),
    ("ixnserver", "out-limit-desktop", "1m 1025k 1", False),
    ("ixnserver", "out-limit-web", "1m 512k 86401", False),
    ("ixnserver", "out-limit-media", "4g", True),
    ("ixnserver", "out-limit-media", "4294967297", False),
    ("ixnserver", "http-header-timeout", "1", True),
    ("ixnserver", "http-header-timeout", "0", False),
    ("ixnserver", "http-max-per-address", "1", True),
    ("ixnserver", "http-max-per-address", "0", False),
    ("ixnserver", "http-max-connections", "1000000", True),
    ("ixnserver", "http-max-connections", "1000001", False),
    ("statserver", "max-connections", "10000000", True),
    ("statserver", "max-connections", "10000001", False),
    ("statserver", "out-limit-web", "2m 1m 10", True),
    ("statserver", "out-limit-web", "2m 3m 10", False),
    ("statserver", "register-timeout", "0", True),
]


def config_checks(env):
    """Each new key at the edge of its range: --check-config takes it or refuses it."""
    for daemon, key, value, ok in CONFIG_EDGES:
        if daemon == "ixnserver":
            text = ("[server]\nname = x\nlisten = 127.0.0.1:0\n%s = %s\n[tokens]\n"
                    "AgentApplication = a\n" % (key, value))
        else:
            text = "[server]\nlisten = 127.0.0.1:0\n%s = %s\n" % (key, value)
        path = env.write("edge.ini", text)
        rc, out, err = env.run([daemon, "--check-config", "-c", path])
        check((rc == 0) == ok and (ok or key in err),
              "%s %s = %s is %s (rc %d)" % (daemon, key, value, "taken" if ok else "refused", rc))


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=120) as env:
        ixn = env.start_ixn("ixn-n", agents={}, extra_server=(
            "http = 127.0.0.1:0\nregister-timeout = 1\nhttp-header-timeout = 2\n"
            "http-max-per-address = 4\nhttp-max-connections = 6"))
        config_checks(env)
        registration_checks(ixn)
        ws_registration_checks(ixn)
        http_checks(ixn)
        stat_checks(env)


if __name__ == "__main__":
    main()
