#!/usr/bin/env python3
"""agentdesk keeps the agent's media across a lost connection: the script adds chat and
email, makes chat ready and email not ready, then the ixnserver is killed (-9) and
restarted under it. The desk reconnects by itself and logs in again with the media as the
server last acknowledged them (chat ready, email not ready, voice removed), which a
reporting engine of the restarted server sees in the agent's snapshot."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

T = "Resources"
AGENTS = {"Resources/1001": "pw1001"}


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=90) as env:
        ixn = env.start_ixn("ixn-a", agents=AGENTS)
        script = "\n".join([
            "add chat",
            "add email",
            "ready chat",
            "notready email 3 Lunch",
            "remove voice",
            "sleep 4000",
            "status",
        ]) + "\n"
        pw = env.write("pw-1001.txt", "pw1001\n")
        result = {}

        def run_desk():
            result["r"] = env.run(["agentdesk", "--server", "127.0.0.1:%d" % ixn.port,
                                   "--token", "desk-secret", "--tenant", T, "--agent", "1001",
                                   "--place", "P1001", "--media", "voice",
                                   "--password-file", pw],
                                  input=script, timeout=30, label="agentdesk")

        t = threading.Thread(target=run_desk)
        t.start()
        time.sleep(1.5)  # the five requests are answered well within this
        ixn.kill()
        ixn.restart()
        rep = harness.reporter(ixn.port)
        snap = None
        deadline = time.time() + 8
        while time.time() < deadline and snap is None:
            events = harness.start_reporting(rep)
            snap = next((e for e in events if e.get("agentId") == "1001"), None)
            if snap is None:
                expect = {"message": "RequestStopPlaceAgentStateReportingAll"}
                harness.expect_ack(rep.request(expect), "reporting stopped to ask again")
                time.sleep(0.2)
        t.join()
        rc, out, err = result["r"]
        print("---- agentdesk: exit %s, stdout ----\n%s---- end ----" % (rc, out))
        check("reconnected" in out, "the desk says it reconnected")
        check(snap is not None, "the agent is logged in again on the restarted server")
        media = snap["media"]
        check(sorted(media) == ["chat", "email"],
              "after the re-login the agent has chat and email, not voice (%s)" % sorted(media))
        check(media["chat"]["ready"] is True and media["email"]["ready"] is False,
              "chat is ready and email not ready again (%s)" % media)
        check(rc == 1, "a script that lost its connection exits 1, as documented (got %s)" % rc)
        check("pw1001" not in out and "pw1001" not in err, "the password is never printed")


if __name__ == "__main__":
    main()
