#!/usr/bin/env python3
"""Login throttling (docs/operations.md "Logins"; issue 9 item 5), and the warning for a
cheap password hash.

ixn-a throttles per agent (free 3, lockout at 6, delays 1 s doubling to 4 s; no
address limits) with idle-timeout 2 s:
- one connection guessing agent 1001 in turn: the first 3 failures are answered at once,
  the 4th attempt waits 1 s, the 5th 2 s, the 6th 4 s (the cap); the 6th failure locks
  the agent: the 7th attempt, and the right password on a new connection, get code 12
  (LimitExceeded) at once;
- an agent that does not exist (9999) gets exactly the same codes and delays;
- 12 connections guessing agent 1002 at once: the attempts in flight count, so exactly 6
  are checked (code 5; 3 at once, then 1 s, 3 s and 7 s later, each queued behind
  the one before) and the other 6 get 12 at once;
- meanwhile agent 1003, from 127.0.0.2, mistypes its password 5 times and then gives the
  right one: that login waits 4 s, twice the idle timeout, in silence, and succeeds; its
  connection is not closed by the idle timer while it waits, nor right after the answer;
- a login closed while it waits is not counted, and one still waiting when the server
  stops does not keep it from exiting cleanly (status 0, no leak under the sanitizers).
ixn-b throttles per address only (free 3, lockout at 6), counting answered failures
only:
- 10 right logins at once from 127.0.0.1 (an office behind one address) all succeed at
  once;
- guesses at other agents from 127.0.0.1 one after the other: 3 free, then 1 s, 2 s and
  4 s; the 6th failure locks the address, and even the right password of 2002 from
  127.0.0.1 gets 12, while agent 2001 logs in from 127.0.0.2 at once.
Both lockouts are logged (event=login_lockout scope=agent / scope=address).
A hash made with --hash-password --rounds 1 draws a warning from --check-config and at
start; one of the default cost draws none.

The second source address (127.0.0.2) is loopback too; the test is skipped when it cannot
be bound."""
import os
import re
import select
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, expect_ack, expect_error  # noqa: E402

T = "Resources"
OTHER = "127.0.0.2"
# The delays are large enough that an answer that is not delayed (a cheap hash: a few
# milliseconds alone, more on a loaded machine or under a sanitizer) stays well apart
# from one that is.
DELAY = 1.0      # login-delay-ms
CAP = 4.0        # login-delay-max-ms, twice the idle timeout of AGENT_RULE
SLACK = 0.05     # timers may fire this much before the delay measured here
# An answer not delayed comes within this. Any delay is at least DELAY, so this tells the
# two apart; where the server logs the delay it applied (delay_ms of
# event=agent_login_failed), that exact figure decides when a loaded machine was slower.
FAST = DELAY - SLACK

AGENT_RULE = """idle-timeout = 2
login-free-failures = 3
login-lockout-failures = 6
login-address-free-failures = 1000
login-address-lockout-failures = 0
login-delay-ms = 1000
login-delay-max-ms = 4000
login-lockout-seconds = 300"""

ADDRESS_RULE = """login-free-failures = 1000
login-lockout-failures = 0
login-address-free-failures = 3
login-address-lockout-failures = 6
login-delay-ms = 1000
login-delay-max-ms = 4000"""


def client_from(port, source):
    """A harness Client whose socket is bound to source (another loopback address): the
    harness connects through socket.create_connection, which is given the source here."""
    real = socket.create_connection

    def bound(address, timeout=None, source_address=None):
        return real(address, timeout, (source, 0))
    socket.create_connection = bound
    try:
        return harness.Client(port)
    finally:
        socket.create_connection = real


def desk(port, source=None):
    c = client_from(port, source) if source else harness.Client(port)
    expect_ack(c.register("AgentApplication", harness.DESK_TOKEN), "desktop registered")
    return c


def login(agent_id, password):
    return {"message": "RequestAgentLogin", "tenant": T, "agentId": agent_id,
            "placeId": "P" + agent_id, "password": password, "mediaList": {"chat": 1}}


def timed(c, req):
    """(answer, seconds it took)."""
    t0 = time.monotonic()
    ans = c.request(req, timeout=10)
    return ans, time.monotonic() - t0


