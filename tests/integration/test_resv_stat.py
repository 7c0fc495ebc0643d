#!/usr/bin/env python3
"""Reservations seen from the interaction servers' side of a statserver (protocol.md v1.1,
sections 3, 5, 6 and 7a). The test plays the interaction servers: small TCP servers on
127.0.0.1 that take the statserver's ReportingEngine connection, acknowledge its
registration and RequestStartPlaceAgentStateReportingAll, send snapshots and states of
their own making (with loginTime), answer its pings, and send EventReserveAgent,
EventReservationReleased and Invited states carrying a reservationId.
Rule Chat2 (chat = chat >= 2): an idle agent ready for chat shows chat R 0 2 2. Checked:
(a) a grant when available > 0 and the version is the newest, answers in request order,
and the grant counted as an Invited chat in the status sent to the holder and to the other
server, each with its own newest version; (b) a refusal when a grant would pass the rule;
(c) refusals for a stale version, an unknown agent or tenant, an agent not logged in on that
server, media not ready or not added, and fields missing or wrongly typed; without a
readable reservationId no answer, and the link stays up; (d) a grant never used ends after
reservation-timeout (1 s) and the statuses go back, each with its server's newest version;
(e) an Invited state with the reservationId ends the grant, the Invited counted once, and
nothing changes when the timeout passes; (f) EventReservationReleased ends it; (g) the
agent's logout on the holder ends its grants; (h) the loss of the holder's link ends them
and the other server gets the status without them; (i) when the servers disagree on placeId
the earliest loginTime wins (equal times: the server listed first), also after a kill -9
and restart of the statserver with the snapshots in the other order."""
import json
import os
import select
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import V, check, fmt_vec, vec  # noqa: E402

T = "Resources"
RULES = 'rule "Chat2" { chat = chat >= 2; }\nassign tenant "%s" "Chat2";\n' % T
IDLE = V(chat="R 0 2 2")
ONE = V(chat="R 1 2 1")
TWO = V(chat="R 2 2 0")
LOGIN = 1700000000000      # a loginTime (Unix ms) the fakes build on

_opened = []               # every fake server and link, closed at the end


def short(msgs, limit=4):
    text = [json.dumps(m, separators=(",", ":"))[:240] for m in msgs[:limit]]
    if len(msgs) > limit:
        text.append("... %d more" % (len(msgs) - limit))
    return "[" + ", ".join(text) + "]"


class Link:
    """One connection from the statserver to a fake interaction server: messages sent carry
    seq 1, 2, 3 ...; messages received are queued (RequestPing is answered on arrival)."""

    def __init__(self, fake, sock):
        self.fake = fake
        self.sock = sock
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.seq = 0
        self.buf = b""
        self.queue = []
        self.log = []
        self.eof = False
        self.seq_from_client = []   # messages from the statserver that carried a seq
        _opened.append(self)

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
        self.eof = True

    def send(self, *objs):
        """Sends every obj, each with the next seq, in one write."""
        data = b""
        for obj in objs:
            obj = dict(obj)
            self.seq += 1
            obj["seq"] = self.seq
            data += (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        self.sock.sendall(data)

    def send_raw(self, data):
        self.sock.sendall(data)

    def _read_some(self, deadline):
        if self.eof:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except OSError:
            data = b""
        if not data:
            self.eof = True
            return True
        self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            try:
                m = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise harness.Failure("%s: the statserver sent a line that is not JSON: %r"
                                      % (self.fake.name, line[:200]))
            if not isinstance(m, dict):
                raise harness.Failure("%s: the statserver sent a non-object: %r"
                                      % (self.fake.name, line[:200]))
            if "seq" in m:
                self.seq_from_client.append(m)
            self.log.append(m)
            if m.get("message") == "RequestPing":
                self.send({"message": "EventAck", "referenceId": m.get("referenceId")})
                continue
            self.queue.append(m)
        return True

    def next(self, pred, what, timeout=5):
        """The next message matching pred (queued first); a FAIL line when none comes."""
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.queue):
                if pred(m):
                    return self.queue.pop(i)
            if self.eof:
                check(False, "%s: %s: the statserver closed the link (queued: %s)"
                      % (self.fake.name, what, short(self.queue)))
                raise harness.Failure(what)
            if not self._read_some(deadline):
                check(False, "%s: %s: nothing within %.1fs (queued: %s)"
                      % (self.fake.name, what, timeout, short(self.queue)))
                raise harness.Failure(what)

    def pump(self, wait):
        """Reads for wait seconds."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not self.eof:
            self._read_some(deadline)

    def none(self, pred, what, wait=0.5):
        """Nothing matching pred is queued or arrives within wait seconds."""
        self.pump(wait)
        bad = [m for m in self.queue if pred(m)]
        check(not bad, "%s: %s (got %s)" % (self.fake.name, what, short(bad)))

    def take_all(self, pred):
        """Removes and returns every queued message matching pred, in arrival order."""
        out = [m for m in self.queue if pred(m)]
        self.queue = [m for m in self.queue if not pred(m)]
        return out


class Agent:
    """One agent's state on one fake server."""

    def __init__(self, agent_id, version, login_time, place, media, tenant=T):
        self.tenant = tenant
        self.id = agent_id
        self.version = version
        self.login_time = login_time
        self.place = place
        self.media = dict(media)    # media -> ready
        self.dnd = False
        self.ixns = []              # (interactionId, media, state)
        self.logged_in = True


