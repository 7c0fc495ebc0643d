#!/usr/bin/env python3
"""Acceptance test of the statistics (issue 11, statistics.md sections 2-4): a scripted day
with exact numbers.

A statserver with a history and an ixnserver with two queues and two agents. The day
starts with a morning already in the history (rows written before the statserver starts:
an agent's states, an answered and handled chat ten minutes ago, two abandons 40-50 s ago,
which leave the sliding:60 windows while the test runs); then, live: an agent's Ready, DND
and NotReady with reasons, submits, abandons before and after the threshold, a reject, an
accept after a known wait, an invite timeout, transfers between the queues (from
Handling and from Invited), after-work ended early and by its timer, a reason change; a
statserver restart (SIGKILL) in the middle, with a submit while it is away (known from
the snapshot only); the interaction server killed and started
again while one interaction waits and one is handled; after both, more steps, a desktop
that closes while it handles an interaction (back to the queue in a visit already
answered, whose stop is then no abandon) and one that closes while invited (the same
visit, abandoned by the stop).

Exactness without timing assumptions: every EventStatisticValue the test receives (every
statistic of the definitions table for both queues, both agents and the tenant, each in
the profiles day and sliding:60, under notify changes and every:2, and the first values
after every open) is compared exactly (values are milliseconds, rounded as documented)
with what a small model of the definitions table, written here from the contract and
docs/statistics.md, computes at the value's own `at` from the engine's inputs: the
statserver's history (every interaction step, agent state and link event with the time the
statserver took it). The interaction steps of that history are checked equal to the steps
the ixnserver reported to the test itself (it subscribes as a reporting engine too), so
the model's inputs are the real events; counts are also checked against hand-computed
numbers of the script.

Also: the day values right after the restart equal those before it; no visit is counted
twice after the interaction server's snapshot; notify changes sends only changed values, at
most one per 100 ms, every:2 sends every 2 s changed or not; bad requests (unknown
statistic, object type, profile, notify, a duplicate statisticId, max-statistics) get the
contract's codes; the CSV reports (HTTP and statserver --report) of 300 s intervals over the
whole day equal the model over each interval, and the report of the day equals the day
values read live."""
import calendar
import http.client
import os
import signal
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack, expect_error, WALLBOARD_TOKEN  # noqa: E402

T = "Resources"
A1, A2 = "1001", "1002"
PW = {A1: "pw1001", A2: "pw1002"}
QI, QO = "chat-in", "chat-out"
SERVER = "ixn-a"
THR = 1                 # seconds: the service-level threshold of the test
INVITE_TIMEOUT = 3
AFTER_WORK = 1
MAX_STATS = 100
SLIDING = 60
PROFILES = ("day", "sliding:%d" % SLIDING)
EVERY = 2
# How far a value's stamp may trail the rows it counts (a wall clock stepped back), and how
# many values may do so in one run before it is taken for an error of the engine.
CLOCK_SLACK_MS = 5
LATE_MAX = 3
SV = "EventStatisticValue"
EV = "EventInteractionReported"
RULES = ('rule "One" { chat = chat >= 1; }\nrule "Two" { chat = chat >= 2; }\n'
         'assign tenant "%s" "One";\nassign agent "%s" "%s" "Two";\n' % (T, T, A2))

# History row encodings (src/store/hist.c): kinds, and the enums of src/proto/ixnreport.h
# and src/common/ixnstate.h as stored.
K_STEP, K_UP, K_DONE, K_DOWN, K_AGENT = 0, 1, 2, 3, 9
CAUSES = ["Snapshot", "Queued", "Invited", "Accepted", "Rejected", "Revoked", "AfterWork",
          "Ended"]
STATES = ["Queued", "Invited", "Handling", "AfterWork", "Ended"]
REASONS = [None, "Timeout", "LoggedOut", "Done", "Stopped"]
C = {n: i for i, n in enumerate(CAUSES)}
S = {n: i for i, n in enumerate(STATES)}
R = {n: i for i, n in enumerate(REASONS)}
BIT_ADDED, BIT_READY, BIT_HOLDING = 1, 2, 4

QUEUE_COUNTED = ["Entered", "Answered", "Abandoned", "ServiceLevel", "AverageSpeedOfAnswer"]
QUEUE_NOW = ["Waiting", "OldestWait", "EstimatedWaitTime"]
AGENT_COUNTED = ["Offered", "Accepted", "Rejected", "TimedOut", "Handled", "AverageHandleTime"]
AGENT_TIMED = ["LoginTime", "ReadyTime", "NotReadyTime", "BusyTime"]
TENANT_NOW = ["LoggedIn", "Ready", "Available", "Waiting", "OldestWait"]
MILLI = {"OldestWait", "ServiceLevel", "AverageSpeedOfAnswer", "EstimatedWaitTime",
         "AverageHandleTime", "LoginTime", "ReadyTime", "NotReadyTime", "BusyTime"}
PER_MEDIA = {"State", "ReadyTime", "NotReadyTime"}


def qobj(q):
    return {"type": "Queue", "server": SERVER, "tenant": T, "id": q}


def aobj(a):
    return {"type": "Agent", "tenant": T, "id": a}


TOBJ = {"type": "Tenant", "tenant": T}


def definitions():
    """Every statistic the test follows: (key, request fields)."""
    out = []

    def add(key, obj, stat, profile, **extra):
        d = {"object": obj, "statistic": stat, "profile": profile}
        if stat in PER_MEDIA or obj["type"] == "Tenant":
            d["media"] = "chat"
        d.update(extra)
        out.append((key, d))
    for q in (QI, QO):
        for p in PROFILES:
            for s in QUEUE_COUNTED:
                add("%s %s %s" % (q, s, p), qobj(q), s, p,
                    **({"threshold": THR} if s == "ServiceLevel" else {}))
        for s in QUEUE_NOW:
            add("%s %s" % (q, s), qobj(q), s, "day")
    add("%s ServiceLevel/2 day" % QI, qobj(QI), "ServiceLevel", "day", threshold=2)
    add("%s Waiting sliding" % QI, qobj(QI), "Waiting", "sliding:60")
    for a in (A1, A2):
        add("%s State" % a, aobj(a), "State", "day")
        for p in PROFILES:
            for s in AGENT_COUNTED + AGENT_TIMED:
                add("%s %s %s" % (a, s, p), aobj(a), s, p)
            add("%s NotReadyTime/3 %s" % (a, p), aobj(a), "NotReadyTime", p, reason=3)
    for s in TENANT_NOW:
        add("tenant %s" % s, TOBJ, s, "day")
    return out


# ---------------------------------------------------------------------------------------
# The model: the definitions table of statistics.md section 2 and the choices of
# docs/statistics.md, computed from the engine's inputs as the history keeps them.
# ---------------------------------------------------------------------------------------


def half_up(num, den):
    """num / den rounded to the nearest integer, halves up (num, den >= 0)."""
    return (2 * num + den) // (2 * den)


def milli(ms):
    return ms / 1000


