#!/usr/bin/env python3
"""The statserver's history (issue 11 item 3, statistics.md section 4, docs/statistics.md
"History"): a scripted sequence of submits, abandons before and after the threshold,
accepts after known waits and ends by the agent; the statserver killed with SIGKILL a
little over a second after the last step and started again; every day value of the queue
and the agent the same after the restart as before it (LoginTime grown by the time since,
within a tolerance), the waiting interaction not counted twice when the interaction
server's snapshot comes back, and counting going on after it. Also the keys data-dir and
history-days at their bounds, rows older than history-days purged while younger ones
stay, and a second statserver on the same data-dir refused."""
import os
import signal
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack  # noqa: E402
from test_stat_statistics import Wall, queue_obj, agent_obj, T, A, PW, RULES  # noqa: E402

TOL = 0.5
QUEUE_STATS = [("Entered", {}), ("Answered", {}), ("Abandoned", {}),
               ("ServiceLevel", {"threshold": 1}), ("AverageSpeedOfAnswer", {})]
AGENT_STATS = ["Offered", "Accepted", "Rejected", "Handled", "AverageHandleTime"]


def open_all(port):
    w = Wall(port)
    vals = {}
    for s, extra in QUEUE_STATS:
        vals[s] = w.open(s, queue_obj(), s, **extra)
    for s in AGENT_STATS:
        vals["agent " + s] = w.open("agent " + s, agent_obj(), s)
    vals["LoginTime"] = w.open("LoginTime", agent_obj(), "LoginTime")
    vals["Waiting"] = w.open("Waiting", queue_obj(), "Waiting")
    return w, vals


