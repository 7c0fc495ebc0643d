#!/usr/bin/env python3
"""The terminal wallboard's queue numbers come from the statserver's statistics (issue 11
item 5, docs/statserver.md): with a real ixnserver and statserver, two interactions wait
in chat-in, one is stopped after the service-level threshold, one is answered; the
one-shot `wallboard --once` (queues from --queue, and from --ixn's queue list) prints
Waiting, OldestWait, ServiceLevel, AverageSpeedOfAnswer and Abandoned equal to the same
statistics read over a StatClient connection. The statserver's status carries the agent's
not-ready reason and since, the since of its State statistic. Bad --queue arguments are refused, the
name parts at their length boundary, and the 257th queue."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack  # noqa: E402

T = "Resources"
A = "1001"
PW = "pw1001"
RULES = 'rule "One" { chat = chat >= 1; }\nassign tenant "%s" "One";\n' % T
SV = "EventStatisticValue"
STATS = ["Waiting", "OldestWait", "ServiceLevel", "AverageSpeedOfAnswer", "Abandoned"]
ROW = re.compile(r"^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$")


def stat_values(c, queue, ref=[0]):
    """The five statistics of queue now, over the StatClient c."""
    out = {}
    for st in STATS:
        ref[0] += 1
        sid = ref[0]
        expect_ack(c.request({"message": "RequestOpenStatistic", "statisticId": sid,
                              "object": {"type": "Queue", "server": "ixn-a", "tenant": T,
                                         "id": queue},
                              "statistic": st, "profile": "day", "notify": "changes"}),
                   "open %s %s" % (queue, st))
        v = c.next(lambda m: m.get("message") == SV and m.get("statisticId") == sid, timeout=3,
                   what="value of %s" % st)
        out[st] = v["value"]
        expect_ack(c.request({"message": "RequestCloseStatistic", "statisticId": sid}),
                   "close %s" % st)
    return out


def text(st, v):
    """The wallboard's cell for value v of statistic st."""
    if v is None:
        return "-"
    if st in ("Waiting", "Abandoned"):
        return str(v)
    return "%.1f" % v


def board_rows(out):
    rows = {}
    for line in out.splitlines():
        m = ROW.match(line)
        if m and m.group(1).count("/") == 2:
            rows[m.group(1)] = m.groups()[1:]
    return rows


def status_reason(sc, t_nr):
    """The statserver's status carries the media's reason and since, and since is the
    State statistic's."""
    deadline = time.monotonic() + 5
    while True:
        expect_ack(sc.request({"message": "RequestAgentStatus", "tenant": T, "agentId": A}),
                   "RequestAgentStatus")
        st = sc.next(lambda m: m.get("message") == "EventCurrentAgentStatus", timeout=3,
                     what="status of " + A)
        chat = st.get("media", {}).get("chat", {})
        if chat.get("reason") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check(chat.get("reason") == {"code": 3, "description": "Lunch"},
          "the status carries the not-ready reason (%r)" % chat)
    since = chat.get("since")
    check(isinstance(since, int) and abs(since / 1000.0 - t_nr) < 1.0,
          "the status carries since, when the agent went not ready (%r, at %.3f)"
          % (since, t_nr))
    expect_ack(sc.request({"message": "RequestOpenStatistic", "statisticId": 900,
                           "object": {"type": "Agent", "tenant": T, "id": A},
                           "statistic": "State", "media": "chat", "profile": "day",
                           "notify": "changes"}), "open State")
    v = sc.next(lambda m: m.get("message") == SV and m.get("statisticId") == 900, timeout=3,
                what="State value")["value"]
    check(v.get("state") == "NotReady" and v.get("since") == since
          and v.get("reason") == chat.get("reason"),
          "the State statistic has the status's since and reason (%r)" % v)
    expect_ack(sc.request({"message": "RequestCloseStatistic", "statisticId": 900}),
               "close State")


def run_board(env, stat, extra):
    rc, out, err = env.run(["wallboard", "--server", "127.0.0.1:%d" % stat.port, "--token",
                            harness.WALLBOARD_TOKEN, "--once"] + extra, timeout=20)
    check(rc == 0, "wallboard --once %s exits 0 (got %d: %s)" % (" ".join(extra), rc,
                                                                   err.strip()[-300:]))
    return out