class View:
    """An agent's merged state as one history row gives it."""

    def __init__(self, flags, media):
        self.logged_in = bool(flags & 1)
        self.dnd = bool(flags & 2)
        self.media = media  # {name: (bits, available, reason (code, desc) or None)}

    def added(self, m):
        return self.logged_in and m in self.media and bool(self.media[m][0] & BIT_ADDED)

    def ready(self, m):
        return self.added(m) and not self.dnd and bool(self.media[m][0] & BIT_READY)

    def available(self, m):
        return self.media[m][1] if self.added(m) else 0

    def holding(self):
        return self.logged_in and any(v[0] & BIT_HOLDING for v in self.media.values())

    def state(self, m):
        """(state, reason or None) by the contract's order."""
        if not self.added(m):
            return ("LoggedOut", None)
        if self.dnd:
            return ("DND", None)
        if not self.media[m][0] & BIT_READY:
            return ("NotReady", self.media[m][2])
        if self.media[m][1] == 0:
            return ("Full", None)
        if self.media[m][0] & BIT_HOLDING:
            return ("Busy", None)
        return ("Ready", None)


class Model:
    def __init__(self, tz_hours):
        self.tz_ms = tz_hours * 3600000
        self.links = {}     # link -> [down, gen]
        self.ixns = {}      # (link, id) -> dict
        self.visits = {}    # queue key -> [(kind, at, wait)]
        self.qmedia = {}    # queue key -> media
        self.ends = {}      # agent key -> [(kind, at, handle time or None)]
        self.views = {}     # agent key -> [(at, View)]

    # -- inputs --

    def feed(self, row):
        kind = row["kind"]
        if kind == K_AGENT:
            self.views.setdefault((row["tenant"], row["agent"]), []).append(
                (row["at"], View(row["flags"], row["media"])))
        elif kind == K_UP:
            lk = self.links.setdefault(row["link"], [False, 0])
            lk[0] = False
            lk[1] += 1
        elif kind == K_DONE:
            gen = self.links.setdefault(row["link"], [False, 0])[1]
            for k in [k for k, x in self.ixns.items() if k[0] == row["link"] and x["gen"] != gen]:
                del self.ixns[k]
        elif kind == K_DOWN:
            self.links.setdefault(row["link"], [False, 0])[0] = True
            # A lost server's interactions wait nowhere until its snapshot shows them again.
            for k, x in self.ixns.items():
                if k[0] == row["link"]:
                    x["waiting"] = False
        elif kind == K_STEP:
            self.step(row)

    def record(self, q, kind, at, wait=0):
        self.visits.setdefault(q, []).append((kind, at, wait))

    def agent_record(self, row, kind, aht=None):
        if row["agent"]:
            self.ends.setdefault((row["tenant"], row["agent"]), []).append(
                (kind, row["step_at"], aht))

    def step(self, e):
        key = (e["link"], e["ixn"])
        x = self.ixns.get(key)
        known = x is not None
        if not known:
            x = {"state": None, "queue": None, "qat": None, "answered": False, "acc": None,
                 "gen": 0, "waiting": False}
            self.ixns[key] = x
        q = (e["server"], e["tenant"], e["queue"])
        self.qmedia.setdefault(q, e["media"])
        new_visit = x["queue"] != q or x["qat"] != e["queued"]
        if new_visit:
            x.update(queue=q, qat=e["queued"], answered=False, acc=None)
        before = x["state"]
        cause = CAUSES[e["cause"]]
        at = e["step_at"]
        if cause == "Snapshot":
            x["gen"] = self.links.setdefault(e["link"], [False, 0])[1]
            if new_visit:
                # A visit that began before the link came up: counted once, at its start.
                self.record(q, "E", e["queued"])
                x["answered"] = STATES[e["state"]] in ("Handling", "AfterWork")
            if STATES[e["state"]] == "Handling" and x["acc"] is None:
                x["acc"] = at
        elif cause == "Queued":
            if new_visit:
                self.record(q, "E", e["queued"])
        elif cause == "Invited":
            self.agent_record(e, "Offered")
        elif cause == "Accepted":
            if not x["answered"]:
                x["answered"] = True
                self.record(q, "A", at, at - x["qat"])
            x["acc"] = at
            self.agent_record(e, "Accepted")
        elif cause == "Rejected":
            self.agent_record(e, "Rejected")
        elif cause == "Revoked":
            if REASONS[e["reason"]] == "Timeout":
                self.agent_record(e, "TimedOut")
        elif cause == "Ended":
            if before in ("Queued", "Invited") and not x["answered"]:
                self.record(q, "B", at, at - x["qat"])
            if REASONS[e["reason"]] == "Done":
                self.agent_record(e, "Handled", None if x["acc"] is None else at - x["acc"])
            del self.ixns[key]
            return
        x["state"] = STATES[e["state"]]
        x["waiting"] = x["state"] == "Queued" and not self.links.get(e["link"], [False])[0]

    # -- windows --

    def day_start(self, now):
        return (now + self.tz_ms) // 86400000 * 86400000 - self.tz_ms

    def in_window(self, profile, at, now):
        if profile == "day":
            return self.day_start(now) <= at <= now
        n = int(profile.split(":")[1]) * 1000
        return now - n < at <= now

    def window_start(self, profile, now):
        if profile == "day":
            return self.day_start(now)
        return now - int(profile.split(":")[1]) * 1000

    # -- queues --

    def waiting(self, q):
        return [x["qat"] for x in self.ixns.values() if x["queue"] == q and x["waiting"]]

    def tenant_available(self, tenant, m):
        return sum(vs[-1][1].available(m) for (t, _), vs in self.views.items() if t == tenant)

    def queue_value(self, q, stat, profile, now, threshold):
        recs = [r for r in self.visits.get(q, []) if self.in_window(profile, r[1], now)]
        answered = [r for r in recs if r[0] == "A"]
        if stat == "Entered":
            return sum(1 for r in recs if r[0] == "E")
        if stat == "Answered":
            return len(answered)
        if stat == "Abandoned":
            return sum(1 for r in recs if r[0] == "B")
        if stat == "ServiceLevel":
            t = threshold * 1000
            good = sum(1 for r in answered if r[2] <= t)
            den = len(answered) + sum(1 for r in recs if r[0] == "B" and r[2] > t)
            return None if den == 0 else milli(half_up(good * 100000, den))
        if stat == "AverageSpeedOfAnswer":
            if not answered:
                return None
            return milli(half_up(sum(r[2] for r in answered), len(answered)))
        w = self.waiting(q)
        if stat == "Waiting":
            return len(w)
        if stat == "OldestWait":
            return milli(max(0, now - min(w))) if w else 0.0
        if stat == "EstimatedWaitTime":
            m = self.qmedia.get(q)
            if m is not None and self.tenant_available(q[1], m) > 0:
                return 0.0
            n = sum(1 for r in self.visits.get(q, [])
                    if r[0] == "A" and now - 900000 < r[1] <= now)
            if n == 0:
                return None
            return milli(half_up((len(w) + 1) * 900000, n))
        raise AssertionError(stat)

    # -- agents --

    def agent_value(self, a, stat, profile, now, media, reason):
        if stat == "State":
            value, since = ("LoggedOut", None), None
            for at, v in self.views.get(a, []):
                # The engine knows a media from the first state that adds it.
                if since is None and not v.added(media):
                    continue
                s = v.state(media)
                if s != value:
                    value, since = s, at
            out = {"state": value[0], "since": since}
            if value[0] == "NotReady" and value[1] is not None:
                r = {"code": value[1][0]}
                if value[1][1] is not None:
                    r["description"] = value[1][1]
                out["reason"] = r
            return out
        if stat in AGENT_TIMED:
            def pred(v):
                if stat == "LoginTime":
                    return v.logged_in
                if stat == "BusyTime":
                    return v.holding()
                if stat == "ReadyTime":
                    return v.ready(media)
                st, rs = v.state(media)
                return st == "NotReady" and (reason is None or
                                             (rs is not None and rs[0] == reason))
            ws = self.window_start(profile, now)
            vs = self.views.get(a, [])
            total = 0
            for k, (at, v) in enumerate(vs):
                end = vs[k + 1][0] if k + 1 < len(vs) else now
                lo, hi = max(at, ws), min(end, now)
                if hi > lo and pred(v):
                    total += hi - lo
            return milli(total)
        recs = [r for r in self.ends.get(a, []) if self.in_window(profile, r[1], now)]
        if stat == "AverageHandleTime":
            known = [r[2] for r in recs if r[0] == "Handled" and r[2] is not None]
            return milli(half_up(sum(known), len(known))) if known else None
        return sum(1 for r in recs if r[0] == stat)

    def tenant_value(self, tenant, stat, m, now):
        views = [vs[-1][1] for (t, _), vs in self.views.items() if t == tenant]
        if stat == "LoggedIn":
            return sum(1 for v in views if v.added(m))
        if stat == "Ready":
            return sum(1 for v in views if v.ready(m))
        if stat == "Available":
            return sum(v.available(m) for v in views)
        qs = [q for q, qm in self.qmedia.items() if q[1] == tenant and qm == m]
        if stat == "Waiting":
            return sum(len(self.waiting(q)) for q in qs)
        if stat == "OldestWait":
            w = [now - min(self.waiting(q)) for q in qs if self.waiting(q)]
            return milli(max([0] + w))
        raise AssertionError(stat)

    def value(self, d, now):
        """The value of the statistic d (request fields) at now."""
        o, stat = d["object"], d["statistic"]
        if o["type"] == "Queue":
            return self.queue_value((o["server"], o["tenant"], o["id"]), stat, d["profile"],
                                    now, d.get("threshold", THR))
        if o["type"] == "Agent":
            return self.agent_value((o["tenant"], o["id"]), stat, d["profile"], now,
                                    d.get("media", "chat"), d.get("reason"))
        return self.tenant_value(o["tenant"], stat, d["media"], now)