def at_once(clients, reqs, timeout=15):
    """Sends reqs[i] on clients[i] all at once; returns [(answer, seconds)] in that order,
    each timed when it arrived."""
    refs = []
    t0 = time.monotonic()
    for c, r in zip(clients, reqs):
        r = dict(r, referenceId=c.next_ref())
        refs.append(r["referenceId"])
        c.send(r)
    out = [None] * len(clients)
    deadline = t0 + timeout
    while any(o is None for o in out):
        waiting = [i for i, o in enumerate(out) if o is None]
        left = deadline - time.monotonic()
        if left <= 0:
            raise harness.Timeout("%d answers missing" % len(waiting))
        r, _, _ = select.select([clients[i].sock for i in waiting], [], [], left)
        for i in waiting:
            c = clients[i]
            if c.sock not in r:
                continue
            c._read_some(time.monotonic() + 0.2, pump=False)
            m = c._take(lambda m, ref=refs[i]: m.get("referenceId") == ref)
            if m is not None:
                out[i] = (m, time.monotonic() - t0)
            elif c.eof:
                raise harness.Failure("connection %d closed without an answer" % i)
    return out


def code(ans):
    return ans.get("errorCode", 0) if ans.get("message") == "EventError" else 0


def real_agent(real, seen):
    """Agent 1003 mistypes its password 5 times, then gives the right one, which waits the
    cap (4 s) without a byte sent meanwhile; 0.6 s after the answer it pings. Runs in a
    thread while the main one guesses; what happened goes into seen."""
    try:
        seen["typos"] = [code(real.request(login("1003", "typo-%d" % i), timeout=10))
                         for i in range(5)]
        seen["login"], seen["took"] = timed(real, login("1003", "pw1003"))
        time.sleep(0.6)
        seen["ping"] = real.request({"message": "RequestPing"})
    except (AssertionError, OSError) as e:
        seen["error"] = "%s: %s" % (type(e).__name__, e)


def logged_delay_ms(ixn, agent_id, failures):
    """The delay_ms the server logged for agent_id's failure number failures, or None."""
    found = re.findall(r"event=agent_login_failed .*agent=%s .*failures=%d delay_ms=(\d+)"
                       % (re.escape(agent_id), failures), ixn.stderr())
    return int(found[-1]) if found else None


def guess_in_turn(ixn, agent_id, what):
    """Seven wrong passwords for agent_id on one connection, then the right one on a new
    connection (the agents' passwords are "pw" + id)."""
    c = desk(ixn.port)
    want = [0, 0, 0, DELAY, 2 * DELAY, CAP]
    for i, d in enumerate(want):
        ans, took = timed(c, login(agent_id, "guess-%d" % i))
        expect_error(ans, 5, "%s: failure %d gets 5" % (what, i + 1))
        if d == 0:
            check(took < FAST or logged_delay_ms(ixn, agent_id, i + 1) == 0,
                  "%s: attempt %d (after %d failures) is not delayed (%.2fs, logged %s ms)"
                  % (what, i + 1, i, took, logged_delay_ms(ixn, agent_id, i + 1)))
        else:
            check(took >= d - SLACK, "%s: attempt %d (after %d failures) waits %.1fs (%.2fs)"
                  % (what, i + 1, i, d, took))
            check(took < d + FAST, "%s: attempt %d waits no more than %.1fs (%.2fs)"
                  % (what, i + 1, d, took))
    ans, took = timed(c, login(agent_id, "guess-6"))
    expect_error(ans, 12, "%s: the attempt after 6 failures gets 12 (LimitExceeded)" % what)
    check(took < FAST, "%s: the refusal is at once (%.2fs)" % (what, took))
    c2 = desk(ixn.port)
    ans, took = timed(c2, login(agent_id, "pw" + agent_id))
    expect_error(ans, 12, "%s: the right password on a new connection gets 12 too" % what)
    check(took < FAST, "%s: at once (%.2fs)" % (what, took))