class FakeIxn:
    """A fake interaction server: a listening socket on 127.0.0.1 (port 0), the agents it
    has and the link the statserver opened. .name and .port are what Env.start_stat needs."""

    def __init__(self, name, version_base):
        self.name = name
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.version_base = version_base
        self.agents = {}
        self.link = None
        self.links = 0
        self.next_rid = 1
        _opened.append(self)

    def close(self):
        if self.link is not None:
            self.link.close()
        if self.lsock is not None:
            self.lsock.close()
            self.lsock = None

    def add(self, agent_id, login_time=LOGIN, place=None, media=None, ready=True):
        self.agents[agent_id] = Agent(agent_id, self.version_base + 10 * len(self.agents),
                                      login_time, place or "P" + agent_id,
                                      media or {"chat": ready})
        return self.agents[agent_id]

    def pending_connection(self, wait=0.0):
        """True when a connection waits to be accepted."""
        r, _, _ = select.select([self.lsock], [], [], wait)
        return bool(r)

    def accept(self, what, timeout=10):
        """Takes the statserver's connection, acknowledges its registration and its
        RequestStartPlaceAgentStateReportingAll. Returns the Link (snapshot not sent)."""
        self.lsock.settimeout(timeout)
        try:
            sock, _ = self.lsock.accept()
        except socket.timeout:
            check(False, "%s: %s: the statserver connected within %ss" % (self.name, what, timeout))
            raise harness.Failure(what)
        self.links += 1
        self.link = link = Link(self, sock)
        reg = link.next(lambda m: True, "%s: RequestRegisterClient" % what)
        check(reg.get("message") == "RequestRegisterClient" and
              reg.get("clientType") == "ReportingEngine" and
              reg.get("token") == harness.STAT_TOKEN and isinstance(reg.get("referenceId"), int),
              "%s: %s: the statserver registers as ReportingEngine with its token (got %s)"
              % (self.name, what, short([reg])))
        link.send({"message": "EventAck", "referenceId": reg.get("referenceId"),
                   "proxyClientId": 100 + self.links, "serverName": self.name,
                   "protocolVersion": 1, "idleTimeout": 30})
        start = link.next(lambda m: True, "%s: RequestStartPlaceAgentStateReportingAll" % what)
        check(start.get("message") == "RequestStartPlaceAgentStateReportingAll",
              "%s: %s: then starts reporting (got %s)" % (self.name, what, short([start])))
        link.send({"message": "EventAck", "referenceId": start.get("referenceId")})
        return link

    def state_msg(self, a, cause, reservation=None):
        m = {"message": "EventPlaceAgentState", "serverName": self.name, "cause": cause,
             "tenant": a.tenant, "agentId": a.id, "placeId": a.place, "version": a.version,
             "loginTime": a.login_time, "loggedIn": a.logged_in,
             "dnd": a.dnd and a.logged_in,
             "media": {k: {"ready": r, "reason": None} for k, r in a.media.items()}
             if a.logged_in else {},
             "interactions": [{"interactionId": i, "media": med, "state": s}
                              for i, med, s in a.ixns] if a.logged_in else []}
        if reservation is not None:
            m["reservationId"] = reservation
        return m

    def snapshot(self):
        """Sends every logged-in agent as a Snapshot, then EventPlaceAgentStateSnapshotDone."""
        msgs = [self.state_msg(a, "Snapshot") for a in self.agents.values() if a.logged_in]
        msgs.append({"message": "EventPlaceAgentStateSnapshotDone", "count": len(msgs)})
        self.link.send(*msgs)

    def event(self, agent_id, cause, reservation=None):
        """Sends the agent's whole state with version + 1 (change a.* first)."""
        a = self.agents[agent_id]
        a.version += 1
        self.link.send(self.state_msg(a, cause, reservation))
        return a.version

    def reserve(self, agent_id, media="chat", version=None, tenant=T, rid=None):
        """An EventReserveAgent (not sent): at the agent's version unless told otherwise."""
        if rid is None:
            rid = self.next_rid
            self.next_rid += 1
        a = self.agents.get(agent_id)
        return {"message": "EventReserveAgent", "reservationId": rid, "tenant": tenant,
                "agentId": agent_id, "media": media,
                "version": version if version is not None else (a.version if a else 1)}

    def release(self, rid):
        self.link.send({"message": "EventReservationReleased", "reservationId": rid})

    # -- what the statserver sends --

    def answer(self, rid, granted, what):
        """The next EventAgentReserved must be for rid with that answer."""
        m = self.link.next(lambda x: x.get("message") == "EventAgentReserved",
                           "%s: EventAgentReserved %s" % (what, rid))
        check(m.get("reservationId") == rid and m.get("granted") is granted,
              "%s: %s answered %s: reservationId %s granted %s (got %s)"
              % (what, self.name, "grant" if granted else "refusal", rid, granted, short([m])))
        return m

    def status(self, agent_id, want, what, place=None):
        """The next status of the agent on this link: vector want, the version of this
        server's newest state of the agent (and placeId when given)."""
        m = self.link.next(lambda x: harness.is_status(x, agent_id),
                           "%s: status of %s" % (what, agent_id))
        a = self.agents[agent_id]
        check(vec(m) == want and m.get("version") == a.version,
              "%s: %s gets %s's status [%s] version %s (got [%s] version %s)"
              % (what, self.name, agent_id, fmt_vec(want), a.version, fmt_vec(vec(m)),
                 m.get("version")))
        if place is not None:
            check(m.get("placeId") == place, "%s: %s gets %s's status with placeId %s (got %r)"
                  % (what, self.name, agent_id, place, m.get("placeId")))
        return m

    def no_status(self, agent_id, what, wait=0.3):
        self.link.none(lambda x: harness.is_status(x, agent_id),
                       "%s: no status of %s on %s" % (what, agent_id, self.name), wait)