def read_history(path):
    """Every row of the history in the order written, agent rows with their media."""
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    media = {}
    for seq, name, bits, avail, code, desc in db.execute(
            "SELECT seq, media, bits, available, rcode, rdesc FROM agent_media"):
        media.setdefault(seq, {})[name] = (bits, avail, None if code is None else (code, desc))
    rows = []
    cols = ["seq", "at", "kind", "link", "server", "cause", "ixn", "tenant", "media", "queue",
            "from_queue", "agent", "state", "priority", "submitted", "queued", "step_at",
            "reason", "flags"]
    for r in db.execute("SELECT %s FROM events ORDER BY seq" % ", ".join(cols)):
        row = dict(zip(cols, r))
        if row["kind"] == K_AGENT:
            row["media"] = media.get(row["seq"], {})
        rows.append(row)
    db.close()
    return rows


def model_at(rows, tz_hours, cutoff, strict=False):
    m = Model(tz_hours)
    for r in rows:
        if r["at"] > cutoff or (strict and r["at"] == cutoff):
            break
        m.feed(r)
    return m


class Evaluator:
    """Models of the history at successive times, built incrementally."""

    def __init__(self, rows, tz_hours):
        self.rows = rows
        self.tz = tz_hours
        self.times = set(r["at"] for r in rows)
        self.m = Model(tz_hours)
        self.pos = 0
        self.now = None

    def at(self, t):
        """A model fed with every row taken at t or before (t non-decreasing)."""
        assert self.now is None or t >= self.now
        self.now = t
        while self.pos < len(self.rows) and self.rows[self.pos]["at"] <= t:
            self.m.feed(self.rows[self.pos])
            self.pos += 1
        return self.m

    def matches(self, d, at, value):
        """True when value is the model's value at at; a row taken in the same millisecond
        may have come after the value (then the model without it is taken too)."""
        want = self.at(at).value(d, at)
        if same(value, want):
            return True, want
        if at in self.times:
            # Rows taken in the same millisecond as the value: it was computed after some
            # of them (a loop turn of its own each), so each prefix of them is a candidate.
            m = model_at(self.rows, self.tz, at, strict=True)
            for r in [None] + [r for r in self.rows if r["at"] == at]:
                if r is not None:
                    m.feed(r)
                if same(value, m.value(d, at)):
                    return True, value
        return False, want

    def late(self, d, at, value):
        """The lag (ms) of the first row after at with which the model gives value, or None.
        The engine and its history keep their times non-decreasing, the stamp of a value is
        the wall clock as read: a clock stepped back a little can stamp a value before the
        rows it already counts."""
        m = model_at(self.rows, self.tz, at)
        for r in self.rows:
            if at < r["at"] <= at + CLOCK_SLACK_MS:
                m.feed(r)
                if same(value, m.value(d, at)) or same(value, m.value(d, r["at"])):
                    return r["at"] - at
        return None


def same(got, want):
    if isinstance(want, float):
        return isinstance(got, float) and got == want
    if isinstance(want, bool) or want is None or isinstance(want, dict):
        return got == want
    return isinstance(got, int) and not isinstance(got, bool) and got == want


# ---------------------------------------------------------------------------------------
# StatClient connections
# ---------------------------------------------------------------------------------------

ALL_VALUES = []   # (key, request fields, at, value, what)


class Subs:
    """A StatClient connection with open statistics (key -> definition), keeping every
    value received in ALL_VALUES and the last one of each key."""

    def __init__(self, port, notify, label):
        self.c = harness.statclient(port)
        self.notify = notify
        self.label = label
        self.defs = {}     # statisticId -> (key, d)
        self.ids = {}
        self.last = {}
        self.got = {}      # key -> [(at, value)]
        self.next_id = 1

    def absorb(self, m):
        if m.get("message") != SV or m.get("statisticId") not in self.defs:
            return False
        key, d = self.defs[m["statisticId"]]
        ALL_VALUES.append((key, d, m["at"], m["value"], "%s %s" % (self.label, self.notify)))
        self.last[key] = m["value"]
        self.got.setdefault(key, []).append((m["at"], m["value"]))
        return True

    def open(self, key, d):
        sid = self.next_id
        self.next_id += 1
        req = {"message": "RequestOpenStatistic", "statisticId": sid, "notify": self.notify}
        req.update(d)
        ans = self.c.request(req)
        if ans.get("message") != "EventAck":
            check(False, "open %s: EventAck (got %r)" % (key, ans))
        self.defs[sid] = (key, d)
        self.ids[key] = sid
        first = self.c.next(lambda m: m.get("message") == SV and m.get("statisticId") == sid,
                            timeout=5, what="first value of %s" % key)
        if first["seq"] != ans["seq"] + 1:
            check(False, "%s: the first value comes right after the ack" % key)
        self.absorb(first)
        return first["value"]

    def open_all(self, defs):
        for key, d in defs:
            self.open(key, d)
        return self

    def pump(self, wait=0.05):
        for m in self.c.drain(wait):
            self.absorb(m)

    def wait(self, key, pred, what, timeout=10):
        deadline = time.monotonic() + timeout
        while not pred(self.last.get(key)):
            left = deadline - time.monotonic()
            try:
                m = self.c.next(lambda x: x.get("message") == SV, timeout=max(left, 0.01),
                                what="value of %s" % key)
            except harness.Timeout:
                check(False, "%s: %s (last value %r)" % (key, what, self.last.get(key)))
            self.absorb(m)
        return self.last[key]

    def equals(self, key, value, what=None):
        self.wait(key, lambda v: v == value, what or "%s reaches %r" % (key, value))
        check(True, "%s: %r" % (key, value))

    def close(self):
        self.pump(0.05)
        self.c.close()


