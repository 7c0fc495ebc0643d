#!/usr/bin/env python3
"""The clients' side of issue 10's protocol additions, against a fake interaction server
(a TCP server on 127.0.0.1, port 0, in a thread of this test) that records what it gets
and answers with messages of its own making, so that the clients are checked without the
server's routing:
(a) mediasim --priority: a queue named with N sends priority N on every submit, one with
LO-HI a priority in that range on every submit (not all the same), a queue not named none;
the limits 0 and 1000 are accepted, -1, 1001, LO > HI, an unknown queue and two bare items
are refused with exit status 2 before anything is sent;
(b) mediasim --explain ID: one RequestExplainRouting per ID, the answer printed as one
line of key=value pairs plus one line per listed agent, an EventError as a line with
error=CODE and exit status 1, every answer an EventAck: exit status 0;
(c) agentdesk: the skills of the login's EventAck shown by `status` (sorted by name), and
`explain ID` sends RequestExplainRouting with the full id and prints step, expression,
matching and the agents."""
import json
import os
import re
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

T = "Resources"
SERVER = "ixn-f"
EXPLAINED = "ixn-f:000000017"
EXPLAIN_ACK = {
    "interactionId": EXPLAINED, "tenant": T, "media": "chat", "queue": "chat-billing-es",
    "state": "Queued", "priority": 5, "effectivePriority": 8, "waitedSec": 31, "step": 2,
    "steps": 3, "expression": "billing >= 5", "nextStepSec": 59, "matching": 3,
    "agents": [{"agentId": "1001", "why": "NotReady"},
               {"agentId": "1002", "why": "ReservationRefused"},
               {"agentId": "1003", "why": "Busy"}]}


class FakeIxn:
    """Accepts connections and answers each line: registration, login (with skills),
    submit (an interactionId), queue status (no queues), explain (EXPLAIN_ACK for
    EXPLAINED, else EventError 9), ping, logout; anything else EventError 2. Every request
    is kept in self.got, in the order received."""

    def __init__(self):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.got = []
        self.lock = threading.Lock()
        self.stop = False
        self.next_id = 0
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def close(self):
        self.stop = True
        for t in self.threads:
            t.join(5)
        self.lsock.close()

    def requests(self, name):
        with self.lock:
            return [m for m in self.got if m.get("message") == name]

    def _accept(self):
        while not self.stop:
            try:
                sock, _ = self.lsock.accept()
            except socket.timeout:
                continue
            t = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self.threads.append(t)
            t.start()

    def _answer(self, m):
        name = m.get("message")
        ref = m.get("referenceId")
        ack = {"message": "EventAck", "referenceId": ref}
        if name == "RequestRegisterClient":
            ack.update(proxyClientId=1, serverName=SERVER, protocolVersion=1, idleTimeout=30)
        elif name == "RequestAgentLogin":
            ack["skills"] = {"spanish": 5, "billing": 9, "sales": 7}
        elif name == "RequestSubmit":
            with self.lock:
                self.next_id += 1
                ack["interactionId"] = "%s:%09d" % (SERVER, self.next_id)
        elif name == "RequestQueueStatus":
            ack["queues"] = []
        elif name == "RequestExplainRouting":
            if m.get("interactionId") != EXPLAINED:
                return {"message": "EventError", "referenceId": ref, "errorCode": 9,
                        "errorName": "UnknownInteraction",
                        "errorDescription": "no interaction with that id"}
            ack.update(EXPLAIN_ACK)
        elif name not in ("RequestPing", "RequestAgentLogout"):
            return {"message": "EventError", "referenceId": ref, "errorCode": 2,
                    "errorName": "UnknownMessage", "errorDescription": "not in this fake"}
        return ack

    def _serve(self, sock):
        sock.settimeout(0.2)
        buf = b""
        seq = 0
        try:
            while not self.stop:
                try:
                    data = sock.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    m = json.loads(line)
                    with self.lock:
                        self.got.append(m)
                    answer = self._answer(m)
                    seq += 1
                    answer["seq"] = seq
                    sock.sendall((json.dumps(answer) + "\n").encode())
        except OSError:
            return
        finally:
            sock.close()


