#!/usr/bin/env python3
"""agentsim counts the invites that put an agent above its capacity rule (issue 8, item 4).

The test plays the reporting engine of one ixnserver and sends the statuses itself, so
that it can make a status lie. One simulated agent (agentsim, chat only, accepts at once,
holds every chat for a minute) is routed chats:
1. status chat 0/1, one available: a first chat arrives, within the rule;
2. status chat 1/1, none available: a second chat waits in its queue;
3. status chat 1/2 (the rule was raised, as by a reload): the second chat arrives, within
   the rule, and must not count although the status before (1/1) had no room for it;
4. status chat 2/2 but one available (wrong): a third chat arrives: above the rule, and
   agentsim logs it (event=over_capacity) and counts it.
agentsim's summary lines (periodic and final) must carry over_capacity=N, and the final
one over_capacity=1. When the ixnserver asks for reservations (protocol.md section 7a), the
test grants them like a statserver: first the status that counts the grant, then
EventAgentReserved granted:true."""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

T = "Resources"
AGENT = "1001"
PASSWORD = "overcap-pw"


def fields(line):
    """The key=value pairs of a summary or log line, as a dict of str."""
    return dict(re.findall(r"(\w+)=(\S+)", line))


class Engine:
    """The test's reporting engine on the ixnserver. It sends the statuses of AGENT for
    chat from its model (held, max, available) and grants every EventReserveAgent."""

    def __init__(self, port):
        self.c = harness.reporter(port)
        harness.start_reporting(self.c, [T])
        self.held = 0
        self.max = 1
        self.reservations = 0

    def status(self, version, current, max_, available):
        self.c.send({"message": "EventCurrentAgentStatus", "tenant": T, "agentId": AGENT,
                     "placeId": "P" + AGENT, "version": version, "rule": "Test",
                     "loggedIn": True, "dnd": False,
                     "media": {"chat": {"ready": True, "current": current, "max": max_,
                                        "available": available}}})

    def _grant(self, m):
        """Answers an EventReserveAgent like a statserver: the status counting the grant
        goes first, then the grant."""
        self.reservations += 1
        rid = m.get("reservationId")
        left = max(0, self.max - self.held - 1)
        self.status(m.get("version"), self.held + 1, self.max, left)
        self.c.send({"message": "EventAgentReserved", "reservationId": rid, "granted": True})

    def _next(self, timeout, what):
        """The next state event of AGENT; reservations met on the way are granted."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.c.next(lambda x: harness.is_state(x, AGENT) or
                            x.get("message") == "EventReserveAgent",
                            timeout=max(0.01, deadline - time.monotonic()), what=what)
            if m.get("message") == "EventReserveAgent":
                self._grant(m)
                continue
            return m

    def state(self, cause, timeout=8):
        """Waits for AGENT's state event with that cause; returns it."""
        while True:
            m = self._next(timeout, "state %s of %s" % (cause, AGENT))
            if m.get("cause") == cause:
                return m

    def quiet(self, wait):
        """Reads for wait seconds (granting reservations); returns the causes seen."""
        causes = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                m = self._next(deadline - time.monotonic(), "nothing")
            except harness.Timeout:
                break
            causes.append(m.get("cause"))
        return causes


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=90) as env:
        ixn = harness.start_ixn_queues(env, "ixn-a", agents={"%s/%s" % (T, AGENT): PASSWORD},
                                       queues={T + "/chat-in": "chat"}, invite_timeout=60,
                                       media=("chat",), extra_server="idle-timeout = 0")
        eng = Engine(ixn.port)
        ms = harness.media_server(ixn.port)
        pwfile = env.write("password", PASSWORD + "\n")
        out_path, err_path = env.path("agentsim.out"), env.path("agentsim.err")
        # No random state changes (--rate 0), chat ready at login, accept at once, never
        # reject, hold each chat far longer than the test; stopped by SIGINT.
        argv = [env.bin("agentsim"), "--server", "127.0.0.1:%d" % ixn.port,
                "--token", harness.DESK_TOKEN, "--tenant", T, "--agents", AGENT + "-" + AGENT,
                "--password-file", pwfile, "--media", "chat", "--rate", "0", "--ready", "1",
                "--accept-ms", "0", "--reject", "0", "--handle", "chat=60", "--seed", "5"]
        with open(out_path, "wb") as out_f, open(err_path, "wb") as err_f:
            sim = subprocess.Popen(argv, cwd=env.dir, stdout=out_f, stderr=err_f)
        try:
            started = time.monotonic()
            login = eng.state("AgentLogin")
            check(True, "agentsim logged agent %s in" % AGENT)

            # 1. Within the rule: chat 0/1.
            eng.held, eng.max = 0, 1
            eng.status(login["version"], 0, 1, 1)
            c1 = harness.submit_ok(ms, T, "chat", "chat-in")
            inv = eng.state("Invited")
            check([i["interactionId"] for i in inv.get("interactions", [])] == [c1],
                  "1: the first chat %s is offered (chat 0/1, one available)" % c1)
            acc = eng.state("PartyAdded")
            eng.held = 1

            # 2. Full: chat 1/1, nothing available: the second chat waits.
            eng.status(acc["version"], 1, 1, 0)
            c2 = harness.submit_ok(ms, T, "chat", "chat-in")
            causes = eng.quiet(1.0)
            check("Invited" not in causes,
                  "2: with chat 1/1 and none available the second chat is not offered")

            # 3. The rule raised to 2: the second chat comes, within the rule.
            eng.max = 2
            eng.status(acc["version"], 1, 2, 1)
            inv = eng.state("Invited")
            check(c2 in [i["interactionId"] for i in inv.get("interactions", [])],
                  "3: with chat 1/2 the second chat %s is offered" % c2)
            acc = eng.state("PartyAdded")
            eng.held = 2
            eng.status(acc["version"], 2, 2, 0)
            eng.quiet(0.6)  # longer than agentsim's wait for a later status (300 ms)

            # 4. A wrong status: chat 2/2 but one available. The third chat is one too many.
            c3 = harness.submit_ok(ms, T, "chat", "chat-in")
            eng.status(acc["version"], 2, 2, 1)
            inv = eng.state("Invited")
            check(c3 in [i["interactionId"] for i in inv.get("interactions", [])],
                  "4: the wrong status (2/2, one available) gets the third chat %s offered"
                  % c3)
            acc = eng.state("PartyAdded")
            eng.held = 3
            # The honest status after it shows the agent above its max, as it is.
            eng.status(acc["version"], 3, 2, 0)
            eng.quiet(1.0)
            # One periodic summary (every 5 s) before the end.
            if time.monotonic() - started < 5.5:
                eng.quiet(5.5 - (time.monotonic() - started))
            sim.send_signal(signal.SIGINT)
            eng.quiet(1.5)  # agentsim finishes its chats and logs out meanwhile
            rc = sim.wait(timeout=20)
        finally:
            if sim.poll() is None:
                sim.kill()
                sim.wait(timeout=5)
        with open(out_path) as f:
            out = f.read()
        with open(err_path) as f:
            err = f.read()
        print("agentsim stdout:\n" + out.rstrip())
        check(rc == 0, "agentsim exits 0 on SIGINT (got %d)" % rc)
        summaries = [ln for ln in out.splitlines() if ln.startswith("agentsim summary")]
        finals = [ln for ln in out.splitlines() if ln.startswith("agentsim final")]
        check(len(summaries) >= 1 and all("over_capacity" in fields(ln) for ln in summaries),
              "every periodic summary line carries over_capacity= (%d lines)" % len(summaries))
        check(len(finals) == 1, "one final summary line")
        f = fields(finals[0])
        check(f.get("invites") == "3", "agentsim got the 3 invites (got %s)" % f.get("invites"))
        check(f.get("errors") == "0", "agentsim saw no errors (got %s)" % f.get("errors"))
        check(f.get("over_capacity") == "1",
              "over_capacity=1: only the invite that made 3 chats of max 2 counts (got %s)"
              % f.get("over_capacity"))
        logs = [fields(ln) for ln in err.splitlines() if "event=over_capacity" in ln]
        check(len(logs) == 1, "one event=over_capacity log line (got %d)" % len(logs))
        lg = logs[0]
        check(lg.get("agent") == AGENT and lg.get("interaction") == c3 and
              lg.get("media") == "chat" and lg.get("why") == "above_max" and
              lg.get("held") == "3" and lg.get("max") == "2",
              "it names agent %s, interaction %s, chat, above_max, held=3 max=2 (got %s)"
              % (AGENT, c3, lg))
        if eng.reservations:
            print("note: the ixnserver asked for %d reservations; all were granted"
                  % eng.reservations)


if __name__ == "__main__":
    main()