def stat_says(wall, agent_id, want, what):
    """The statserver's own port reports the agent's vector want."""
    ans = wall.request({"message": "RequestAgentStatus", "tenant": T, "agentId": agent_id})
    check(ans.get("message") == "EventAck", "%s: RequestAgentStatus acknowledged" % what)
    m = wall.next(lambda x: harness.is_status(x, agent_id), timeout=5,
                  what="status of %s" % agent_id)
    check(vec(m) == want, "%s: the statserver says %s is [%s] (got [%s])"
          % (what, agent_id, fmt_vec(want), fmt_vec(vec(m))))


def start_stat(env, name, fakes, timeout):
    return env.start_stat(name, fakes, rules=RULES,
                          extra_server="reservation-timeout = %d\nidle-timeout = 120" % timeout)


def connect(fake, agents, what):
    """Accepts the statserver's link, sends the snapshot and takes the status it answers
    for every agent of the snapshot (any vector: the caller checks those it cares about)."""
    fake.accept(what)
    fake.snapshot()
    got = {}
    for a in agents:
        got[a] = fake.link.next(lambda x, a=a: harness.is_status(x, a),
                                "%s: status of %s after the snapshot" % (what, a))
    return got


def main_scenarios(env):
    """(a), (b), (c), (e), (f), (g), (h) with two fake servers, A listed first."""
    fa = FakeIxn("fake-a", 100)
    fb = FakeIxn("fake-b", 500)
    for x in ("1001", "1002", "1003", "1004", "1005"):
        fa.add(x)
    fa.add("1006", ready=False)
    for x in ("1001", "1004", "1005"):
        fb.add(x)
    stat = start_stat(env, "stat-1", [fa, fb], timeout=20)
    got = connect(fa, list(fa.agents), "A up")
    check(vec(got["1001"]) == IDLE and got["1001"].get("version") == fa.agents["1001"].version,
          "A up: 1001's status [%s] at A's version (got %s)"
          % (fmt_vec(IDLE), short([got["1001"]])))
    connect(fb, list(fb.agents), "B up")
    fa.link.pump(0.3)
    fa.link.take_all(harness.is_status)
    wall = harness.statclient(stat.port)

    # (a) A grant counts as an Invited chat in both servers' statuses.
    r = fa.reserve("1001")
    fa.link.send(r)
    fa.answer(r["reservationId"], True, "(a) 1001 idle, A's version")
    fa.status("1001", ONE, "(a) after A's grant")
    fb.status("1001", ONE, "(a) after A's grant")
    stat_says(wall, "1001", ONE, "(a) after A's grant")

    # (a) answers in request order; (c) an unknown agent among them.
    r2, r3, r4 = fa.reserve("1002"), fa.reserve("9999", version=5), fa.reserve("1003")
    fa.link.send(r2, r3, r4)
    fa.answer(r2["reservationId"], True, "(a) in order, first")
    fa.answer(r3["reservationId"], False, "(a) in order, second; (c) unknown agent 9999")
    fa.answer(r4["reservationId"], True, "(a) in order, third")
    fa.status("1002", ONE, "(a) 1002 granted")
    fa.status("1003", ONE, "(a) 1003 granted")

    # (f) EventReservationReleased ends a grant: the slot is free again.
    fa.release(r2["reservationId"])
    fa.status("1002", IDLE, "(f) 1002's grant released")
    fa.release(r4["reservationId"])
    fa.status("1003", IDLE, "(f) 1003's grant released")
    stat_says(wall, "1002", IDLE, "(f) after the release")

    # (b) B's grant makes two; (e) A's Invited with its reservationId is counted once.
    rb = fb.reserve("1001")
    fb.link.send(rb)
    fb.answer(rb["reservationId"], True, "(b) 1001 holds one grant, B asks for a second")
    fa.status("1001", TWO, "(b) after B's grant")
    fb.status("1001", TWO, "(b) after B's grant")
    fa.agents["1001"].ixns.append(("fake-a:000000001", "chat", "Invited"))
    fa.event("1001", "Invited", reservation=r["reservationId"])
    fa.status("1001", TWO, "(e) A's Invited under its grant counts once, not twice")
    fb.link.pump(0.3)
    extra = fb.link.take_all(lambda x: harness.is_status(x, "1001"))
    check(all(vec(m) == TWO for m in extra), "(e) any status B got meanwhile is [%s] (got %s)"
          % (fmt_vec(TWO), short(extra)))
    stat_says(wall, "1001", TWO, "(e) after A's Invited")
    r5 = fa.reserve("1001")
    fa.link.send(r5)
    fa.answer(r5["reservationId"], False, "(b) a third chat would pass chat >= 2")
    fb.release(rb["reservationId"])
    fa.status("1001", ONE, "(f) B's grant released, A's Invited stays")
    fb.status("1001", ONE, "(f) B's grant released, A's Invited stays")
    fa.agents["1001"].ixns = []
    fa.event("1001", "Revoked")
    fa.status("1001", IDLE, "(e) the Invited revoked: A's used grant counts no more")
    fb.status("1001", IDLE, "(e) the Invited revoked: A's used grant counts no more")

    # (c) Refusals, answered in order, the link kept.
    a3 = fa.agents["1003"]
    batch = [
        (fa.reserve("1003", version=a3.version - 1), "stale version"),
        (fa.reserve("1003", tenant="Nowhere"), "unknown tenant"),
        (fa.reserve("1006"), "chat not ready"),
        (fa.reserve("1003", media="email"), "media not added"),
        (fa.reserve("1003", media="fax"), "media unknown to everyone"),
    ]
    bad_fields = [("tenant", None), ("agentId", 1003), ("media", None), ("media", 7),
                  ("version", "%d" % a3.version), ("version", None), ("tenant", ["x"])]
    for field, value in bad_fields:
        m = fa.reserve("1003")
        if value is None:
            del m[field]
        else:
            m[field] = value
        batch.append((m, "%s %s" % (field, "missing" if value is None else
                                    "of the wrong type (%r)" % (value,))))
    fa.link.send(*[m for m, _ in batch])
    for m, why in batch:
        fa.answer(m["reservationId"], False, "(c) refusal: %s" % why)
    fa.no_status("1003", "(c) refusals change nothing", wait=0.2)
    # Not logged in on that server: 1003 is on A only.
    rb3 = fb.reserve("1003", version=a3.version)
    fb.link.send(rb3)
    fb.answer(rb3["reservationId"], False, "(c) refusal: 1003 is not logged in on B")
    # Without a readable reservationId: no answer; the next request is answered as usual.
    good = fa.reserve("1003")
    for m in ({k: v for k, v in fa.reserve("1003").items() if k != "reservationId"},
              dict(fa.reserve("1003"), reservationId="x"),
              dict(fa.reserve("1003"), reservationId=None)):
        fa.link.send(m)
    fa.link.send({"message": "EventReservationReleased", "reservationId": 987654})
    fa.link.send(good)
    fa.answer(good["reservationId"], True,
              "(c) dropped without a readable reservationId; the next one answered")
    fa.link.none(lambda x: x.get("message") == "EventAgentReserved",
                 "(c) no answer for the unreadable ones", 0.3)
    check(not fa.link.eof and not fa.pending_connection(),
          "(c) the link to A stays up (no close, no new connection)")
    fa.status("1003", ONE, "(c) 1003 granted")
    fa.release(good["reservationId"])
    fa.status("1003", IDLE, "(c) 1003 released")

    # (g) The holder's logout of the agent ends its grants.
    r = fa.reserve("1004")
    fa.link.send(r)
    fa.answer(r["reservationId"], True, "(g) 1004 on A and B")
    fa.status("1004", ONE, "(g) A's grant")
    fb.status("1004", ONE, "(g) A's grant")
    fa.agents["1004"].logged_in = False
    fa.event("1004", "AgentLogout")
    fb.status("1004", IDLE, "(g) 1004 logged out on A: its grant there ends")
    r = fa.reserve("1004")
    fa.link.send(r)
    fa.answer(r["reservationId"], False, "(c) refusal: 1004 logged out on A")
    # Whatever A heard of 1004 while it was logged out there is not what this checks.
    fa.link.pump(0.2)
    fa.link.take_all(lambda x: harness.is_status(x, "1004"))
    a4 = fa.agents["1004"]
    a4.logged_in = True
    a4.login_time = LOGIN + 60000
    fa.event("1004", "AgentLogin")
    fa.status("1004", IDLE, "(g) 1004 back on A: the old grant does not come back")
    stat_says(wall, "1004", IDLE, "(g) after the logout and new login on A")

    # (h) Losing the holder's link ends its grants; the other server hears of it.
    r = fb.reserve("1005")
    fb.link.send(r)
    fb.answer(r["reservationId"], True, "(h) 1005 on A and B, B's grant")
    fa.status("1005", ONE, "(h) B's grant")
    fb.status("1005", ONE, "(h) B's grant")
    fb.link.close()
    fa.status("1005", IDLE, "(h) B's link lost: its grant ends, A gets the status without it")
    stat_says(wall, "1005", IDLE, "(h) after B's link loss")
    connect(fb, list(fb.agents), "(h) B reconnected")
    fa.link.pump(0.3)
    fa.link.take_all(harness.is_status)
    stat_says(wall, "1005", IDLE, "(h) after B's new snapshot, no grant came back")
    r = fb.reserve("1005")
    fb.link.send(r)
    fb.answer(r["reservationId"], True, "(h) B can be granted again after its reconnection")
    fa.status("1005", ONE, "(h) B's new grant")
    fb.release(r["reservationId"])
    fa.status("1005", IDLE, "(h) B's new grant released")

    bad = fa.link.seq_from_client + fb.link.seq_from_client
    check(not bad, "the statserver sends no seq on its links (got %s)" % short(bad))
    harness.alive(stat)
    wall.close()
    fa.close()
    fb.close()


