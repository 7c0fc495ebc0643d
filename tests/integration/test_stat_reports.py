#!/usr/bin/env python3
"""Interval reports from the statserver's history (issue 11 item 4, statistics.md section
4, docs/statistics.md "Reports"): a scripted sequence of submits, abandons before and
after the threshold, a reject, accepts and ends by the agent; then

(a) GET /reports/queues.csv and /reports/agents.csv over one interval covering the whole
sequence: the header row exactly, one row for the queue and one for the agent's media,
every counted and timed statistic equal to the live day value of the same statistic
(LoginTime, ReadyTime within a tolerance: they are read at different times);
(b) the same span in 300 s intervals: the counts of the rows add up to the same totals;
(c) ISO 8601 times (Z and an offset) give the same report as Unix milliseconds;
(d) statserver --report prints exactly what HTTP sends;
(e) bad requests: no token and a wrong token (401), an unknown report (404), intervals
299, 301, 86700 and a missing one (400; 300 and 86400 accepted), a bad time, to before
from, an unknown parameter (400); the statserver keeps running."""
import calendar
import http.client
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack, WALLBOARD_TOKEN  # noqa: E402
from test_stat_statistics import Wall, queue_obj, agent_obj, T, A, PW, RULES  # noqa: E402

TOL = 0.6
QUEUE_COLS = ["Entered", "Answered", "Abandoned", "ServiceLevel", "AverageSpeedOfAnswer"]
AGENT_COLS = ["LoginTime", "ReadyTime", "NotReadyTime", "BusyTime", "Offered", "Accepted",
              "Rejected", "TimedOut", "Handled", "AverageHandleTime"]
QUEUE_HEADER = "intervalStart,intervalEnd,server,tenant,id," + ",".join(QUEUE_COLS)
AGENT_HEADER = "intervalStart,intervalEnd,tenant,id,media," + ",".join(AGENT_COLS)


def get(port, target, token=WALLBOARD_TOKEN):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    headers = {"Authorization": "Bearer " + token} if token is not None else {}
    c.request("GET", target, headers=headers)
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    headers = {}
    for k, v in r.getheaders():  # a repeated field is one list, comma-separated
        headers[k.lower()] = headers[k.lower()] + ", " + v if k.lower() in headers else v
    return r.status, headers, body


def parse_csv(body):
    lines = body.split("\r\n")
    check(lines[-1] == "", "the CSV ends with a line end")
    head = lines[0].split(",")
    return lines[0], [dict(zip(head, ln.split(","))) for ln in lines[1:-1]]


def num(s):
    return None if s == "" else float(s)


