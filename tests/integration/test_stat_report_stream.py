#!/usr/bin/env python3
"""A large report is streamed (issue 11 item 4, docs/statistics.md "Reports"): a history of
1,000 agents logged in for 20 hours (rows written into the statserver's own history file
while it is stopped), then agents.csv in 1-hour intervals, about 1.7 MB:

(a) read slowly, it arrives whole and right: one row per agent and interval, each whole
hour's LoginTime 3600.0, the rows of an interval sorted;
(b) while it is being read, the statserver answers a StatClient at once (the report is
made a bounded piece per loop turn);
(c) a second run grows its resident memory by less than a quarter of the report (it is
never held whole);
(d) at most 4 reports at once (the fifth gets 503); clients that leave in the middle do
no harm; a client that reads nothing is cut after
idle-timeout, and the statserver runs on."""
import os
import socket
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, WALLBOARD_TOKEN  # noqa: E402
from test_stat_statistics import Wall, agent_obj, T  # noqa: E402

AGENTS = 1000
HOURS = 20
IDLE = 3


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def request(port, target, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(20)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
               % (target, WALLBOARD_TOKEN)).encode())
    return s


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=150) as env:
        data = env.path("stat-history")
        stat = env.start_stat("stat-1", [], extra_server="data-dir = %s\nhttp = 127.0.0.1:0\n"
                              "idle-timeout = %d" % (data, IDLE))
        stat.kill(harness.signal.SIGTERM)
        now = int(time.time()) * 1000
        base = (now - HOURS * 3600 * 1000) // 3600000 * 3600000 + 3600000
        db = sqlite3.connect(os.path.join(data, "history.db"))
        for i in range(AGENTS):
            cur = db.execute("INSERT INTO events(at, kind, link, server, tenant, agent, flags)"
                             " VALUES(?, 9, -1, '', ?, ?, 1)", (base - 1000, T, "a%04d" % i))
            db.execute("INSERT INTO agent_media(seq, media, bits, available) VALUES(?, 'chat',"
                       " 3, 1)", (cur.lastrowid,))
        db.commit()
        db.close()
        stat.restart()
        hp = stat.ports["http"]
        pid = stat.popen.pid
        to = base + (HOURS - 2) * 3600 * 1000
        target = "/reports/agents.csv?from=%d&to=%d&interval=3600" % (base, to)
        # A first run warms the caches (SQLite's pages, the allocator) that any report uses.
        s = request(hp, target)
        while s.recv(1 << 20):
            pass
        s.close()
        rss0 = rss_kb(pid)

        # (a), (b), (c): read slowly, ask the StatClient port meanwhile.
        s = request(hp, target)
        data_in = b""
        worst = 0.0
        rss_max = rss0
        asked = 0
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data_in += chunk
            time.sleep(0.01)
            if len(data_in) > (asked + 1) * 400000 and asked < 4:
                asked += 1
                t = time.monotonic()
                w = Wall(stat.port)
                w.open("login", agent_obj("a0001"), "LoginTime")
                worst = max(worst, time.monotonic() - t)
                w.c.close()
                rss_max = max(rss_max, rss_kb(pid))
        s.close()
        head, _, body = data_in.partition(b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 200"), "200 (%r)" % head[:100])
        lines = body.decode().split("\r\n")
        check(lines[-1] == "", "the body ends with a line end")
        rows = lines[1:-1]
        hours = HOURS - 2
        check(len(rows) == AGENTS * hours, "%d rows: one per agent and hour (got %d, %d bytes)"
              % (AGENTS * hours, len(rows), len(body)))
        check(len(body) > 1500000, "the report is over 1.5 MB (%d)" % len(body))
        login = [r.split(",")[5] for r in rows]
        check(all(v == "3600.0" for v in login),
              "every whole hour's LoginTime is 3600.0 (%r)" % sorted(set(login))[:5])
        first = [r.split(",")[3] for r in rows[:AGENTS]]
        check(first == sorted(first) and first[0] == "a0000", "an interval's rows are sorted")
        check(asked >= 3 and worst < 1.0,
              "a StatClient is answered within 1 s while the report streams (%d asks, worst "
              "%.3f s)" % (asked, worst))
        if "ASAN_OPTIONS" in os.environ:
            # AddressSanitizer keeps freed blocks in its quarantine and its allocator
            # keeps what it took from the system: the resident size says nothing there.
            print("skip: resident memory under AddressSanitizer (+%d KiB)" % (rss_max - rss0))
        else:
            check(rss_max - rss0 < len(body) // 1024 // 4,
                  "resident memory grew %d KiB for a report of %d KiB"
                  % (rss_max - rss0, len(body) // 1024))

        # A client that leaves in the middle: the report is dropped with its connection.
        for _ in range(3):
            s = request(hp, target)
            got = 0
            while got < 100000:
                got += len(s.recv(65536))
            s.close()
        time.sleep(0.3)
        check(stat.running(), "clients leaving in the middle of reports do not harm")
        w = Wall(stat.port)
        check(w.open("login2", agent_obj("a0002"), "LoginTime") > 0, "the StatClient port works")
        w.c.close()

        # At most 4 reports at once: the fifth gets 503 until one ends.
        big = "/reports/agents.csv?from=%d&to=%d&interval=300" % (base, to)

        def status(sock):
            head = b""
            while b"\r\n" not in head:
                head += sock.recv(1)
            return int(head.split()[1])

        held = [request(hp, big, rcvbuf=4096) for _ in range(4)]
        check(all(status(x) == 200 for x in held), "four reports at once")
        s = request(hp, big)
        check(status(s) == 503, "the fifth report at once: 503")
        s.close()
        held.pop().close()
        time.sleep(0.5)
        s = request(hp, big, rcvbuf=4096)
        check(status(s) == 200, "after one ended, a report again")
        held.append(s)
        for x in held:
            x.close()
        time.sleep(0.5)

        # (d) A client that reads nothing is cut after idle-timeout: 300 s intervals make
        # some 20 MB, more than the socket buffers hold.
        s = request(hp, "/reports/agents.csv?from=%d&to=%d&interval=300" % (base, to),
                    rcvbuf=4096)
        deadline = time.monotonic() + IDLE + 10
        cut = False
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if "event=http_stream_stalled" in stat.stderr_tail(50):
                cut = True
                break
        check(cut, "the stalled reader is cut (log: http_stream_stalled)")
        s.close()
        check(stat.running(), "the statserver still runs")
    print("PASS test_stat_report_stream")


if __name__ == "__main__":
    main()