def expiry(env):
    """(d) and (e) with reservation-timeout = 1."""
    fe = FakeIxn("fake-e", 300)
    ff = FakeIxn("fake-f", 700)
    fe.add("1201")
    ff.add("1201")
    stat = start_stat(env, "stat-2", [fe, ff], timeout=1)
    connect(fe, ["1201"], "E up")
    connect(ff, ["1201"], "F up")
    fe.link.pump(0.2)
    fe.link.take_all(harness.is_status)
    wall = harness.statclient(stat.port)

    r = fe.reserve("1201")
    fe.link.send(r)
    t0 = time.monotonic()
    fe.answer(r["reservationId"], True, "(d) E's grant")
    fe.status("1201", ONE, "(d) E's grant")
    ff.status("1201", ONE, "(d) E's grant")
    # F's newest version moves while the grant is outstanding.
    ff.event("1201", "MediaStateReasonChanged")
    ff.status("1201", ONE, "(d) F's change while E's grant is outstanding")
    m = fe.link.next(lambda x: harness.is_status(x, "1201"), "(d) status after the timeout",
                     timeout=4)
    took = time.monotonic() - t0
    check(vec(m) == IDLE and m.get("version") == fe.agents["1201"].version,
          "(d) the unused grant expired: E gets [%s] version %s (got [%s] version %s)"
          % (fmt_vec(IDLE), fe.agents["1201"].version, fmt_vec(vec(m)), m.get("version")))
    check(0.8 <= took <= 3.0, "(d) about reservation-timeout 1 s after the grant (%.2f s)" % took)
    ff.status("1201", IDLE, "(d) the unused grant expired: F gets it with F's newest version")
    stat_says(wall, "1201", IDLE, "(d) after the expiry")

    r = fe.reserve("1201")
    fe.link.send(r)
    fe.answer(r["reservationId"], True, "(e) E's grant after the expiry")
    fe.status("1201", ONE, "(e) E's grant")
    ff.status("1201", ONE, "(e) E's grant")
    fe.agents["1201"].ixns.append(("fake-e:000000001", "chat", "Invited"))
    fe.event("1201", "Invited", reservation=r["reservationId"])
    fe.status("1201", ONE, "(e) E's Invited under the grant")
    fe.no_status("1201", "(e) the used grant does not expire", wait=1.8)
    ff.no_status("1201", "(e) the used grant does not expire", wait=0)
    stat_says(wall, "1201", ONE, "(e) the Invited counts once after the timeout")
    harness.alive(stat)
    wall.close()
    fe.close()
    ff.close()


