"""Shared harness of the integration tests (Python 3 standard library only).

A test starts the real programs (ixnserver, statserver, agentdesk) from the build's bin
directory on 127.0.0.1 with port 0, inside a temporary directory, reads each port back from
the daemon's port file, talks the wire protocol (docs/protocol.md) through Client, and
prints one line per check. Env owns everything it starts: at exit it ends every process by
pid, and when the test failed it prints the tail of each process's stderr.

Typical use:

    args = harness.parse_args()
    with harness.Env(args.bin, timeout=60) as env:
        ixn = env.start_ixn("ixn-a", agents={"Resources/1001": "pw1001"})
        desk = harness.agent(ixn.port, "Resources", "1001", "P1001", "pw1001")
        harness.check(desk.request({"message": "RequestPing"})["message"] == "EventAck", "ping")
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

DEFAULT_TOKENS = {
    "AgentApplication": "desk-secret",
    "ReportingEngine": "stat-secret",
    "MediaServer": "media-secret",
}
DESK_TOKEN = "desk-secret"
STAT_TOKEN = "stat-secret"
WALLBOARD_TOKEN = "wallboard-secret"

# Seconds a daemon gets to write its port file before the test gives up on it.
START_TIMEOUT = 10.0
# Seconds a daemon gets to exit after SIGTERM at the end of a test (sanitizer builds are slow).
STOP_TIMEOUT = 5.0


class Timeout(AssertionError):
    """Raised when an expected message, port file or process end did not come in time."""


class Failure(AssertionError):
    """Raised by check() and by protocol sanity checks (seq gaps, lines that are not JSON)."""


def parse_args(argv=None):
    """Reads the command line every test takes: --bin DIR (the build's bin directory)."""
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=os.path.join("build", "bin"),
                   help="directory holding ixnserver, statserver and agentdesk")
    a = p.parse_args(argv)
    a.bin = os.path.abspath(a.bin)
    return a


# With CC_IT_SOFT=1 in the environment a failed check is printed and counted but does not
# stop the test, so that one run lists every failure (Env then exits with status 1). Only for
# people debugging a test: later checks may then fail in confusing ways.
SOFT = bool(os.environ.get("CC_IT_SOFT"))
soft_failures = []


def check(cond, what):
    """Prints 'ok: what' when cond holds; otherwise prints 'FAIL: what' and raises Failure."""
    if cond:
        print("ok: %s" % what, flush=True)
        return
    print("FAIL: %s" % what, flush=True)
    if SOFT:
        soft_failures.append(what)
        return
    raise Failure(what)


def status_vec(msg):
    """{media: (ready, current, max, available)} of an EventCurrentAgentStatus."""
    out = {}
    for name, v in (msg.get("media") or {}).items():
        out[name] = (v.get("ready"), v.get("current"), v.get("max"), v.get("available"))
    return out


# ---------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------


def _read_port_file(path):
    """{key: int} from a port file, or None while it is absent or incomplete."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    if not text.endswith("\n"):
        return None
    ports = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and value.strip().isdigit():
            ports[key.strip()] = int(value.strip())
    return ports if "tcp" in ports else None


class Proc:
    """One daemon started by Env: .port (its tcp port), .ports (every key of the port file),
    .pid, .name, .stderr_tail(), .kill(sig), .wait(), .restart()."""

    def __init__(self, env, kind, name, write_config):
        self.env = env
        self.kind = kind            # "ixnserver" or "statserver"
        self.name = name
        self._write_config = write_config   # f(port) -> config path
        self.port = None
        self.ports = {}
        self.popen = None
        self.port_file = env.path(name + ".port")
        self.stderr_path = env.path(name + ".stderr")
        self.stdout_path = env.path(name + ".stdout")
        self.config = None
        self.starts = 0
        self.expected_exit = False  # set when the test itself ended the process

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def start(self):
        """Writes the config (port 0 the first time, the previous port after), starts the
        daemon and waits for its port file."""
        assert self.popen is None or self.popen.poll() is not None, "%s already runs" % self.name
        self.config = self._write_config(self.port or 0)
        try:
            os.unlink(self.port_file)
        except FileNotFoundError:
            pass
        self.starts += 1
        self.expected_exit = False
        err = open(self.stderr_path, "ab")
        out = open(self.stdout_path, "ab")
        if self.starts > 1:
            err.write(("---- restart %d ----\n" % self.starts).encode())
            err.flush()
        self.popen = subprocess.Popen([self.env.bin(self.kind), "-c", self.config],
                                      cwd=self.env.dir, stdin=subprocess.DEVNULL,
                                      stdout=out, stderr=err)
        err.close()
        out.close()
        self.env._procs.append(self)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            ports = _read_port_file(self.port_file)
            if ports:
                break
            rc = self.popen.poll()
            if rc is not None:
                raise Failure("%s (%s) exited with status %s before writing its port file:\n%s"
                              % (self.name, self.kind, rc, self.stderr_tail()))
            if time.monotonic() > deadline:
                raise Timeout("%s (%s) wrote no port file within %.0fs:\n%s"
                              % (self.name, self.kind, START_TIMEOUT, self.stderr_tail()))
            time.sleep(0.02)
        if self.port is not None and ports["tcp"] != self.port:
            raise Failure("%s restarted on port %d, not its old port %d"
                          % (self.name, ports["tcp"], self.port))
        self.ports = ports
        self.port = ports["tcp"]
        return self

    def running(self):
        """True while the process has not exited."""
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig=signal.SIGKILL):
        """Sends sig to the process (by pid) and, for SIGKILL/SIGTERM/SIGINT, waits for its end."""
        if not self.running():
            return self.popen.returncode if self.popen else None
        if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            self.expected_exit = True
        os.kill(self.popen.pid, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            return self.wait()
        return None

    def wait(self, timeout=10):
        """Waits for the process to end; returns its exit status (negative = signal)."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Timeout("%s did not exit within %ss" % (self.name, timeout))

    def restart(self):
        """Starts the daemon again with the same config on the same port (SIGKILLs it first
        when it still runs)."""
        if self.running():
            self.kill(signal.SIGKILL)
        return self.start()

    def stderr_tail(self, lines=30):
        """The last lines of the process's stderr (all starts), as one string."""
        try:
            with open(self.stderr_path, "rb") as f:
                data = f.read()
        except OSError:
            return "(no stderr)"
        text = data.decode("utf-8", "replace").splitlines()
        return "\n".join(text[-lines:])

    def stderr(self):
        """The whole stderr of the process (all starts)."""
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class _AlarmTimeout(Timeout):
    pass


