#!/usr/bin/env python3
"""One agent's capacity across several interaction servers (protocol.md §6, §7, §7a;
capacity-rules.md §2): three ixnservers and one statserver; 30 agents, each logged in to
two or three of the servers with different media on each, under mixed rules (three chats;
two chats or one email; a call blocks everything else; a `total` rule). Interactions are
submitted on every server, pipelined, as fast as each takes them; agents accept every
invite at once and stop processing after 20-150 ms.

Every EventInvite is checked against the agent's rule evaluated in Python on what the
agent holds on ALL its servers (from its desktops' invites and stop acknowledgements),
and every status against the holdings the rule can reach. Halfway through, ixn-c is
killed with SIGKILL: the other two keep routing, still within the rules, and once things
are quiet the statserver's status of every agent and the newest status on each of its
remaining desktops count only what it holds on ixn-a and ixn-b. Then the statserver is
killed: interactions submitted while it is away are offered to nobody; after its restart
the statuses match what the agents hold again and those interactions are offered. Every
interaction of ixn-a and ixn-b is offered once and handled exactly once; none of ixn-c
is handled twice."""
import json
import os
import random
import select
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

T = "Resources"
SERVERS = ("ixn-a", "ixn-b", "ixn-c")
MEDIA = ("voice", "chat", "email")
N_AGENTS = 30
N_IXN = 600          # interactions of the load phase, a third per server
BOUND = 70.0         # seconds for the whole load (both kills included)
HOLD = (0.02, 0.15)  # seconds an agent keeps an accepted interaction

RULES = '''rule "Chat3" { chat = chat >= 3; }
rule "ChatOrEmail" {
    voice = any >= 1;
    chat  = chat >= 2 or email >= 1 or voice >= 1;
    email = email >= 1 or chat >= 1 or voice >= 1;
}
rule "VoiceAlone" {
    voice = any >= 1;
    chat  = voice >= 1 or chat >= 2;
    email = voice >= 1 or email >= 1;
}
rule "Total3" {
    voice = any >= 1;
    chat  = total >= 3 or voice >= 1;
    email = total >= 3 or email >= 2 or voice >= 1;
}
'''

CONDS = {
    "Chat3": {"voice": None, "chat": lambda c: c.chat >= 3, "email": None},
    "ChatOrEmail": {
        "voice": lambda c: c.any(1),
        "chat": lambda c: c.chat >= 2 or c.email >= 1 or c.voice >= 1,
        "email": lambda c: c.email >= 1 or c.chat >= 1 or c.voice >= 1,
    },
    "VoiceAlone": {
        "voice": lambda c: c.any(1),
        "chat": lambda c: c.voice >= 1 or c.chat >= 2,
        "email": lambda c: c.voice >= 1 or c.email >= 1,
    },
    "Total3": {
        "voice": lambda c: c.any(1),
        "chat": lambda c: c.total >= 3 or c.voice >= 1,
        "email": lambda c: c.total >= 3 or c.email >= 2 or c.voice >= 1,
    },
}
RULE_NAMES = ("Chat3", "ChatOrEmail", "VoiceAlone", "Total3")


def order_free(conds):
    """True when the rule blocks a media exactly where one more of it would leave the
    holdings the rule allows (reachable_counts): then what an agent may hold does not
    depend on the order of the offers, and checking each invite in the order the desktops
    see them (which across servers need not be the order of the grants) is exact."""
    reach = harness.reachable_counts(conds, MEDIA)
    for cur in reach:
        counts = dict(zip(MEDIA, cur))
        for i, med in enumerate(MEDIA):
            more = cur[:i] + (cur[i] + 1,) + cur[i + 1:]
            if harness.rule_blocks(conds.get(med), counts) != (more not in reach):
                return False
    return True
# Which servers an agent logs in to, and the media of its desktops (rotated per agent).
SERVER_SETS = (("ixn-a", "ixn-b", "ixn-c"), ("ixn-a", "ixn-b"), ("ixn-b", "ixn-c"),
               ("ixn-a", "ixn-c"))