def place_ids(env):
    """(i) placeId from the earliest loginTime; equal times: the server listed first."""
    fc = FakeIxn("fake-c", 1000)
    fd = FakeIxn("fake-d", 2000)
    # agent: (C's placeId, C's loginTime, D's placeId, D's loginTime, the winner)
    cases = {"1101": ("PC1", LOGIN + 5000, "PD1", LOGIN, "PD1"),
             "1102": ("PC2", LOGIN, "PD2", LOGIN, "PC2"),
             "1103": ("PC3", LOGIN, "PD3", LOGIN + 5000, "PC3")}
    for a, (pc, lc, pd, ld, _) in cases.items():
        fc.add(a, login_time=lc, place=pc)
        fd.add(a, login_time=ld, place=pd)
    stat = start_stat(env, "stat-3", [fc, fd], timeout=5)
    got = connect(fc, list(cases), "(i) C up")
    for a, (pc, _, _, _, _) in cases.items():
        check(got[a].get("placeId") == pc, "(i) C alone: %s's placeId %s (got %r)"
              % (a, pc, got[a].get("placeId")))
    got = connect(fd, list(cases), "(i) D up")
    for a, (_, _, _, _, win) in cases.items():
        check(got[a].get("placeId") == win, "(i) C and D: %s's placeId on D is %s (got %r)"
              % (a, win, got[a].get("placeId")))
    fc.status("1101", IDLE, "(i) D's earlier login wins 1101's placeId", place="PD1")

    # A login on D later in time but with the earlier loginTime, live.
    fc.add("1104", login_time=LOGIN + 3000, place="PC4")
    fc.event("1104", "AgentLogin")
    fc.status("1104", IDLE, "(i) 1104 on C", place="PC4")
    fd.add("1104", login_time=LOGIN + 1000, place="PD4")
    fd.event("1104", "AgentLogin")
    fd.status("1104", IDLE, "(i) 1104 on D, logged in earlier", place="PD4")
    fc.status("1104", IDLE, "(i) 1104: C learns D's earlier placeId", place="PD4")
    cases["1104"] = ("PC4", 0, "PD4", 0, "PD4")

    stat.kill(signal.SIGKILL)
    check(True, "(i) statserver killed")
    for f in (fc, fd):
        f.link.pump(1.0)
        check(f.link.eof, "(i) %s sees the link closed" % f.name)
        f.link.close()
    stat.restart()
    check(True, "(i) statserver restarted")
    # Both links up before either snapshot, then D's snapshot first this time.
    fc.accept("(i) C after the restart")
    fd.accept("(i) D after the restart")
    fd.snapshot()
    for a in cases:
        fd.link.next(lambda x, a=a: harness.is_status(x, a),
                     "(i) D's snapshot first: status of %s" % a)
    # A reservation while C's snapshot is not in yet: 1101's holdings on C are unknown, so
    # the statserver neither grants nor refuses (a refusal would leave D waiting for a
    # status nothing sends); it answers once C's snapshot is in.
    held = fd.reserve("1101")
    fd.link.send(held)
    fd.link.none(lambda x: x.get("message") == "EventAgentReserved",
                 "(i) no answer to a reservation before every server's snapshot", 0.7)
    fc.snapshot()
    for a in cases:
        fc.link.next(lambda x, a=a: harness.is_status(x, a),
                     "(i) then C's snapshot: status of %s" % a)
    fd.answer(held["reservationId"], True, "(i) the held reservation, once C's snapshot is in")
    fd.release(held["reservationId"])
    for f in (fc, fd):
        f.link.pump(0.5)
    for a, (_, _, _, _, win) in cases.items():
        for f in (fc, fd):
            sts = [m for m in f.link.log if harness.is_status(m, a)]
            last = sts[-1].get("placeId") if sts else None
            check(last == win, "(i) after the restart, snapshots D then C: %s's last status on %s "
                  "has placeId %s (got %r)" % (a, f.name, win, last))
    harness.alive(stat)
    fc.close()
    fd.close()


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=60) as env:
        try:
            main_scenarios(env)
            expiry(env)
            place_ids(env)
        finally:
            for x in _opened:
                x.close()
    print("PASS test_resv_stat")


if __name__ == "__main__":
    main()
