#!/usr/bin/env python3
"""Statistics on the statserver's StatClient port (issue 11 item 2, statistics.md sections 2
and 3, docs/statistics.md "The statistics engine"), with a real ixnserver, statserver, agent
desktop and media server:

(a) first values right after the ack, for objects that do not exist yet (0, null,
LoggedOut with since null); (b) an agent's State with its not-ready reason; (c) submits,
an abandon before the threshold, a reject, an accept after a known wait, an end by the
agent: Entered, Answered, Abandoned, Waiting, ServiceLevel, AverageSpeedOfAnswer, the
agent's Offered/Rejected/Accepted/Handled/AverageHandleTime, its times in states and the
tenant's numbers; a transfer to another queue (a second visit, abandoned there); (d)
notify changes (coalesced: a burst of submits gives at most one value per 100 ms, the
latest) against every:1; (e) the ixnserver killed and started again: its waiting
interactions stop counting while it is away, and its snapshot brings them back without
counting a visit twice; (f) bad requests: unknown statistic, object type, profile, notify,
missing media (3 naming the field), a duplicate statisticId (10), max-statistics at its
boundary (12), closing an id that is not open; (g) the configuration keys timezone,
service-level-threshold, service-level-target and max-statistics at their bounds."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack, expect_error  # noqa: E402

T = "Resources"
A = "1001"
PW = "pw1001"
MAX_STATS = 20
# Waits and durations may be late by this much (seconds) against what the test measures.
TOL = 0.4
SV = "EventStatisticValue"
RULES = 'rule "One" { chat = chat >= 1; }\nassign tenant "%s" "One";\n' % T


def queue_obj(q="chat-in", server="ixn-a"):
    return {"type": "Queue", "server": server, "tenant": T, "id": q}


def agent_obj(a=A):
    return {"type": "Agent", "tenant": T, "id": a}


TENANT = {"type": "Tenant", "tenant": T}


class Wall:
    """A StatClient with open statistics: name -> statisticId, and the last value of each."""

    def __init__(self, port):
        self.c = harness.statclient(port)
        self.ids = {}
        self.last = {}
        self.next_id = 1

    def open(self, name, obj, statistic, profile="day", notify="changes", **extra):
        sid = self.next_id
        self.next_id += 1
        req = {"message": "RequestOpenStatistic", "statisticId": sid, "object": obj,
               "statistic": statistic, "profile": profile, "notify": notify}
        req.update(extra)
        ack = expect_ack(self.c.request(req), "open %s" % name)
        first = self.c.next(lambda m: m.get("message") == SV and m.get("statisticId") == sid,
                            timeout=2, what="first value of %s" % name)
        check(first["seq"] == ack["seq"] + 1, "%s: the first value comes right after the ack"
              % name)
        check(isinstance(first.get("at"), int), "%s: the value has an at" % name)
        self.ids[name] = sid
        self.last[name] = first["value"]
        return first["value"]

    def wait(self, name, pred, what, timeout=5):
        """Reads values until name's satisfies pred; returns it."""
        sid = self.ids[name]
        if pred(self.last[name]):
            return self.last[name]
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                m = self.c.next(lambda x: x.get("message") == SV and x.get("statisticId") == sid,
                                timeout=max(left, 0.01), what="value of %s" % name)
            except harness.Timeout:
                check(False, "%s: %s (last value %r)" % (name, what, self.last[name]))
            self.last[name] = m["value"]
            if pred(m["value"]):
                check(True, "%s: %s (%r)" % (name, what, m["value"]))
                return m["value"]

    def equals(self, name, value, what=None):
        return self.wait(name, lambda v: v == value, what or "is %r" % (value,))

    def near(self, name, value, tol, what):
        return self.wait(name, lambda v: isinstance(v, (int, float)) and abs(v - value) <= tol,
                         "%s: %.3f within %.2f" % (what, value, tol))

    def values(self, name, wait):
        """Every value of name received within wait seconds."""
        sid = self.ids[name]
        got = []
        for m in self.c.drain(wait):
            if m.get("message") == SV and m.get("statisticId") == sid:
                got.append(m)
            else:
                self.c.queue.append(m)
        if got:
            self.last[name] = got[-1]["value"]
        return got

    def skip_to_now(self):
        """Takes every value queued so far into last."""
        for m in self.c.drain(0.3):
            for name, sid in self.ids.items():
                if m.get("message") == SV and m.get("statisticId") == sid:
                    self.last[name] = m["value"]