# ---------------------------------------------------------------------------------------
# The morning in the history
# ---------------------------------------------------------------------------------------


def seed_morning(path, s):
    """Rows of a morning before the statserver's first start, s the time of the start (ms).
    Returns the interactions' ids."""
    db = sqlite3.connect(path, timeout=10)
    # The first start may have noted its link's failure to connect: the morning comes
    # before anything, so that the rows' order is the order of their times.
    db.execute("DELETE FROM agent_media")
    db.execute("DELETE FROM events")

    def event(at, kind, **f):
        cols = ["at", "kind", "link", "server"] + list(f)
        vals = [at, kind, -1 if kind == K_AGENT else 0, "" if kind == K_AGENT else SERVER]
        vals += list(f.values())
        cur = db.execute("INSERT INTO events(%s) VALUES(%s)"
                         % (", ".join(cols), ", ".join("?" * len(cols))), vals)
        return cur.lastrowid

    def agent(at, flags, bits=0, avail=0, reason=None):
        seq = event(at, K_AGENT, tenant=T, agent=A1, flags=flags)
        if bits or avail or reason:
            db.execute("INSERT INTO agent_media(seq, media, bits, available, rcode, rdesc)"
                       " VALUES(?, 'chat', ?, ?, ?, ?)",
                       (seq, bits, avail, reason[0] if reason else None,
                        reason[1] if reason else None))

    def step(at, cause, iid, queue, queued, state, agent_id=None, reason=None):
        event(at + 1, K_STEP, cause=C[cause], ixn=iid, tenant=T, media="chat", queue=queue,
              agent=agent_id, state=S[state], priority=0, submitted=queued, queued=queued,
              step_at=at, reason=R[reason] if reason else 0)

    m1, m2, m3 = ("%s:90000000%d" % (SERVER, k) for k in (1, 2, 3))
    event(s - 660000, K_UP)
    event(s - 660000, K_DONE)
    agent(s - 650000, 1, BIT_ADDED | BIT_READY, 1)
    step(s - 640000, "Queued", m1, QI, s - 640000, "Queued")
    step(s - 630000, "Invited", m1, QI, s - 640000, "Invited", A1)
    agent(s - 630000 + 2, 1, BIT_ADDED | BIT_READY | BIT_HOLDING, 0)
    step(s - 625000, "Accepted", m1, QI, s - 640000, "Handling", A1)
    step(s - 610000, "Ended", m1, QI, s - 640000, "Ended", A1, "Done")
    agent(s - 610000 + 2, 1, BIT_ADDED | BIT_READY, 1)
    agent(s - 600000, 1, BIT_ADDED, 0, (9, "Meeting"))
    step(s - 50000, "Queued", m2, QI, s - 50000, "Queued")
    step(s - 47500, "Ended", m2, QI, s - 50000, "Ended", None, "Stopped")
    step(s - 42000, "Queued", m3, QO, s - 42000, "Queued")
    step(s - 41600, "Ended", m3, QO, s - 42000, "Ended", None, "Stopped")
    agent(s - 40000, 0)
    event(s - 39000, K_DOWN)
    db.commit()
    db.close()
    return m1, m2, m3


# ---------------------------------------------------------------------------------------
# Helpers of the script
# ---------------------------------------------------------------------------------------