def config_keys(env):
    cases = [("history-days = 1", True), ("history-days = 3660", True),
             ("history-days = 0", False), ("history-days = 3661", False),
             ("data-dir = %s" % env.path("d"), True), ("data-dir =", False)]
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
        data = env.path("stat-history")
        ixn = harness.start_ixn_queues(env, "ixn-a", agents={T + "/" + A: PW},
                                       queues={T + "/chat-in": "chat"}, invite_timeout=30)
        stat = env.start_stat("stat-1", [ixn], rules=RULES,
                              extra_server="data-dir = %s\nhistory-days = 2" % data)
        w = Wall(stat.port)
        w.open("entered", queue_obj(), "Entered")
        w.open("answered", queue_obj(), "Answered")
        w.open("abandoned", queue_obj(), "Abandoned")
        w.open("handled", agent_obj(), "Handled")
        w.open("waiting", queue_obj(), "Waiting")

        desk = harness.agent(ixn.port, T, A, "P" + A, PW, media={"chat": 1})
        t_login = time.time()
        expect_ack(desk.request({"message": "RequestNotReadyForMedia", "media": "chat",
                                 "reason": {"code": 3, "description": "Lunch"}}), "not ready")
        ms = harness.media_server(ixn.port)
        i1 = harness.submit_ok(ms, T, "chat", "chat-in")
        i2 = harness.submit_ok(ms, T, "chat", "chat-in")
        i3 = harness.submit_ok(ms, T, "chat", "chat-in")
        w.equals("entered", 3)
        time.sleep(0.3)
        expect_ack(ms.request({"message": "RequestStopProcessing", "interactionId": i2}),
                   "abandon under the threshold")
        time.sleep(1.2)
        expect_ack(ms.request({"message": "RequestStopProcessing", "interactionId": i3}),
                   "abandon over the threshold")
        w.equals("abandoned", 2)
        expect_ack(desk.request({"message": "RequestCancelNotReadyForMedia", "media": "chat"}),
                   "ready")
        desk.next(harness.is_invite(i1), timeout=5, what="invite of " + i1)
        expect_ack(desk.request({"message": "RequestReject", "interactionId": i1}), "reject")
        desk.next(harness.is_invite(i1), timeout=10, what="second invite of " + i1)
        expect_ack(desk.request({"message": "RequestAccept", "interactionId": i1}), "accept")
        w.equals("answered", 1)
        time.sleep(0.2)
        expect_ack(desk.request({"message": "RequestStopProcessing", "interactionId": i1}),
                   "agent ends " + i1)
        w.equals("handled", 1)
        i4 = harness.submit_ok(ms, T, "chat", "chat-in")
        desk.next(harness.is_invite(i4), timeout=5, what="invite of " + i4)
        expect_ack(desk.request({"message": "RequestAccept", "interactionId": i4}), "accept")
        w.equals("answered", 2)
        expect_ack(desk.request({"message": "RequestStopProcessing", "interactionId": i4}),
                   "agent ends " + i4)
        w.equals("handled", 2)
        expect_ack(desk.request({"message": "RequestNotReadyForMedia", "media": "chat"}),
                   "not ready again")
        harness.submit_ok(ms, T, "chat", "chat-in")
        # Entered only grows, so its first 5 is this submit; a Waiting of 1 was also
        # seen earlier in the stream (before the first accept).
        w.equals("entered", 5)
        w.equals("waiting", 1)
        w.c.close()

        before_w, before = open_all(stat.port)
        t_before = time.time()
        check(before["Entered"] == 5 and before["Answered"] == 2 and before["Abandoned"] == 2,
              "before: Entered 5, Answered 2, Abandoned 2 (%r)" % before)
        check(before["ServiceLevel"] is not None and before["AverageSpeedOfAnswer"] is not None,
              "before: ServiceLevel and ASA have values (%r)" % before)
        before_w.c.close()
        # More than a second after the last step, so that it is committed.
        time.sleep(1.3)
        t_kill = time.time()
        stat.kill(signal.SIGKILL)
        time.sleep(0.3)
        stat.restart()
        check("event=history_replayed" in stat.stderr_tail(60),
              "the restarted statserver replays its history")
        after_w, after = open_all(stat.port)
        t_after = time.time()
        for k, v in before.items():
            if k in ("LoginTime", "Waiting"):
                continue
            if isinstance(v, float):
                check(after[k] is not None and abs(after[k] - v) < 0.001,
                      "%s after the restart: %r (before %r)" % (k, after[k], v))
            else:
                check(after[k] == v, "%s after the restart: %r (before %r)" % (k, after[k], v))
        grown = t_after - t_before
        check(before["LoginTime"] + grown - TOL - (t_after - t_kill) <= after["LoginTime"]
              <= before["LoginTime"] + grown + TOL,
              "LoginTime after the restart %.3f ~ %.3f + %.3f" % (after["LoginTime"],
                                                                before["LoginTime"], grown))
        check(abs(before["LoginTime"] - (t_before - t_login)) <= TOL,
              "LoginTime before %.3f ~ %.3f" % (before["LoginTime"], t_before - t_login))
        after_w.equals("Waiting", 1, "the snapshot shows the waiting interaction")
        after_w.values("Entered", 0.6)
        check(after_w.last["Entered"] == 5, "Entered still 5 after the snapshot (got %r)"
              % after_w.last["Entered"])
        harness.submit_ok(ms, T, "chat", "chat-in")
        after_w.equals("Entered", 6, "counting goes on after the restart")

        # Rows older than history-days (2) are purged while the statserver runs; younger
        # ones stay.
        db = sqlite3.connect(os.path.join(data, "history.db"), timeout=10)
        t_now = int(time.time() * 1000)
        for k in range(5000):
            db.execute("INSERT INTO events(at, kind, link, server) VALUES(?, 3, 0, 'old')",
                       (t_now - 3 * 86400000 + k,))
        db.execute("INSERT INTO events(at, kind, link, server) VALUES(?, 3, 0, 'young')",
                   (t_now - 86400000,))
        db.commit()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            old = db.execute("SELECT count(*) FROM events WHERE server = 'old'").fetchone()[0]
            if old == 0:
                break
            time.sleep(0.2)
        young = db.execute("SELECT count(*) FROM events WHERE server = 'young'").fetchone()[0]
        recent = db.execute("SELECT count(*) FROM events WHERE at > ?",
                            (t_now - 3600000,)).fetchone()[0]
        db.close()
        check(old == 0, "rows older than history-days are purged (%d left)" % old)
        check(young == 1 and recent > 20, "younger rows stay (%d, %d)" % (young, recent))

        # A second statserver on the same data-dir is refused.
        other = env.write("other.ini", "[server]\nname = o\nlisten = 127.0.0.1:0\n"
                          "data-dir = %s\n[ixn:ixn-a]\naddress = 127.0.0.1:%d\n"
                          % (data, ixn.port))
        rc, out, err = env.run(["statserver", "-c", other], timeout=10)
        check(rc != 0 and "event=history_open_failed" in err,
              "a second statserver on the same data-dir exits (%d: %s)" % (rc, err[-300:]))
        check(stat.running(), "the statserver still runs")

        # The interaction server goes away for a while: its link fails a connect every
        # few hundred milliseconds, and the history records one loss, not one per attempt.
        t_kill = int(time.time() * 1000)
        ixn.kill()
        time.sleep(3)
        db = sqlite3.connect(os.path.join(data, "history.db"), timeout=10)
        deadline = time.monotonic() + 5
        downs = 0
        while time.monotonic() < deadline:
            downs = db.execute("SELECT count(*) FROM events WHERE kind = 3 AND at >= ?",
                               (t_kill - 1000,)).fetchone()[0]
            if downs:
                break
            time.sleep(0.25)
        time.sleep(0.6)
        downs = db.execute("SELECT count(*) FROM events WHERE kind = 3 AND at >= ?",
                           (t_kill - 1000,)).fetchone()[0]
        db.close()
        check(downs == 1, "one link-down row for a server away over several reconnects "
              "(got %d)" % downs)
    print("PASS test_stat_history")


if __name__ == "__main__":
    main()
