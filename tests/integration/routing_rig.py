"""Shared rig of the routing tests of issue 10 (test_routing_*.py): interaction servers
with skills, targets and queue options in their configuration, linked to one real
statserver (every offer under a reservation it grants), desktops of agents logged in to
one or several of those servers, and helpers that read every desktop at once.

Not a test itself (CMake registers only test_*.py). Every agent is of the tenant T; its
password is "pw" + its id and its place "P" + its id. The statserver's rule ONE_CHAT lets
an agent hold one chat over all its servers, so that who gets an interaction decides the
checks: an agent that got one is full until it is done with it, on every server.
"""

import os
import select
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

T = "Resources"

# One chat (and one email) at a time over all of an agent's servers.
ONE_CHAT = ('rule "One" { chat = chat >= 1; email = email >= 1; }\n'
            'assign tenant "Resources" "One";\n')


def config_tail(agents, queues, skills=None, targets=None, options=None, hashes=None,
                after_work=None):
    """The sections after [tokens] of an ixnserver ini as harness.start_ixn_queues writes
    them: [agents] (hashes {id: crypt hash}), [queues], [after-work] {media: seconds} and
    the routing sections. Values are written as given, so a test can put a broken one in."""
    lines = ["[agents]"]
    for aid in agents:
        lines.append("%s/%s = %s" % (T, aid, hashes[aid]))
    lines += routing_sections(queues, None, None, None)
    if after_work:
        lines.append("[after-work]")
        lines += ["%s = %d" % (m, s) for m, s in after_work.items()]
    lines += routing_sections({}, skills, targets, options)[1:]
    return "\n".join(lines) + "\n"


def routing_sections(queues, skills=None, targets=None, options=None):
    """[queues] {name: media}, [skills] {agent id: text}, [targets] {queue: text} and
    [queue-options] {queue: text} as lines (the tenant T put before each key)."""
    lines = ["[queues]"] + ["%s/%s = %s" % (T, q, m) for q, m in queues.items()]
    for section, pairs in (("skills", skills), ("targets", targets),
                           ("queue-options", options)):
        if pairs:
            lines.append("[%s]" % section)
            lines += ["%s/%s = %s" % (T, k, v) for k, v in pairs.items()]
    return lines


class Rig:
    """Interaction servers (names in servers, one configuration for all), one statserver
    linked to all of them, a MediaServer client on each (self.ms[name]) and the desktops
    the test logs in (self.desks[(name, agent id)])."""

    def __init__(self, env, servers, agents, queues, skills=None, targets=None, options=None,
                 rules=ONE_CHAT, after_work=None, invite_timeout=None):
        self.env = env
        self.agents = list(agents)
        self.after_work = after_work
        self.ixn = {}
        extra = "\n".join(routing_sections({}, skills, targets, options)[1:])
        for name in servers:
            self.ixn[name] = harness.start_ixn_queues(
                env, name, agents={"%s/%s" % (T, a): "pw" + a for a in agents},
                queues={"%s/%s" % (T, q): m for q, m in queues.items()},
                after_work=after_work, invite_timeout=invite_timeout, extra=extra)
        self.stat = env.start_stat("stat", ixns=list(self.ixn.values()), rules=rules)
        self.ms = {name: harness.media_server(p.port) for name, p in self.ixn.items()}
        self.desks = {}

    # -- configuration --

    def rewrite(self, name, agents, queues, skills=None, targets=None, options=None,
                raw_tail=None):
        """Rewrites the ini of server name: its [server] and [tokens] part as written at the
        start, then the agents (passwords "pw" + id), queues and routing sections given
        (raw_tail: text put after them, e.g. a broken line). Returns the new file's text."""
        proc = self.ixn[name]
        with open(proc.config) as f:
            text = f.read()
        head = text[:text.index("[agents]\n")]
        hashes = {a: self.env.hash_password("pw" + a) for a in agents}
        body = config_tail(agents, queues, skills, targets, options, hashes, self.after_work)
        if raw_tail:
            body += raw_tail.strip("\n") + "\n"
        new = head + body
        with open(proc.config, "w") as f:
            f.write(new)
        return new

    def sighup(self, name):
        """Sends SIGHUP to server name (by pid)."""
        os.kill(self.ixn[name].pid, signal.SIGHUP)

    def wait_log(self, name, text, after=0, timeout=5):
        """Waits until the stderr of server name holds text at or after offset after;
        returns the stderr from after on (a FAIL line when it does not come)."""
        deadline = time.monotonic() + timeout
        while True:
            err = self.ixn[name].stderr()[after:]
            if text in err:
                return err
            if time.monotonic() > deadline:
                check(False, "%s logs %r within %ss (stderr since: %s)"
                      % (name, text, timeout, err[-1500:]))
                return err
            time.sleep(0.05)

    # -- agents --

    def login(self, name, aid, media=None):
        """Logs agent aid in to server name (media default {"chat": 1}); returns the desk."""
        d = harness.agent(self.ixn[name].port, T, aid, "P" + aid, "pw" + aid,
                          media={"chat": 1} if media is None else media)
        self.desks[(name, aid)] = d
        return d

    def desks_of(self, aid):
        """Every desk of agent aid, {server name: client}."""
        return {n: d for (n, a), d in self.desks.items() if a == aid}

    def all_desks(self):
        return list(self.desks.values())


