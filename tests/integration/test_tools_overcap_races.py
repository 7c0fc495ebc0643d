#!/usr/bin/env python3
"""agentsim does not count a correct offer as above the capacity rule when statuses race
with it, as they do in `make demo` on a loaded machine (issue of over_capacity 94-108).

The test plays the statserver of one ixnserver (a small model of rule Blended, reservations
counted as Invited interactions, after-work not counted, as the demo's statserver) and lets
agentsim work two agents, one after the other. Each agent is offered only what the rule
allows, so agentsim must end with over_capacity=0:

A. Two servers at once (agent 1001, chat and email, holds 2 chats). The ixnserver asks for
   a third chat; the test answers as the statserver does when another server asked for an
   email at the same moment: the status of the chat grant (chat 3/3/0), then the status of
   the email grant (chat 3/2/0, email 1/1/0: with an email, chat is full from 2), then the
   chat grant. The ixnserver forwards both statuses before the invite, so the newest status
   agentsim has at the invite says chat max 2, although the chat was granted with max 3.
   (The email of the other server is only in the statserver's counts; it is still an email
   the agent holds as far as the rule goes.)
B. A grant in flight looks like after-work counted (agent 1002, chat only, two chats at a
   time, after-work 60 s). While a chat is in after-work and nothing else is held, three
   statuses count one chat (chat 1/2/1), as the status of a grant whose invite is still on
   its way does, spaced more than agentsim's settle time (the reservation is then given
   back, as when the interaction was taken meanwhile). Then two chats are offered in turn:
   with the one in after-work left out, as the statserver counts, the second makes 2 of
   max 2, within the rule.

C. A real one is still counted (agent 1003, chat only, two chats at a time, a statserver
   that counts after-work, agentsim told so with --count-after-work yes): with a chat in
   after-work and one handled (chat 2/2/0), a wrong status says one chat available and a
   third chat comes: 3 of max 2, over_capacity=1. A wrong value of the option is refused.

Before the fix agentsim judged A by the newest status only (3 of max 2) and took B's
statuses as proof that after-work counts (3 of max 2): over_capacity=1 in each."""
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
PASSWORD = "overcap-pw"
MEDIA = ("chat", "email")


def fields(line):
    """The key=value pairs of a summary or log line, as a dict of str."""
    return dict(re.findall(r"(\w+)=(\S+)", line))


def blended(counts):
    """{media: max} of rule Blended without voice (capacity-rules.md section 1): chat is
    blocked by chat >= 3 or (chat >= 2 and email >= 1), email by email >= 2 or (email >= 1
    and chat >= 1)."""
    return {"chat": 2 if counts["email"] >= 1 else 3,
            "email": 1 if counts["chat"] >= 1 else 2}


def two_chats(counts):
    """{media: max} of a rule `chat = chat >= 2;` with no email."""
    return {"chat": 2, "email": 0}


class Statserver:
    """The test's reporting engine for one agent: statuses from the counts of the agent's
    last state event (Invited and Handling), the outstanding grants, and extra counts of
    other servers; grants every reservation unless the test answers it itself."""

    def __init__(self, rep, agent, rule, count_after_work=False):
        self.c = rep
        self.count_after_work = count_after_work
        self.agent = agent
        self.rule = rule
        self.version = 0
        self.counts = {m: 0 for m in MEDIA}
        self.grants = {}  # reservationId -> media
        self.extra = {m: 0 for m in MEDIA}

    def total(self, plus=None):
        t = {m: self.counts[m] + self.extra[m] for m in MEDIA}
        for m in self.grants.values():
            t[m] += 1
        for m, n in (plus or {}).items():
            t[m] += n
        return t

    def status(self, plus=None, available=None):
        """Sends the agent's status, its counts raised by plus {media: n}; available
        {media: n} overrides what the rule gives (a wrong status)."""
        t = self.total(plus)
        mx = self.rule(t)
        media = {m: {"ready": True, "current": t[m], "max": mx[m],
                     "available": max(0, mx[m] - t[m])} for m in MEDIA}
        for m, n in (available or {}).items():
            media[m]["available"] = n
        self.c.send({"message": "EventCurrentAgentStatus", "tenant": T, "agentId": self.agent,
                     "placeId": "P" + self.agent, "version": self.version, "rule": "Test",
                     "loggedIn": True, "dnd": False, "media": media})

    def grant(self, m, before=()):
        """Grants reservation m like the statserver: the status counting it, then the
        answer. before: statuses (plus dicts) sent after that status and before the answer."""
        rid = m["reservationId"]
        self.grants[rid] = m["media"]
        self.status()
        for plus in before:
            self.status(plus)
        self.c.send({"message": "EventAgentReserved", "reservationId": rid, "granted": True})

    def on_state(self, m):
        self.version = m["version"]
        self.grants.pop(m.get("reservationId"), None)
        self.counts = {x: 0 for x in MEDIA}
        for i in m.get("interactions", []):
            if i.get("state") in ("Invited", "Handling") or (
                    self.count_after_work and i.get("state") == "AfterWork"):
                self.counts[i["media"]] += 1
        self.status()

    def next(self, timeout, what, answer=None):
        """Handles messages until a state event of the agent or an EventReserveAgent that
        answer(m) (when given) takes; returns that message. Reservations are granted."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.c.next(lambda x: harness.is_state(x, self.agent) or
                            (x.get("message") == "EventReserveAgent" and
                             x.get("agentId") == self.agent),
                            timeout=max(0.01, deadline - time.monotonic()), what=what)
            if m.get("message") == "EventReserveAgent":
                if answer and answer(m):
                    return m
                self.grant(m)
                continue
            self.on_state(m)
            return m

    def state(self, cause, timeout=8):
        while True:
            m = self.next(timeout, "state %s of %s" % (cause, self.agent))
            if m.get("cause") == cause:
                return m

    def quiet(self, wait):
        """Handles messages for wait seconds."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                self.next(deadline - time.monotonic(), "nothing")
            except harness.Timeout:
                break


