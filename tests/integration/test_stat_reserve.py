#!/usr/bin/env python3
"""The statserver's side of reservations (protocol.md §6, §7a), against two fake
interaction servers played by the test (ixn-a and ixn-b: listening sockets the real
statserver links to as a ReportingEngine), with `reservation-timeout = 1` and the rule
`chat = chat >= 2; email = email >= 1 or chat >= 1`.

One agent logged in on both: a grant on ixn-a is counted as an Invited chat, and the changed
status goes to both servers, each with its own newest version; a second grant (ixn-b) fills
the agent; the Invited state carrying ixn-b's reservationId ends that grant without changing
the vector (a status to ixn-b only); an email refused (blocked by the chat); a grant
nobody uses expires after about a second (statuses to both); a reservation of an older
version refused; a release ends a grant; the agent's logout from ixn-a ends ixn-a's grant;
the loss of the link to ixn-a ends its grant and drops the agent's counts there (status to
ixn-b), and the statserver links again with a fresh snapshot. Refused: an agent the server
does not know there, an unknown agent, a media the agent does not have, a field missing or
of the wrong type; an EventReserveAgent without a readable reservationId is dropped with no
answer; the link stays through all of it. Answers come in order, one per request, carry no
seq, and no EventAck ever answers a reservation message."""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, V  # noqa: E402

T = "Resources"
AG = "1001"
RULES = '''rule "R" { chat = chat >= 2; email = email >= 1 or chat >= 1; }
assign tenant "Resources" "R";
'''


class Link(harness.Client):
    """The statserver's connection to a fake interaction server: what the statserver sends
    carries no seq (not checked); what the test sends is stamped 1, 2, 3 ..."""

    def __init__(self, sock, port):
        self.port = port
        self.timeout = 5
        self.sock = sock
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.queue = []
        self.seq = 0
        self.eof = False
        self.ref = 0
        self.log = []
        self.grant_policy = None
        self.reservations = []
        self.out_seq = 0
        harness._clients.append(self)

    def _accept(self, line):
        try:
            m = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise harness.Failure("statserver sent a line that is not JSON (%s): %r"
                                  % (e, line[:200]))
        self.log.append(m)
        self.queue.append(m)

    def send(self, obj):
        self.out_seq += 1
        obj = dict(obj, seq=self.out_seq)
        self.send_raw((json.dumps(obj, separators=(",", ":")) + "\n").encode())


class FakeIxn:
    """A listening socket on 127.0.0.1 that plays an interaction server for one statserver
    link at a time: registration, reporting start with a snapshot, then whatever the test
    sends. Tracks the versions it gave each agent."""

    def __init__(self, name):
        self.name = name
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4)
        self.port = self.lsock.getsockname()[1]
        self.link = None
        self.version = 1000 if name == "ixn-a" else 5000
        self.states = {}   # agentId -> the newest whole state sent (logged-in agents)
        self.rid = 0

    def accept(self, snapshot=(), timeout=10):
        """Accepts the statserver's connection and serves registration and the snapshot."""
        self.lsock.settimeout(timeout)
        try:
            sock, _ = self.lsock.accept()
        except socket.timeout:
            raise harness.Timeout("the statserver did not connect to %s within %ss"
                                  % (self.name, timeout))
        self.link = Link(sock, self.port)
        reg = self.link.next(lambda m: m.get("message") == "RequestRegisterClient",
                             what="RequestRegisterClient")
        check(reg.get("clientType") == "ReportingEngine" and
              reg.get("token") == harness.STAT_TOKEN,
              "%s: the statserver registers as ReportingEngine with its token" % self.name)
        self.link.send({"message": "EventAck", "referenceId": reg.get("referenceId"),
                        "proxyClientId": 1, "serverName": self.name, "protocolVersion": 1,
                        "idleTimeout": 300})
        start = self.link.next(lambda m: m.get("message") ==
                               "RequestStartPlaceAgentStateReportingAll",
                               what="RequestStartPlaceAgentStateReportingAll")
        self.link.send({"message": "EventAck", "referenceId": start.get("referenceId")})
        for st in snapshot:
            self.link.send(dict(st, cause="Snapshot"))
        self.link.send({"message": "EventPlaceAgentStateSnapshotDone", "count": len(snapshot)})
        return self.link

    def state(self, agent_id, cause, chat_held=0, media=("chat",), logged_in=True,
              reservation_id=None, login_time=None):
        """Sends the agent's whole state with a new version; returns the version."""
        self.version += 1
        st = {"message": "EventPlaceAgentState", "serverName": self.name, "cause": cause,
              "tenant": T, "agentId": agent_id, "placeId": "P" + agent_id,
              "version": self.version, "loggedIn": logged_in, "dnd": False,
              "media": {m: {"ready": True, "reason": None} for m in media} if logged_in else {},
              "interactions": [{"interactionId": "%s:%09d" % (self.name, 900 + i),
                                "media": "chat", "state": "Invited"}
                               for i in range(chat_held)]}
        old = self.states.get(agent_id)
        st["loginTime"] = login_time or (old or {}).get("loginTime") or int(time.time() * 1000)
        if reservation_id is not None:
            st["reservationId"] = reservation_id
        self.link.send(st)
        if logged_in:
            self.states[agent_id] = st
        else:
            self.states.pop(agent_id, None)
        return self.version

    def reserve(self, agent_id=AG, media="chat", version=None, rid=None, **override):
        """Sends EventReserveAgent (a fresh id unless rid) at the agent's newest version;
        returns the id."""
        if rid is None:
            self.rid += 1
            rid = self.rid
        msg = {"message": "EventReserveAgent", "reservationId": rid, "tenant": T,
               "agentId": agent_id, "media": media,
               "version": self.version if version is None else version}
        msg.update(override)
        self.link.send({k: v for k, v in msg.items() if v is not None})
        return rid

    def answer(self, rid, what):
        """The next EventAgentReserved must answer rid; returns granted."""
        m = self.link.next(lambda x: x.get("message") == "EventAgentReserved",
                           what="EventAgentReserved (%s)" % what)
        check(m.get("reservationId") == rid and isinstance(m.get("granted"), bool) and
              "seq" not in m,
              "%s: answered in order, reservationId %s, granted a boolean, no seq (got %s)"
              % (what, rid, m))
        return m.get("granted")