def script(ixn, w):
    """The sequence; returns the login time."""
    desk = harness.agent(ixn.port, T, A, "P" + A, PW, media={"chat": 1})
    t_login = time.time()
    expect_ack(desk.request({"message": "RequestNotReadyForMedia", "media": "chat",
                             "reason": {"code": 3, "description": "Lunch"}}), "not ready")
    ms = harness.media_server(ixn.port)
    i1 = harness.submit_ok(ms, T, "chat", "chat-in")
    i2 = harness.submit_ok(ms, T, "chat", "chat-in")
    i3 = harness.submit_ok(ms, T, "chat", "chat-in")
    time.sleep(0.3)
    expect_ack(ms.request({"message": "RequestStopProcessing", "interactionId": i2}), "abandon")
    time.sleep(1.2)
    expect_ack(ms.request({"message": "RequestStopProcessing", "interactionId": i3}), "abandon")
    expect_ack(desk.request({"message": "RequestCancelNotReadyForMedia", "media": "chat"}),
               "ready")
    desk.next(harness.is_invite(i1), timeout=5, what="invite of " + i1)
    expect_ack(desk.request({"message": "RequestReject", "interactionId": i1}), "reject")
    desk.next(harness.is_invite(i1), timeout=10, what="second invite of " + i1)
    expect_ack(desk.request({"message": "RequestAccept", "interactionId": i1}), "accept")
    time.sleep(0.3)
    expect_ack(desk.request({"message": "RequestStopProcessing", "interactionId": i1}), "end")
    i4 = harness.submit_ok(ms, T, "chat", "chat-in")
    desk.next(harness.is_invite(i4), timeout=5, what="invite of " + i4)
    expect_ack(desk.request({"message": "RequestAccept", "interactionId": i4}), "accept")
    expect_ack(desk.request({"message": "RequestStopProcessing", "interactionId": i4}), "end")
    w.equals("handled", 2)
    w.equals("entered", 4)
    return desk, t_login


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=120) as env:
        data = env.path("stat-history")
        ixn = harness.start_ixn_queues(env, "ixn-a", agents={T + "/" + A: PW},
                                       queues={T + "/chat-in": "chat"}, invite_timeout=30)
        stat = env.start_stat("stat-1", [ixn], rules=RULES,
                              extra_server="data-dir = %s\nhttp = 127.0.0.1:0\n"
                                           "service-level-threshold = 1" % data)
        hp = stat.ports["http"]
        t0 = int(time.time()) * 1000 - 1000
        w = Wall(stat.port)
        w.open("entered", queue_obj(), "Entered")
        w.open("handled", agent_obj(), "Handled")
        desk, t_login = script(ixn, w)
        # Everything is committed a second later; the report's span ends there.
        time.sleep(1.3)
        t_to = int(time.time()) * 1000
        live = Wall(stat.port)
        vals = {}
        for s in QUEUE_COLS:
            vals[s] = live.open(s, queue_obj(), s)
        for s in AGENT_COLS:
            extra = {"media": "chat"} if s in ("ReadyTime", "NotReadyTime") else {}
            vals["agent " + s] = live.open("agent " + s, agent_obj(), s, **extra)
        t_live = time.time()

        # (a) One interval [t0, t_to).
        q = "from=%d&to=%d&interval=86400" % (t0, t_to)
        st, hdr, body = get(hp, "/reports/queues.csv?" + q)
        check(st == 200 and hdr.get("content-type", "").startswith("text/csv"),
              "queues.csv: 200 text/csv (%d %r)" % (st, hdr))
        head, rows = parse_csv(body)
        check(head == QUEUE_HEADER, "queues.csv header: %s" % head)
        check(len(rows) == 1, "one queue, one interval: one row (%r)" % body)
        r = rows[0]
        check(r["server"] == "ixn-a" and r["tenant"] == T and r["id"] == "chat-in",
              "the row names the queue (%r)" % r)
        check(r["intervalStart"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 / 1000))
              and r["intervalEnd"] == time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                    time.gmtime(t_to / 1000)),
              "the interval is [from, to) in ISO 8601 UTC (%r)" % r)
        for s in QUEUE_COLS:
            got = num(r[s])
            check(got == vals[s] or (got is not None and vals[s] is not None
                                     and abs(got - vals[s]) < 0.0015),
                  "queues.csv %s = %r, live %r" % (s, got, vals[s]))
        check(num(r["Entered"]) == 4 and num(r["Abandoned"]) == 2 and num(r["Answered"]) == 2,
              "Entered 4, Answered 2, Abandoned 2 (%r)" % r)

        st, hdr, body = get(hp, "/reports/agents.csv?" + q)
        head, rows = parse_csv(body)
        check(st == 200 and head == AGENT_HEADER, "agents.csv header: %s" % head)
        check(len(rows) == 1 and rows[0]["media"] == "chat" and rows[0]["id"] == A,
              "one row, agent %s media chat (%r)" % (A, body))
        r = rows[0]
        for s in AGENT_COLS:
            got, want = num(r[s]), vals["agent " + s]
            if s in ("LoginTime", "ReadyTime"):
                # Live was read at t_live, the report ends at t_to.
                want = want - (t_live - t_to / 1000)
                check(got is not None and abs(got - want) <= TOL,
                      "agents.csv %s = %r, live %r at the same time" % (s, got, want))
            else:
                check(got == want or (got is not None and want is not None
                                      and abs(got - want) < 0.0015),
                      "agents.csv %s = %r, live %r" % (s, got, want))
        check(num(r["Offered"]) == 3 and num(r["Rejected"]) == 1 and num(r["Handled"]) == 2,
              "Offered 3, Rejected 1, Handled 2 (%r)" % r)
        check(abs(num(r["LoginTime"]) - (t_to / 1000 - t_login)) <= TOL,
              "LoginTime is the time since the login (%r)" % r["LoginTime"])

        # (b) 300 s intervals from a 300 s boundary: the counts add up.
        f300 = t0 // 300000 * 300000
        q300 = "from=%d&to=%d&interval=300" % (f300, t_to)
        st, _, body = get(hp, "/reports/queues.csv?" + q300)
        head, rows = parse_csv(body)
        check(st == 200 and 1 <= len(rows) <= 2, "300 s intervals: 1 or 2 rows (%r)" % body)
        for s in ("Entered", "Answered", "Abandoned"):
            check(sum(num(x[s]) for x in rows) == vals[s],
                  "300 s rows add up to %s %r" % (s, vals[s]))
        check(all(calendar.timegm(time.strptime(x["intervalStart"], "%Y-%m-%dT%H:%M:%SZ"))
                  % 300 == 0 for x in rows),
              "300 s intervals start on 300 s boundaries")

        # (c) ISO 8601 forms of the same times.
        iso_from = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 / 1000))
        off_to = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t_to / 1000 + 3600)) + "%2B01:00"
        st, _, body_iso = get(hp, "/reports/queues.csv?from=%s&to=%s&interval=86400"
                              % (iso_from, off_to))
        _, _, body_ms = get(hp, "/reports/queues.csv?" + q)
        check(st == 200 and body_iso == body_ms, "ISO 8601 times give the same report")

        # (d) The command line prints the same bytes.
        for kind in ("queues", "agents"):
            rc, out, err = env.run(["statserver", "--report", kind, "--from", str(t0), "--to",
                                    str(t_to), "--interval", "86400", "-c",
                                    env.path("stat-1.ini")])
            _, _, body = get(hp, "/reports/%s.csv?%s" % (kind, q))
            check(rc == 0 and out == body, "--report %s prints what HTTP sends (%d %s)"
                  % (kind, rc, err[-200:]))
        rc, out, err = env.run(["statserver", "--report", "queues", "--from", str(t0), "--to",
                                str(t_to), "--interval", "299", "-c", env.path("stat-1.ini")])
        check(rc == 2 and "interval" in err, "--report with interval 299 exits 2 (%s)" % err)

        # (e) Bad requests.
        st, hdr, _ = get(hp, "/reports/queues.csv?" + q, token=None)
        check(st == 401 and hdr.get("www-authenticate") == 'Bearer, Basic realm="reports"',
              "no token: 401 with WWW-Authenticate (%d %r)" % (st, hdr))
        st, _, _ = get(hp, "/reports/queues.csv?" + q, token=WALLBOARD_TOKEN + "x")
        check(st == 401, "a wrong token: 401 (%d)" % st)
        st, _, _ = get(hp, "/reports/queues.csv?" + q, token=WALLBOARD_TOKEN[:-1])
        check(st == 401, "a token's prefix: 401 (%d)" % st)
        st, _, _ = get(hp, "/reports/calls.csv?" + q)
        check(st == 404, "an unknown report: 404 (%d)" % st)
        for interval, want in (("299", 400), ("300", 200), ("301", 400), ("86400", 200),
                               ("86700", 400), ("0", 400), ("-300", 400), ("5m", 400)):
            st, _, _ = get(hp, "/reports/agents.csv?from=%d&to=%d&interval=%s"
                           % (t0, t_to, interval))
            check(st == want, "interval=%s: %d (got %d)" % (interval, want, st))
        for what, query in (("a missing interval", "from=%d&to=%d" % (t0, t_to)),
                            ("a bad time", "from=yesterday&to=%d&interval=300" % t_to),
                            ("31 February", "from=2026-02-31T00:00:00Z&to=%d&interval=300"
                             % t_to),
                            ("to before from", "from=%d&to=%d&interval=300" % (t_to, t0)),
                            ("to equal to from", "from=%d&to=%d&interval=300" % (t0, t0)),
                            ("a duplicate from", "from=%d&from=%d&to=%d&interval=300"
                             % (t0, t0, t_to)),
                            ("an unknown parameter", q + "&format=xml"),
                            ("no query", "")):
            st, _, body = get(hp, "/reports/queues.csv?" + query)
            check(st == 400, "%s: 400 (got %d %s)" % (what, st, body.strip()))
        # The wallboard's pages are still served without a token.
        st, _, _ = get(hp, "/wallboard-config.json", token=None)
        check(st == 200, "the wallboard config needs no token (%d)" % st)
        check("event=report kind=agents from=%d to=%d interval=300" % (t0, t_to)
              in stat.stderr(), "a report is logged with its parameters")
        check(stat.running(), "the statserver still runs")
        desk.close()
    print("PASS test_stat_reports")


if __name__ == "__main__":
    main()