def main():
    args = harness.parse_args()
    probe = socket.socket()
    try:
        probe.bind((OTHER, 0))
    except OSError as e:
        print("SKIP: cannot bind %s (%s): the per-address checks need a second loopback "
              "address" % (OTHER, e))
        return
    finally:
        probe.close()

    with harness.Env(args.bin, timeout=90) as env:
        agents = {"%s/%s" % (T, a): "pw" + a for a in ("1001", "1002", "1003")}
        ixn = env.start_ixn("ixn-a", agents=agents, extra_server=AGENT_RULE)
        check("too cheap" in ixn.stderr(),
              "a --rounds 1 hash is warned about at start")

        # -- per agent, in turn: the boundaries --
        t0 = time.monotonic()
        guess_in_turn(ixn, "1001", "known agent 1001")
        guess_in_turn(ixn, "9999", "unknown agent 9999")

        # -- per agent, at once; meanwhile a real agent from another address --
        attackers = [desk(ixn.port) for _ in range(12)]
        real = desk(ixn.port, OTHER)
        seen = {}
        meanwhile = threading.Thread(target=real_agent, args=(real, seen))
        meanwhile.start()
        got = at_once(attackers, [login("1002", "guess-%d" % i) for i in range(12)])
        meanwhile.join(timeout=20)
        codes = [code(a) for a, _ in got]
        check(codes.count(5) == 6 and codes.count(12) == 6,
              "12 guesses at once: exactly 6 checked (5), 6 refused (12) (got %s)" % codes)
        checked = sorted(t for a, t in got if code(a) == 5)
        refused = [t for a, t in got if code(a) == 12]
        check(max(refused) < FAST, "the 6 refusals come at once (%.2fs)" % max(refused))
        want = [0, 0, 0, DELAY, DELAY + 2 * DELAY, DELAY + 2 * DELAY + CAP]
        for i, (w, t) in enumerate(zip(want, checked)):
            if w == 0:
                check(t < FAST, "checked guess %d at once (%.2fs)" % (i + 1, t))
            else:
                check(w - SLACK <= t < w + FAST,
                      "checked guess %d queued behind the others: %.1fs (%.2fs)" % (i + 1, w, t))
        check(not meanwhile.is_alive() and "error" not in seen,
              "1003's logins ended (%s)" % seen.get("error", "ok"))
        check(seen["typos"] == [5] * 5, "1003 mistyped its password 5 times: 5 each time (%s)"
              % seen["typos"])
        expect_ack(seen["login"], "1003 logs in from %s meanwhile" % OTHER)
        check(seen["took"] >= CAP - SLACK, "1003's login waited %.1fs, twice the idle timeout, "
              "in silence (%.2fs)" % (CAP, seen["took"]))
        expect_ack(seen["ping"], "1003's connection is open 0.6 s after the answer (idle "
                   "timeout 2 s)")
        print("ixn-a part took %.1fs" % (time.monotonic() - t0))
        err = ixn.stderr()
        check("event=login_lockout scope=agent tenant=Resources agent=1001" in err,
              "the lockout of 1001 is logged")
        check("event=login_lockout scope=agent tenant=Resources agent=1002" in err,
              "the lockout of 1002 is logged")
        check("event=agent_login_failed" in err and "failures=6" in err,
              "failures are logged with their count")

        # -- a login closed while it waits is not counted; one waiting at shutdown --
        c = desk(ixn.port)
        for i in range(3):
            expect_error(c.request(login("1005", "guess-%d" % i)), 5, "1005 failure %d" % (i + 1))
        c.send(dict(login("1005", "guess-3"), referenceId=c.next_ref()))
        time.sleep(0.1)
        c.close()
        time.sleep(DELAY + 0.1)
        c = desk(ixn.port)
        ans, took = timed(c, login("1005", "guess-4"))
        expect_error(ans, 5, "1005's next attempt is checked")
        check(DELAY - SLACK <= took < 2 * DELAY - SLACK,
              "the attempt closed while it waited did not count: %.1f s again (%.2fs)"
              % (DELAY, took))
        # 1005 has 4 failures: this attempt waits 1 s, and the server is stopped meanwhile.
        c.send(dict(login("1005", "guess-5"), referenceId=c.next_ref()))
        time.sleep(0.2)
        rc = ixn.kill(signal.SIGTERM)
        check(rc == 0, "ixn-a stopped with a login waiting exits 0 (got %s)" % rc)
        check(re.search(r"event=login_stats failures=\d+ delayed=\d+ locked=\d+ "
                        r"lockouts_agent=3 lockouts_address=0", ixn.stderr()) is not None,
              "the counters are logged at shutdown")

        # -- per address --
        office = ["4%03d" % i for i in range(10)]
        b_agents = {"%s/%s" % (T, a): "pw" + a for a in ["2001", "2002"] + office}
        ixb = env.start_ixn("ixn-b", agents=b_agents, extra_server=ADDRESS_RULE)
        # Ten desktops behind one address (an office, a proxy) log in at once: logins in
        # flight are not failures, so none of them is delayed or refused.
        got = at_once([desk(ixb.port) for _ in office], [login(a, "pw" + a) for a in office])
        check(all(a.get("message") == "EventAck" for a, _ in got),
              "10 right logins at once from one address all succeed (got %s)"
              % [code(a) if a.get("message") != "EventAck" else "ack" for a, _ in got])
        check(max(t for _, t in got) < FAST,
              "none of them is delayed (%s)" % ["%.2f" % t for _, t in got])
        # Guesses at other agents from that address: 3 free, then delays that grow, and the
        # 6th failure locks the address.
        took = []
        for i in range(6):
            ans, t = timed(desk(ixb.port), login("3%03d" % i, "guess"))
            expect_error(ans, 5, "guess %d from 127.0.0.1" % (i + 1))
            took.append(t)
        check(took[2] < FAST and took[3] >= DELAY - SLACK and took[4] >= 2 * DELAY - SLACK and
              took[5] >= CAP - SLACK,
              "the address's delays grow: %s" % ["%.2f" % t for t in took])
        c = desk(ixb.port)
        expect_error(c.request(login("2002", "pw2002")), 12,
                     "the right password of 2002 from the locked address gets 12")
        check("event=login_lockout scope=address addr=127.0.0.1 failures=6" in ixb.stderr(),
              "the address's lockout is logged")
        real = desk(ixb.port, OTHER)
        ans, t = timed(real, login("2001", "pw2001"))
        expect_ack(ans, "2001 logs in from %s while 127.0.0.1 is locked" % OTHER)
        check(t < FAST, "2001's login is not delayed (%.2fs)" % t)

        # -- the keys' ranges, at their bounds --
        for key, good, bad in (("login-free-failures", "1000000", "1000001"),
                               ("login-lockout-failures", "0", "-1"),
                               ("login-address-free-failures", "0", "1000001"),
                               ("login-address-lockout-failures", "1000000", "1000001"),
                               ("login-delay-ms", "60000", "60001"),
                               ("login-delay-max-ms", "3600000", "3600001"),
                               ("login-lockout-seconds", "1", "0"),
                               ("login-forget-seconds", "604800", "604801"),
                               ("login-track-max", "1", "0")):
            for value, valid in ((good, True), (bad, False)):
                # The delay's bound needs a cap at least as large; the others none.
                other = ("login-delay-max-ms = 3600000" if key == "login-delay-ms"
                         else "login-delay-ms = 0")
                cfg = env.write("range.ini", "[server]\nname = x\nlisten = 127.0.0.1:0\n"
                                "%s\n%s = %s\n[tokens]\nAgentApplication = t\n"
                                % (other, key, value))
                rc, out, errtext = env.run(["ixnserver", "--check-config", "-c", cfg])
                check((rc == 0) == valid and (valid or key in errtext),
                      "%s = %s is %s (%s)" % (key, value, "accepted" if valid else "refused",
                                              errtext.strip() or out.strip()))

        # -- the cost of a hash --
        rc, out, errtext = env.run(["ixnserver", "--hash-password"], input="pw\n")
        check(rc == 0 and out.startswith("$"), "a hash of the default cost")
        strong = out.strip()
        weak = env.hash_password("pw1001")
        for name, h, warned in (("weak", weak, True), ("strong", strong, False)):
            cfg = env.write("%s.ini" % name,
                            "[server]\nname = x\nlisten = 127.0.0.1:0\nmedia = chat\n"
                            "[tokens]\nAgentApplication = t\n[agents]\n%s/1 = %s\n" % (T, h))
            rc, out, errtext = env.run(["ixnserver", "--check-config", "-c", cfg])
            check(rc == 0, "--check-config accepts the %s hash" % name)
            check(("too cheap" in errtext) == warned and
                  (not warned or "[agents] Resources/1: the hash is too cheap (yescrypt" in errtext),
                  "--check-config %s the %s hash: %r" % ("warns about" if warned else "is quiet on",
                                                          name, errtext.strip()))


if __name__ == "__main__":
    main()