def status(link, what, want, version, timeout=3):
    """The next status on the link must have vector want at that version."""
    try:
        m = link.next(lambda x: harness.is_status(x, AG), timeout=timeout,
                      what="status of %s" % AG)
    except harness.Timeout as e:
        check(False, "%s: a status [%s] version %s (%s)" % (what, harness.fmt_vec(want),
                                                            version, e))
        raise harness.Failure(what)
    check(harness.vec(m) == want and m.get("version") == version,
          "%s: status [%s] version %s (got [%s] version %s)"
          % (what, harness.fmt_vec(want), version, harness.fmt_vec(harness.vec(m)),
             m.get("version")))
    return m


def no_status(link, what, wait=0.3):
    try:
        link.expect_none(harness.is_status, wait=wait)
    except harness.Failure as e:
        check(False, "%s: no status (%s)" % (what, e))
    check(True, "%s: no status" % what)


def granted(fake, rid, what, want=True):
    got = fake.answer(rid, what)
    check(got is want, "%s: %s (got %s)" % (what, "granted" if want else "refused", got))


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=60) as env:
        a, b = FakeIxn("ixn-a"), FakeIxn("ixn-b")
        ixns = [type("P", (), {"name": f.name, "port": f.port})() for f in (a, b)]
        stat = env.start_stat("stat-1", ixns, rules=RULES,
                              extra_server="reservation-timeout = 1")
        la = a.accept()
        lb = b.accept()

        # The agent logs in on both servers, chat on each.
        va = a.state(AG, "AgentLogin")
        idle = V(chat="R 0 2 2")
        status(la, "login on ixn-a", idle, va)
        vb = b.state(AG, "AgentLogin", media=("chat", "email"))
        idle2 = V(chat="R 0 2 2", email="R 0 1 1")
        status(lb, "login on ixn-b", idle2, vb)
        status(la, "ixn-a after the login on ixn-b (email added)", idle2, va)

        # A grant on ixn-a counts as an Invited chat, on both servers.
        r = a.reserve()
        granted(a, r, "chat on ixn-a, agent idle")
        t_grant = time.monotonic()
        one = V(chat="R 1 2 1", email="R 0 0 0")
        status(la, "ixn-a after its grant", one, va)
        status(lb, "ixn-b after ixn-a's grant", one, vb)
        # A second grant on ixn-b fills the agent.
        rb = b.reserve()
        granted(b, rb, "chat on ixn-b, one grant outstanding on ixn-a")
        full = V(chat="R 2 2 0", email="R 0 0 0")
        status(la, "ixn-a after ixn-b's grant", full, va)
        status(lb, "ixn-b after its grant", full, vb)
        # ixn-b uses its grant: the Invited state ends it, the vector stays.
        vb = b.state(AG, "Invited", chat_held=1, media=("chat", "email"), reservation_id=rb)
        status(lb, "ixn-b's Invited state under its grant", full, vb)
        no_status(la, "ixn-a when ixn-b's grant turned into its Invited chat")
        # Nothing more fits: chat full, email blocked by the chat.
        rb2 = b.reserve(media="email")
        granted(b, rb2, "email while holding chats", want=False)
        rb3 = b.reserve()
        granted(b, rb3, "a third chat", want=False)
        no_status(lb, "ixn-b after refusals", wait=0.1)

        # ixn-a's grant is never used: it expires after reservation-timeout (1 s).
        one_held = V(chat="R 1 2 1", email="R 0 0 0")
        m = status(la, "ixn-a when its unused grant expired", one_held, va, timeout=4)
        took = time.monotonic() - t_grant
        check(0.7 <= took <= 3.0, "the grant expired %.2fs after it was given "
              "(reservation-timeout 1)" % took)
        status(lb, "ixn-b when ixn-a's grant expired", one_held, vb)

        # An older version is refused; the current one granted; a release ends it.
        r = a.reserve(version=va - 1)
        granted(a, r, "reservation of an older version of the agent", want=False)
        r = a.reserve()
        granted(a, r, "reservation at the current version")
        status(la, "ixn-a after its grant", full, va)
        status(lb, "ixn-b after ixn-a's grant", full, vb)
        a.link.send({"message": "EventReservationReleased", "reservationId": r})
        status(la, "ixn-a after it released its grant", one_held, va)
        status(lb, "ixn-b after ixn-a's release", one_held, vb)

        # Logout from ixn-a ends ixn-a's grant.
        r = a.reserve()
        granted(a, r, "reservation before the logout")
        status(la, "ixn-a after its grant", full, va)
        status(lb, "ixn-b after ixn-a's grant", full, vb)
        a.state(AG, "AgentLogout", logged_in=False)
        no_status(la, "ixn-a after the agent logged out there", wait=0.1)
        after = V(chat="R 1 2 1", email="R 0 0 0")
        status(lb, "ixn-b after the logout from ixn-a (its grant ended)", after, vb)

        # Refusals that change nothing, and a link that stays.
        r = a.reserve()
        granted(a, r, "the agent is not logged in on ixn-a", want=False)
        # Sent back to back on one link, answered one each, in order.
        asked = [(b.reserve(agent_id="4242"), "an unknown agent", False),
                 (b.reserve(media="voice"), "a media the agent does not have", False),
                 (b.reserve(media=7), "media not a string", False),
                 (b.reserve(version="12"), "version not an integer", False),
                 (b.reserve(agentId=None), "no agentId", False)]
        b.link.send({"message": "EventReserveAgent", "tenant": T, "agentId": AG,
                     "media": "chat", "version": vb})
        b.link.send({"message": "EventReserveAgent", "reservationId": "x", "tenant": T,
                     "agentId": AG, "media": "chat", "version": vb})
        asked.append((b.reserve(), "after two reservations without a readable reservationId "
                      "(dropped, no answer)", True))
        for rid, what, want in asked:
            granted(b, rid, what, want=want)
        status(lb, "ixn-b after its grant", full, vb)
        b.link.send({"message": "EventReservationReleased", "reservationId": r})
        status(lb, "ixn-b after the release", after, vb)
        for f in (a, b):
            acks = [m for m in f.link.log if m.get("message") in ("EventAck", "EventError")]
            check(not acks, "%s: no EventAck or EventError answered a reservation message (%s)"
                  % (f.name, acks[:2]))
            check(not f.link.eof, "%s: the link stayed up" % f.name)

        # Reservations of two servers at once: ixn-a's grant counts against ixn-b's.
        va = a.state(AG, "AgentLogin")
        status(la, "login again on ixn-a", after, va)
        r1 = a.reserve()
        r2 = b.reserve()
        granted(a, r1, "at once: ixn-a's")
        granted(b, r2, "at once: ixn-b's (ixn-a's counted: the agent now full)", want=False)
        status(la, "ixn-a after its grant", full, va)
        status(lb, "ixn-b after ixn-a's grant", full, vb)

        # The link to ixn-a is lost: its grant ends, the agent counts as logged out there.
        la.close()
        status(lb, "ixn-b when the link to ixn-a was lost", after, vb)
        la = a.accept()
        check(True, "the statserver links to ixn-a again (fresh registration and snapshot)")
        no_status(la, "ixn-a after an empty snapshot", wait=0.2)
        harness.alive(stat)
    print("PASS test_stat_reserve")


if __name__ == "__main__":
    main()