def start_sim(env, port, agent, media, handle, tag, extra=()):
    pwfile = env.write("password", PASSWORD + "\n")
    out_path, err_path = env.path(tag + ".out"), env.path(tag + ".err")
    # No random state changes, every media ready, accept at once, never reject, wait for
    # the server's after-work timer; stopped by SIGINT.
    argv = [env.bin("agentsim"), "--server", "127.0.0.1:%d" % port, "--token",
            harness.DESK_TOKEN, "--tenant", T, "--agents", agent + "-" + agent,
            "--password-file", pwfile, "--media", media, "--rate", "0", "--ready", "1",
            "--accept-ms", "0", "--reject", "0", "--early", "0", "--handle", handle,
            "--seed", "7"] + list(extra)
    with open(out_path, "wb") as out_f, open(err_path, "wb") as err_f:
        sim = subprocess.Popen(argv, cwd=env.dir, stdout=out_f, stderr=err_f)
    return sim, out_path, err_path


def stop_sim(sim, eng, out_path, err_path, what):
    sim.send_signal(signal.SIGINT)
    eng.quiet(1.5)  # agentsim finishes what it holds and logs out meanwhile
    try:
        rc = sim.wait(timeout=20)
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait(timeout=5)
    with open(out_path) as f:
        out = f.read()
    with open(err_path) as f:
        err = f.read()
    print("%s: agentsim stdout:\n%s" % (what, out.rstrip()))
    check(rc == 0, "%s: agentsim exits 0 on SIGINT (got %d)" % (what, rc))
    finals = [ln for ln in out.splitlines() if ln.startswith("agentsim final")]
    check(len(finals) == 1, "%s: one final summary line" % what)
    logs = [ln for ln in err.splitlines() if "event=over_capacity" in ln]
    return fields(finals[0]), logs


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=120) as env:
        ixn = harness.start_ixn_queues(
            env, "ixn-a", agents={"%s/%s" % (T, a): PASSWORD for a in ("1001", "1002", "1003")},
            queues={T + "/chat-in": "chat"}, invite_timeout=60, media=MEDIA,
            after_work={"chat": 60}, extra_server="idle-timeout = 0")
        rep = harness.reporter(ixn.port)
        harness.start_reporting(rep, [T])
        ms = harness.media_server(ixn.port)

        # ---- A: two servers' grants of different media at once ----
        agent = "1001"
        eng = Statserver(rep, agent, blended)
        sim, out_path, err_path = start_sim(env, ixn.port, agent, "chat,email",
                                            "chat=60,email=60", "a")
        try:
            eng.state("AgentLogin")
            eng.status()
            ids = [harness.submit_ok(ms, T, "chat", "chat-in") for _ in range(3)]
            # The first two chats are granted as asked; the third ask is answered below.
            asks = []

            def third(m):
                asks.append(m)
                return len(asks) == 3

            while True:
                ask = eng.next(8, "the reservation of the third chat", answer=third)
                if ask.get("message") == "EventReserveAgent":
                    break
            check(ask.get("media") == "chat" and eng.total()["chat"] == 2,
                  "A: the ixnserver asks for a third chat with 2 chats counted (chat 2/3/1)")
            # Chat granted (chat 3/3/0), then another server's email (chat 3/2/0, email
            # 1/1/0), then the chat grant's answer.
            eng.grant(ask, before=({"email": 1},))
            eng.extra["email"] = 1
            inv = eng.state("Invited")
            check(ids[2] in [i["interactionId"] for i in inv.get("interactions", [])],
                  "A: the third chat %s is offered" % ids[2])
            # Statuses keep showing chat 3/2/0 for longer than agentsim's wait.
            eng.quiet(1.0)
            check(eng.counts == {"chat": 3, "email": 0},
                  "A: the agent handles 3 chats (got %s)" % eng.counts)
        except BaseException:
            if sim.poll() is None:
                sim.kill()
                sim.wait(timeout=5)
            raise
        fa, logs_a = stop_sim(sim, eng, out_path, err_path, "A")
        check(fa.get("invites") == "3" and fa.get("errors") == "0",
              "A: 3 invites, no errors (got invites=%s errors=%s)"
              % (fa.get("invites"), fa.get("errors")))
        check(fa.get("over_capacity") == "0" and not logs_a,
              "A: over_capacity=0: the third chat was granted with chat max 3 (got %s, %s)"
              % (fa.get("over_capacity"), logs_a))
        eng.quiet(0.5)

        # ---- B: a grant in flight that looks like after-work counted ----
        agent = "1002"
        eng = Statserver(rep, agent, two_chats)
        sim, out_path, err_path = start_sim(env, ixn.port, agent, "chat", "chat=1", "b")
        try:
            eng.state("AgentLogin")
            eng.status()
            c1 = harness.submit_ok(ms, T, "chat", "chat-in")
            eng.state("Invited")
            eng.state("PartyAdded")
            aw = eng.state("AfterWork")
            check([(i["interactionId"], i["state"]) for i in aw.get("interactions", [])] ==
                  [(c1, "AfterWork")], "B: the first chat %s is in after-work" % c1)
            # Three statuses that count one chat while the agent handles none, each well
            # after the last change (agentsim waits 500 ms).
            for _ in range(3):
                eng.quiet(0.7)
                eng.status({"chat": 1})
            eng.quiet(0.7)
            c2 = harness.submit_ok(ms, T, "chat", "chat-in")
            c3 = harness.submit_ok(ms, T, "chat", "chat-in")
            offered = set()
            while len(offered) < 2:
                inv = eng.state("Invited")
                offered |= {i["interactionId"] for i in inv.get("interactions", [])
                            if i.get("state") == "Invited"}
            check(offered == {c2, c3}, "B: the chats %s and %s are offered (got %s)"
                  % (c2, c3, sorted(offered)))
            eng.quiet(1.0)
        except BaseException:
            if sim.poll() is None:
                sim.kill()
                sim.wait(timeout=5)
            raise
        fb, logs_b = stop_sim(sim, eng, out_path, err_path, "B")
        check(fb.get("invites") == "3" and fb.get("errors") == "0",
              "B: 3 invites, no errors (got invites=%s errors=%s)"
              % (fb.get("invites"), fb.get("errors")))
        check(fb.get("over_capacity") == "0" and not logs_b,
              "B: over_capacity=0: after-work is not counted by the statserver (got %s, %s)"
              % (fb.get("over_capacity"), logs_b))
        eng.quiet(0.5)

        # ---- C: after-work counted, as told; a real one is counted ----
        bad = env.run([env.bin("agentsim"), "--server", "127.0.0.1:%d" % ixn.port,
                       "--token", harness.DESK_TOKEN, "--tenant", T, "--agents", "1003-1003",
                       "--password-file", env.write("password", PASSWORD + "\n"),
                       "--count-after-work", "maybe"], label="agentsim bad option")
        rc, _, err = bad
        check(rc != 0 and "--count-after-work must be yes or no" in err,
              "C: --count-after-work maybe is refused (rc %d, %r)" % (rc, err.strip()))
        agent = "1003"
        eng = Statserver(rep, agent, two_chats, count_after_work=True)
        sim, out_path, err_path = start_sim(env, ixn.port, agent, "chat", "chat=1", "c",
                                            extra=("--count-after-work", "yes"))
        try:
            eng.state("AgentLogin")
            eng.status()
            c1 = harness.submit_ok(ms, T, "chat", "chat-in")
            eng.state("Invited")
            eng.state("PartyAdded")
            eng.state("AfterWork")
            c2 = harness.submit_ok(ms, T, "chat", "chat-in")
            eng.state("Invited")
            eng.state("PartyAdded")
            check(eng.counts["chat"] == 2,
                  "C: chat %s in after-work and %s counted: chat 2/2/0 (got %s)"
                  % (c1, c2, eng.counts))
            c3 = harness.submit_ok(ms, T, "chat", "chat-in")
            eng.quiet(0.3)
            check(not eng.grants, "C: no reservation while the status says chat 2/2/0")
            eng.status(available={"chat": 1})
            inv = eng.state("Invited")
            check(c3 in [i["interactionId"] for i in inv.get("interactions", [])],
                  "C: the wrong status (2/2, one available) gets the third chat %s offered" % c3)
            eng.quiet(1.0)
        except BaseException:
            if sim.poll() is None:
                sim.kill()
                sim.wait(timeout=5)
            raise
        fc, logs_c = stop_sim(sim, eng, out_path, err_path, "C")
        check(fc.get("over_capacity") == "1" and len(logs_c) == 1,
              "C: over_capacity=1, one event=over_capacity line (got %s, %s)"
              % (fc.get("over_capacity"), logs_c))
        lg = fields(logs_c[0])
        check(lg.get("agent") == agent and lg.get("interaction") == c3 and
              lg.get("why") == "above_max" and lg.get("held") == "3" and lg.get("max") == "2",
              "C: it names agent %s, %s, above_max, held=3 max=2 (got %s)" % (agent, c3, lg))


if __name__ == "__main__":
    main()