def now():
    return time.time()


def first_values(w):
    """(a): values of objects that do not exist yet, and the start of the test's statistics."""
    check(w.open("entered", queue_obj(), "Entered") == 0, "Entered of a new queue is 0")
    check(w.open("answered", queue_obj(), "Answered") == 0, "Answered is 0")
    check(w.open("abandoned", queue_obj(), "Abandoned") == 0, "Abandoned is 0")
    check(w.open("waiting", queue_obj(), "Waiting") == 0, "Waiting is 0")
    check(w.open("oldest", queue_obj(), "OldestWait") == 0, "OldestWait is 0")
    check(w.open("sl", queue_obj(), "ServiceLevel", threshold=1) is None,
          "ServiceLevel is null with nothing ended")
    check(w.open("asa", queue_obj(), "AverageSpeedOfAnswer") is None, "ASA is null")
    check(w.open("entered60", queue_obj(), "Entered", profile="sliding:60") == 0,
          "Entered sliding:60 is 0")
    st = w.open("state", agent_obj(), "State", media="chat")
    check(st == {"state": "LoggedOut", "since": None},
          "State of an agent never seen: LoggedOut, since null (got %r)" % st)
    for s in ("Offered", "Rejected", "Accepted", "Handled"):
        check(w.open(s.lower(), agent_obj(), s) == 0, "agent %s is 0" % s)
    check(w.open("aht", agent_obj(), "AverageHandleTime") is None, "AHT is null")
    check(w.open("t_logged", TENANT, "LoggedIn", media="chat") == 0, "tenant LoggedIn is 0")
    check(w.open("t_waiting", TENANT, "Waiting", media="chat") == 0, "tenant Waiting is 0")


