#!/usr/bin/env python3
"""SIGHUP reload of routing.md section 5 on ixn-a of two ixnservers linked to one real
statserver (reservations granted by it); ixn-b keeps its file until the end.

(a) A skill added to a logged-in agent: a chat waiting in `es` (`es >= 3`) is offered to
it without a re-login, on its open connection; the reporting engines of ixn-a see
EventPlaceAgentState cause SkillsChanged with the new skills, those of ixn-b nothing, and
ixn-b's waiting chat still matches nobody. (b) A broken file (a bad target, and besides
it a skill removed, an agent and a queue added): the error names the file, line and
column, event=config_reload_failed is logged, and nothing changes: the old skill still
routes, the added queue refuses submits (3 naming queue), the added agent cannot log in
(5), no SkillsChanged. (c) A removed agent holding an invite is logged out (loggedIn
false to the reporting engines), its desktop's connection closed, the chat back in its
queue, a new login refused (5); on ixn-b it stays logged in. (d) A removed queue drains:
a submit gets 3 naming queue, its two waiting chats are still offered, one after the
other. (e) A queue added by the reload takes submits and routes them; a reload giving a
queue (a draining one too) another media is refused and changes nothing. (f) No other
connection (media servers, reporting engines, desktops, the statserver's links) dropped
across the reloads. (g) ixn-b reloaded with the skill: its waiting chat goes to the agent."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_error  # noqa: E402
import routing_rig as rr  # noqa: E402

A, B = "ixn-a", "ixn-b"
T = rr.T
AGENTS = ["4001", "4003", "4004", "4005"]
QUEUES = {"es": "chat", "gen": "chat", "old": "chat"}
SKILLS = {"4003": "g:1", "4004": "drn:1"}
TARGETS = {"es": "es >= 3", "gen": "g >= 1", "old": "drn >= 1"}


def is_skills_changed(aid):
    return lambda m: harness.is_state(m, aid, "SkillsChanged")


def reload_ok(rig, name, what):
    """SIGHUP name and wait for event=config_reloaded after it."""
    mark = len(rig.ixn[name].stderr())
    rig.sighup(name)
    err = rig.wait_log(name, "event=config_reloaded", after=mark)
    check("event=config_reloaded" in err and "config_reload_failed" not in err,
          "%s: %s reloaded its file" % (what, name))


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=90) as env:
        rig = rr.Rig(env, (A, B), AGENTS, QUEUES, skills=SKILLS, targets=TARGETS)
        msa, msb = rig.ms[A], rig.ms[B]
        obs_a = harness.Observer(rig.ixn[A].port, "observer on ixn-a")
        obs_b = harness.Observer(rig.ixn[B].port, "observer on ixn-b")
        for srv in (A, B):
            rig.login(srv, "4001")
            rig.login(srv, "4003")
            rig.login(srv, "4005", media={"email": 1})
        rig.login(A, "4004", media={"chat": 0})
        d1a, d1b = rig.desks[(A, "4001")], rig.desks[(B, "4001")]
        rr.wait_avail(list(rig.desks_of("4001").values()) + list(rig.desks_of("4003").values()),
                      1, "4001 and 4003 routable on both servers")
        everyone = dict(rig.desks)

        # 4003 holds g1 (gen is only for g >= 1); x and y wait in es for an es agent.
        g1 = rr.submit_ok(msa, "gen", what="g1")
        rig.desks[(A, "4003")].next(harness.is_invite(g1), what="invite of g1 to 4003")
        x = rr.submit_ok(msa, "es", what="x on ixn-a")
        y = rr.submit_ok(msb, "es", what="y on ixn-b")
        d_old = [rr.submit_ok(msa, "old", what="old %d" % i) for i in (1, 2)]
        rr.no_invite(everyone, 0.4, "before the reloads: x, y and the old ones wait")
        rr.expect_explain(rr.explain(msa, x, "x before"), "x before", state="Queued", matching=0)

        # (a) The skill added.
        skills1 = dict(SKILLS, **{"4001": "es:5"})
        rig.rewrite(A, AGENTS, QUEUES, skills1, TARGETS)
        reload_ok(rig, A, "skill added")
        got = rr.gather_invites(everyone, 1, timeout=5, quiet=0.3)
        check([(k, m.get("interactionId")) for k, m, _ in got] == [((A, "4001"), x)],
              "skill added: x offered to 4001 on ixn-a on its open connection (got %s)"
              % [(k, m.get("interactionId")) for k, m, _ in got])
        st = obs_a.c.next(is_skills_changed("4001"), what="SkillsChanged of 4001 on ixn-a")
        check(st.get("skills") == {"es": 5} and st.get("loggedIn") is True,
              "skill added: ixn-a reports 4001 SkillsChanged with skills {es: 5} (got %s)"
              % harness._short([st]))
        obs_b.c.expect_none(is_skills_changed("4001"), wait=0.2)
        check(True, "skill added: ixn-b (not reloaded) reports no SkillsChanged")
        rr.expect_explain(rr.explain(msb, y, "y on ixn-b"), "y on ixn-b", state="Queued",
                          matching=0)
        rr.done(d1a, x, "x")
        rr.wait_avail([d1a, d1b], 1, "4001 free after x")

        # (b) A broken file changes nothing.
        broken_targets = dict(TARGETS, es="es >= 3 or lang >> 2", newq="es >= 1")
        text = rig.rewrite(A, AGENTS + ["4009"], dict(QUEUES, newq="chat"),
                           dict(SKILLS, **{"4001": ""}), broken_targets)
        lines = text.splitlines()
        bad_line = "%s/es = es >= 3 or lang >> 2" % T
        lineno = lines.index(bad_line) + 1
        value = "es >= 3 or lang >> 2"
        vcol = value.index(">> 2") + 2
        lcol = bad_line.index(value) + vcol
        mark = len(rig.ixn[A].stderr())
        obs_a.c.drain(0)
        rig.sighup(A)
        err = rig.wait_log(A, "event=config_reload_failed", after=mark)
        path = rig.ixn[A].config
        harness.ok(("%s:%d:%d: [targets] %s/es:" % (path, lineno, lcol, T)) in err or
                   ("%s:%d: [targets] %s/es: column %d: " % (path, lineno, T, lcol)) in err,
                   "broken file: the error names line %d and column %d (got %s)"
                   % (lineno, lcol, err.strip()[-600:]))
        check("event=config_reloaded" not in err, "broken file: not reloaded")
        x2 = rr.submit_ok(msa, "es", what="x2")
        got = rr.gather_invites(everyone, 1, timeout=5, quiet=0.3)
        check([(k, m.get("interactionId")) for k, m, _ in got] == [((A, "4001"), x2)],
              "broken file: 4001's old skill still routes x2 to it (got %s)"
              % [(k, m.get("interactionId")) for k, m, _ in got])
        expect_error(rr.submit(msa, "newq"), 3, "broken file: the queue it adds is unknown",
                     field="queue")
        c = harness.Client(rig.ixn[A].port)
        c.register("AgentApplication", harness.DESK_TOKEN)
        expect_error(c.request({"message": "RequestAgentLogin", "tenant": T, "agentId": "4009",
                                "placeId": "P4009", "password": "pw4009",
                                "mediaList": {"chat": 1}}), 5,
                     "broken file: the agent it adds cannot log in")
        obs_a.c.expect_none(is_skills_changed("4001"), wait=0.1)
        check(True, "broken file: no SkillsChanged")
        # 4001 keeps x2 across the next reload: only 4004 is free for the removed queue.
        rr.accept(d1a, x2, "x2")

        # (c), (d), (e): 4003 and queue old removed, queue newq added.
        agents3 = [a for a in AGENTS if a != "4003"]
        skills3 = {"4001": "es:5", "4004": "drn:1"}
        queues3 = {"es": "chat", "gen": "chat", "newq": "chat"}
        targets3 = {"es": "es >= 3", "gen": "g >= 1", "newq": "es >= 1"}
        rig.rewrite(A, agents3, queues3, skills3, targets3)
        obs_a.c.drain(0)
        obs_b.c.drain(0)
        d3a = rig.desks.pop((A, "4003"))
        reload_ok(rig, A, "agent and queue removed")
        check(d3a.closed(timeout=3), "removed agent: its desktop's connection on ixn-a closed")
        st = obs_a.c.next(lambda m: harness.is_state(m, "4003") and m.get("loggedIn") is False,
                          what="logout of 4003 on ixn-a")
        check(st.get("interactions") == [], "removed agent: logged out holding nothing (got %s)"
              % harness._short([st]))
        obs_b.c.expect_none(lambda m: harness.is_state(m, "4003"), wait=0.2)
        check(True, "removed agent: ixn-b reports no change of 4003")
        rr.expect_explain(rr.explain(msa, g1, "g1 after 4003's removal"),
                          "g1 after 4003's removal", state="Queued", agentId=None)
        c = harness.Client(rig.ixn[A].port)
        c.register("AgentApplication", harness.DESK_TOKEN)
        expect_error(c.request({"message": "RequestAgentLogin", "tenant": T, "agentId": "4003",
                                "placeId": "P4003", "password": "pw4003",
                                "mediaList": {"chat": 1}}), 5,
                     "removed agent: a new login on ixn-a refused")
        rr.ping_all([rig.desks[(B, "4003")]], "removed agent: its desktop on ixn-b")

        expect_error(rr.submit(msa, "old"), 3, "removed queue: a submit", field="queue")
        d4 = rig.desks[(A, "4004")]
        rr.set_ready(d4, True, "removed queue: 4004")
        for i, iid in enumerate(d_old):
            m = d4.next(harness.is_invite(), timeout=5, what="removed queue: invite %d" % (i + 1))
            check(m["interactionId"] == iid and m.get("queue") == "old",
                  "removed queue: its chat %d still offered, in order (got %s)"
                  % (i + 1, harness._short([m])))
            rr.done(d4, iid, "old %d" % (i + 1))
        harness.expect_ack(d1a.request({"message": "RequestStopProcessing",
                                        "interactionId": x2}), "x2 done")
        rr.wait_avail([d1a, d1b], 1, "4001 free after x2")
        n1 = rr.submit_ok(msa, "newq", what="added queue: n1")
        d1a.next(harness.is_invite(n1), what="added queue: invite of n1 to 4001")
        check(True, "added queue: n1 offered to 4001 (es >= 1)")
        rr.done(d1a, n1, "n1")
        q = harness.queue_status(msa)
        check((T, "old") not in q or q[(T, "old")].get("waiting") == 0,
              "removed queue: nothing waits in it (got %s)" % q.get((T, "old")))
        check(q.get((T, "newq"), {}).get("media") == "chat", "added queue in the queue status")

        # A reload may not give a queue another media, a draining one included.
        for bad_queues, what in ((dict(queues3, gen="email"), "gen moved to email"),
                                 (dict(queues3, old="voice"), "the removed old back as voice")):
            rig.rewrite(A, agents3, bad_queues, skills3, targets3)
            mark = len(rig.ixn[A].stderr())
            rig.sighup(A)
            err = rig.wait_log(A, "event=config_reload_failed", after=mark)
            harness.ok("another media" in err and "event=config_reloaded" not in err,
                       "%s: reload refused (got %s)" % (what, err.strip()[-400:]))
        rig.rewrite(A, agents3, queues3, skills3, targets3)
        q = harness.queue_status(msa)
        check(q.get((T, "gen"), {}).get("media") == "chat" and
              q.get((T, "old"), {}).get("media") in (None, "chat"),
              "refused reloads: gen and old keep chat (got %s, %s)"
              % (q.get((T, "gen")), q.get((T, "old"))))
        expect_error(rr.submit(msa, "old", media="voice"), 3,
                     "refused reloads: old takes no voice submit", field="queue")
        expect_error(rr.submit(msa, "gen", media="email"), 3,
                     "refused reloads: gen takes no email submit", field="queue")

        # (f) Nothing else dropped; the statserver's links stayed up.
        rr.ping_all([msa, msb, obs_a.c, obs_b.c] + rig.all_desks(), "after the reloads")
        check("event=link_down" not in rig.stat.stderr(),
              "the statserver's links to both servers stayed up")

        # (g) ixn-b reloaded with the skill too: y goes to 4001 there.
        obs_b.c.drain(0)
        rig.rewrite(B, AGENTS, QUEUES, skills1, TARGETS)
        reload_ok(rig, B, "skill added on ixn-b")
        d1b.next(harness.is_invite(y), timeout=5, what="invite of y to 4001 on ixn-b")
        check(True, "ixn-b: y offered to 4001 after its reload")
        st = obs_b.c.next(is_skills_changed("4001"), what="SkillsChanged of 4001 on ixn-b")
        check(st.get("skills") == {"es": 5}, "ixn-b: SkillsChanged with {es: 5}")
        rr.ping_all([msa, msb, obs_a.c, obs_b.c] + rig.all_desks(), "at the end")
        harness.alive(*rig.ixn.values(), rig.stat)


if __name__ == "__main__":
    main()