def bad_args(env):
    base = ["wallboard", "--server", "127.0.0.1:1", "--once"]
    longest = "q" * 128
    for arg, good in [("ixn-a/%s/chat-in" % T, True), ("ixn-a/%s/%s" % (T, longest), True),
                      ("ixn-a/%s/%s" % (T, longest + "q"), False), ("ixn-a/%s" % T, False),
                      ("ixn-a//chat-in", False), ("/%s/chat-in" % T, False),
                      ("ixn-a/%s/" % T, False), ("ixn-a/%s/a/b" % T, False)]:
        rc, out, err = env.run(base + ["--queue", arg], timeout=20)
        if good:
            # Accepted: it goes on to connect to a port where nobody listens.
            check("--queue" not in err, "--queue %s... is accepted (%s)" % (arg[:40],
                                                                            err.strip()[-200:]))
        else:
            check(rc == 2 and "--queue wants SERVER/TENANT/QUEUE" in err,
                  "--queue %s... is refused (rc %d, %s)" % (arg[:40], rc, err.strip()[-200:]))
    # At most 256 queues: the 256th is taken, the 257th refused.
    for n, good in ((256, True), (257, False)):
        qs = []
        for i in range(n):
            qs += ["--queue", "ixn-a/%s/q%d" % (T, i)]
        rc, out, err = env.run(base + qs, timeout=20)
        if good:
            check("queues" not in err, "%d --queue are accepted (%s)" % (n, err.strip()[-200:]))
        else:
            check(rc == 2 and "at most 256 queues" in err,
                  "%d --queue are refused (rc %d, %s)" % (n, rc, err.strip()[-200:]))


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=90) as env:
        bad_args(env)
        ixn = harness.start_ixn_queues(env, "ixn-a", agents={T + "/" + A: PW},
                                       queues={T + "/chat-in": "chat", T + "/chat-vip": "chat"},
                                       media=("chat",))
        stat = env.start_stat("stat-1", [ixn], rules=RULES,
                              extra_server="service-level-threshold = 1")
        sc = harness.statclient(stat.port)
        ms = harness.media_server(ixn.port)
        desk = harness.agent(ixn.port, T, A, "P" + A, PW, media={"chat": 1})
        t_nr = time.time()
        expect_ack(desk.request({"message": "RequestNotReadyForMedia", "media": "chat",
                                 "reason": {"code": 3, "description": "Lunch"}}),
                   "agent not ready (Lunch)")
        status_reason(sc, t_nr)
        t0 = time.monotonic()
        i1 = harness.submit_ok(ms, T, "chat", "chat-in")
        i2 = harness.submit_ok(ms, T, "chat", "chat-in")
        time.sleep(max(0, t0 + 1.3 - time.monotonic()))
        expect_ack(ms.request({"message": "RequestStopProcessing", "interactionId": i2}),
                   "media server stops %s after the threshold" % i2)
        expect_ack(desk.request({"message": "RequestCancelNotReadyForMedia", "media": "chat"}),
                   "agent ready")
        desk.next(harness.is_invite(i1), timeout=5, what="invite of " + i1)
        expect_ack(desk.request({"message": "RequestAccept", "interactionId": i1}), "accept")
        i3 = harness.submit_ok(ms, T, "chat", "chat-in")  # waits: the agent is full
        time.sleep(0.3)

        # --queue: only the queue named; the numbers of the statserver.
        want = stat_values(sc, "chat-in")
        out = run_board(env, stat, ["--queue", "ixn-a/%s/chat-in" % T])
        rows = board_rows(out)
        key = "ixn-a/%s/chat-in" % T
        check(list(rows) == [key], "the board shows the one queue named (%s)" % list(rows))
        got = rows.get(key, ("?",) * 6)
        check(got[0] == "-", "a --queue row has no media (%s)" % got[0])
        for k, st in enumerate(STATS):
            if st == "OldestWait":
                # It grows while i3 waits: within the time the board took.
                check(got[1 + k] != "-" and abs(float(got[1 + k]) - want[st]) < 3.0,
                      "OldestWait %s is the statserver's %s (give or take the run)"
                      % (got[1 + k], want[st]))
            else:
                check(got[1 + k] == text(st, want[st]), "%s: the board prints %s for the "
                      "statserver's %r" % (st, got[1 + k], want[st]))
        check(want["Waiting"] == 1 and want["Abandoned"] == 1 and want["ServiceLevel"] == 0,
              "the statserver counts 1 waiting, 1 abandoned, service level 0 (%r)" % want)
        check(re.search(r"^queue\s+media\s+waiting\s+oldest_s\s+sl_pct\s+asa_s\s+abandoned",
                        out, re.M) is not None, "the queue header names the statistics")

        # --ixn: every queue of the server's list, with its media, the same numbers.
        expect_ack(ms.request({"message": "RequestStopProcessing", "interactionId": i3}),
                   "media server stops %s" % i3)
        time.sleep(0.3)
        want = stat_values(sc, "chat-in")
        vip = stat_values(sc, "chat-vip")
        out = run_board(env, stat, ["--ixn", "127.0.0.1:%d" % ixn.port, "--ixn-token",
                                    harness.MEDIA_TOKEN])
        rows = board_rows(out)
        check(sorted(rows) == [key, "ixn-a/%s/chat-vip" % T],
              "--ixn shows both queues of the server (%s)" % sorted(rows))
        for q, w in ((key, want), ("ixn-a/%s/chat-vip" % T, vip)):
            got = rows.get(q, ("?",) * 6)
            check(got[0] == "chat", "%s: media chat from the queue list" % q)
            printed = dict(zip(STATS, got[1:]))
            expected = {st: text(st, w[st]) for st in STATS}
            check(printed == expected, "%s: the board prints the statserver's numbers (%s, "
                  "want %s)" % (q, printed, expected))
        check(want["Abandoned"] == 2 and want["Waiting"] == 0,
              "chat-in: 2 abandoned, none waiting (%r)" % want)
        check("RequestQueueStatus" not in out and "link down" not in out,
              "the queue list came from the interaction server")


if __name__ == "__main__":
    main()