# ---------------------------------------------------------------------------------------
# Reading many clients at once
# ---------------------------------------------------------------------------------------


def poll(clients, wait):
    """Reads whatever the clients' servers send within wait seconds (at least one look at
    every socket); the messages go to each client's queue and log."""
    deadline = time.monotonic() + wait
    while True:
        live = [c for c in clients if c.sock is not None and not c.eof]
        if not live:
            return
        left = max(0.0, deadline - time.monotonic())
        r, _, _ = select.select([c.sock for c in live], [], [], left)
        for c in live:
            if c.sock in r:
                c._read_some(time.monotonic() + 0.05, pump=False)
        if time.monotonic() >= deadline:
            return


def last_status(c):
    """The newest EventCurrentAgentStatus c received, or None."""
    for m in reversed(c.log):
        if harness.is_status(m):
            return m
    return None


def avail(c, media="chat"):
    """available of media in the newest status on c (None without a status)."""
    m = last_status(c)
    if m is None:
        return None
    return ((m.get("media") or {}).get(media) or {}).get("available")


def wait_avail(clients, want, what, media="chat", timeout=5):
    """Reads until the newest status on every client shows available == want for media."""
    clients = list(clients)
    deadline = time.monotonic() + timeout
    while True:
        late = [c for c in clients if avail(c, media) != want]
        if not late:
            check(True, "%s: %s available %d" % (what, media, want))
            _drop_statuses(clients)
            return
        if time.monotonic() > deadline:
            check(False, "%s: %s available %d within %ss (newest: %s)" % (
                what, media, want, timeout,
                ["%s" % harness._short([last_status(c)]) for c in late]))
            return
        poll(clients, min(0.1, max(0.0, deadline - time.monotonic())))


def _drop_statuses(clients):
    """Forgets queued statuses (the newest stays readable through the log)."""
    for c in clients:
        c.queue = [m for m in c.queue if not harness.is_status(m)]


def take_invites(desks):
    """Removes and returns the queued invites of desks {key: client} as [(key, invite)]."""
    out = []
    for key, c in desks.items():
        for m in [x for x in c.queue if x.get("message") == "EventInvite"]:
            c.queue.remove(m)
            out.append((key, m))
    return out


def gather_invites(desks, count, timeout=5, quiet=0.3):
    """Reads desks {key: client} until count invites came, then quiet seconds more (an
    invite too many then shows); returns [(key, invite, monotonic arrival)]."""
    got = []
    deadline = time.monotonic() + timeout
    clients = list(desks.values())
    while len(got) < count and time.monotonic() < deadline:
        poll(clients, min(0.05, max(0.0, deadline - time.monotonic())))
        now = time.monotonic()
        got += [(k, m, now) for k, m in take_invites(desks)]
    if quiet:
        end = time.monotonic() + quiet
        while time.monotonic() < end:
            poll(clients, min(0.05, max(0.0, end - time.monotonic())))
            now = time.monotonic()
            got += [(k, m, now) for k, m in take_invites(desks)]
    return got