class Steps:
    """The test's own interaction-reporting subscription to the ixnserver: every step."""

    def __init__(self):
        self.events = []
        self.c = None

    def connect(self, port):
        self.c = harness.reporter(port)
        expect_ack(self.c.request({"message": "RequestStartInteractionReporting"}),
                   "the test's interaction reporting started")
        self.c.next(lambda m: m.get("message") == "EventInteractionSnapshotDone", timeout=5,
                    what="EventInteractionSnapshotDone")
        self.c.queue = []

    def pump(self):
        if self.c is None or self.c.eof:
            return
        for m in self.c.drain(0.02):
            if m.get("message") == EV and m.get("cause") != "Snapshot":
                self.events.append(m)

    def wait(self, iid, cause, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            for m in self.events:
                if m["interactionId"] == iid and m["cause"] == cause:
                    return m
            if time.monotonic() > deadline:
                check(False, "the ixnserver reports %s of %s" % (cause, iid))
            self.pump()


def act(desk, req, what):
    return expect_ack(desk.request(req), what)


def login(ixn, a, ready):
    return harness.agent(ixn.port, T, a, "P" + a, PW[a], media={"chat": 1 if ready else 0})


def invite(desk, iid=None, timeout=10):
    return desk.next(harness.is_invite(iid), timeout=timeout,
                     what="invite%s" % (" of " + iid if iid else ""))


def stop(ms, iid, what):
    act(ms, {"message": "RequestStopProcessing", "interactionId": iid}, what)


def pump_all(subs, steps, wait=0.05):
    for s in subs:
        s.pump(wait / max(len(subs), 1))
    steps.pump()


def sleep_pumping(subs, steps, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pump_all(subs, steps, min(0.1, max(end - time.monotonic(), 0.01)))


def get(port, target, token=WALLBOARD_TOKEN):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", target, headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, body


def parse_csv(body):
    lines = body.split("\r\n")
    check(lines[-1] == "", "the CSV ends with a line end")
    head = lines[0].split(",")
    return head, [dict(zip(head, ln.split(","))) for ln in lines[1:-1]]


def iso_ms(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ")) * 1000


def csv_num(s):
    return None if s == "" else (float(s) if "." in s else int(s))


# ---------------------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------------------


def main():
    args = harness.parse_args()
    # A zone in which the test runs around noon: the day started hours ago and does not
    # end while the test runs, so the morning is in the day whenever the test runs.
    tz_hours = 12 - time.gmtime().tm_hour
    tz = "Etc/GMT%+d" % (-tz_hours) if tz_hours else "UTC"
    with harness.Env(args.bin, timeout=240) as env:
        data = env.path("stat-history")
        ixn = harness.start_ixn_queues(env, SERVER, agents={T + "/" + a: PW[a] for a in PW},
                                       queues={T + "/" + QI: "chat", T + "/" + QO: "chat"},
                                       invite_timeout=INVITE_TIMEOUT,
                                       after_work={"chat": AFTER_WORK},
                                       extra_server="idle-timeout = 300")
        server_keys = ("data-dir = %s\nhttp = 127.0.0.1:0\ntimezone = %s\n"
                       "service-level-threshold = %d\nmax-statistics = %d"
                       % (data, tz, THR, MAX_STATS))
        # A first start that links nowhere creates the history; the morning goes in while
        # it is stopped.
        blank = env.start_stat("stat-0", [], rules=RULES, extra_server=server_keys,
                               extra="[ixn:%s]\naddress = 127.0.0.1:1" % SERVER)
        blank.kill(signal.SIGTERM)
        t_seed = int(time.time() * 1000)
        morning = seed_morning(os.path.join(data, "history.db"), t_seed)
        stat = env.start_stat("stat-1", [ixn], rules=RULES, extra_server=server_keys)
        check("event=history_replayed" in stat.stderr(), "the statserver replays the morning")

        defs = definitions()
        check(len(defs) < MAX_STATS, "%d statistics per connection, under max-statistics"
              % len(defs))
        steps = Steps()
        steps.connect(ixn.port)
        ch = Subs(stat.port, "changes", "A").open_all(defs)
        ev = Subs(stat.port, "every:%d" % EVERY, "A").open_all(defs)
        subs = [ch, ev]
        # The morning as replayed: the first values.
        check(ch.last["%s Entered day" % QI] == 2 and ch.last["%s Answered day" % QI] == 1
              and ch.last["%s Abandoned day" % QO] == 1,
              "the morning counts in the day (Entered %r, Answered %r, chat-out Abandoned %r)"
              % (ch.last["%s Entered day" % QI], ch.last["%s Answered day" % QI],
                 ch.last["%s Abandoned day" % QO]))
        check(ch.last["%s Handled day" % A1] == 1 and
              ch.last["%s AverageHandleTime day" % A1] == 15.0,
              "the morning's handled chat: Handled 1, AverageHandleTime 15.0")
        at0, v0 = ch.got["%s Entered sliding:60" % QI][0]
        check(v0 == (1 if at0 < t_seed + 10000 else 0),
              "sliding:60 holds the abandon of 50 s ago only, while it is under 60 s old (%r)"
              % v0)
        check(ch.last["%s State" % A1] == {"state": "LoggedOut", "since": t_seed - 40000},
              "State after the morning: LoggedOut since its logout (%r)"
              % ch.last["%s State" % A1])

        # ---- live: agent states ----
        d1 = login(ixn, A1, ready=True)
        ch.wait("%s State" % A1, lambda v: v and v["state"] == "Ready", "Ready after login")
        act(d1, {"message": "RequestDoNotDisturbOn"}, "DND on")
        ch.wait("%s State" % A1, lambda v: v["state"] == "DND", "DND")
        sleep_pumping(subs, steps, 0.3)
        act(d1, {"message": "RequestDoNotDisturbOff"}, "DND off")
        ch.wait("%s State" % A1, lambda v: v["state"] == "Ready", "Ready after DND")
        act(d1, {"message": "RequestNotReadyForMedia", "media": "chat",
                 "reason": {"code": 3, "description": "Lunch"}}, "A1 not ready, lunch")
        ch.wait("%s State" % A1, lambda v: v["state"] == "NotReady", "NotReady (Lunch)")
        sleep_pumping(subs, steps, 0.2)
        act(d1, {"message": "RequestChangeMediaStateReason", "media": "chat",
                 "reason": {"code": 7, "description": "Coffee"}}, "A1's reason changes")
        ch.wait("%s State" % A1, lambda v: (v.get("reason") or {}).get("code") == 7,
                "NotReady (Coffee): a new value")
        sleep_pumping(subs, steps, 0.2)
        act(d1, {"message": "RequestChangeMediaStateReason", "media": "chat",
                 "reason": {"code": 3, "description": "Lunch"}}, "A1's reason back to lunch")
        ch.wait("%s State" % A1, lambda v: (v.get("reason") or {}).get("code") == 3,
                "NotReady (Lunch) again")
        d2 = login(ixn, A2, ready=False)
        ch.equals("tenant LoggedIn", 2)
        ms = harness.media_server(ixn.port)

        # ---- submits; abandons before and after the threshold ----
        i1 = harness.submit_ok(ms, T, "chat", QI)
        i2 = harness.submit_ok(ms, T, "chat", QI)
        i3 = harness.submit_ok(ms, T, "chat", QI)
        ch.equals("%s Waiting" % QI, 3)
        sleep_pumping(subs, steps, 0.3)
        stop(ms, i2, "i2 stopped within the threshold")
        q3 = steps.wait(i3, "Queued")
        sleep_pumping(subs, steps, max(0.0, (q3["queuedAt"] + 1300) / 1000 - time.time()))
        stop(ms, i3, "i3 stopped after the threshold")
        ch.equals("%s Abandoned day" % QI, 3)   # the morning's and these two

        # ---- a reject, an accept after a known wait ----
        act(d1, {"message": "RequestCancelNotReadyForMedia", "media": "chat"}, "A1 ready")
        invite(d1, i1)
        act(d1, {"message": "RequestReject", "interactionId": i1}, "A1 rejects i1")
        invite(d1, i1)
        act(d1, {"message": "RequestAccept", "interactionId": i1}, "A1 accepts i1")
        ch.equals("%s Answered day" % QI, 2)
        # ---- an invite timeout, then an accept ----
        i4 = harness.submit_ok(ms, T, "chat", QI)
        act(d2, {"message": "RequestCancelNotReadyForMedia", "media": "chat"}, "A2 ready")
        invite(d2, i4)
        d2.next(lambda m: m.get("message") == "EventRevoked" and m.get("interactionId") == i4,
                timeout=INVITE_TIMEOUT + 10, what="revoke of i4 (timeout)")
        invite(d2, i4)
        act(d2, {"message": "RequestAccept", "interactionId": i4}, "A2 accepts i4")
        ch.equals("%s TimedOut day" % A2, 1)
        ch.equals("%s Answered day" % QI, 3)
        ch.wait("%s State" % A2, lambda v: v["state"] == "Busy", "A2 Busy with one of two")
        # ---- a transfer: A1 goes not ready (training) and places i1 in chat-out, where A2
        # (room for a second chat) gets it ----
        act(d1, {"message": "RequestNotReadyForMedia", "media": "chat",
                 "reason": {"code": 5, "description": "Training"}}, "A1 not ready, training")
        act(d1, {"message": "RequestPlaceInQueue", "interactionId": i1, "queue": QO},
            "A1 transfers i1 to chat-out")
        invite(d2, i1)
        act(d2, {"message": "RequestAccept", "interactionId": i1}, "A2 accepts i1")
        ch.equals("%s Answered day" % QO, 1)
        ch.wait("%s State" % A2, lambda v: v["state"] == "Full", "A2 Full with two chats")
        # ---- after-work: ended early (i4) and by its timer (i1) ----
        act(d2, {"message": "RequestStopProcessing", "interactionId": i4}, "A2 ends i4")
        steps.wait(i4, "AfterWork")
        act(d2, {"message": "RequestCompleteAfterWork", "interactionId": i4},
            "A2 completes after-work of i4")
        act(d2, {"message": "RequestStopProcessing", "interactionId": i1}, "A2 ends i1")
        act(d2, {"message": "RequestNotReadyForMedia", "media": "chat"}, "A2 not ready")
        ch.equals("%s Handled day" % A2, 2, "i1's after-work ends by its timer")
        # ---- two wait across the restart ----
        i5 = harness.submit_ok(ms, T, "chat", QI)
        sleep_pumping(subs, steps, 0.2)
        i6 = harness.submit_ok(ms, T, "chat", QO)
        ch.equals("tenant Waiting", 2)

        # Hand-computed numbers of the live part so far (day = morning + live).
        want = {"%s Entered day" % QI: 2 + 5, "%s Answered day" % QI: 1 + 2,
                "%s Abandoned day" % QI: 1 + 2, "%s Entered day" % QO: 1 + 2,
                "%s Answered day" % QO: 1, "%s Abandoned day" % QO: 1,
                "%s Offered day" % A1: 1 + 2, "%s Rejected day" % A1: 1,
                "%s Accepted day" % A1: 1 + 1, "%s Handled day" % A1: 1,
                "%s Offered day" % A2: 3, "%s TimedOut day" % A2: 1,
                "%s Accepted day" % A2: 2, "%s Handled day" % A2: 2,
                "%s Waiting" % QI: 1, "%s Waiting" % QO: 1, "tenant LoggedIn": 2,
                "tenant Ready": 0, "tenant Available": 0}
        for k, v in want.items():
            ch.equals(k, v, "hand-computed: %s = %r" % (k, v))
        # i1 waited 1.3 s or more, i4 more than the invite timeout: neither within the
        # threshold; i3's abandon after it counts, i2's within it does not.
        ch.equals("%s ServiceLevel day" % QI, 0.0,
                  "chat-in ServiceLevel 100 x 0 / (3 + 2), the morning's answer after 15 s: 0.0")

        # ---- the statserver restarted (SIGKILL) in the middle ----
        # More than a second after the last step, so that the history holds it.
        sleep_pumping(subs, steps, 1.4)
        t_before = int(time.time() * 1000)
        before = Subs(stat.port, "changes", "before").open_all(defs)
        for s in subs:
            s.close()
        before.close()
        t_away = int(time.time() * 1000)
        stat.kill(signal.SIGKILL)
        # While the statserver is away, i10 enters chat-out: only the snapshot shows it.
        i10 = harness.submit_ok(ms, T, "chat", QO)
        sleep_pumping([], steps, 0.3)
        stat.restart()
        t_back = int(time.time() * 1000)
        after = Subs(stat.port, "changes", "after").open_all(defs)
        for key, d in defs:
            b, a = before.last[key], after.last[key]
            if d["statistic"] in AGENT_TIMED or key.endswith("OldestWait") or \
                    d["statistic"] == "State" or not d["profile"] == "day" or \
                    d["statistic"] in ("Waiting", "EstimatedWaitTime") or \
                    key == "%s Entered day" % QO:
                continue
            check(a == b, "after the restart %s = %r (before %r)" % (key, a, b))
        after.equals("%s Waiting" % QI, 1, "the snapshot shows i5 waiting")
        after.equals("%s Waiting" % QO, 2, "and i6 and i10")
        after.equals("%s Entered day" % QO, 4, "i10's visit, begun while the statserver was "
                     "away, counts once")
        sleep_pumping([after], steps, 0.5)
        check(after.last["%s Entered day" % QI] == 7 and after.last["%s Entered day" % QO] == 4,
              "the snapshot after the restart counts no visit again")
        stop(ms, i10, "i10 stopped")
        after.equals("%s Abandoned day" % QO, 2, "i10 abandoned")
        after.equals("%s Waiting" % QO, 1)
        # The last value seen may have been pushed at any time up to now (time-driven
        # statistics are pushed once a second): it is at most the time since `before`
        # was read above the value read then.
        t_check = int(time.time() * 1000)
        for key, d in defs:
            if d["statistic"] in ("LoginTime",) and d["profile"] == "day":
                b, a = before.last[key], after.last[key]
                check(b + (t_check - t_before) / 1000 + 0.001 >= a >= b,
                      "%s runs on through the restart: %r, before %r" % (key, a, b))
        ch = after
        ev = Subs(stat.port, "every:%d" % EVERY, "B").open_all(defs)
        subs = [ch, ev]

        # ---- the interaction server lost and back: i5 handled by A2, i6 waiting ----
        act(d2, {"message": "RequestCancelNotReadyForMedia", "media": "chat"}, "A2 ready")
        invite(d2, i5)
        act(d2, {"message": "RequestAccept", "interactionId": i5}, "A2 accepts i5")
        inv6 = invite(d2, i6)
        act(d2, {"message": "RequestNotReadyForMedia", "media": "chat"}, "A2 not ready")
        act(d2, {"message": "RequestReject", "interactionId": inv6["interactionId"]},
            "A2 rejects i6")
        ch.equals("%s Rejected day" % A2, 1)
        ch.equals("%s Waiting" % QO, 1)
        answered_qi = ch.last["%s Answered day" % QI]
        sleep_pumping(subs, steps, 0.3)
        ixn.kill(signal.SIGKILL)
        ch.equals("%s Waiting" % QO, 0, "the lost server's interactions do not wait")
        ch.equals("tenant LoggedIn", 0, "nor are its agents logged in")
        ixn.restart()
        ch.equals("%s Waiting" % QI, 1, "the snapshot brings i5 back (queued, same visit)")
        ch.equals("%s Waiting" % QO, 1, "and i6")
        steps.connect(ixn.port)
        ms = harness.media_server(ixn.port)
        sleep_pumping(subs, steps, 0.5)
        check(ch.last["%s Entered day" % QI] == 7 and ch.last["%s Entered day" % QO] == 4,
              "no visit counted twice after the interaction server's snapshot (%r, %r)"
              % (ch.last["%s Entered day" % QI], ch.last["%s Entered day" % QO]))
        d1 = login(ixn, A1, ready=True)
        first = invite(d1)
        act(d1, {"message": "RequestAccept", "interactionId": first["interactionId"]},
            "A1 accepts " + first["interactionId"])
        act(d1, {"message": "RequestStopProcessing", "interactionId": first["interactionId"]},
            "A1 ends it")
        second = invite(d1, timeout=AFTER_WORK + 10)
        check({first["interactionId"], second["interactionId"]} == {i5, i6},
              "A1 is offered i5 and i6")
        act(d1, {"message": "RequestAccept", "interactionId": second["interactionId"]},
            "A1 accepts " + second["interactionId"])
        steps.wait(second["interactionId"], "Accepted")
        act(d1, {"message": "RequestStopProcessing", "interactionId": second["interactionId"]},
            "A1 ends it")
        steps.wait(second["interactionId"], "AfterWork")
        act(d1, {"message": "RequestCompleteAfterWork",
                 "interactionId": second["interactionId"]}, "A1 completes after-work")
        ch.equals("%s Handled day" % A1, 3)
        ch.equals("%s Answered day" % QO, 2)
        check(ch.last["%s Answered day" % QI] == answered_qi,
              "i5's visit, answered before the loss, is not answered again (%r)"
              % ch.last["%s Answered day" % QI])
        # A transfer while invited: the visit in chat-in ends neither answered nor
        # abandoned; the one in chat-out is abandoned.
        i8 = harness.submit_ok(ms, T, "chat", QI)
        invite(d1, i8, timeout=AFTER_WORK + 10)
        act(d1, {"message": "RequestNotReadyForMedia", "media": "chat"}, "A1 not ready")
        act(d1, {"message": "RequestPlaceInQueue", "interactionId": i8, "queue": QO},
            "A1 transfers the invited i8 to chat-out")
        ch.equals("%s Entered day" % QO, 5)
        stop(ms, i8, "i8 stopped in chat-out")
        ch.equals("%s Abandoned day" % QO, 3)
        i7 = harness.submit_ok(ms, T, "chat", QI)
        stop(ms, i7, "i7 stopped")
        ch.equals("%s Abandoned day" % QI, 4, "i8's visit in chat-in is not abandoned, i7's is")
        ch.equals("%s Entered day" % QI, 9, "chat-in: Entered 9 (i8 and i7 too)")
        check(ch.last["%s Answered day" % QI] == answered_qi,
              "chat-in: Answered unchanged (%r)" % ch.last["%s Answered day" % QI])
        # The agent's desktop closes while it handles i9: i9 goes back to the head of
        # chat-in in a visit already answered, so its stop there is no abandon.
        act(d1, {"message": "RequestCancelNotReadyForMedia", "media": "chat"}, "A1 ready")
        i9 = harness.submit_ok(ms, T, "chat", QI)
        invite(d1, i9)
        act(d1, {"message": "RequestAccept", "interactionId": i9}, "A1 accepts i9")
        ch.equals("%s Answered day" % QI, answered_qi + 1)
        d1.close()
        revoked = steps.wait(i9, "Revoked")
        check(revoked.get("reason") == "LoggedOut", "i9 is revoked: LoggedOut")
        ch.equals("%s Waiting" % QI, 1, "i9 waits again in chat-in")
        ch.equals("tenant LoggedIn", 0)
        stop(ms, i9, "i9 stopped while queued again")
        ch.equals("%s Waiting" % QI, 0)
        ch.equals("%s Entered day" % QI, 10)
        sleep_pumping(subs, steps, 0.3)
        check(ch.last["%s Abandoned day" % QI] == 4 and ch.last["%s Answered day" % QI]
              == answered_qi + 1, "i9's answered visit is not abandoned (Abandoned %r)"
              % ch.last["%s Abandoned day" % QI])
        # A desktop that closes while invited: i11 waits again in the same visit, which its
        # stop then abandons.
        d2 = login(ixn, A2, ready=True)
        i11 = harness.submit_ok(ms, T, "chat", QI)
        invite(d2, i11)
        d2.close()
        steps.wait(i11, "Revoked")
        ch.equals("%s Waiting" % QI, 1, "i11 waits again")
        stop(ms, i11, "i11 stopped")
        ch.equals("%s Abandoned day" % QI, 5, "i11's visit is abandoned")
        ch.equals("%s Entered day" % QI, 11)

        # ---- changes against every:2 ----
        sleep_pumping(subs, steps, 2 * EVERY + 0.5)
        for key in ch.got:
            vals = [v for _, v in ch.got[key]]
            ats = [t for t, _ in ch.got[key]]
            if any(a == b for a, b in zip(vals, vals[1:])):
                check(False, "changes: %s sent a value equal to the one before (%r)"
                      % (key, vals))
            # Paced by the monotonic clock, stamped with the wall clock, both in whole
            # milliseconds: 100 ms may read as 98.
            if any(b - a < 98 for a, b in zip(ats, ats[1:])):
                check(False, "changes: %s sent two values within 100 ms (%r)" % (key, ats))
        check(True, "changes: every value differs from the one before, 100 ms apart at least")
        # The k-th value after the open is due k * N s after it, never earlier.
        early = [(key, k, t - vs[0][0]) for key, vs in ev.got.items()
                 for k, (t, _) in enumerate(vs) if t - vs[0][0] < k * EVERY * 1000 - 20]
        check(not early, "every:%d: no value before it is due (%r)" % (EVERY, early[:3]))
        span = max(t for vs in ev.got.values() for t, _ in vs) - min(
            vs[0][0] for vs in ev.got.values())
        fewest = min(len(vs) for vs in ev.got.values())
        check(fewest >= span // (EVERY * 1000) - 1,
              "every:%d: each statistic got %d values or more in %d ms" % (EVERY, fewest, span))
        n = len(ev.got["%s Entered day" % QI])
        check(n >= 3, "every:%d sends unchanged values too (%d values of Entered)" % (EVERY, n))
        quiet = ch.got.get("%s Entered day" % QI, [])
        check(len([1 for t, _ in quiet if t > int(time.time() * 1000) - 2 * EVERY * 1000]) == 0,
              "changes: nothing sent for Entered while it did not change")

        # ---- bad requests ----
        c = ch.c
        base = {"message": "RequestOpenStatistic", "statisticId": 900, "object": qobj(QI),
                "statistic": "Entered", "profile": "day", "notify": "changes"}

        def bad(what, code, field, **change):
            req = dict(base)
            req.update(change)
            expect_error(c.request(req), code, what, field=field, ref=True)
        bad("an unknown statistic", 3, "statistic", statistic="CustomerHappiness")
        bad("a statistic of another object", 3, "statistic", statistic="Handled")
        bad("an unknown object type", 3, "object.type", object={"type": "Site", "tenant": T})
        bad("an unknown profile", 3, "profile", profile="week")
        bad("sliding:59", 3, "profile", profile="sliding:59")
        bad("an unknown notify", 3, "notify", notify="often")
        bad("a duplicate statisticId", 10, "statisticId", statisticId=ch.ids["tenant Ready"])
        lim = harness.statclient(stat.port)
        for k in range(MAX_STATS):
            r = dict(base)
            r["statisticId"] = k + 1
            if lim.request(r).get("message") != "EventAck":
                check(False, "statistic %d of %d opens" % (k + 1, MAX_STATS))
        r = dict(base)
        r["statisticId"] = MAX_STATS + 1
        expect_error(lim.request(r), 12, "statistic %d over max-statistics" % (MAX_STATS + 1),
                     field="max-statistics", ref=True)
        lim.close()

        # ---- reports: the day in 300 s intervals, and the day in one ----
        sleep_pumping(subs, steps, 1.3)
        t_to = int(time.time()) * 1000
        hp = stat.ports["http"]
        day0 = (t_to + tz_hours * 3600000) // 86400000 * 86400000 - tz_hours * 3600000
        f300 = (t_seed - 700000) // 300000 * 300000
        reports = {}
        for kind in ("queues", "agents"):
            q300 = "from=%d&to=%d&interval=300" % (f300, t_to)
            st, body = get(hp, "/reports/%s.csv?%s" % (kind, q300))
            check(st == 200, "%s.csv in 300 s intervals: 200" % kind)
            rc, out, err = env.run(["statserver", "--report", kind, "--from", str(f300), "--to",
                                    str(t_to), "--interval", "300", "-c", stat.config])
            check(rc == 0 and out == body, "statserver --report %s prints what HTTP sends"
                  % kind)
            st, dbody = get(hp, "/reports/%s.csv?from=%d&to=%d&interval=86400"
                            % (kind, day0, t_to))
            check(st == 200, "%s.csv of the day: 200" % kind)
            reports[kind] = (parse_csv(body)[1], parse_csv(dbody)[1])
        live = Subs(stat.port, "changes", "live").open_all(
            [(k, d) for k, d in defs if d["profile"] == "day"])
        live.close()
        ch.close()
        ev.close()
        time.sleep(0.5)
        steps.pump()

        # ---- everything against the model ----
        rows = read_history(os.path.join(data, "history.db"))
        # The model's inputs are the ixnserver's steps: the history's steps (besides
        # snapshots and the morning) are exactly the events the test received itself.
        # (but i10's submit, made while the statserver was away: it has its snapshot).
        away = [m for m in steps.events if t_away <= m["at"] <= t_back]
        check([(m["interactionId"], m["cause"]) for m in away] == [(i10, "Queued")],
              "only i10's submit happened while the statserver was away")
        seen = sorted((m["interactionId"], m["cause"], m["queue"], m.get("fromQueue"),
                       m.get("agentId"), m["state"], m["queuedAt"], m["at"],
                       m.get("reason") or m.get("endReason")) for m in steps.events
                      if m not in away)
        hist = sorted((r["ixn"], CAUSES[r["cause"]], r["queue"], r["from_queue"], r["agent"],
                       STATES[r["state"]], r["queued"], r["step_at"], REASONS[r["reason"]])
                      for r in rows if r["kind"] == K_STEP and r["cause"] != C["Snapshot"]
                      and r["ixn"] not in morning)
        check(seen == hist, "the history holds exactly the %d steps the ixnserver reported"
              % len(seen) + ("" if seen == hist else ": %r against %r" %
                             (sorted(set(seen) ^ set(hist))[:4], len(hist))))
        check(all(r["at"] >= r["step_at"] for r in rows if r["kind"] == K_STEP),
              "each step was taken after it happened")

        values = sorted(ALL_VALUES, key=lambda v: v[2])
        ev_model = Evaluator(rows, tz_hours)
        bad_values = []
        late = []
        covered = set()
        for key, d, at, value, what in values:
            ok, want = ev_model.matches(d, at, value)
            lag = None if ok else ev_model.late(d, at, value)
            if lag is not None:
                late.append("%s (%s) at %d: %r, the model %r, %r %d ms later"
                            % (key, what, at, value, want, value, lag))
            elif not ok:
                bad_values.append(("%s (%s) at %d: %r, the model %r" % (key, what, at, value,
                                                                        want), at))
            covered.add((d["object"]["type"], d["statistic"], d["profile"]))
        for b, at in bad_values[:40]:
            print("MISMATCH: %s" % b)
            for r in rows:
                if abs(r["at"] - at) <= 30:
                    print("    row %d at %d kind %d %s %s %s %s" % (
                        r["seq"], r["at"], r["kind"], r.get("ixn") or r.get("agent") or "",
                        CAUSES[r["cause"]] if r["kind"] == K_STEP else "",
                        r.get("queue") or "", r.get("flags") if r["kind"] == K_AGENT else ""))
        for b in late:
            print("LATE: %s" % b)
        check(not bad_values and len(late) <= LATE_MAX,
              "all %d values received equal the model at their time (%d differ, %d only %d ms "
              "later or less)" % (len(values), len(bad_values), len(late), CLOCK_SLACK_MS))
        table = ([("Queue", s, p) for s in QUEUE_COUNTED for p in PROFILES] +
                 [("Queue", s, "day") for s in QUEUE_NOW] +
                 [("Agent", s, p) for s in AGENT_COUNTED + AGENT_TIMED for p in PROFILES] +
                 [("Agent", "State", "day")] + [("Tenant", s, "day") for s in TENANT_NOW])
        check(all(t in covered for t in table), "every statistic of the table in both profiles "
              "is checked (%d kinds)" % len(table))
        # The sliding windows moved with time alone: a sliding count only goes down when
        # something leaves its window (the morning's abandons did while the test ran).
        drops = []
        for q in (QI, QO):
            for s in ("Entered", "Abandoned"):
                series = [v for v in values if v[0] == "%s %s sliding:60" % (q, s)]
                drops += [(q, s, b[2]) for a, b in zip(series, series[1:]) if b[3] < a[3]]
        check(drops, "sliding:60 counts went down as time passed (%r)" % drops[:4])

        # Reports against the model, interval by interval (rows taken before the end).
        mq = {"queues": ("Queue", QUEUE_COUNTED), "agents": ("Agent", AGENT_TIMED +
                                                                  AGENT_COUNTED)}
        for kind, (typ, cols) in mq.items():
            rows300, rowsday = reports[kind]
            nonzero = 0
            for r in rows300 + rowsday:
                s0, e0 = iso_ms(r["intervalStart"]), iso_ms(r["intervalEnd"])
                m = model_at(rows, tz_hours, e0, strict=True)
                n = (e0 - s0) // 1000
                for col in cols:
                    if typ == "Queue":
                        d = {"object": {"type": "Queue", "server": r["server"],
                                        "tenant": r["tenant"], "id": r["id"]},
                             "statistic": col, "profile": "sliding:%d" % n}
                    else:
                        d = {"object": {"type": "Agent", "tenant": r["tenant"], "id": r["id"]},
                             "statistic": col, "profile": "sliding:%d" % n,
                             "media": r["media"]}
                    at = e0 if col in AGENT_TIMED else e0 - 1
                    want = m.value(d, at)
                    got = csv_num(r[col])
                    if not same(got, want):
                        check(False, "%s.csv %s %s/%s %s: %r, the model %r"
                              % (kind, r["intervalStart"], r.get("id"), r.get("media", ""),
                                 col, r[col], want))
                    nonzero += 1 if got else 0
            # Every object with something in an interval has its row there.
            have = set((r["intervalStart"], r.get("server"), r["id"]) for r in rows300)
            starts = sorted(set(iso_ms(r["intervalStart"]) for r in rows300))
            mfull = model_at(rows, tz_hours, t_to)
            for s0 in starts:
                e0 = min(s0 + 300000, t_to)
                if typ == "Queue":
                    busy = set((q[0], q[2]) for q, recs in mfull.visits.items()
                               if any(s0 <= r[1] < e0 for r in recs))
                else:
                    busy = set((None, a[1]) for a, recs in mfull.ends.items()
                               if any(s0 <= r[1] < e0 for r in recs))
                    busy |= set((None, a[1]) for a, vs in mfull.views.items()
                                if any(s0 <= t < e0 for t, _ in vs))
                missing = [b for b in busy if (time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                             time.gmtime(s0 / 1000)),
                                               b[0], b[1]) not in have]
                check(not missing, "%s.csv: a row for every object active in the interval "
                      "from %d (%r missing)" % (kind, s0, missing))
            check(nonzero > 10, "%s.csv: %d rows, every cell equals the model over its "
                  "interval" % (kind, len(rows300) + len(rowsday)))
            # The day's report equals the day values read live after its end.
            for r in rowsday:
                if r["tenant"] != T:
                    continue
                for col in cols:
                    key = ("%s %s day" % (r["id"], col))
                    if key not in live.last or col in AGENT_TIMED:
                        continue
                    got = csv_num(r[col])
                    want = live.last[key]
                    check(got == want, "the day's %s.csv %s = the live day value %r (%r)"
                          % (kind, key, want, r[col]))
            if kind == "queues":
                total = sum(csv_num(r["Entered"]) for r in rows300 if r["id"] == QI)
                check(total == live.last["%s Entered day" % QI],
                      "the 300 s intervals hold the day's visits of chat-in (%d, day %d)"
                      % (total, live.last["%s Entered day" % QI]))
        check(stat.running() and ixn.running(), "both servers still run")
    print("PASS test_stat_day")


if __name__ == "__main__":
    main()
