#!/usr/bin/env python3
"""Output memory accounted as allocated (docs/operations.md, "Connections and memory").

20 desktops (AgentApplication token holders, no login needed) pipeline RequestPing and
never read, with out-limit = 1m. Each is cut once its queue holds 1 MiB as allocated:
ping answers are small, so the queue entries and buffer headers around them cost more
than their bytes, and counting only the bytes let each cost several times the limit.
Checked on /proc/PID/status: the peak resident size (VmHWM) grows by at most what 20
limits allow plus slack, and once they are closed the resident size (VmRSS) is back near
where it was. Then max-memory: with out-limit far above it, two such peers push the
process over max-memory = 2m and are cut as the biggest consumers (event=conn_cut
reason=max_memory), while a small desktop connected meanwhile stays served."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack  # noqa: E402

PEERS = 20
LIMIT = 1 << 20
MiB = 1 << 20


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise harness.Failure("no %s in /proc/%d/status" % (key, pid))


def slow_reader(port):
    """A registered desktop with a tiny receive buffer that will not read again."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.sendall(b'{"message":"RequestRegisterClient","referenceId":1,"clientName":"slow",'
              b'"clientType":"AgentApplication","token":"%s"}\n' % harness.DESK_TOKEN.encode())
    buf = b""
    while b"\n" not in buf:
        buf += s.recv(4096)
    check(b'"EventAck"' in buf, "a slow reader registers")
    return s


def flood_until_cut(s, limit_s=20):
    """Pipelines pings until the server ends the connection; returns the pings sent."""
    s.settimeout(1)
    ref = 2
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        chunk = b"".join(b'{"message":"RequestPing","referenceId":%d}\n' % (ref + i)
                         for i in range(500))
        try:
            s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            return ref
        except socket.timeout:
            pass
        ref += 500
    return None


def flood_all_until_cut(socks, limit_s=30):
    """Pipelines pings on every socket at once, round robin, until the server has ended
    each; returns how many it ended."""
    for s in socks:
        s.setblocking(False)
    pending = {s: b"" for s in socks}
    refs = {s: 2 for s in socks}
    live = set(socks)
    deadline = time.monotonic() + limit_s
    while live and time.monotonic() < deadline:
        progressed = False
        for s in list(live):
            if not pending[s]:
                r = refs[s]
                pending[s] = b"".join(b'{"message":"RequestPing","referenceId":%d}\n' % (r + i)
                                      for i in range(200))
                refs[s] = r + 200
            try:
                n = s.send(pending[s])
                pending[s] = pending[s][n:]
                progressed = progressed or n > 0
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                live.discard(s)
        if not progressed:
            time.sleep(0.005)
    return len(socks) - len(live)


def main():
    args = harness.parse_args()
    # Under AddressSanitizer freed blocks wait in a quarantine and the allocator keeps
    # what it got from the system: no quarantine for the daemons started here, and the
    # checks that depend on glibc returning memory are left to the normal build.
    asan = "ASAN_OPTIONS" in os.environ
    if asan:
        opts = os.environ["ASAN_OPTIONS"]
        os.environ["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "quarantine_size_mb=0"
    with harness.Env(args.bin, timeout=150) as env:
        ixn = env.start_ixn("ixn-m", agents={}, extra_server="out-limit = 1048576")
        peers = [slow_reader(ixn.port) for _ in range(PEERS)]
        time.sleep(0.5)
        rss0 = status_kb(ixn.pid, "VmRSS")
        # Resets VmHWM to the current resident size (Linux 4.0 and later).
        with open("/proc/%d/clear_refs" % ixn.pid, "w") as f:
            f.write("5")
        hwm0 = status_kb(ixn.pid, "VmHWM")
        cut = flood_all_until_cut(peers)
        for s in peers:
            s.close()
        check(cut == PEERS, "all %d slow readers are cut (%d)" % (PEERS, cut))
        time.sleep(1.0)
        slow = ixn.stderr().count("event=conn_slow")
        check(slow == PEERS, "%d event=conn_slow lines (%d)" % (PEERS, slow))
        hwm = status_kb(ixn.pid, "VmHWM")
        rss = status_kb(ixn.pid, "VmRSS")
        grow = (hwm - hwm0) * 1024
        print("rss before %d kB, peak %d kB, after %d kB" % (rss0, hwm, rss))
        # All twenty filled their queues at once: the peak holds twenty limits, and malloc's
        # own rounding and the read buffers on top.
        check(grow <= PEERS * LIMIT * 3 // 2,
              "the peak grew by %.1f MiB, at most 1.5 x %d x the 1 MiB limit"
              % (grow / MiB, PEERS))
        if asan:
            print("skip: the resident size after the cuts is not glibc's under "
                  "AddressSanitizer (+%.1f MiB)" % ((rss - rss0) / 1024.0))
        else:
            # The server gives freed memory back at most once a second (malloc_trim): a
            # cut that came after the last trim waits up to a second for the next.
            deadline = time.monotonic() + 3
            while (rss - rss0) * 1024 > 4 * MiB and time.monotonic() < deadline:
                time.sleep(0.2)
                rss = status_kb(ixn.pid, "VmRSS")
            check((rss - rss0) * 1024 <= 4 * MiB,
                  "after the cuts the resident size is back near where it was (+%.1f MiB)"
                  % ((rss - rss0) / 1024.0))
        small = harness.Client(ixn.port)
        expect_ack(small.register("AgentApplication", harness.DESK_TOKEN), "a desktop registers")
        expect_ack(small.request({"message": "RequestPing"}), "and is served")
        small.close()

        # max-memory: two floods under a 64 MiB out-limit push the process over 2 MiB.
        big = env.start_ixn("ixn-b", agents={}, extra_server="out-limit = 64m\nmax-memory = 2m")
        small = harness.Client(big.port)
        expect_ack(small.register("AgentApplication", harness.DESK_TOKEN), "a small desktop registers")
        floods = [slow_reader(big.port) for _ in range(2)]
        for s in floods:
            check(flood_until_cut(s) is not None, "a flood is cut under max-memory 2m")
            s.close()
        time.sleep(0.5)
        err = big.stderr()
        check(err.count("event=conn_cut reason=max_memory") == 2,
              "both floods are cut as the biggest consumers (event=conn_cut reason=max_memory)")
        check("event=conn_slow" not in err, "not by their own out-limit")
        expect_ack(small.request({"message": "RequestPing"}), "the small desktop is still served")
        small.close()


if __name__ == "__main__":
    main()
