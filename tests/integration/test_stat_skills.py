#!/usr/bin/env python3
"""Skills in the statserver's statuses (routing.md section 1, docs/statserver.md): the
statserver keeps the skills each interaction server reports in EventPlaceAgentState and
carries those of the agent's earliest login in every EventCurrentAgentStatus, always (`{}`
when none): in the subscription snapshot, in live updates, in RequestAgentStatus answers,
and in the statuses the ixnserver forwards to the desktop; when the earliest login ends,
the other server's skills take over. Then configuration reloads (SIGHUP) change the
skills of logged-in agents: the new skills reach the subscribers and the desktops at once,
while new skills for an agent whose earliest login is on another server change nothing
the subscribers see. The reload part is skipped, with a SKIP line, when the ixnserver has
no configuration reload."""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import is_status, ok, alive, check  # noqa: E402

T = "Resources"
AGENTS = {"Resources/1001": "pw1001", "Resources/1002": "pw1002", "Resources/1003": "pw1003"}
# [skills] of each server. 1001 has other skills on ixn-b, where it logs in second: its
# statuses must carry ixn-a's. 1003 has no line: no skills.
SKILLS_A = {"1001": "spanish:5, billing:9", "1002": "sales:7"}
SKILLS_B = {"1001": "german:3", "1002": "sales:7"}
# After the reload of ixn-a: a level changed and a skill added for 1001, 1002's removed
# (an empty value), 1003 given one.
SKILLS_A2 = {"1001": "spanish:6, billing:9, french:2", "1002": "", "1003": "vip:1"}
SKILLS_B2 = {"1001": "german:4", "1002": "sales:7"}
# How long the ixnserver gets to log the outcome of a SIGHUP.
RELOAD_WAIT = 5.0


def skills_section(skills):
    return "[skills]\n" + "".join("%s/%s = %s\n" % (T, a, v) for a, v in skills.items())


def rewrite_skills(proc, skills):
    """Replaces the [skills] section, written last by start_ixn, in proc's config file."""
    with open(proc.config) as f:
        text = f.read()
    head = text[:text.index("[skills]\n")]
    with open(proc.config, "w") as f:
        f.write(head + skills_section(skills))


def status_of(agent_id, skills=None):
    return lambda m: is_status(m, agent_id) and (skills is None or m.get("skills") == skills)


def all_carry_skills(c, what):
    """Every status c has received so far carries a `skills` object."""
    statuses = [m for m in c.log if is_status(m)]
    bad = [m for m in statuses if not isinstance(m.get("skills"), dict)]
    ok(statuses and not bad, "%s: every one of %d statuses carries a skills object (without: %s)"
       % (what, len(statuses), bad[:2]))


def snapshot(sc, what):
    ans = sc.request({"message": "RequestSubscribeAgentStatus", "tenants": [T]})
    ok(ans.get("message") == "EventAck", "%s: subscribe acked (got %s)" % (what, ans))
    got = {}
    while True:
        m = sc.next(lambda x: is_status(x) or x.get("message") == "EventAgentStatusSnapshotDone",
                    timeout=5, what="the snapshot")
        if m["message"] == "EventAgentStatusSnapshotDone":
            return got
        got[m.get("agentId")] = m


def agent_status(sc, agent_id, what):
    ans = sc.request({"message": "RequestAgentStatus", "tenant": T, "agentId": agent_id})
    ok(ans.get("message") == "EventAck", "%s: RequestAgentStatus acked (got %s)" % (what, ans))
    return sc.next(status_of(agent_id), timeout=5, what="the status of %s" % agent_id)