DESK_MEDIA = (("chat", "voice"), ("chat", "email"), ("email", "voice", "chat"))
QUEUES = {T + "/chat-in": "chat", T + "/email-in": "email", T + "/voice-in": "voice"}
MEDIA_CYCLE = ("chat", "email", "chat", "voice", "chat", "email", "chat", "email", "voice",
               "chat")


def plan():
    """{agentId: (rule name, ((server, media), ...))} of the 30 agents."""
    out = {}
    for i in range(N_AGENTS):
        rule = RULE_NAMES[i % 4]
        servers = SERVER_SETS[(i // 4) % 4]
        out[str(6000 + i)] = (rule, tuple((s, DESK_MEDIA[(k + i) % 3])
                                           for k, s in enumerate(servers)))
    return out


class Desk:
    """One agent's connection to one ixnserver (non-blocking socket, own seq check)."""

    def __init__(self, agent, server, port, media):
        self.agent = agent
        self.server = server
        self.port = port
        self.media = media
        self.sock = None
        self.seq = 0
        self.ref = 0
        self.inbuf = b""
        self.outbuf = b""
        self.pending = {}       # referenceId -> (kind, interactionId)
        self.holds = {}         # interactionId -> media, from EventInvite to the stop's ack
        self.stopping = set()   # interactionIds whose stop was sent, not yet acknowledged
        self.finish_at = {}     # interactionId -> monotonic time to stop processing
        self.eof = False
        self.last_status = None
        self.statuses = 0

    def connect(self):
        c = harness.agent(self.port, T, self.agent.id, "P" + self.agent.id,
                          "pw" + self.agent.id, media={m: 1 for m in self.media})
        early, c.queue = c.queue, []
        self.sock, c.sock = c.sock, None
        self.seq = early[0]["seq"] - 1 if early else c.seq
        self.ref = c.ref
        self.inbuf = c.buf
        if c in harness._clients:
            harness._clients.remove(c)
        harness._clients.append(self)   # Env closes it at exit
        self.sock.setblocking(False)
        return early

    def send(self, obj, kind, iid):
        self.ref += 1
        obj = dict(obj, referenceId=self.ref)
        self.pending[self.ref] = (kind, iid)
        self.outbuf += (json.dumps(obj, separators=(",", ":")) + "\n").encode()

    def close(self):
        harness._close_socket(self)


class Agent:
    def __init__(self, agent_id, rule):
        self.id = agent_id
        self.rule_name = rule
        self.rule = CONDS[rule]
        self.reach = harness.reachable_counts(self.rule, MEDIA)
        self.desks = []

    def counts(self, lenient=False, ending=None, at=None):
        """What the agent holds over every live desktop: {media: n}. lenient: interactions
        whose stop was sent count as ended already. ending {desk: set of interactionIds, or
        None for a connection that ended}: what ends in the current read round, on desks
        other than at (the desk whose message is being handled, whose own order counts)."""
        out = {m: 0 for m in MEDIA}
        for d in self.desks:
            if d.eof:
                continue
            gone = set()
            if ending is not None and d is not at and d in ending:
                if ending[d] is None:
                    continue
                gone = ending[d]
            for iid, med in d.holds.items():
                if (lenient and iid in d.stopping) or iid in gone:
                    continue
                out[med] += 1
        return out


class Driver:
    """Every desktop of every agent in one select() loop. An invite is checked against the
    rule on the counts the agent holds over all its servers at that moment: interactions
    whose stop acknowledgement or connection end arrived in the same read round count as
    ended (that news was written before the invite was caused), and for the failing check
    also those whose stop was sent (the benefit of the doubt); without it, the stricter
    count is only reported."""

    def __init__(self, agents, seed=8):
        self.rng = random.Random(seed)
        self.agents = agents
        self.desks = [d for a in agents for d in a.desks]
        self.hold = False       # True: accept invites but stop nothing
        self.violations = []
        self.strict_only = []   # over the rule only when a sent, unacknowledged stop counts
        self.errors = []
        self.invited = {}       # interactionId -> EventInvite count
        self.done = {}          # interactionId -> acknowledged stops
        self.invites = 0
        self.last_invite = time.monotonic()
        self.spread = 0         # invites that left the agent holding on two servers at once
        self.by_server = {s: 0 for s in SERVERS}

    def _note(self, lst, what):
        if len(lst) < 50:
            lst.append(what)

    def handle(self, d, m, ending):
        s = m.get("seq")
        if s != d.seq + 1:
            self.errors.append("%s@%s: seq %r after %d" % (d.agent.id, d.server, s, d.seq))
        d.seq = s if isinstance(s, int) else d.seq
        name = m.get("message")
        a = d.agent
        if name == "EventInvite":
            iid, med = m.get("interactionId"), m.get("media")
            self.invites += 1
            self.by_server[d.server] += 1
            self.last_invite = time.monotonic()
            lenient = a.counts(lenient=True, ending=ending, at=d)
            strict = a.counts(ending=ending, at=d)
            if harness.rule_blocks(a.rule.get(med), lenient):
                self._note(self.violations, "%s (%s) offered %s %s on %s while holding %s "
                           "(by server %s; newest status there [%s] version %s)"
                           % (a.id, a.rule_name, med, iid, d.server, strict,
                              {x.server: sorted(x.holds) for x in a.desks if not x.eof},
                              harness.fmt_vec(harness.vec(d.last_status or {})),
                              (d.last_status or {}).get("version")))
            elif harness.rule_blocks(a.rule.get(med), strict):
                self._note(self.strict_only, "%s offered %s %s on %s holding %s (a stop in "
                           "flight)" % (a.id, med, iid, d.server, strict))
            self.invited[iid] = self.invited.get(iid, 0) + 1
            d.holds[iid] = med
            if len({x.server for x in a.desks if x.holds and not x.eof}) > 1:
                self.spread += 1
            d.send({"message": "RequestAccept", "interactionId": iid}, "accept", iid)
        elif name == "EventCurrentAgentStatus":
            d.statuses += 1
            d.last_status = m
            media = m.get("media") or {}
            counts = {med: (media.get(med) or {}).get("current", 0) for med in MEDIA}
            if a.reach is not None and tuple(counts[x] for x in MEDIA) not in a.reach:
                self._note(self.violations, "%s@%s status counts %s beyond its rule"
                           % (a.id, d.server, counts))
            for med, v in media.items():
                if (v.get("available") or 0) > 0 and harness.rule_blocks(a.rule.get(med),
                                                                          counts):
                    self._note(self.violations, "%s@%s status shows %s available at %s"
                               % (a.id, d.server, med, counts))
        elif name in ("EventAck", "EventError"):
            kind, iid = d.pending.pop(m.get("referenceId"), (None, None))
            if name == "EventError":
                self.errors.append("%s@%s: %s of %s: %s" % (a.id, d.server, kind, iid,
                                                            harness._short([m])))
                return
            if kind == "accept":
                d.finish_at[iid] = time.monotonic() + self.rng.uniform(*HOLD)
            elif kind == "stop":
                d.holds.pop(iid, None)
                d.stopping.discard(iid)
                self.done[iid] = self.done.get(iid, 0) + 1
        elif name in ("EventRevoked", "EventPartyRemoved", "EventInteractionEnded"):
            self.errors.append("%s@%s: unexpected %s" % (a.id, d.server, harness._short([m])))
            d.holds.pop(m.get("interactionId"), None)

    def step(self, wait=0.01):
        now = time.monotonic()
        if not self.hold:
            for d in self.desks:
                for iid, t in list(d.finish_at.items()):
                    if t <= now and not d.eof:
                        del d.finish_at[iid]
                        d.stopping.add(iid)
                        d.send({"message": "RequestStopProcessing", "interactionId": iid},
                               "stop", iid)
        live = [d for d in self.desks if d.sock is not None and not d.eof]
        if not live:
            time.sleep(wait)
            return
        r, w, _ = select.select([d.sock for d in live], [d.sock for d in live if d.outbuf],
                                [], wait)
        by_sock = {d.sock: d for d in live}
        for s in w:
            d = by_sock[s]
            try:
                d.outbuf = d.outbuf[s.send(d.outbuf):]
            except BlockingIOError:
                pass
            except OSError:
                pass
        # Read every ready socket first, then handle: a stop acknowledged (or a server
        # gone) on one desktop in this round happened before an invite read on another.
        batch = []
        ending = {}
        for s in r:
            d = by_sock[s]
            msgs = []
            gone = False
            while True:
                try:
                    data = s.recv(1 << 20)
                except BlockingIOError:
                    break
                except OSError:
                    data = b""
                if not data:
                    gone = True
                    break
                d.inbuf += data
            while b"\n" in d.inbuf:
                line, d.inbuf = d.inbuf.split(b"\n", 1)
                try:
                    m = json.loads(line.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    self.errors.append("%s@%s: not JSON: %r" % (d.agent.id, d.server, line[:200]))
                    continue
                if isinstance(m, dict):
                    msgs.append(m)
            batch.append((d, msgs, gone))
            if gone:
                ending[d] = None
            else:
                ending[d] = {d.pending[m["referenceId"]][1] for m in msgs
                             if m.get("message") == "EventAck" and
                             d.pending.get(m.get("referenceId"), ("",))[0] == "stop"}
        for d, msgs, gone in batch:
            for m in msgs:
                self.handle(d, m, ending)
            ending.pop(d, None)
            if gone:
                d.eof = True
                d.holds.clear()
                d.finish_at.clear()
                d.stopping.clear()
                d.close()

    def run_until(self, cond, timeout, wait=0.01):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                return False
            self.step(wait)
        return True

    def quiesce(self, quiet=0.5, timeout=15):
        """Steps for at least quiet seconds, until no invite came for quiet seconds and no
        request is in flight."""
        start = time.monotonic()
        deadline = start + timeout
        while time.monotonic() < deadline:
            self.step(0.02)
            pending = any(d.pending or d.outbuf for d in self.desks if not d.eof)
            if not pending and time.monotonic() - max(start, self.last_invite) >= quiet:
                return True
        return False


def status_counts(m):
    media = m.get("media") or {}
    return {x: (media.get(x) or {}).get("current", 0) for x in MEDIA}


def compare_statuses(stat_port, drv, what):
    """At a quiet moment: the statserver's status of every agent and the newest status on
    each of its live desktops count exactly what the agent holds on its live servers."""
    wall = harness.statclient(stat_port)
    bad = []
    for a in drv.agents:
        want = a.counts()
        ans = wall.request({"message": "RequestAgentStatus", "tenant": T, "agentId": a.id})
        if ans.get("message") != "EventAck":
            bad.append("%s: RequestAgentStatus refused %s" % (a.id, harness._short([ans])))
            continue
        st = wall.next(lambda x, i=a.id: harness.is_status(x, i), what="status of " + a.id)
        if status_counts(st) != want or st.get("loggedIn") is not True:
            bad.append("%s: statserver counts %s, agent holds %s" % (a.id, status_counts(st),
                                                                     want))
        for d in a.desks:
            if d.eof:
                continue
            got = status_counts(d.last_status or {})
            if got != want:
                bad.append("%s@%s: newest status counts %s, agent holds %s"
                           % (a.id, d.server, got, want))
    wall.close()
    held = sum(sum(a.counts().values()) for a in drv.agents)
    check(not bad, "%s: the statserver's status of each of the %d agents and the newest "
          "status on each live desktop count what the agent holds (%d held in all) %s"
          % (what, len(drv.agents), held, bad[:5]))


def server_list(stat_port):
    wall = harness.statclient(stat_port)
    ans = wall.request({"message": "RequestServerList"})
    wall.close()
    return {s.get("name"): s for s in ans.get("servers") or []}


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=180) as env:
        layout = plan()
        passwords = {"%s/%s" % (T, aid): "pw" + aid for aid in layout}
        ixns = {s: harness.start_ixn_queues(env, s, agents=passwords, queues=QUEUES,
                                            invite_timeout=60,
                                            extra_server="idle-timeout = 300")
                for s in SERVERS}
        assigns = "".join('assign agent "%s" "%s" "%s";\n' % (T, aid, rule)
                          for aid, (rule, _) in layout.items())
        stat = env.start_stat("stat-1", [ixns[s] for s in SERVERS], rules=RULES + assigns,
                              extra_server="idle-timeout = 300")

        for name in RULE_NAMES:
            assert order_free(CONDS[name]), "rule %s depends on the order of offers" % name
        # Every media of every server has an agent whose rule takes it (else the test
        # itself would leave interactions waiting).
        for s in SERVERS:
            for med in ("chat", "email", "voice"):
                takers = [aid for aid, (rule, desks) in layout.items()
                          for srv, media in desks if srv == s and med in media and
                          not harness.rule_blocks(CONDS[rule][med], {})]
                assert takers, "no agent takes %s on %s" % (med, s)

        agents = []
        for aid, (rule, desks) in layout.items():
            a = Agent(aid, rule)
            for srv, media in desks:
                a.desks.append(Desk(a, srv, ixns[srv].port, media))
            agents.append(a)
        drv = Driver(agents)
        for a in agents:
            for d in a.desks:
                for m in d.connect():
                    drv.handle(d, m, {})
        ok = drv.run_until(lambda: all(d.statuses for d in drv.desks), 20)
        check(ok, "%d agents logged in on %d desktops, each got a status"
              % (len(agents), len(drv.desks)))

        media_servers = {s: harness.media_server(ixns[s].port) for s in SERVERS}
        per = N_IXN // len(SERVERS)
        ids = {s: [] for s in SERVERS}
        t0 = time.monotonic()
        for s in SERVERS:
            items = [(T, MEDIA_CYCLE[i % len(MEDIA_CYCLE)],
                      MEDIA_CYCLE[i % len(MEDIA_CYCLE)] + "-in", {"n": i}, None)
                     for i in range(per)]
            answers = harness.pipeline_submits(media_servers[s], items,
                                               tick=lambda: drv.step(0))
            ids[s] = [x.get("interactionId") for x in answers if x.get("message") == "EventAck"]
            check(len(set(ids[s])) == per, "%s: %d submits acknowledged with distinct ids"
                  % (s, len(set(ids[s]))))
        print("info: %d submits in %.2fs" % (N_IXN, time.monotonic() - t0), flush=True)

        def report_so_far(what):
            for x in drv.violations[:10]:
                print("  violation: %s" % x)
            for x in drv.errors[:10]:
                print("  error: %s" % x)
            check(not drv.errors, "%s: no error answers, seq gaps or unexpected events (%d)"
                  % (what, len(drv.errors)))
            check(not drv.violations, "%s: no invite over the agent's rule summed over its "
                  "servers, no status beyond it (%d invites)" % (what, drv.invites))

        # ---- load until half is done, then ixn-c dies ----
        drv.run_until(lambda: len(drv.done) >= N_IXN // 2 or drv.errors, BOUND)
        report_so_far("first half")
        check(len(drv.done) >= N_IXN // 2, "half of the interactions handled within %.0fs (%d)"
              % (BOUND, len(drv.done)))
        drv.hold = True
        check(drv.quiesce(), "quiet before ixn-c is killed")
        compare_statuses(stat.port, drv, "before the kill of ixn-c")
        on_c = {a.id: sum(len(d.holds) for d in a.desks if d.server == "ixn-c")
                for a in agents}
        check(sum(on_c.values()) > 0, "agents hold %d interactions on ixn-c when it is killed"
              % sum(on_c.values()))
        invites_before = dict(drv.by_server)
        ixns["ixn-c"].kill(signal.SIGKILL)
        check(True, "ixn-c killed (SIGKILL)")
        check(drv.quiesce(), "quiet after the kill of ixn-c")
        check(all(d.eof for d in drv.desks if d.server == "ixn-c"),
              "every desktop on ixn-c saw its connection end")
        compare_statuses(stat.port, drv, "after the kill of ixn-c (its holdings dropped)")
        servers = server_list(stat.port)
        check(servers.get("ixn-c", {}).get("connected") is False and
              servers.get("ixn-c", {}).get("agents") == 0,
              "server list: ixn-c not connected, 0 agents (got %s)" % servers.get("ixn-c"))
        for s in ("ixn-a", "ixn-b"):
            n = sum(1 for d in drv.desks if d.server == s)
            check(servers.get(s, {}).get("connected") is True and
                  servers.get(s, {}).get("agents") == n,
                  "server list: %s connected with %d agents (got %s)" % (s, n, servers.get(s)))

        drv.hold = False
        live_ids = set(ids["ixn-a"]) | set(ids["ixn-b"])
        drv.run_until(lambda: live_ids <= set(drv.done) or drv.errors,
                      max(5.0, BOUND - (time.monotonic() - t0)))
        report_so_far("after the kill of ixn-c")
        check(live_ids <= set(drv.done), "every interaction of ixn-a and ixn-b handled (%d of "
              "%d) within %.0fs" % (len(live_ids & set(drv.done)), len(live_ids), BOUND))
        more = {s: drv.by_server[s] - invites_before[s] for s in ("ixn-a", "ixn-b")}
        check(all(n > 0 for n in more.values()), "ixn-a and ixn-b kept routing after the kill "
              "(%s invites)" % more)
        print("info: load phase %.1fs; %d invites; %d left one agent holding on two servers"
              % (time.monotonic() - t0, drv.invites, drv.spread), flush=True)
        check(drv.spread > 0, "agents held interactions of two servers at once (%d invites)"
              % drv.spread)

        # ---- the statserver dies ----
        check(drv.quiesce(0.3), "quiet before the statserver is killed")
        drv.hold = True
        held_ids = []
        for s in ("ixn-a", "ixn-b"):
            for med in ("chat", "chat", "email"):
                held_ids.append(harness.submit_ok(media_servers[s], T, med, med + "-in"))
        ok = drv.run_until(lambda: all(i in drv.invited for i in held_ids), 10)
        check(ok, "6 more interactions offered and held")
        check(drv.quiesce(), "quiet before the statserver is killed")
        stat.kill(signal.SIGKILL)
        check(True, "statserver killed (SIGKILL)")
        time.sleep(0.2)
        late = []
        for s in ("ixn-a", "ixn-b"):
            for med in ("chat", "email"):
                late.append(harness.submit_ok(media_servers[s], T, med, med + "-in"))
        n0 = drv.invites
        drv.run_until(lambda: False, 1.0)
        check(drv.invites == n0, "no invitation while the statserver is away (%d)"
              % (drv.invites - n0))
        for s in ("ixn-a", "ixn-b"):
            q = harness.queue_status(media_servers[s])
            w = sum(x.get("waiting", 0) for x in q.values())
            check(w == 2, "%s: the 2 interactions submitted meanwhile wait (got %d)" % (s, w))
        stat.restart()
        check(True, "statserver restarted")
        ok = drv.run_until(lambda: all(i in drv.invited for i in late), 10)
        check(ok, "routing resumes: the 4 waiting interactions offered after the restart "
              "(%d of 4)" % sum(1 for i in late if i in drv.invited))
        check(drv.quiesce(), "quiet after the statserver's restart")
        compare_statuses(stat.port, drv, "after the statserver's restart")

        # ---- everything ends ----
        drv.hold = False
        all_live = live_ids | set(held_ids) | set(late)
        drv.run_until(lambda: all_live <= set(drv.done) and
                      not any(d.holds for d in drv.desks if not d.eof), 20)
        report_so_far("end")
        check(all_live <= set(drv.done), "every interaction of ixn-a and ixn-b handled (%d of "
              "%d)" % (len(all_live & set(drv.done)), len(all_live)))
        twice = [i for i, n in drv.invited.items() if n != 1 and i in all_live]
        check(not twice, "every interaction of ixn-a and ixn-b offered exactly once (%s)"
              % twice[:5])
        check(all(n == 1 for n in drv.done.values()), "none handled twice (on any server)")
        c_done = sum(1 for i in ids["ixn-c"] if i in drv.done)
        print("info: ixn-c handled %d of its %d before it was killed" % (c_done, per))
        for s in ("ixn-a", "ixn-b"):
            q = harness.queue_status(media_servers[s])
            check(all(x.get("waiting") == 0 and x.get("invited") == 0 and x.get("handling") == 0
                      for x in q.values()), "%s: every queue ends empty" % s)
        if drv.strict_only:
            print("info: %d invites came while a stop of the same agent was sent but not yet "
                  "acknowledged and would be over the rule counting it: %s"
                  % (len(drv.strict_only), drv.strict_only[:3]))
        harness.alive(ixns["ixn-a"], ixns["ixn-b"], stat)
        print("info: whole test %.1fs" % (time.monotonic() - t0))
    print("PASS test_capacity_multi")


if __name__ == "__main__":
    main()
