#!/usr/bin/env python3
"""Interaction server takeover on the PostgreSQL store (issue 13, docs/ha.md): a throwaway
PostgreSQL 15 cluster (run as user postgres), an owner and a standby ixnserver with the
same name and store-kind = postgres.

(a) The standby waits with its ports closed and logs event=store_waiting_for_owner once.
(b) 1,000 chat interactions are submitted to the owner (no agent there: all queued), then
    the owner gets kill -9. The standby takes the store over, opens its port, and an agent
    logging in to it (with a statserver linked to it) gets its first invite within 5 s of
    the kill; the agent then gets all 1,000 invites in their submit order, none missing,
    none twice. A new submit gets an id above every old one.
(c) A third process waits as standby; the owner (the old standby) is stopped with SIGSTOP.
    Its owner row is no longer renewed, so after store-owner-timeout the waiting process
    ends its database connection and takes the store over with a higher epoch. The old
    owner gets SIGCONT: its next write (a commit or the owner row's renewal) fails the
    epoch check, it logs event=store_owner_lost and exits non-zero; the new owner serves.
(d) The database refuses new rows (a CHECK constraint): 20 submits pipelined on four
    connections, so that one commit is in flight while the next batch fills, are all
    answered 14 and change nothing; once the constraint is gone, submits work again.

Skipped (passes with SKIP) only when the PostgreSQL binaries are absent."""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import pgtmp  # noqa: E402
from harness import check  # noqa: E402

T = "Resources"
AGENT = "1001"
N = 1000
CAPACITY = 50
NAME = "ixn-a"
RULES = 'rule "Chat%d" { chat = chat >= %d; }\nassign agent "%s" "%s" "Chat%d";\n' % (
    CAPACITY, CAPACITY, T, AGENT, CAPACITY)