def mediasim(env, fake, *extra, timeout=20):
    args = ["mediasim", "--server", "127.0.0.1:%d" % fake.port, "--token", "x",
            "--tenant", T] + list(extra)
    rc, out, err = env.run(args, timeout=timeout, label="mediasim")
    print("---- mediasim %s: exit %s ----\n%s%s---- end ----" % (" ".join(extra), rc, out, err))
    return rc, out, err


def priorities(env, fake):
    queues = "vip:voice,chat-es:chat,plain:chat"
    rc, out, err = mediasim(env, fake, "--queues", queues, "--rate", "300", "--max", "150",
                            "--seconds", "2", "--seed", "5",
                            "--priority", "vip=1000,chat-es=0-1000")
    check(rc == 0, "mediasim with priorities exits 0 (got %s)" % rc)
    subs = fake.requests("RequestSubmit")
    check(len(subs) == 150, "mediasim submitted its 150 (got %d)" % len(subs))
    by_queue = {}
    for m in subs:
        by_queue.setdefault(m.get("queue"), []).append(m)
    vip = by_queue.get("vip", [])
    es = by_queue.get("chat-es", [])
    plain = by_queue.get("plain", [])
    check(len(vip) > 10 and len(es) > 10 and len(plain) > 10,
          "submits to every queue (%d vip, %d chat-es, %d plain)" % (len(vip), len(es), len(plain)))
    check(all(m.get("priority") == 1000 for m in vip), "vip submits carry priority 1000")
    es_p = [m.get("priority") for m in es]
    check(all(isinstance(p, int) and 0 <= p <= 1000 for p in es_p),
          "chat-es submits carry a priority in 0..1000 (%s)" % es_p[:10])
    check(len(set(es_p)) > 3, "chat-es priorities are drawn, not fixed (%s)" % es_p[:10])
    check(all("priority" not in m for m in plain), "plain submits carry no priority")

    # A bare item covers the queues not named; 0 is a priority.
    with fake.lock:
        fake.got.clear()
    rc, out, err = mediasim(env, fake, "--queues", "a:chat,b:chat", "--rate", "200",
                            "--max", "20", "--seconds", "1", "--priority", "a=7,0")
    check(rc == 0, "mediasim --priority a=7,0 exits 0 (got %s)" % rc)
    subs = fake.requests("RequestSubmit")
    check(len(subs) == 20 and all(m.get("priority") == (7 if m.get("queue") == "a" else 0)
                                  for m in subs),
          "queue a gets 7, the other queue 0 (%s)"
          % [(m.get("queue"), m.get("priority")) for m in subs[:6]])

    for spec in ["-1", "1001", "9-3", "x=5", "5,6", "a=5,a=6", "5-", "abc", ""]:
        with fake.lock:
            fake.got.clear()
        rc, out, err = mediasim(env, fake, "--queues", "a:chat", "--priority", spec,
                                "--seconds", "1")
        check(rc == 2 and "--priority" in err,
              "--priority %r refused with exit 2 (got %s: %s)" % (spec, rc, err.strip()[:80]))
        check(not fake.requests("RequestSubmit"), "nothing submitted with --priority %r" % spec)
    for spec, lo, hi in [("0", 0, 0), ("1000", 1000, 1000), ("0-1000", 0, 1000),
                         ("1000-1000", 1000, 1000)]:
        with fake.lock:
            fake.got.clear()
        # A fast rate and a few seconds, --max stops it at one: on a loaded machine the first
        # submit of a 2/s run can miss a one-second window.
        rc, out, err = mediasim(env, fake, "--queues", "a:chat", "--priority", spec,
                                "--max", "1", "--rate", "50", "--seconds", "4")
        check(rc == 0, "--priority %s accepted (got %s: %s)" % (spec, rc, err.strip()[:80]))
        subs = fake.requests("RequestSubmit")
        check(len(subs) == 1 and lo <= subs[0].get("priority", -1) <= hi,
              "--priority %s: the submit carries it (%s)" % (spec, subs))


