#!/usr/bin/env python3
"""Address lists: a client given "HOST:PORT,HOST:PORT" (an interaction server's owner and
its standby) tries them in turn.

- agentdesk --server DEAD,LIVE logs in through the second address.
- a statserver whose [ixn:ixn-a] address is DEAD,A links to A and sends statuses; when A
  is killed and a server answers on the first address instead (the standby taking over),
  the link moves there by itself and the agent that logs in again gets its status.
- agentdesk refuses a malformed list, and the statserver's --check-config names the key.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

T = "Resources"
AGENTS = {"Resources/1001": "pw1001", "Resources/1002": "pw1002"}
RULES = harness.BLENDED_RULES + "assign tenant \"Resources\" \"Blended\";\n"


def dead_port():
    """A loopback port nobody listens on (bound, read and closed at once)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_status(c, timeout=8.0):
    """The next EventCurrentAgentStatus on c, or None after timeout seconds."""
    try:
        return c.next(lambda m: m.get("message") == "EventCurrentAgentStatus", timeout=timeout)
    except harness.Timeout:
        return None


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=90) as env:
        ixn = env.start_ixn("ixn-a", agents=AGENTS, media=("voice",))
        dead = dead_port()

        # agentdesk: the first address refuses, the second answers.
        pw = env.write("pw-1001.txt", "pw1001\n")
        rc, out, err = env.run(["agentdesk", "--server",
                                "127.0.0.1:%d,127.0.0.1:%d" % (dead, ixn.port),
                                "--token", "desk-secret", "--tenant", T, "--agent", "1001",
                                "--place", "P1001", "--media", "voice", "--password-file", pw],
                               input="status\nlogout\n", timeout=30, label="agentdesk")
        print("---- agentdesk: exit %s ----\n%s---- stderr ----\n%s" % (rc, out, err))
        check(rc == 0, "agentdesk with a list logs in through the address that answers")
        check("logged in" in out, "agentdesk says it is logged in")

        rc, out, err = env.run(["agentdesk", "--server", "127.0.0.1:%d,," % ixn.port,
                                "--tenant", T, "--agent", "1001", "--place", "P1001"],
                               input="", timeout=10, label="agentdesk-bad")
        check(rc == 2 and "--server must be" in err, "a malformed list is refused: %r" % err)

        # The statserver: [ixn:ixn-a] address = B,A with nothing on B yet (B is the port of
        # a standby that is started, then stopped, to learn a port it will come back on).
        standby = env.start_ixn("ixn-standby", agents=AGENTS, media=("voice",))
        standby.kill()
        stat = env.start_stat("stat", rules=RULES, extra=(
            "[ixn:ixn-a]\naddress = 127.0.0.1:%d,127.0.0.1:%d\ntoken = %s\n"
            % (standby.port, ixn.port, harness.STAT_TOKEN)))
        a = harness.agent(ixn.port, T, "1002", "P1002", "pw1002", media={"voice": 1})
        check(wait_status(a) is not None,
              "the statserver, its first address dead, links through the second")
        a.close()

        # The owner dies and the standby comes up on the first address: the link goes
        # round the list to it, and an agent logging in there gets statuses again.
        ixn.kill()
        t0 = time.time()
        standby.restart()
        b = harness.agent(standby.port, T, "1002", "P1002", "pw1002", media={"voice": 1})
        check(wait_status(b, timeout=15) is not None,
              "after the owner's death the link reaches the standby (%.1f s)" % (time.time() - t0))
        b.close()
        check(stat.running(), "the statserver runs on")

        bad = env.write("bad.ini", "[server]\nname = s\nlisten = 127.0.0.1:0\nrules = %s\n"
                        "token = x\n[ixn:ixn-a]\naddress = 127.0.0.1:1,nohost\ntoken = t\n"
                        % env.write("r.rules", RULES))
        rc, out, err = env.run(["statserver", "--check-config", "--config", bad], timeout=10,
                               label="check-config")
        check(rc != 0 and "address" in (out + err), "--check-config refuses a bad list: %r"
              % (out + err))
    print("PASS")


if __name__ == "__main__":
    main()