class Env:
    """Test environment: a temporary directory, a hard timeout (SIGALRM), and every process
    it started ended by pid at exit; on failure the stderr tails of those processes."""

    def __init__(self, bin_dir, timeout=60, keep=False):
        self.bin_dir = os.path.abspath(bin_dir)
        self.timeout = timeout
        self.keep = keep or bool(os.environ.get("CC_KEEP_TMP"))
        self.dir = None
        self._procs = []
        self._hashes = {}
        self._rounds = None
        self._old_alarm = None
        self._others = []       # (pid, Popen) of other programs started through run()
        self._other_logs = []   # (label, path) of their output, printed on failure
        self._pg_reset = set()  # servers whose PostgreSQL rows were dropped (CC_TEST_IXN_PG_DSN)

    # -- context manager --

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="cc-it-")

        def on_alarm(signum, frame):
            raise _AlarmTimeout("test exceeded its hard timeout of %ss" % self.timeout)
        self._old_alarm = signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(int(self.timeout))
        return self

    def __exit__(self, exc_type, exc, tb):
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self._old_alarm or signal.SIG_DFL)
        _close_all_clients()
        failed = exc_type is not None
        # A daemon that died on its own during the test crashed (or an ASan/UBSan report
        # ended it), and one that does not exit 0 on SIGTERM breaks its documented clean
        # shutdown (under the sanitizers that is where leaks show): both fail the test.
        problems = []
        procs = []
        for p in self._procs:
            if p not in procs:
                procs.append(p)
        for p in procs:
            if not p.running():
                if not p.expected_exit:
                    problems.append("%s (%s) died during the test with status %s"
                                    % (p.name, p.kind, p.popen.returncode))
                continue
            try:
                os.kill(p.popen.pid, signal.SIGTERM)
                rc = p.popen.wait(timeout=STOP_TIMEOUT)
                if rc != 0:
                    problems.append("%s (%s) exited with status %s on SIGTERM"
                                    % (p.name, p.kind, rc))
            except subprocess.TimeoutExpired:
                problems.append("%s (%s) did not exit within %ss of SIGTERM"
                                % (p.name, p.kind, STOP_TIMEOUT))
                try:
                    os.kill(p.popen.pid, signal.SIGKILL)
                    p.popen.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            except OSError:
                pass
        for pid, popen in list(self._others):
            if popen.poll() is None:
                try:
                    os.kill(pid, signal.SIGKILL)
                    popen.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
        if failed:
            print("FAIL: %s: %s" % (exc_type.__name__, exc), flush=True)
        for what in problems:
            print("FAIL: %s" % what, flush=True)
        if failed or problems:
            for p in procs:
                print("---- %s (%s, pid %s) stderr tail ----" % (p.name, p.kind, p.pid))
                print(p.stderr_tail())
            if failed:
                for label, path in self._other_logs:
                    print("---- %s output tail ----" % label)
                    try:
                        with open(path, "rb") as f:
                            print("\n".join(f.read().decode("utf-8", "replace")
                                            .splitlines()[-30:]))
                    except OSError:
                        pass
            sys.stdout.flush()
        if soft_failures and not failed:
            print("FAIL: %d soft failures:" % len(soft_failures))
            for what in soft_failures:
                print("  %s" % what)
            sys.stdout.flush()
        if self.dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        elif self.dir:
            print("kept temp dir %s" % self.dir)
        if (soft_failures or problems) and not failed:
            sys.exit(1)
        return False

    # -- files --

    def path(self, name):
        """Absolute path of name inside the temp dir."""
        return os.path.join(self.dir, name)

    def write(self, name, text):
        """Writes text to name in the temp dir; returns the absolute path."""
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def bin(self, prog):
        """Absolute path of a program of the build."""
        return os.path.join(self.bin_dir, prog)

    # -- passwords --

    def hash_password(self, pw):
        """A crypt hash of pw from `ixnserver --hash-password`, with the cheapest cost the
        ixnserver accepts (found once), cached per password."""
        if pw in self._hashes:
            return self._hashes[pw]
        tries = [self._rounds] if self._rounds is not None else [1, 2, 3, 4, 5, None]
        last = None
        for rounds in tries:
            cmd = [self.bin("ixnserver"), "--hash-password"]
            if rounds is not None:
                cmd += ["--rounds", str(rounds)]
            r = subprocess.run(cmd, input=(pw + "\n").encode(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=30)
            out = r.stdout.decode("utf-8", "replace").strip().splitlines()
            if r.returncode == 0 and out and out[-1].startswith("$"):
                self._rounds = rounds
                self._hashes[pw] = out[-1].strip()
                return self._hashes[pw]
            last = "%s -> %s: %s" % (" ".join(cmd), r.returncode,
                                     r.stderr.decode("utf-8", "replace").strip())
        raise Failure("ixnserver --hash-password failed: %s" % last)

    # -- daemons --

    def start_ixn(self, name, media=("voice", "chat", "email"), agents=None, tokens=None,
                  extra_server="", extra=""):
        """Starts an ixnserver named name with those media, agents {"TENANT/ID": password}
        (hashed here), tokens {clientType: token} (default DEFAULT_TOKENS) and extra lines
        for [server] (extra_server) or after everything (extra). Returns its Proc."""
        agents = dict(agents or {})
        tokens = DEFAULT_TOKENS if tokens is None else tokens
        hashes = {k: self.hash_password(v) for k, v in agents.items()}

        def write_config(port):
            lines = ["[server]", "name = %s" % name, "listen = 127.0.0.1:%d" % port,
                     "port-file = %s" % self.path(name + ".port")]
            if media is not None:
                lines.append("media = %s" % ", ".join(media))
            if extra_server:
                lines.append(extra_server.strip("\n"))
            lines.append("[tokens]")
            for k, v in tokens.items():
                lines.append("%s = %s" % (k, v))
            lines.append("[agents]")
            for k, v in hashes.items():
                lines.append("%s = %s" % (k, v))
            if extra:
                lines.append(extra.strip("\n"))
            return self.write(name + ".ini", "\n".join(lines) + "\n")

        return Proc(self, "ixnserver", name, write_config).start()

    def start_stat(self, name, ixns=(), rules="", token=WALLBOARD_TOKEN, extra_server="",
                   ixn_token=STAT_TOKEN, extra=""):
        """Starts a statserver named name linked to every Proc in ixns (address
        127.0.0.1:PORT, token ixn_token), with that rules text and StatClient token.
        Returns its Proc (.port is the StatClient port)."""
        ixns = list(ixns)

        def write_config(port):
            self.write(name + ".rules", rules)
            lines = ["[server]", "name = %s" % name, "listen = 127.0.0.1:%d" % port,
                     "port-file = %s" % self.path(name + ".port"),
                     "token = %s" % token, "rules = %s" % self.path(name + ".rules")]
            if extra_server:
                lines.append(extra_server.strip("\n"))
            for ixn in ixns:
                lines += ["[ixn:%s]" % ixn.name, "address = 127.0.0.1:%d" % ixn.port,
                          "token = %s" % ixn_token]
            if extra:
                lines.append(extra.strip("\n"))
            return self.write(name + ".ini", "\n".join(lines) + "\n")

        return Proc(self, "statserver", name, write_config).start()

    # -- other programs --

    def run(self, args, input=None, timeout=20, label=None):
        """Runs a program to its end (args[0] is looked up in the bin directory when it has no
        slash), in the temp dir. Returns (returncode, stdout, stderr) as str."""
        args = list(args)
        if "/" not in args[0]:
            args[0] = self.bin(args[0])
        label = label or os.path.basename(args[0])
        out_path = self.path("%s.%d.out" % (label, len(self._other_logs)))
        p = subprocess.Popen(args, cwd=self.dir, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._others.append((p.pid, p))
        try:
            out, err = p.communicate(input=input.encode() if isinstance(input, str) else input,
                                     timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            with open(out_path, "wb") as f:
                f.write(out + b"\n---- stderr ----\n" + err)
            self._other_logs.append((label, out_path))
            raise Timeout("%s did not end within %ss" % (label, timeout))
        with open(out_path, "wb") as f:
            f.write(out + b"\n---- stderr ----\n" + err)
        self._other_logs.append((label, out_path))
        return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


# ---------------------------------------------------------------------------------------
# Protocol client
# ---------------------------------------------------------------------------------------

_clients = []
_granters = []   # Clients that answer reservations on their own (Client.auto_grant)


def _close_socket(c):
    """Closes the socket of a Client or LoadAgent c (idempotent) and forgets c."""
    if c.sock is not None:
        try:
            c.sock.close()
        except OSError:
            pass
        c.sock = None
    if c in _clients:
        _clients.remove(c)


def _close_all_clients():
    for c in list(_clients):
        c.close()
    del _granters[:]


class Client:
    """A TCP JSON-lines client of one server port. Every message received is checked to be a
    JSON object whose seq is 1, 2, 3 ... on this connection; messages not asked for yet
    wait in a queue until next() or request() take them."""

    def __init__(self, port, timeout=5, host="127.0.0.1"):
        self.port = port
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.queue = []
        self.seq = 0
        self.eof = False
        self.ref = 0
        self.log = []          # every message received, in order
        self.grant_policy = None   # set by auto_grant()
        self.reservations = []     # (EventReserveAgent, granted) answered by auto_grant()
        _clients.append(self)

    def close(self):
        """Closes the socket (idempotent)."""
        if self in _granters:
            _granters.remove(self)
        _close_socket(self)

    # -- reservations (protocol.md section 7a) --

    def auto_grant(self, policy=None):
        """Makes this ReportingEngine client answer every EventReserveAgent as soon as it is
        read, here or while any other Client waits (their reads also read this one's
        socket), so that tests which play the reporting engine see invitations.
        policy(m) -> True (grant), False (refuse) or None (leave the message queued,
        unanswered, for the test to take with next_reservation); default: grant all.
        Every answer is recorded in self.reservations as (message, granted). Messages
        already queued are answered at once. Returns self."""
        self.grant_policy = policy or (lambda m: True)
        if self not in _granters:
            _granters.append(self)
        for m in [x for x in self.queue if is_reserve(x)]:
            if self._auto_answer(m):
                self.queue.remove(m)
        return self

    def stop_auto_grant(self):
        """Ends auto_grant(): later EventReserveAgent messages stay queued."""
        self.grant_policy = None
        if self in _granters:
            _granters.remove(self)

    def _auto_answer(self, m):
        """Answers m by the policy; True when answered (then it is not queued)."""
        granted = self.grant_policy(m)
        if granted is None:
            return False
        answer_reservation(self, m, granted)
        self.reservations.append((m, bool(granted)))
        return True

    # -- sending --

    def send(self, obj):
        """Sends obj as one JSON line."""
        self.send_raw((json.dumps(obj, separators=(",", ":")) + "\n").encode())

    def send_raw(self, data):
        """Sends bytes as they are."""
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def next_ref(self):
        """A fresh referenceId for this connection."""
        self.ref += 1
        return self.ref

    def request(self, obj, timeout=None):
        """Sends obj with a fresh referenceId and returns its answer (EventAck or EventError
        with that referenceId); other messages stay queued."""
        obj = dict(obj)
        rid = self.next_ref()
        obj["referenceId"] = rid
        self.send(obj)
        return self.next(lambda m: m.get("message") in ("EventAck", "EventError")
                         and m.get("referenceId") == rid,
                         timeout=self.timeout if timeout is None else timeout,
                         what="answer to %s referenceId %d" % (obj.get("message"), rid))

    def register(self, client_type, token, name=None):
        """Sends RequestRegisterClient; returns the answer (EventAck or EventError)."""
        return self.request({"message": "RequestRegisterClient",
                             "clientName": name or "it-%s-%d" % (client_type, os.getpid()),
                             "clientType": client_type, "token": token})

    # -- receiving --

    def _take(self, pred):
        for i, m in enumerate(self.queue):
            if pred is None or pred(m):
                return self.queue.pop(i)
        return None

    def _read_some(self, deadline, pump=True):
        """Reads once from the socket, parses every complete line into the queue.
        Returns False on timeout, True otherwise (eof sets self.eof). With pump, the
        sockets of the auto_grant() clients are read meanwhile too, so that their
        reservations are answered while this client waits."""
        if self.eof:
            return True
        if pump:
            import select
            while True:
                others = [g for g in _granters
                          if g is not self and g.sock is not None and not g.eof]
                if not others:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                r, _, _ = select.select([self.sock] + [g.sock for g in others], [], [], left)
                for g in others:
                    if g.sock in r:
                        g._read_some(time.monotonic() + 0.5, pump=False)
                if self.sock in r:
                    break
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return True
        self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            self._accept(line)
        return True

    def _accept(self, line):
        try:
            m = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise Failure("port %d sent a line that is not JSON (%s): %r"
                          % (self.port, e, line[:200]))
        if not isinstance(m, dict):
            raise Failure("port %d sent a non-object: %r" % (self.port, line[:200]))
        s = m.get("seq")
        if s != self.seq + 1:
            raise Failure("port %d: seq %r after %d (gap or missing): %r"
                          % (self.port, s, self.seq, line[:200]))
        self.seq = s
        self.log.append(m)
        if self.grant_policy is not None and is_reserve(m) and self._auto_answer(m):
            return
        self.queue.append(m)

    def next(self, pred=None, timeout=5, what=None):
        """The next message (queued first, then arriving) for which pred(m) holds; messages
        that do not match stay queued. Raises Timeout (also when the server closed)."""
        deadline = time.monotonic() + timeout
        while True:
            m = self._take(pred)
            if m is not None:
                return m
            if self.eof:
                raise Timeout("port %d closed the connection while waiting for %s (queued: %s)"
                              % (self.port, what or "a message", _short(self.queue)))
            if not self._read_some(deadline):
                raise Timeout("no %s on port %d within %.1fs (queued: %s)"
                              % (what or "matching message", self.port, timeout,
                                 _short(self.queue)))

    def expect_none(self, pred=None, wait=0.5):
        """Reads for wait seconds; raises Failure if a message matching pred is (or was)
        queued."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not self.eof:
            self._read_some(deadline)
        for m in self.queue:
            if pred is None or pred(m):
                raise Failure("port %d: unexpected message %s" % (self.port, _short([m])))

    def closed(self, timeout=2):
        """True when the server closes the connection within timeout (messages read meanwhile
        are queued)."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            if not self._read_some(deadline):
                return False
        return True

    def drain(self, wait=0.2):
        """Reads for wait seconds and returns (and removes) everything queued."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not self.eof:
            self._read_some(deadline)
        out, self.queue = self.queue, []
        return out


def _short(msgs, limit=5):
    text = [json.dumps(m, separators=(",", ":"))[:200] for m in msgs[:limit]]
    if len(msgs) > limit:
        text.append("... %d more" % (len(msgs) - limit))
    return "[" + ", ".join(text) + "]"


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def _registered(port, client_type, token, name=None):
    c = Client(port)
    ans = c.register(client_type, token, name)
    if ans.get("message") != "EventAck":
        raise Failure("%s registration on port %d refused: %s" % (client_type, port, ans))
    return c


def agent(port, tenant, agent_id, place, password, media=None, token=DESK_TOKEN):
    """A registered AgentApplication client with that agent logged in (media default
    {"chat": 1}); asserts both acks."""
    c = _registered(port, "AgentApplication", token, "desk-%s-%s" % (tenant, agent_id))
    ans = c.request({"message": "RequestAgentLogin", "tenant": tenant, "agentId": agent_id,
                     "placeId": place, "password": password,
                     "mediaList": {"chat": 1} if media is None else media})
    if ans.get("message") != "EventAck":
        raise Failure("login of %s/%s on port %d refused: %s" % (tenant, agent_id, port, ans))
    return c


def reporter(port, token=STAT_TOKEN):
    """A registered ReportingEngine client (reporting not started)."""
    return _registered(port, "ReportingEngine", token)


def statclient(port, token=WALLBOARD_TOKEN):
    """A registered StatClient of a statserver's own port."""
    return _registered(port, "StatClient", token)


# ---------------------------------------------------------------------------------------
# Answer checks shared by the tests
# ---------------------------------------------------------------------------------------

ERROR_NAMES = {
    1: "InvalidMessage", 2: "UnknownMessage", 3: "InvalidAttribute", 4: "NotRegistered",
    5: "NotAuthorized", 6: "AgentNotLoggedIn", 7: "AgentAlreadyLoggedIn", 8: "UnknownMedia",
    9: "UnknownInteraction", 10: "InvalidState", 11: "MessageTooLarge", 12: "LimitExceeded",
    13: "AlreadyRegistered", 14: "Unavailable",
}


def expect_ack(ans, what):
    """Checks that ans is an EventAck; returns it."""
    check(ans.get("message") == "EventAck", "%s: EventAck (got %s)" % (what, _short([ans])))
    return ans


def expect_error(ans, code, what, field=None, ref=None):
    """Checks that ans is an EventError with errorCode code and its errorName; when field is
    given, that errorDescription names it; ref: True = a referenceId must be present,
    False = must be absent, an int = must equal it, None = not checked. Returns ans."""
    check(ans.get("message") == "EventError" and ans.get("errorCode") == code and
          ans.get("errorName") == ERROR_NAMES.get(code),
          "%s: EventError %d %s (got %s)" % (what, code, ERROR_NAMES.get(code), _short([ans])))
    check(isinstance(ans.get("errorDescription"), str),
          "%s: errorDescription is a string" % what)
    if field is not None:
        check(field in ans.get("errorDescription", ""),
              "%s: errorDescription names %s (%r)" % (what, field, ans.get("errorDescription")))
    if ref is True:
        check(isinstance(ans.get("referenceId"), int), "%s: carries the referenceId" % what)
    elif ref is False:
        check("referenceId" not in ans, "%s: carries no referenceId" % what)
    elif ref is not None:
        check(ans.get("referenceId") == ref, "%s: referenceId %s" % (what, ref))
    return ans


def is_state(m, agent_id=None, cause=None):
    """True for an EventPlaceAgentState (of that agent, with that cause when given)."""
    return (m.get("message") == "EventPlaceAgentState" and
            (agent_id is None or m.get("agentId") == agent_id) and
            (cause is None or m.get("cause") == cause))


def is_status(m, agent_id=None):
    """True for an EventCurrentAgentStatus (of that agent when given)."""
    return (m.get("message") == "EventCurrentAgentStatus" and
            (agent_id is None or m.get("agentId") == agent_id))


# ---------------------------------------------------------------------------------------
# Interactions (issue #4): ixnserver with queues, media servers, queue status, load driver
# ---------------------------------------------------------------------------------------

MEDIA_TOKEN = "media-secret"
# The interactionId form of the wire decisions: "<serverName>:<9-digit number>".
IXN_ID_RE = r"^%s:[0-9]{9}$"


def start_ixn_queues(env, name, agents=None, queues=None, after_work=None, data_dir=None,
                     invite_timeout=None, media=("voice", "chat", "email"), extra_server="",
                     extra=""):
    """Starts an ixnserver with interaction queues: queues {"TENANT/QUEUE": media},
    after_work {media: seconds}, data_dir (default NAME-data in the temp dir, so that
    Proc.restart() keeps it) and invite_timeout (seconds, None = the server's default).
    Returns its Proc; the data-dir path is in Proc.data_dir."""
    data_dir = data_dir or env.path(name + "-data")
    server = ["data-dir = %s" % data_dir]
    # CC_TEST_IXN_PG_DSN runs the test's stores on PostgreSQL instead (docs/store.md):
    # each server's rows are dropped at its first start in the test, as a new data-dir.
    pg_dsn = os.environ.get("CC_TEST_IXN_PG_DSN")
    if pg_dsn:
        server = ["store-kind = postgres", "store-dsn = %s" % pg_dsn]
        if name not in env._pg_reset:
            env._pg_reset.add(name)
            subprocess.run(["psql", "-q", "-d", pg_dsn, "-c", "SET client_min_messages = warning",
                            "-c", "DELETE FROM ixn_interactions WHERE server = '%s'" % name,
                            "-c", "DELETE FROM ixn_meta WHERE server = '%s'" % name],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if invite_timeout is not None:
        server.append("invite-timeout = %d" % invite_timeout)
    if extra_server:
        server.append(extra_server.strip("\n"))
    tail = ["[queues]"]
    for k, v in (queues or {}).items():
        tail.append("%s = %s" % (k, v))
    if after_work:
        tail.append("[after-work]")
        for k, v in after_work.items():
            tail.append("%s = %d" % (k, v))
    if extra:
        tail.append(extra.strip("\n"))
    proc = env.start_ixn(name, media=media, agents=agents, extra_server="\n".join(server),
                         extra="\n".join(tail))
    proc.data_dir = data_dir
    return proc


def media_server(port, token=MEDIA_TOKEN):
    """A registered MediaServer client."""
    return _registered(port, "MediaServer", token)


def submit(ms, tenant, media, queue, user_data=None, external_id=None, timeout=None):
    """Sends RequestSubmit on a MediaServer client; returns the answer (EventAck/EventError)."""
    req = {"message": "RequestSubmit", "tenant": tenant, "media": media, "queue": queue}
    if user_data is not None:
        req["userData"] = user_data
    if external_id is not None:
        req["externalId"] = external_id
    return ms.request(req, timeout=timeout)


def submit_ok(ms, tenant, media, queue, user_data=None, external_id=None):
    """RequestSubmit that must be acknowledged with an interactionId; returns the id."""
    ans = submit(ms, tenant, media, queue, user_data, external_id)
    if ans.get("message") != "EventAck" or not isinstance(ans.get("interactionId"), str):
        raise Failure("submit to %s/%s refused: %s" % (tenant, queue, _short([ans])))
    return ans["interactionId"]


def queue_status(c):
    """RequestQueueStatus on any registered client: {(tenant, queue): entry}."""
    ans = c.request({"message": "RequestQueueStatus"})
    if ans.get("message") != "EventAck" or not isinstance(ans.get("queues"), list):
        raise Failure("RequestQueueStatus refused: %s" % _short([ans]))
    return {(q.get("tenant"), q.get("queue")): q for q in ans["queues"]}


def is_invite(ixn_id=None):
    """A predicate for an EventInvite (of that interaction when given)."""
    return is_ixn_event("EventInvite", ixn_id)


def is_ixn_event(name, ixn_id=None):
    """A predicate for the event name (EventRevoked, EventPartyRemoved, ...) of an
    interaction."""
    return lambda m: m.get("message") == name and (ixn_id is None or
                                                     m.get("interactionId") == ixn_id)


def held(state_msg):
    """{interactionId: (media, state)} of an EventPlaceAgentState's interactions array."""
    return {i.get("interactionId"): (i.get("media"), i.get("state"))
            for i in (state_msg.get("interactions") or [])}


def wait_routable(desk, media, timeout=10):
    """Waits on a desktop for a status that shows available > 0 for media; returns it."""
    def ok(m):
        v = (m.get("media") or {}).get(media) or {}
        return is_status(m) and (v.get("available") or 0) > 0
    return desk.next(ok, timeout=timeout, what="status with %s available" % media)


# -- rules evaluated in Python, for the checks of the load tests --

def rule_blocks(cond, counts):
    """True when a blocking condition holds for counts {media: n}. cond is a Python
    function of a Counts object (c.chat, c.any(n), c.total); None = always blocked
    (a media without a condition can never be routed)."""
    if cond is None:
        return True
    return bool(cond(Counts(counts)))


class Counts:
    """Read-only counts for rule conditions written as Python lambdas."""

    def __init__(self, counts):
        self._c = dict(counts)

    def __getattr__(self, media):
        if media.startswith("_"):
            raise AttributeError(media)
        return self._c.get(media, 0)

    def any(self, n):
        """The spec's `any >= n`: the count of some one media is >= n."""
        return any(v >= n for v in self._c.values())

    @property
    def total(self):
        """The sum over all media (`total`)."""
        return sum(self._c.values())


def reachable_counts(conds, media, cap=32):
    """Every holding (a tuple of counts in the order of media) an agent with the rule conds
    can reach from nothing by adding one interaction whose media the rule does not block
    at the moment, or by ending one: the holdings the rule allows. None when the search
    passes cap of some media (then statuses are not checked against it)."""
    start = tuple(0 for _ in media)
    seen = {start}
    todo = [start]
    while todo:
        cur = todo.pop()
        counts = dict(zip(media, cur))
        for i, med in enumerate(media):
            nxt = []
            if not rule_blocks(conds.get(med), counts):
                if cur[i] + 1 > cap:
                    return None
                nxt.append(cur[:i] + (cur[i] + 1,) + cur[i + 1:])
            if cur[i] > 0:
                nxt.append(cur[:i] + (cur[i] - 1,) + cur[i + 1:])
            for t in nxt:
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
    return seen


# -- the load driver shared by test_routing_load.py and test_ixn_crash.py --

class LoadAgent:
    """One agent connection of the LoadDriver: a non-blocking socket, its own seq check,
    requests in flight by referenceId and the interactions it holds (as the server counts
    them: from the EventInvite until the EventAck of its RequestStopProcessing)."""

    def __init__(self, drv, key, port, password, rule, media):
        self.drv = drv
        self.key = key                  # "TENANT/ID"
        self.tenant, self.agent_id = key.split("/", 1)
        self.port = port
        self.password = password
        self.rule = rule                # {media: condition or None}
        self.media = media
        self.sock = None
        self.seq = 0
        self.ref = 0
        self.inbuf = b""
        self.outbuf = b""
        self.pending = {}               # referenceId -> (kind, interactionId)
        self.holds = {}                 # interactionId -> media
        self.finish_at = {}             # interactionId -> monotonic time to stop processing
        self.logged_in = False
        self.eof = False
        self.statuses = 0
        self.invites = []               # (interactionId, queue) in arrival order
        self.reach = reachable_counts(rule, media)

    def connect(self):
        """Connects, registers and logs in (blocking until both acks)."""
        c = agent(self.port, self.tenant, self.agent_id, "P" + self.agent_id, self.password,
                  media={m: 1 for m in self.media})
        # Messages that came with the login (a status) are replayed through the driver,
        # which checks their seq again.
        early = c.queue
        c.queue = []
        self.sock = c.sock
        self.seq = early[0]["seq"] - 1 if early else c.seq
        self.ref = c.ref
        self.inbuf = c.buf
        c.sock = None
        if c in _clients:
            _clients.remove(c)
        # Env closes it at exit like any Client, also when the test fails midway.
        _clients.append(self)
        self.sock.setblocking(False)
        self.logged_in = True
        self.eof = False
        self.outbuf = b""
        self.pending = {}
        self.holds = {}
        self.finish_at = {}
        for m in early:
            self.drv._on_message(self, m)

    def send(self, obj, kind, ixn_id):
        """Queues a request with a fresh referenceId; the driver writes it when the socket
        takes it and matches the answer by kind ("accept", "stop") and interaction."""
        self.ref += 1
        obj = dict(obj)
        obj["referenceId"] = self.ref
        self.pending[self.ref] = (kind, ixn_id)
        self.outbuf += (json.dumps(obj, separators=(",", ":")) + "\n").encode()

    def close(self):
        """Closes the socket (idempotent)."""
        _close_socket(self)


class LoadDriver:
    """Drives many agents on one ixnserver in one thread with select(): agents accept every
    invite at once and stop processing after a random time in [hold_min, hold_max]; every
    EventInvite is checked against the agent's rule (Python conditions, counts held before
    it) and every status against current <= max. Collects what each agent handled."""

    def __init__(self, hold_min=0.02, hold_max=0.2, seed=4):
        import random
        self.rng = random.Random(seed)
        self.hold_min = hold_min
        self.hold_max = hold_max
        self.agents = []
        self.violations = []
        self.errors = []
        self.invited = {}       # interactionId -> number of EventInvite received
        self.done = {}          # interactionId -> number of acknowledged stops
        self.stop_sent = set()  # interactionIds whose stop was sent (acked or not)
        self.max_hold = {}      # agent key -> highest number held at once
        self.paused = False     # True: invites are still counted, but nothing is answered

    def add(self, agent_obj):
        """Adds a LoadAgent (connected before or after)."""
        self.agents.append(agent_obj)
        self.max_hold.setdefault(agent_obj.key, 0)

    def _violation(self, what):
        if len(self.violations) < 50:
            self.violations.append(what)

    def _on_message(self, a, m):
        s = m.get("seq")
        if s != a.seq + 1:
            self.errors.append("%s: seq %r after %d" % (a.key, s, a.seq))
        a.seq = s if isinstance(s, int) else a.seq
        name = m.get("message")
        if name == "EventInvite":
            iid = m.get("interactionId")
            media = m.get("media")
            counts = {}
            for med in a.holds.values():
                counts[med] = counts.get(med, 0) + 1
            if rule_blocks(a.rule.get(media), counts):
                self._violation("%s invited to %s %s while holding %s" % (a.key, media, iid,
                                                                          counts))
            self.invited[iid] = self.invited.get(iid, 0) + 1
            a.invites.append((iid, m.get("queue")))
            a.holds[iid] = media
            self.max_hold[a.key] = max(self.max_hold.get(a.key, 0), len(a.holds))
            if not self.paused:
                a.send({"message": "RequestAccept", "interactionId": iid}, "accept", iid)
        elif name == "EventCurrentAgentStatus":
            # Every status: the counts are a holding the rule can reach one allowed
            # interaction at a time, and no media it blocks at them shows room.
            a.statuses += 1
            media = m.get("media") or {}
            counts = {med: (media.get(med) or {}).get("current", 0) for med in a.media}
            if a.reach is not None and tuple(counts[med] for med in a.media) not in a.reach:
                self._violation("%s status counts %s beyond its rule (version %s)"
                                % (a.key, counts, m.get("version")))
            for med, v in media.items():
                if (v.get("available") or 0) > 0 and rule_blocks(a.rule.get(med), counts):
                    self._violation("%s status shows %s available %s at counts %s"
                                    % (a.key, med, v.get("available"), counts))
        elif name in ("EventAck", "EventError"):
            ref = m.get("referenceId")
            kind, iid = a.pending.pop(ref, (None, None))
            if name == "EventError":
                self.errors.append("%s: %s of %s: %s" % (a.key, kind, iid, _short([m])))
                return
            if kind == "accept":
                a.finish_at[iid] = time.monotonic() + self.rng.uniform(self.hold_min,
                                                                       self.hold_max)
            elif kind == "stop":
                a.holds.pop(iid, None)
                self.done[iid] = self.done.get(iid, 0) + 1
        elif name in ("EventRevoked", "EventPartyRemoved", "EventInteractionEnded"):
            self.errors.append("%s: unexpected %s" % (a.key, _short([m])))
            a.holds.pop(m.get("interactionId"), None)

    def step(self, wait=0.02):
        """One select() round over every agent: reads, handles, writes, stops due ones."""
        import select
        now = time.monotonic()
        if not self.paused:
            for a in self.agents:
                for iid, t in list(a.finish_at.items()):
                    if t <= now:
                        del a.finish_at[iid]
                        self.stop_sent.add(iid)
                        a.send({"message": "RequestStopProcessing", "interactionId": iid},
                               "stop", iid)
        live = [a for a in self.agents if a.sock is not None and not a.eof]
        rd = live
        wr = [a for a in live if a.outbuf]
        if not live:
            time.sleep(wait)
            return
        r, w, _ = select.select([a.sock for a in rd], [a.sock for a in wr], [], wait)
        by_sock = {a.sock: a for a in live}
        for s in w:
            a = by_sock[s]
            try:
                n = s.send(a.outbuf)
                a.outbuf = a.outbuf[n:]
            except BlockingIOError:
                pass
            except OSError:
                a.eof = True
        for s in r:
            a = by_sock[s]
            try:
                data = s.recv(1 << 20)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                a.eof = True
                continue
            a.inbuf += data
            while b"\n" in a.inbuf:
                line, a.inbuf = a.inbuf.split(b"\n", 1)
                try:
                    m = json.loads(line.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    self.errors.append("%s: not JSON: %r" % (a.key, line[:200]))
                    continue
                if isinstance(m, dict):
                    self._on_message(a, m)

    def busy(self):
        """True while some agent holds an interaction or has a request in flight."""
        return any(a.holds or a.pending for a in self.agents if not a.eof)

    def close(self):
        """Closes every agent's connection."""
        for a in self.agents:
            a.close()


def order_problems(drv, order_of, queue_of=None):
    """Invites an agent of the LoadDriver drv got from one queue out of that queue's order
    (order_of: interactionId -> submit number), and with queue_of (interactionId -> queue)
    also invites that name another queue than the one submitted to; as text, in order."""
    out = []
    for a in drv.agents:
        last = {}
        for iid, queue in a.invites:
            n = order_of.get(iid, -1)
            if n < last.get(queue, -1):
                out.append("%s got %s after a later one of %s" % (a.key, iid, queue))
            last[queue] = n
            if queue_of is not None and queue_of.get(iid) != queue:
                out.append("%s: invite of %s names queue %s, submitted to %s"
                           % (a.key, iid, queue, queue_of.get(iid)))
    return out


def pipeline_submits(ms, items, window=500, timeout=60, tick=None):
    """Sends RequestSubmit for every item (tenant, media, queue, userData, externalId) on the
    MediaServer client ms with at most window answers outstanding, as fast as the server
    takes them; returns the answers in item order. Other messages stay queued on ms.
    tick, when given, is called between reads (e.g. a LoadDriver's step) so that agents
    work while the submits flow."""
    answers = [None] * len(items)
    by_ref = {}
    deadline = time.monotonic() + timeout
    nxt = 0
    done = 0
    while done < len(items):
        chunk = []
        while nxt < len(items) and len(by_ref) < window:
            tenant, media, queue, ud, ext = items[nxt]
            req = {"message": "RequestSubmit", "tenant": tenant, "media": media,
                   "queue": queue, "referenceId": ms.next_ref()}
            if ud is not None:
                req["userData"] = ud
            if ext is not None:
                req["externalId"] = ext
            by_ref[req["referenceId"]] = nxt
            chunk.append(json.dumps(req, separators=(",", ":")) + "\n")
            nxt += 1
        if chunk:
            ms.send_raw("".join(chunk).encode())
        # Take every answer already read, then read more.
        got = False
        for m in list(ms.queue):
            if m.get("message") in ("EventAck", "EventError") and m.get("referenceId") in by_ref:
                ms.queue.remove(m)
                answers[by_ref.pop(m["referenceId"])] = m
                done += 1
                got = True
        if done >= len(items):
            break
        if not got:
            if ms.eof:
                raise Timeout("media server connection closed with %d answers missing"
                              % (len(items) - done))
            if time.monotonic() > deadline:
                raise Timeout("%d submit answers missing after %ss" % (len(items) - done,
                                                                     timeout))
            if tick is not None:
                tick()
                ms._read_some(min(deadline, time.monotonic() + 0.005))
            else:
                ms._read_some(min(deadline, time.monotonic() + 0.2))
    return answers


# -- capacity vectors in the short form of capacity-rules.md's tables --

def V(**media):
    """Expected vector: V(chat="R 0 3 3", email="NR 0 2 0") -> {media: (S, N1, N2, N3)}."""
    out = {}
    for name, text in media.items():
        s, n1, n2, n3 = text.split()
        out[name] = (s, int(n1), int(n2), int(n3))
    return out


def vec(msg):
    """The capacity vector of an EventCurrentAgentStatus in the form V() builds."""
    out = {}
    for name, v in (msg.get("media") or {}).items():
        out[name] = ("R" if v.get("ready") is True else "NR", v.get("current"), v.get("max"),
                     v.get("available"))
    return out


def fmt_vec(v):
    """A vector as text: "chat R 0 3 3, email NR 0 2 0"."""
    return ", ".join("%s %s %s %s %s" % ((m,) + tuple(v[m])) for m in sorted(v)) or "(none)"


def wait_vec(desk, want, what, version=None, timeout=5):
    """Reads statuses on a desktop until one has vector want (and that version when given);
    a check line either way. Returns the status."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        try:
            m = desk.next(is_status, timeout=max(0.0, deadline - time.monotonic()))
        except Timeout as e:
            check(False, "%s: want [%s]%s, saw %s (%s)" % (
                what, fmt_vec(want), "" if version is None else " version %s" % version,
                ["[%s] v=%s" % (fmt_vec(vec(x)), x.get("version")) for x in seen] or "nothing",
                e))
            raise Failure(what)
        seen.append(m)
        if version is not None and isinstance(m.get("version"), int) and \
                m["version"] < version:
            continue
        if vec(m) == want and (version is None or m.get("version") == version):
            check(True, "%s: [%s]" % (what, fmt_vec(want)))
            return m
        if version is not None and m.get("version") == version:
            check(False, "%s: want [%s] at version %s, got [%s]" % (
                what, fmt_vec(want), version, fmt_vec(vec(m))))
            return m


def stat_vec(wall, tenant, agent_id, want, what):
    """Asks the statserver (a StatClient) for the agent's status and checks its vector."""
    ans = wall.request({"message": "RequestAgentStatus", "tenant": tenant, "agentId": agent_id})
    check(ans.get("message") == "EventAck", "%s: RequestAgentStatus acknowledged" % what)
    m = wall.next(lambda x: is_status(x) and x.get("agentId") == agent_id, timeout=5,
                  what="status of %s" % agent_id)
    check(vec(m) == want, "%s: statserver says [%s] (got [%s])" % (what, fmt_vec(want),
                                                                  fmt_vec(vec(m))))
    return m


def start_reporting(c, tenants=None):
    """RequestStartPlaceAgentStateReportingAll on a ReportingEngine client; waits for the
    snapshot's end and returns the snapshot events."""
    req = {"message": "RequestStartPlaceAgentStateReportingAll"}
    if tenants is not None:
        req["tenants"] = tenants
    expect_ack(c.request(req), "reporting started")
    done = c.next(lambda m: m.get("message") == "EventPlaceAgentStateSnapshotDone",
                  what="EventPlaceAgentStateSnapshotDone")
    snap = [m for m in c.log if is_state(m, cause="Snapshot") and m["seq"] < done["seq"]]
    c.queue = [m for m in c.queue if m["seq"] > done["seq"]]
    return snap


# -- reservations (protocol.md section 7a): tests that play the reporting engine --
#
# An ixnserver offers an interaction only under a reservation granted by the reporting
# engine whose status the agent's newest status came from. A test that sends statuses
# itself therefore has to answer EventReserveAgent: either one at a time (next_reservation,
# answer_reservation) or all of them with Client.auto_grant(policy).


def is_reserve(m, agent_id=None, media=None):
    """True for an EventReserveAgent (of that agent and media when given)."""
    return (m.get("message") == "EventReserveAgent" and
            (agent_id is None or m.get("agentId") == agent_id) and
            (media is None or m.get("media") == media))


def is_released(m, reservation_id=None):
    """True for an EventReservationReleased (of that reservation when given)."""
    return (m.get("message") == "EventReservationReleased" and
            (reservation_id is None or m.get("reservationId") == reservation_id))


def answer_reservation(c, m, granted=True):
    """Sends EventAgentReserved for the EventReserveAgent m on the reporter c."""
    c.send({"message": "EventAgentReserved", "reservationId": m.get("reservationId"),
            "granted": bool(granted)})


def next_reservation(c, agent_id=None, media=None, timeout=5, what=None):
    """The next EventReserveAgent on the reporter c (of that agent and media when given),
    unanswered; a FAIL line instead of a traceback when none comes."""
    what = what or "EventReserveAgent%s" % ("" if agent_id is None else " for " + agent_id)
    try:
        return c.next(lambda m: is_reserve(m, agent_id, media), timeout=timeout, what=what)
    except Timeout as e:
        check(False, "%s: none within %.1fs (%s)" % (what, timeout, e))
        raise Failure(what)  # also under CC_IT_SOFT: nothing to answer


def reserve_problems(m, server_ids=None):
    """What is wrong with the fields of an EventReserveAgent m, as a list of text:
    reservationId a positive integer (not in server_ids, the ids the same server used
    before, when given), tenant, agentId and media strings, version an integer."""
    out = []
    rid = m.get("reservationId")
    if not isinstance(rid, int) or isinstance(rid, bool) or rid <= 0:
        out.append("reservationId %r is not a positive integer" % (rid,))
    elif server_ids is not None and rid in server_ids:
        out.append("reservationId %d used before" % rid)
    for f in ("tenant", "agentId", "media"):
        if not isinstance(m.get(f), str):
            out.append("%s %r is not a string" % (f, m.get(f)))
    if not isinstance(m.get("version"), int) or isinstance(m.get("version"), bool):
        out.append("version %r is not an integer" % (m.get("version"),))
    return out


def granting_reporter(port, tenants=None, policy=None):
    """A ReportingEngine client with reporting started (snapshot read, as start_reporting)
    that answers every reservation by policy (default: grant), as Client.auto_grant.
    Returns (client, snapshot events)."""
    c = reporter(port)
    snap = start_reporting(c, tenants)
    c.auto_grant(policy)
    return c, snap


# -- status checks of the tests that compare vectors (failover, restart, seed, CLI, ...) --

def ok(cond, what):
    """check(); the "(got ...)" part of what is printed only when the check fails."""
    if cond:
        what = re.sub(r" \(got .*\)$", "", what, flags=re.S)
    check(bool(cond), what)


def act(desk, req, what):
    """Sends an agent request and asserts it is acknowledged."""
    ans = desk.request(dict(req))
    ok(ans.get("message") == "EventAck", "%s acknowledged (got %s)" % (what, ans))
    return ans


def next_status(c, what, timeout=5):
    """The next status on c; fails the check (not a traceback from inside the client) on timeout."""
    try:
        return c.next(is_status, timeout=timeout)
    except Exception as e:  # the client raises its own timeout type
        what = "%s: no EventCurrentAgentStatus within %.1fs (%s)" % (what, timeout, e)
        check(False, what)
        raise Failure(what)  # also under CC_IT_SOFT: there is no status to check


def wait_status(c, want, what, timeout=5, version=None, dnd=None):
    """Reads statuses on c until one has vector want (and version, dnd when given); unlike
    wait_vec it skips every other status, whatever its version."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        try:
            m = c.next(is_status, timeout=max(0.0, deadline - time.monotonic()))
        except Exception as e:  # timeout or connection closed: report what was seen
            what = "%s: want [%s]%s, saw %s (%s)" % (
                what, fmt_vec(want), "" if version is None else " version %s" % version,
                ["[%s] v=%s" % (fmt_vec(vec(x)), x.get("version")) for x in seen] or "nothing",
                e)
            check(False, what)
            raise Failure(what)  # also under CC_IT_SOFT: nothing more will come
        seen.append(m)
        if vec(m) == want and (version is None or m.get("version") == version) and \
                (dnd is None or m.get("dnd") is dnd):
            check(True, "%s: [%s]%s" % (what, fmt_vec(want),
                                        "" if version is None else " version %s" % version))
            return m


def expect_status(c, want, what, timeout=5, version=None, dnd=None, rule=None):
    """The very next status on c must have vector want (strict: no intermediate statuses)."""
    m = next_status(c, what, timeout)
    ok(vec(m) == want, "%s: vector [%s] (got [%s])" % (what, fmt_vec(want), fmt_vec(vec(m))))
    if version is not None:
        ok(m.get("version") == version,
           "%s: version %s (got %s)" % (what, version, m.get("version")))
    if dnd is not None:
        ok(m.get("dnd") is dnd, "%s: dnd %s (got %s)" % (what, dnd, m.get("dnd")))
    if rule is not None:
        ok(m.get("rule") == rule, "%s: rule %s (got %s)" % (what, rule, m.get("rule")))
    return m


def no_status(c, what, wait=0.5):
    """No status arrives on c for wait seconds (and none is queued)."""
    try:
        c.expect_none(is_status, wait=wait)
    except Exception as e:
        check(False, "%s: unexpected status (%s)" % (what, e))
    check(True, what)


def alive(*procs):
    """Every daemon the test still expects to run has not crashed (an ASan build aborts)."""
    for p in procs:
        ok(p.running(), "%s still running (pid %s)" % (p.name, p.pid))


class Observer:
    """A second ReportingEngine on an ixnserver that reads the agents' states, so a test
    knows the version each change got (the desktop never sees EventPlaceAgentState)."""

    def __init__(self, port, what):
        self.c = reporter(port)
        ans = self.c.request({"message": "RequestStartPlaceAgentStateReportingAll"})
        ok(ans.get("message") == "EventAck", "%s: reporting started" % what)
        self.version = {}
        self.snapshot = {}
        while True:
            m = self.c.next(lambda x: x.get("message") in (
                "EventPlaceAgentState", "EventPlaceAgentStateSnapshotDone"), timeout=5)
            if m["message"] == "EventPlaceAgentStateSnapshotDone":
                self.count = m.get("count")
                break
            ok(m.get("cause") == "Snapshot", "%s: snapshot event has cause Snapshot" % what)
            key = (m.get("tenant"), m.get("agentId"))
            self.snapshot[key] = m
            self.version[key] = m.get("version")

    def state(self, tenant, agent_id, cause, timeout=5):
        """The next state event of that agent with that cause; returns its version."""
        try:
            m = self.c.next(lambda x: x.get("message") == "EventPlaceAgentState" and
                            x.get("tenant") == tenant and x.get("agentId") == agent_id and
                            x.get("cause") == cause, timeout=timeout)
        except Exception as e:
            what = "state %s/%s %s not reported (%s)" % (tenant, agent_id, cause, e)
            check(False, what)
            raise Failure(what)  # also under CC_IT_SOFT: no version to go on
        self.version[(tenant, agent_id)] = m.get("version")
        return m.get("version")


BLENDED_RULES = '''rule "Blended" {
    voice = any >= 1;
    chat  = chat >= 3 or voice >= 1 or (chat >= 2 and email >= 1);
    email = email >= 2 or voice >= 1 or (email >= 1 and chat >= 1);
}
'''

# The Blended rule for every agent of the tenant Resources.
BLENDED_TENANT_RULES = BLENDED_RULES + 'assign tenant "Resources" "Blended";\n'

# Four agents of one ixnserver over two tenants, and the fields every EventPlaceAgentState carries.
FOUR_AGENTS = {"Resources/1001": "pw1001", "Resources/1002": "pw1002",
               "Resources/1003": "pw1003", "Sales/2001": "pw2001"}
STATE_FIELDS = ("serverName", "cause", "tenant", "agentId", "placeId", "version", "loggedIn",
                "dnd", "media", "interactions")


# -- mixed rules of the load tests: the rules file and the same conditions in Python --

LOAD_RULES = BLENDED_RULES + '''rule "ChatOnly" { chat = chat >= 4; }
rule "Total3" { chat = total >= 3; email = total >= 3 or email >= 2; }
'''

LOAD_CONDS = {
    "Blended": {
        "voice": lambda c: c.any(1),
        "chat": lambda c: c.chat >= 3 or c.voice >= 1 or (c.chat >= 2 and c.email >= 1),
        "email": lambda c: c.email >= 2 or c.voice >= 1 or (c.email >= 1 and c.chat >= 1),
    },
    "ChatOnly": {"voice": None, "chat": lambda c: c.chat >= 4, "email": None},
    "Total3": {"voice": None, "chat": lambda c: c.total >= 3,
               "email": lambda c: c.total >= 3 or c.email >= 2},
    # The built-in Default: one call at a time, only when idle; nothing else.
    "Default": {"voice": lambda c: c.any(1), "chat": None, "email": None},
}


def load_agents(n, tenant="Resources", first=5000):
    """n agents of the load tests: {"TENANT/ID": (password, rule)}, the rules cycling
    through Blended, ChatOnly, Default, Total3 in blocks of a quarter, and the rules-file
    assignments for them (Default ones get none)."""
    names = ["Blended", "ChatOnly", "Default", "Total3"]
    out = {}
    assigns = []
    for i in range(n):
        aid = str(first + i)
        rule = names[min(3, i * 4 // n)]
        out["%s/%s" % (tenant, aid)] = ("pw" + aid, rule)
        if rule != "Default":
            assigns.append('assign agent "%s" "%s" "%s";' % (tenant, aid, rule))
    return out, LOAD_RULES + "\n".join(assigns) + "\n"


LOAD_QUEUES = {"Resources/voice-in": "voice", "Resources/chat-sales": "chat",
               "Resources/chat-support": "chat", "Resources/email-in": "email"}


def load_items(n, prefix, tenant="Resources"):
    """n submits of mixed media: half chat (over two queues), a quarter email, a quarter
    voice; each with userData and the externalId PREFIX-i."""
    cycle = [("chat", "chat-sales"), ("email", "email-in"), ("chat", "chat-support"),
             ("voice", "voice-in")]
    return [(tenant, cycle[i % 4][0], cycle[i % 4][1], {"n": i}, "%s-%d" % (prefix, i))
            for i in range(n)]


def ixn_number(iid):
    """The number of an interactionId "server:NNNNNNNNN" (-1 when it has no number)."""
    _, _, num = str(iid).rpartition(":")
    return int(num) if num.isdigit() else -1