def no_invite(desks, wait, what):
    """No invite reaches any of desks {key: client} within wait seconds."""
    got = gather_invites(desks, 1, timeout=wait, quiet=0)
    check(not got, "%s: no invite within %.1fs (got %s)" % (
        what, wait, [(k, m.get("interactionId")) for k, m, _ in got]))


# ---------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------


def submit(ms, queue, priority=None, media="chat", tenant=T):
    """RequestSubmit (priority when given); returns the answer."""
    req = {"message": "RequestSubmit", "tenant": tenant, "media": media, "queue": queue}
    if priority is not None:
        req["priority"] = priority
    return ms.request(req)


def submit_ok(ms, queue, priority=None, media="chat", what=None):
    """A submit that must be acknowledged; returns the interactionId."""
    ans = submit(ms, queue, priority, media)
    ok = ans.get("message") == "EventAck" and isinstance(ans.get("interactionId"), str)
    if not ok:
        check(False, "%s: submit to %s acknowledged (got %s)" % (
            what or "submit", queue, harness._short([ans])))
        raise harness.Failure("submit refused")
    return ans["interactionId"]


def explain(c, iid, what):
    """RequestExplainRouting on c; the answer must be an EventAck. Returns it."""
    ans = c.request({"message": "RequestExplainRouting", "interactionId": iid})
    harness.ok(ans.get("message") == "EventAck", "%s: explain acknowledged (got %s)"
               % (what, harness._short([ans])))
    return ans


def expect_explain(ans, what, **want):
    """Each field of want equals the answer's (key absent: want None means the field must
    be absent); agents is compared as a list of (agentId, why) in the answer's order, or
    as a set when given as a set."""
    for k, v in want.items():
        if k == "agents":
            got = [(a.get("agentId"), a.get("why")) for a in ans.get("agents") or []]
            if isinstance(v, set):
                good = set(got) == v and len(got) == len(v)
                shown = sorted(v)
            else:
                good = got == list(v)
                shown = list(v)
            harness.ok(good and isinstance(ans.get("agents"), list),
                       "%s: agents %s (got %s)" % (what, shown, got))
        elif v is None:
            harness.ok(k not in ans, "%s: no %s (got %r)" % (what, k, ans.get(k)))
        else:
            harness.ok(ans.get(k) == v and type(ans.get(k)) is type(v),
                       "%s: %s = %r (got %r)" % (what, k, v, ans.get(k)))


def accept(desk, iid, what):
    harness.expect_ack(desk.request({"message": "RequestAccept", "interactionId": iid}),
                       "%s: accept %s" % (what, iid))


def done(desk, iid, what):
    """Accept and stop processing (chat has no after-work in these tests: it ends)."""
    accept(desk, iid, what)
    harness.expect_ack(desk.request({"message": "RequestStopProcessing", "interactionId": iid}),
                       "%s: stop %s" % (what, iid))


def ms_stop(ms, iid, what):
    """The media server ends the interaction wherever it is."""
    harness.expect_ack(ms.request({"message": "RequestStopProcessing", "interactionId": iid,
                                   "reason": "CustomerLeft"}), "%s: media server stops %s"
                       % (what, iid))


def set_ready(desk, ready, what, media="chat"):
    req = {"message": "RequestCancelNotReadyForMedia" if ready else "RequestNotReadyForMedia",
           "media": media}
    harness.expect_ack(desk.request(req), "%s: %s %s" % (what, "ready" if ready else
                                                         "not ready", media))


def ping_all(clients, what):
    """Every client still connected and answered (a ping)."""
    for c in clients:
        ok = not c.eof and c.sock is not None
        ans = None
        if ok:
            try:
                ans = c.request({"message": "RequestPing"}, timeout=5)
            except harness.Timeout:
                ok = False
        check(ok and ans.get("message") == "EventAck",
              "%s: connection to port %d still served (got %s)"
              % (what, c.port, harness._short([ans]) if ans else "closed"))