def explain(env, fake):
    with fake.lock:
        fake.got.clear()
    rc, out, err = mediasim(env, fake, "--explain", EXPLAINED, "--explain", "ixn-f:000000099")
    reqs = fake.requests("RequestExplainRouting")
    check([m.get("interactionId") for m in reqs] == [EXPLAINED, "ixn-f:000000099"],
          "one RequestExplainRouting per --explain, in order (%s)" % reqs)
    check(not fake.requests("RequestSubmit"), "an explain run submits nothing")
    check(rc == 1, "an error answer makes the exit status 1 (got %s)" % rc)
    lines = [ln for ln in out.splitlines() if ln.startswith("mediasim explain")]
    check(len(lines) == 5, "one line per answer and one per listed agent (%s)" % lines)
    main = [ln for ln in lines if ln.startswith("mediasim explain interactionId=\"%s\""
                                                % EXPLAINED)]
    check(len(main) == 1, "the explained interaction has its line")
    f = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', main[0] if main else ""))
    want = {"state": "Queued", "priority": "5", "effectivePriority": "8", "waitedSec": "31",
            "step": "2", "steps": "3", "nextStepSec": "59", "matching": "3", "agents": "3",
            "media": "chat", "queue": '"chat-billing-es"', "expression": '"billing >= 5"'}
    check(all(f.get(k) == v for k, v in want.items()),
          "the line carries the answer's fields (%s)" % f)
    agents = [ln for ln in lines if ln.startswith("mediasim explain-agent")]
    check([re.search(r"agentId=\"(\w+)\" why=(\w+)", ln).groups() for ln in agents]
          == [("1001", "NotReady"), ("1002", "ReservationRefused"), ("1003", "Busy")],
          "the agents with their reasons (%s)" % agents)
    check(any("ixn-f:000000099" in ln and "error=9" in ln and "UnknownInteraction" in ln
              for ln in lines), "the unknown interaction's line says error=9")

    rc, out, err = mediasim(env, fake, "--explain", EXPLAINED)
    check(rc == 0, "every answer an EventAck: exit 0 (got %s)" % rc)


def desk(env, fake):
    with fake.lock:
        fake.got.clear()
    pw = env.write("pw.txt", "secret\n")
    script = "status\nexplain %s\nexplain 99\n" % EXPLAINED
    rc, out, err = env.run(["agentdesk", "--server", "127.0.0.1:%d" % fake.port,
                            "--token", "x", "--tenant", T, "--agent", "1001",
                            "--place", "P1001", "--password-file", pw],
                           input=script, timeout=20, label="agentdesk")
    print("---- agentdesk: exit %s ----\n%s%s---- end ----" % (rc, out, err))
    check(rc == 0, "agentdesk exits 0 (got %s)" % rc)
    check("  skills: billing 9, sales 7, spanish 5\n" in out,
          "status shows the login's skills sorted by name")
    reqs = fake.requests("RequestExplainRouting")
    check([m.get("interactionId") for m in reqs] == [EXPLAINED, "ixn-f:000000099"],
          "explain sends the full ids, the short form completed with the server's name (%s)"
          % reqs)
    check("  step 2 of 3: billing >= 5 (next step in 59 s)\n" in out,
          "explain shows the step and its expression")
    check("  matching: 3 agents\n" in out, "explain shows how many match")
    check("  agent 1002: ReservationRefused (the reporting engine refused a reservation)\n"
          in out, "explain lists the agents with their reasons")
    check("error: UnknownInteraction (9)" in out, "an unknown interaction is an error in words")


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=150) as env:
        fake = FakeIxn()
        try:
            priorities(env, fake)
            explain(env, fake)
            desk(env, fake)
        finally:
            fake.close()
    print("PASS test_tools_routing")


if __name__ == "__main__":
    main()