def config_keys(env):
    """(g): statserver --check-config on each key's bounds."""
    cases = [("timezone = Europe/Paris", True), ("timezone = UTC", True),
             ("timezone = Mars/Olympus", False), ("timezone = ../../etc/passwd", False),
             ("service-level-threshold = 0", True), ("service-level-threshold = 86400", True),
             ("service-level-threshold = 86401", False), ("service-level-target = 100", True),
             ("service-level-target = 101", False), ("max-statistics = 1", True),
             ("max-statistics = 0", False), ("max-statistics = 10000000", True),
             ("max-statistics = 10000001", False), ("sliding-keep = 0", True),
             ("sliding-keep = 86400", True), ("sliding-keep = 86401", False),
             ("sliding-keep = -1", False)]
    for k, (line, good) in enumerate(cases):
        path = env.write("cfg%d.ini" % k, "[server]\nname = c\n%s\n[ixn:a]\naddress = 127.0.0.1:1\n"
                         % line)
        rc, out, err = env.run(["statserver", "--check-config", "-c", path])
        key = line.split(" =")[0]
        if good:
            check(rc == 0, "%s is accepted (%s)" % (line, err.strip()[-200:]))
        else:
            check(rc != 0 and ("] %s:" % key) in err, "%s is refused naming the key (%s)"
                  % (line, err.strip()[-200:]))


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=120) as env:
        config_keys(env)
        ixn = harness.start_ixn_queues(env, "ixn-a", agents={T + "/" + A: PW},
                                       queues={T + "/chat-in": "chat", T + "/chat-out": "chat"},
                                       invite_timeout=30)
        stat = env.start_stat("stat-1", [ixn], rules=RULES,
                              extra_server="max-statistics = %d" % MAX_STATS)
        w = Wall(stat.port)
        first_values(w)
        w2 = Wall(stat.port)
        check(w2.open("ticker", queue_obj(), "Entered", notify="every:1") == 0,
              "every:1 first value 0")
        check(w2.open("burst", queue_obj(), "Entered") == 0, "a second subscriber: 0")
        # The largest statisticId, under changes (the value body is shared; each
        # subscriber gets its own id appended).
        w2.next_id = 2 ** 63 - 1
        check(w2.open("bigid", queue_obj(), "Waiting") == 0, "statisticId 2^63-1 opens")

        # (b) The agent logs in, then goes not ready for lunch.
        desk = harness.agent(ixn.port, T, A, "P" + A, PW, media={"chat": 1})
        t_login = now()
        st = w.wait("state", lambda v: v and v.get("state") == "Ready", "Ready after the login")
        check(abs(st["since"] / 1000 - t_login) < TOL, "State since is the login (%r)" % st)
        w.equals("t_logged", 1, "tenant LoggedIn 1")
        expect_ack(desk.request({"message": "RequestNotReadyForMedia", "media": "chat",
                                 "reason": {"code": 3, "description": "Lunch"}}), "not ready")
        t_nr = now()
        st = w.wait("state", lambda v: v.get("state") == "NotReady", "NotReady")
        check(st.get("reason") == {"code": 3, "description": "Lunch"},
              "NotReady carries the reason (got %r)" % st)

        # (c) Two submits; the second is stopped by the media server after ~0.3 s.
        ms = harness.media_server(ixn.port)
        t1 = now()
        i1 = harness.submit_ok(ms, T, "chat", "chat-in")
        i2 = harness.submit_ok(ms, T, "chat", "chat-in")
        w.equals("entered", 2)
        w.equals("waiting", 2)
        w2.equals("bigid", 2, "statisticId 2^63-1 gets its changes")
        w.equals("t_waiting", 2, "tenant Waiting 2")
        time.sleep(0.3)
        expect_ack(ms.request({"message": "RequestStopProcessing", "interactionId": i2}),
                   "media server stops " + i2)
        w.equals("abandoned", 1, "one abandoned, after 0.3 s (under the threshold)")
        w.equals("waiting", 1)
        w.wait("oldest", lambda v: v >= 0.2, "OldestWait grows with time")
        check(w.last["sl"] is None, "an abandon within the threshold is not in ServiceLevel")
        time.sleep(max(0, t1 + 1.5 - now()))
        expect_ack(desk.request({"message": "RequestCancelNotReadyForMedia", "media": "chat"}),
                   "ready")
        t_ready = now()
        inv = desk.next(harness.is_invite(i1), timeout=5, what="invite of " + i1)
        expect_ack(desk.request({"message": "RequestReject", "interactionId": i1}), "reject")
        w.equals("rejected", 1)
        inv = desk.next(harness.is_invite(i1), timeout=10, what="second invite of " + i1)
        expect_ack(desk.request({"message": "RequestAccept", "interactionId": i1}), "accept")
        t_acc = now()
        w.equals("answered", 1)
        wait1 = t_acc - t1
        w.near("asa", wait1, TOL, "ASA is the one wait")
        w.equals("sl", 0.0, "answered after the 1 s threshold: ServiceLevel 0.0")
        w.equals("offered", 2)
        w.equals("accepted", 1)
        w.equals("waiting", 0)
        w.wait("state", lambda v: v.get("state") in ("Full", "Busy"), "Full while handling")
        time.sleep(0.5)
        expect_ack(desk.request({"message": "RequestStopProcessing", "interactionId": i1}),
                   "agent ends " + i1)
        t_end = now()
        w.equals("handled", 1)
        w.near("aht", t_end - t_acc, TOL, "AHT is accept to end")
        w.equals("entered60", 2, "sliding:60 holds the two visits")
        # Times in states, opened now: the first value is the value at the open.
        w4 = Wall(stat.port)
        t_now = now()
        v = w4.open("login", agent_obj(), "LoginTime")
        check(abs(v - (t_now - t_login)) <= TOL, "LoginTime %.3f ~ %.3f" % (v, t_now - t_login))
        v = w4.open("nr3", agent_obj(), "NotReadyTime", media="chat", reason=3)
        check(abs(v - (t_ready - t_nr)) <= TOL, "NotReadyTime for reason 3: %.3f ~ %.3f"
              % (v, t_ready - t_nr))
        v = w4.open("nr5", agent_obj(), "NotReadyTime", media="chat", reason=5)
        check(v == 0, "NotReadyTime for reason 5: 0.0 (got %r)" % v)
        want = (t_nr - t_login) + (now() - t_ready)
        v = w4.open("ready", agent_obj(), "ReadyTime", media="chat")
        check(abs(v - want) <= TOL, "ReadyTime %.3f ~ %.3f (handling included)" % (v, want))
        v = w4.open("busy", agent_obj(), "BusyTime")
        check(t_end - t_acc - TOL <= v <= t_end - t_ready + TOL,
              "BusyTime %.3f between the handling (%.3f) and ready to end (%.3f)"
              % (v, t_end - t_acc, t_end - t_ready))
        w4.c.close()

        # A transfer: i3 is accepted, then placed in chat-out, where it waits (the agent went
        # not ready) until the media server stops it: a visit answered in chat-in, and a
        # second one abandoned in chat-out after a known wait.
        w5 = Wall(stat.port)
        w5.open("out_entered", queue_obj("chat-out"), "Entered")
        w5.open("out_waiting", queue_obj("chat-out"), "Waiting")
        w5.open("out_abandoned", queue_obj("chat-out"), "Abandoned")
        w5.open("out_sl", queue_obj("chat-out"), "ServiceLevel", threshold=0)
        i3 = harness.submit_ok(ms, T, "chat", "chat-in")
        desk.next(harness.is_invite(i3), timeout=5, what="invite of " + i3)
        expect_ack(desk.request({"message": "RequestAccept", "interactionId": i3}),
                   "accept " + i3)
        w.equals("answered", 2, "i3 answered in chat-in")
        expect_ack(desk.request({"message": "RequestNotReadyForMedia", "media": "chat"}),
                   "not ready while handling")
        expect_ack(desk.request({"message": "RequestPlaceInQueue", "interactionId": i3,
                                 "queue": "chat-out"}), "transfer to chat-out")
        t_tr = now()
        w5.equals("out_entered", 1, "the transfer starts a visit in chat-out")
        w5.equals("out_waiting", 1)
        time.sleep(0.5)
        expect_ack(ms.request({"message": "RequestStopProcessing", "interactionId": i3}),
                   "media server stops " + i3)
        t_stop = now()
        w5.equals("out_abandoned", 1, "stopped while waiting in chat-out: abandoned")
        w5.equals("out_waiting", 0)
        w5.equals("out_sl", 0.0, "abandoned after %.1f s > threshold 0: ServiceLevel 0.0"
                  % (t_stop - t_tr))
        w.skip_to_now()
        check(w.last["entered"] == 3 and w.last["abandoned"] == 1,
              "chat-in: Entered 3, Abandoned still 1 (its visit was answered) (got %r, %r)"
              % (w.last["entered"], w.last["abandoned"]))
        w5.c.close()
        check(inv.get("interactionId") == i1, "the invite names " + i1)

        # (d) every:1 against changes: a quiet second gives one value each second on the
        # ticker and none on the changes subscriber.
        w2.c.drain(0.3)
        got = w2.values("ticker", 2.6)
        check(2 <= len(got) <= 3, "every:1 sent %d values in 2.6 s (2..3)" % len(got))
        check(all(m["value"] == 3 for m in got), "every:1 values are the count, 3")
        check(not [m for m in w2.c.queue if m.get("statisticId") == w2.ids["burst"]],
              "changes: nothing sent while nothing changed")
        # The agent is still not ready, so the burst waits.
        burst = [harness.submit_ok(ms, T, "chat", "chat-in") for _ in range(5)]
        got = w2.values("burst", 0.8)
        vals = [m["value"] for m in got]
        check(vals and vals[-1] == 8, "changes: the latest value, 8, arrives (got %r)" % vals)
        check(len(vals) <= 3, "changes: 5 submits in a burst give at most 3 values (%r)" % vals)
        ats = [m["at"] for m in got]
        check(all(b - a >= 95 for a, b in zip(ats, ats[1:])),
              "changes: values of one statistic are 100 ms apart at least (at %r)" % ats)

        # (e) The ixnserver is lost and comes back: no double counting.
        w.equals("waiting", 5)
        w.equals("entered", 8)
        ixn.kill()
        w.equals("waiting", 0, "the lost server's interactions do not wait")
        w.equals("t_waiting", 0, "nor in the tenant")
        ixn.restart()
        w.equals("waiting", 5, "its snapshot brings the five back", )
        w.values("entered", 1.0)
        check(w.last["entered"] == 8, "Entered still 8 after the resync (got %r)"
              % w.last["entered"])
        check(w.last["answered"] == 2 and w.last["abandoned"] == 1,
              "Answered 2, Abandoned 1 unchanged")
        ms = harness.media_server(ixn.port)
        expect_ack(ms.request({"message": "RequestStopProcessing", "interactionId": burst[0]}),
                   "stop one of the burst after the restart")
        w.equals("abandoned", 2, "a stop after the resync is one abandon")
        w.equals("waiting", 4)

        # (f) Bad requests.
        c = w.c
        base = {"message": "RequestOpenStatistic", "statisticId": 900, "object": queue_obj(),
                "statistic": "Entered", "profile": "day", "notify": "changes"}

        def bad(what, code, field, **change):
            req = dict(base)
            req.update(change)
            expect_error(c.request(req), code, what, field=field, ref=True)

        bad("unknown statistic", 3, "statistic", statistic="Happiness")
        bad("a statistic of another object type", 3, "statistic", statistic="Offered")
        bad("unknown object type", 3, "object.type", object={"type": "Galaxy", "tenant": T})
        bad("a queue without server", 3, "object.server",
            object={"type": "Queue", "tenant": T, "id": "q"})
        bad("unknown profile", 3, "profile", profile="week")
        bad("sliding:59", 3, "profile", profile="sliding:59")
        bad("sliding:86401", 3, "profile", profile="sliding:86401")
        bad("unknown notify", 3, "notify", notify="sometimes")
        bad("every:0", 3, "notify", notify="every:0")
        bad("every:3601", 3, "notify", notify="every:3601")
        bad("State without media", 3, "media", object=agent_obj(), statistic="State")
        bad("tenant Ready without media", 3, "media", object=TENANT, statistic="Ready")
        bad("statisticId 0", 3, "statisticId", statisticId=0)
        bad("a duplicate statisticId", 10, "statisticId", statisticId=w.ids["entered"])
        ok_req = dict(base)
        ok_req["profile"] = "sliding:86400"
        ok_req["notify"] = "every:3600"
        ok_req["statisticId"] = 901
        expect_ack(c.request(ok_req), "sliding:86400 and every:3600 are the largest allowed")
        expect_error(c.request({"message": "RequestCloseStatistic", "statisticId": 12345}), 3,
                     "closing an id that is not open", field="statisticId")
        expect_ack(c.request({"message": "RequestCloseStatistic", "statisticId": 901}),
                   "close 901")

        # max-statistics at its boundary on a fresh connection.
        w3 = Wall(stat.port)
        for k in range(MAX_STATS):
            w3.open("s%d" % k, queue_obj("q%d" % (k % 3)), "Entered")
        req = dict(base)
        req["statisticId"] = 5000
        expect_error(w3.c.request(req), 12, "statistic %d of max-statistics %d"
                     % (MAX_STATS + 1, MAX_STATS), ref=True)
        expect_ack(w3.c.request({"message": "RequestCloseStatistic",
                                 "statisticId": w3.ids["s0"]}), "close one")
        expect_ack(w3.c.request(req), "after a close, the %dth opens" % MAX_STATS)
        w3.c.drain(0.2)
        w3.c.close()
        check(stat.running() and ixn.running(), "both servers still run")
    print("PASS test_stat_statistics")


if __name__ == "__main__":
    main()
