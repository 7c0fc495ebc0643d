#!/usr/bin/env python3
"""One agent logged in to two ixnservers with different media on each: the statserver merges
the state (media union, rule on summed counts), sends the status to both servers with each
server's own version, and only re-sends to the other server when the vector changed."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (  # noqa: E402
    V, ok, act, wait_status, expect_status, no_status, alive, Observer)


RULES = harness.BLENDED_RULES + """rule "ChatOnly" { chat = chat >= 4; }
assign tenant "Resources" "Blended";
assign place  "Resources" "P1001-B" "ChatOnly";
"""

T, A = "Resources", "1001"
ALL = V(voice="R 0 1 1", chat="R 0 3 3", email="R 0 2 2")


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=60) as env:
        agents = {"Resources/1001": "pw1001"}
        ixa = env.start_ixn("ixn-a", agents=agents)
        ixb = env.start_ixn("ixn-b", agents=agents)
        stat = env.start_stat("stat-1", ixns=[ixa, ixb], rules=RULES)
        obs_a = Observer(ixa.port, "observer on ixn-a")
        obs_b = Observer(ixb.port, "observer on ixn-b")
        time.sleep(0.3)  # let the statserver finish both (empty) snapshots

        # Chat on A alone.
        da = harness.agent(ixa.port, T, A, "P1001", "pw1001", media={"chat": 1})
        va = obs_a.state(T, A, "AgentLogin")
        wait_status(da, V(chat="R 0 3 3"), "A: status after login on A", version=va)

        # Email and voice on B: the status is merged over both servers and sent to both,
        # each carrying the version of the receiving server. B's login names another
        # place: the place of the earliest current login (A's) wins, for the status and
        # for the place assignment (P1001-B would give ChatOnly).
        db = harness.agent(ixb.port, T, A, "P1001-B", "pw1001", media={"email": 1, "voice": 1})
        vb = obs_b.state(T, A, "AgentLogin")
        m = wait_status(db, ALL, "B: merged status after login on B", version=vb)
        ok(m.get("rule") == "Blended", "B: rule Blended, not the rule of B's place (got %s)"
           % m.get("rule"))
        ok(m.get("placeId") == "P1001", "B: placeId of the earliest login, P1001 (got %s)"
           % m.get("placeId"))
        m = wait_status(da, ALL, "A: merged status after login on B", version=va)
        ok(m.get("placeId") == "P1001", "A: placeId P1001 (got %s)" % m.get("placeId"))

        # A change on A that leaves the vector as it was: A gets a status with its new
        # version (routing waits for it), B gets none.
        act(da, {"message": "RequestChangeMediaStateReason", "media": "chat",
                 "reason": {"code": 7, "description": "Coaching"}}, "A: change chat reason")
        va2 = obs_a.state(T, A, "MediaStateReasonChanged")
        ok(va2 > va, "A: version grew (%s > %s)" % (va2, va))
        expect_status(da, ALL, "A: status after reason change (vector unchanged)", version=va2)
        no_status(db, "B: no status when the vector did not change")

        # A change on A that changes the vector reaches both, B keeping B's version.
        act(da, {"message": "RequestNotReadyForMedia", "media": "chat",
                 "reason": {"code": 2, "description": "Lunch"}}, "A: notready chat")
        va3 = obs_a.state(T, A, "NotReadyForMedia")
        want = V(voice="R 0 1 1", chat="NR 0 3 0", email="R 0 2 2")
        expect_status(da, want, "A: status after notready chat", version=va3)
        expect_status(db, want, "B: status after notready chat on A", version=vb)
        act(da, {"message": "RequestCancelNotReadyForMedia", "media": "chat"}, "A: ready chat")
        va4 = obs_a.state(T, A, "ReadyForMedia")
        expect_status(da, ALL, "A: status after ready chat", version=va4)
        expect_status(db, ALL, "B: status after ready chat on A", version=vb)

        # DND on B makes every media not ready, on both servers.
        act(db, {"message": "RequestDoNotDisturbOn"}, "B: DND on")
        vb2 = obs_b.state(T, A, "DoNotDisturbOn")
        dnd = V(voice="NR 0 1 0", chat="NR 0 3 0", email="NR 0 2 0")
        expect_status(db, dnd, "B: status after DND on B", version=vb2, dnd=True)
        expect_status(da, dnd, "A: status after DND on B", version=va4, dnd=True)
        act(db, {"message": "RequestDoNotDisturbOff"}, "B: DND off")
        vb3 = obs_b.state(T, A, "DoNotDisturbOff")
        expect_status(db, ALL, "B: status after DND off", version=vb3, dnd=False)
        expect_status(da, ALL, "A: status after DND off on B", version=va4, dnd=False)

        # Removing voice on B removes it from the status on both servers.
        act(db, {"message": "RequestRemoveMedia", "media": "voice"}, "B: remove voice")
        vb4 = obs_b.state(T, A, "MediaRemoved")
        want = V(chat="R 0 3 3", email="R 0 2 2")
        expect_status(db, want, "B: status after removing voice", version=vb4)
        expect_status(da, want, "A: status after voice removed on B", version=va4)

        # Logout on B: A's desktop gets the reduced media.
        act(db, {"message": "RequestAgentLogout"}, "B: logout")
        obs_b.state(T, A, "AgentLogout")
        m = expect_status(da, V(chat="R 0 3 3"), "A: status after logout on B", version=va4)
        ok(m.get("loggedIn") is True, "A: still logged in")
        no_status(db, "B: no status for an agent logged out there", wait=0.3)

        # A media added on A alone is not sent to B any more.
        act(da, {"message": "RequestAddMedia", "media": "email", "ready": 1}, "A: add email")
        va5 = obs_a.state(T, A, "MediaAdded")
        expect_status(da, V(chat="R 0 3 3", email="R 0 2 2"), "A: status after add email",
                      version=va5)
        alive(ixa, ixb, stat)
    print("PASS test_two_servers")


if __name__ == "__main__":
    main()
