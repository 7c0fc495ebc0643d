#!/usr/bin/env python3
"""A slow reader cut by its output limit is closed at once, even while it goes on sending
(issue 9, found by `make soak`): the cut used to wait for the write in progress, which a
peer that reads nothing never lets finish, and the lingering close then read and dropped
its input for as long as it kept sending, so its queued output stayed in memory until the
peer itself closed.

A desktop registers with out-limit 1 MiB hard, 256 KiB soft for 2 s, then pipelines pings
at a fast pace and never reads. The server logs event=conn_slow once the answers pile up;
the peer, still sending, must then see its connection closed within a few seconds."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=60) as env:
        ixn = env.start_ixn("ixn-s", agents={}, extra_server="out-limit = 1m 256k 2")
        s = socket.create_connection(("127.0.0.1", ixn.port))
        s.sendall(b'{"message":"RequestRegisterClient","referenceId":1,"clientName":"slow",'
                  b'"clientType":"AgentApplication","token":"%s"}\n'
                  % harness.DESK_TOKEN.encode())
        time.sleep(0.2)
        s.setblocking(False)
        ref = 2
        start = time.monotonic()
        cut_at = closed_at = None
        while time.monotonic() - start < 40:
            if cut_at is None and "event=conn_slow" in ixn.stderr():
                cut_at = time.monotonic()
            if cut_at is not None and time.monotonic() - cut_at > 8:
                break
            try:
                s.send(b"".join(b'{"message":"RequestPing","referenceId":%d}\n' % (ref + i)
                                for i in range(100)))
                ref += 100
            except BlockingIOError:
                pass
            except OSError:
                closed_at = time.monotonic()
                break
            time.sleep(0.005)
        check(cut_at is not None, "the server cut the slow reader (event=conn_slow)")
        check(closed_at is not None,
              "the cut reader's connection is closed while it still sends")
        print("closed %.1f s after the cut was logged" % (closed_at - cut_at))
        check(closed_at - cut_at < 5, "closed within 5 s of the cut (%.1f s)"
              % (closed_at - cut_at))
        check(ixn.running(), "the server runs on")
        s.close()


if __name__ == "__main__":
    main()