class Member(harness.Proc):
    """An ixnserver named NAME whose files carry a member label; start_nowait() does not
    wait for the port file (a standby writes it only once it owns the store)."""

    def __init__(self, env, label, dsn, password_hash):
        def write_config(port):
            lines = ["[server]", "name = %s" % NAME, "listen = 127.0.0.1:%d" % port,
                     "port-file = %s" % env.path(label + ".port"), "media = chat",
                     "store-kind = postgres", "store-dsn = %s password=not-logged-pw" % dsn,
                     "store-owner-timeout = 2", "invite-timeout = 60",
                     "idle-timeout = 300", "[tokens]"]
            for k, v in harness.DEFAULT_TOKENS.items():
                lines.append("%s = %s" % (k, v))
            lines += ["[agents]", "%s/%s = %s" % (T, AGENT, password_hash),
                      "[queues]", "%s/chat-in = chat" % T]
            return env.write(label + ".ini", "\n".join(lines) + "\n")
        super().__init__(env, "ixnserver", label, write_config)

    def start_nowait(self):
        self.config = self._write_config(0)
        self.starts += 1
        err = open(self.stderr_path, "ab")
        out = open(self.stdout_path, "ab")
        self.popen = subprocess.Popen([self.env.bin(self.kind), "-c", self.config],
                                      cwd=self.env.dir, stdin=subprocess.DEVNULL,
                                      stdout=out, stderr=err)
        err.close()
        out.close()
        self.env._procs.append(self)
        return self

    def wait_port(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            ports = harness._read_port_file(self.port_file)
            if ports:
                self.ports = ports
                self.port = ports["tcp"]
                return self
            if self.popen.poll() is not None:
                raise harness.Failure("%s exited (%s) before opening its port:\n%s"
                                      % (self.name, self.popen.returncode, self.stderr_tail()))
            if time.monotonic() > deadline:
                raise harness.Failure("%s opened no port within %.1fs:\n%s"
                                      % (self.name, timeout, self.stderr_tail()))
            time.sleep(0.01)

    def wait_log(self, event, timeout):
        deadline = time.monotonic() + timeout
        while "event=" + event not in self.stderr():
            if time.monotonic() > deadline:
                raise harness.Failure("%s logged no %s within %.1fs:\n%s"
                                      % (self.name, event, timeout, self.stderr_tail()))
            time.sleep(0.02)


def number(iid):
    return int(iid.rsplit(":", 1)[1])


def serve_all(desk, ids, t_kill, what):
    """The agent accepts and ends every invite; returns the invite order. The first
    invite must come within 5 s of t_kill."""
    order = []
    first = None
    deadline = time.monotonic() + 90
    while len(order) < len(ids):
        if time.monotonic() > deadline:
            raise harness.Failure("%s: %d of %d invites within 90 s" % (what, len(order), len(ids)))
        inv = desk.next(harness.is_invite(), timeout=10, what="invite %d" % len(order))
        if first is None:
            first = time.monotonic() - t_kill
        iid = inv["interactionId"]
        order.append(iid)
        for req in ("RequestAccept", "RequestStopProcessing"):
            ans = desk.request({"message": req, "interactionId": iid})
            if ans.get("message") != "EventAck":
                raise harness.Failure("%s: %s of %s refused: %s" % (what, req, iid, ans))
    return order, first


def main():
    args = harness.parse_args()
    if not pgtmp.pg_bin_dir():
        print("SKIP: PostgreSQL binaries not found: test_ixn_takeover not run")
        return 0
    with harness.Env(args.bin, timeout=200) as env, pgtmp.PgCluster(fast=True) as pg:
        pw_hash = env.hash_password("pw" + AGENT)
        owner = Member(env, "owner", pg.dsn, pw_hash).start()
        owner.wait_log("store_owner_taken", 5)
        standby = Member(env, "standby", pg.dsn, pw_hash).start_nowait()
        standby.wait_log("store_waiting_for_owner", 10)
        check(not os.path.exists(standby.port_file), "(a) the standby's port stays closed")
        for text in (owner.stderr(), standby.stderr()):
            check("not-logged-pw" not in text, "(a) the DSN's password is never logged")

        # ---- (b) 1,000 queued on the owner, kill -9, the standby serves them in order ----
        ms = harness.media_server(owner.port)
        ids = [harness.submit_ok(ms, T, "chat", "chat-in", user_data={"n": i})
               for i in range(N)]
        check(len(set(ids)) == N, "(b) %d distinct ids" % N)
        time.sleep(0.5)
        check(standby.stderr().count("event=store_waiting_for_owner") == 1,
              "(a) store_waiting_for_owner logged once")
        owner.kill(signal.SIGKILL)
        t_kill = time.monotonic()
        standby.wait_port(5)
        t_open = time.monotonic() - t_kill
        stat = env.start_stat("stat-2", [standby], rules=RULES)
        desk = harness.agent(standby.port, T, AGENT, "P" + AGENT, "pw" + AGENT,
                             media={"chat": 1})
        order, first = serve_all(desk, ids, t_kill, "(b)")
        print("takeover: port open %.2f s, first invite %.2f s after the kill" % (t_open, first))
        check(first < 5.0, "(b) first invite within 5 s of the kill (%.2f s)" % first)
        check(order == ids, "(b) all %d invites in submit order (first mismatch at %s)"
              % (N, next((i for i in range(N) if order[i] != ids[i]), None)))
        ms2 = harness.media_server(standby.port)
        new = harness.submit_ok(ms2, T, "chat", "chat-in")
        check(number(new) > max(number(i) for i in ids),
              "(b) new id %s above the old ones (max %s)" % (new, max(ids)))
        desk.next(harness.is_invite(new), what="invite of the new interaction")

        # ---- (c) a stopped owner loses the store and cannot commit when it resumes ----
        third = Member(env, "third", pg.dsn, pw_hash).start_nowait()
        third.wait_log("store_waiting_for_owner", 10)
        standby.kill(signal.SIGSTOP)
        t_stop = time.monotonic()
        third.wait_port(10)
        print("stale owner: third took over %.2f s after SIGSTOP" % (time.monotonic() - t_stop))
        check("event=store_owner_stale" in third.stderr(),
              "(c) the new owner ended the stopped owner's connection")
        e_old = int(re.findall(r"event=store_owner_taken .*?epoch=(\d+)", standby.stderr())[-1])
        e_new = int(re.findall(r"event=store_owner_taken .*?epoch=(\d+)", third.stderr())[-1])
        check(e_new > e_old, "(c) higher epoch (%d > %d)" % (e_new, e_old))
        standby.expected_exit = True
        os.kill(standby.pid, signal.SIGCONT)
        rc = standby.wait(timeout=10)
        check(rc not in (0, None) and rc > 0, "(c) the stale owner exited non-zero (%s)" % rc)
        err = standby.stderr()
        check("event=store_owner_lost" in err and "event=store_stale_owner" in err,
              "(c) the stale owner logged store_stale_owner and store_owner_lost")
        ms3 = harness.media_server(third.port)
        newer = harness.submit_ok(ms3, T, "chat", "chat-in")
        check(number(newer) > number(new), "(c) the new owner numbers above (%s > %s)"
              % (newer, new))

        # ---- (d) a failed commit in flight: both batches undone, every request 14 ----
        def psql(sql):
            subprocess.run(["psql", "-q", "-d", pg.dsn, "-v", "ON_ERROR_STOP=1", "-c", sql],
                           check=True, stdout=subprocess.DEVNULL)
        before = harness.queue_status(ms3)[(T, "chat-in")]
        psql("ALTER TABLE ixn_interactions ADD CONSTRAINT it_full CHECK (id <= %d) NOT VALID"
             % number(newer))
        conns = [harness.media_server(third.port) for _ in range(4)]
        refs = []
        for i in range(5):
            for c in conns:
                rid = c.next_ref()
                c.send({"message": "RequestSubmit", "tenant": T, "media": "chat",
                        "queue": "chat-in", "referenceId": rid})
                refs.append((c, rid))
        codes = []
        for c, rid in refs:
            ans = c.next(lambda m, r=rid: m.get("referenceId") == r, timeout=10,
                         what="answer %d" % rid)
            codes.append(ans.get("errorCode") if ans.get("message") == "EventError" else 0)
        check(codes == [14] * len(refs), "(d) all %d submits answered 14 (%s)" % (len(refs), codes))
        after = harness.queue_status(ms3)[(T, "chat-in")]
        counts = ("waiting", "invited", "handling", "afterWork")
        check([after.get(n) for n in counts] == [before.get(n) for n in counts],
              "(d) the queue's counts are as before (%s / %s)" % (before, after))
        check("event=store_commit_failed" in third.stderr(), "(d) the failed commit is logged")
        psql("ALTER TABLE ixn_interactions DROP CONSTRAINT it_full")
        time.sleep(1.2)
        newest = harness.submit_ok(ms3, T, "chat", "chat-in")
        check(number(newest) > number(newer), "(d) submits work again (%s)" % newest)
        stat.kill(signal.SIGTERM)
    print("PASS test_ixn_takeover")
    return 0


if __name__ == "__main__":
    sys.exit(main())