def reload(proc, skills):
    """Rewrites proc's skills and sends SIGHUP; the ixnserver must log event=config_reloaded
    within RELOAD_WAIT seconds."""
    before = len(proc.stderr())
    rewrite_skills(proc, skills)
    proc.kill(signal.SIGHUP)
    deadline = time.monotonic() + RELOAD_WAIT
    while time.monotonic() < deadline:
        if "event=config_reloaded" in proc.stderr()[before:]:
            return True
        time.sleep(0.05)
    check(False, "%s logged event=config_reloaded within %.0fs of SIGHUP (%r)"
          % (proc.name, RELOAD_WAIT, proc.stderr()[before:].strip()[-200:]))
    return False


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=60) as env:
        ixa = env.start_ixn("ixn-a", agents=AGENTS, extra=skills_section(SKILLS_A))
        ixb = env.start_ixn("ixn-b", agents=AGENTS, extra=skills_section(SKILLS_B))
        stat = env.start_stat("stat-1", ixns=[ixa, ixb], rules=harness.BLENDED_TENANT_RULES)
        sc = harness.statclient(stat.port)
        deadline = time.monotonic() + 10
        while True:
            ans = sc.request({"message": "RequestServerList"})
            if all(s.get("connected") for s in ans.get("servers", [])):
                break
            ok(time.monotonic() < deadline, "both servers connect to the statserver (%s)" % ans)
            time.sleep(0.1)

        # 1001 logs in on ixn-a first, then on ixn-b: ixn-a's is the earliest login.
        desk_a = harness.agent(ixa.port, T, "1001", "P1001", "pw1001")
        m = desk_a.next(status_of("1001"), timeout=5, what="the first status of 1001")
        ok(m.get("skills") == {"spanish": 5, "billing": 9},
           "the status forwarded to the desk of 1001 on ixn-a carries its skills (got %s)"
           % m.get("skills"))
        time.sleep(0.05)  # a later loginTime on ixn-b, in whole milliseconds
        desk_b = harness.agent(ixb.port, T, "1001", "P1001b", "pw1001")
        m = desk_b.next(status_of("1001"), timeout=5, what="the first status of 1001 on ixn-b")
        ok(m.get("skills") == {"spanish": 5, "billing": 9},
           "on ixn-b too, 1001's status carries the skills of its earliest login (ixn-a), not "
           "ixn-b's german:3 (got %s)" % m.get("skills"))
        ok(m.get("placeId") == "P1001", "and the place of that login (got %s)" % m.get("placeId"))
        d2 = harness.agent(ixa.port, T, "1002", "P1002", "pw1002")
        d3 = harness.agent(ixa.port, T, "1003", "P1003", "pw1003")
        m = d3.next(status_of("1003"), timeout=5, what="the status of 1003")
        ok(m.get("skills") == {}, "an agent without skills has skills {} (got %s)" % m.get("skills"))

        # The snapshot of a subscription.
        sub = harness.statclient(stat.port)
        snap = snapshot(sub, "snapshot")
        ok(sorted(snap) == ["1001", "1002", "1003"], "the snapshot has the three agents (%s)"
           % sorted(snap))
        for agent_id, want in (("1001", {"spanish": 5, "billing": 9}), ("1002", {"sales": 7}),
                               ("1003", {})):
            ok(snap.get(agent_id, {}).get("skills") == want,
               "snapshot: %s has skills %s (got %s)" % (agent_id, want,
                                                      snap.get(agent_id, {}).get("skills")))

        # RequestAgentStatus, of a logged-in agent and of an unknown one.
        m = agent_status(sc, "1002", "1002")
        ok(m.get("skills") == {"sales": 7}, "RequestAgentStatus 1002: skills (got %s)"
           % m.get("skills"))
        m = agent_status(sc, "9999", "unknown agent")
        ok(m.get("loggedIn") is False and m.get("skills") == {},
           "RequestAgentStatus of an unknown agent: logged out, skills {} (got %s)" % m)

        # A live update (not ready) carries the skills unchanged.
        ans = d2.request({"message": "RequestNotReadyForMedia", "media": "chat"})
        ok(ans.get("message") == "EventAck", "1002 goes not ready (got %s)" % ans)
        m = sub.next(lambda x: status_of("1002")(x) and not x.get("media", {}).get("chat", {}).get("ready", True),
                     timeout=5, what="the not-ready status of 1002")
        ok(m.get("skills") == {"sales": 7}, "a live update carries the skills (got %s)"
           % m.get("skills"))

        # 1001 leaves ixn-a: ixn-b's login is the only one, and its skills take over.
        ans = desk_a.request({"message": "RequestAgentLogout"})
        ok(ans.get("message") == "EventAck", "1001 logs out of ixn-a (got %s)" % ans)
        m = sub.next(status_of("1001", {"german": 3}), timeout=5,
                     what="1001's status with ixn-b's skills")
        ok(m.get("placeId") == "P1001b", "1001 logged out of ixn-a: its status carries ixn-b's "
           "skills german:3 and place (got %s)" % m.get("placeId"))
        desk_b.next(status_of("1001", {"german": 3}), timeout=5,
                    what="the desk on ixn-b hears of german:3")
        ok(True, "the desk on ixn-b gets the status with german:3")
        desk_a = harness.agent(ixa.port, T, "1001", "P1001", "pw1001")
        desk_a.next(status_of("1001"), timeout=5, what="the status of 1001 again on ixn-a")
        sub.drain(0.3)

        # ---- reload of ixn-a (the later login of 1001 now; still 1002's and 1003's only one)
        mark = len(sub.log)
        if reload(ixa, SKILLS_A2):
            m = sub.next(status_of("1002", {}), timeout=5, what="1002's status without skills")
            ok(True, "after the reload of ixn-a, 1002's skills removed: subscribers get skills {}")
            m = sub.next(status_of("1003", {"vip": 1}), timeout=5, what="1003's status with vip")
            ok(True, "1003 given vip:1 by the reload: subscribers see it without a re-login")
            d3.next(status_of("1003", {"vip": 1}), timeout=5, what="1003's desk hears of vip:1")
            ok(True, "the desk of 1003 gets its new skills in the forwarded status")
            m = agent_status(sc, "1003", "1003 after the reload")
            ok(m.get("skills") == {"vip": 1}, "RequestAgentStatus 1003 after the reload (got %s)"
               % m.get("skills"))
            # 1001's earliest login is on ixn-b now: ixn-a's new skills for it change nothing
            # the subscribers see.
            m = agent_status(sc, "1001", "1001 after the reload of ixn-a")
            ok(m.get("skills") == {"german": 3},
               "1001 keeps the skills of its earliest login (ixn-b) (got %s)" % m.get("skills"))
            seen = [x.get("skills") for x in sub.log[mark:] if status_of("1001")(x)]
            ok(all(x == {"german": 3} for x in seen),
               "the subscriber saw no other skills of 1001 (saw %s)" % seen)
            sub.drain(0.3)
            # ---- reload of ixn-b: 1001's winning server changes its skills.
            if reload(ixb, SKILLS_B2):
                sub.next(status_of("1001", {"german": 4}), timeout=5,
                         what="1001's status with german:4")
                ok(True, "the reload of ixn-b (1001's earliest login) reaches the subscribers")
                desk_b.next(status_of("1001", {"german": 4}), timeout=5,
                            what="1001's desk on ixn-b hears of german:4")
                desk_a.next(status_of("1001", {"german": 4}), timeout=5,
                            what="1001's desk on ixn-a hears of german:4")
                ok(True, "both desks of 1001 get its new skills")
        all_carry_skills(sub, "the subscriber")
        all_carry_skills(desk_b, "the desk of 1001 on ixn-b")
        all_carry_skills(sc, "the StatClient's answers")
        alive(ixa, ixb, stat)
    print("test_stat_skills: ok")


if __name__ == "__main__":
    main()
