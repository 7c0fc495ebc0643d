#!/usr/bin/env python3
"""GET /metrics and GET /healthz on both daemons (issue 12, docs/operations.md "Metrics and
health"). An ixnserver with a store and an http port gets known work: N agents log in, one
login fails, a MediaServer submits M interactions, one request names an unknown
interaction and one message is unknown. Its /metrics must then count exactly that (logins,
failures, submits, messages by name, errors by code, sessions by type, answered requests,
the queue's length), and `promtool check metrics` (Debian's prometheus package) must accept
the text. /healthz answers 503 until a statserver links, then 200; after the link the
offers, the statuses and the statserver's own metrics follow, and once the statserver is
gone /healthz answers 503 again. Without a metrics-token /metrics answers loopback peers,
but not a request a proxy forwarded (403); the statserver has a metrics-token, and without
it, or with a wrong one, /metrics is refused 401."""
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

T = "Resources"
N = 3  # agents logged in
M = 4  # interactions submitted
AGENTS = {"%s/%d" % (T, 1001 + i): "pw%d" % (1001 + i) for i in range(N)}
METRICS_TOKEN = "scrape-secret"
# One interaction at a time per agent: N of the M submits are offered, M - N stay queued.
RULES = 'assign tenant "%s" "OneInteractionOfAnyType";\n' % T
SERIES_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')


def get(port, path, headers=None):
    """(status, headers, body text) of GET path on 127.0.0.1:port."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode("utf-8")
    finally:
        c.close()


def parse(text):
    """{'name{labels}': value} of an exposition text; checks that every line is a comment
    or one sample."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = SERIES_RE.match(line)
        if not m:
            raise harness.Failure("not a sample line: %r" % line)
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def scrape(port, headers=None):
    """The parsed /metrics of a daemon, and its text."""
    st, h, body = get(port, "/metrics", headers)
    if st != 200:
        raise harness.Failure("GET /metrics answered %d: %s" % (st, body))
    return parse(body), body


def promtool_check(env, text, what):
    """`promtool check metrics` accepts the text, without a single lint remark."""
    promtool = shutil.which("promtool")
    check(promtool is not None, "promtool is installed (Debian package prometheus, "
                                "scripts/deps.sh)")
    path = env.write(what + ".prom", text)
    with open(path, "rb") as f:
        r = subprocess.run([promtool, "check", "metrics"], stdin=f, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
    remarks = (r.stdout + r.stderr).decode("utf-8", "replace").strip()
    check(r.returncode == 0 and remarks == "",
          "%s: promtool check metrics passes (status %d%s)"
          % (what, r.returncode, (": " + remarks[:2000]) if remarks else ""))


def wait_for(port, pred, what, headers=None, timeout=20):
    """Scrapes until pred(metrics) holds; returns the metrics."""
    deadline = time.monotonic() + timeout
    while True:
        mt, _ = scrape(port, headers)
        if pred(mt):
            return mt
        if time.monotonic() > deadline:
            raise harness.Failure("%s: not seen within %ss" % (what, timeout))
        time.sleep(0.1)


def exact(mt, key, want, what):
    check(mt.get(key) == want, "%s: %s is %s (got %s)" % (what, key, want, mt.get(key)))


def errors_total(mt):
    return sum(v for k, v in mt.items() if k.startswith("contactcore_errors_sent_total{"))


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=150) as env:
        ixn = harness.start_ixn_queues(env, "ixn-a", agents=AGENTS, queues={T + "/sales": "chat"},
                                       extra_server="http = 127.0.0.1:0")
        http_port = ixn.ports.get("http")
        check(http_port, "the ixnserver has an http port")

        st, h, body = get(http_port, "/healthz")
        check(st == 503 and body == "not ready: no reporting engine is linked\n",
              "ixnserver /healthz before any reporting engine: 503 and why (got %d %r)"
              % (st, body))

        st, h, body = get(http_port, "/metrics")
        check(st == 200 and h.get("Content-Type", "").startswith("text/plain; version=0.0.4"),
              "GET /metrics from loopback without a metrics-token: 200 in the text format "
              "(got %d %s)" % (st, h.get("Content-Type")))
        before = parse(body)
        st, h, body = get(http_port, "/metrics", {"X-Forwarded-For": "192.0.2.7"})
        check(st == 403, "GET /metrics forwarded by a proxy on loopback, without a "
                         "metrics-token: 403 (got %d)" % st)
        check(before.get("contactcore_ixn_logins_total") == 0,
              "no login counted before any (got %s)" % before.get("contactcore_ixn_logins_total"))

        # The known work.
        desks = [harness.agent(ixn.port, T, str(1001 + i), "P%d" % (1001 + i),
                               "pw%d" % (1001 + i)) for i in range(N)]
        bad = harness._registered(ixn.port, "AgentApplication", harness.DESK_TOKEN)
        harness.expect_error(bad.request({"message": "RequestAgentLogin", "tenant": T,
                                          "agentId": "1001", "placeId": "P9",
                                          "password": "wrong", "mediaList": {"chat": 1}}),
                             5, "a login with a wrong password")
        bad.close()
        ms = harness.media_server(ixn.port)
        for i in range(M):
            harness.submit_ok(ms, T, "chat", "sales", external_id="metrics-%d" % i)
        harness.expect_error(ms.request({"message": "RequestStopProcessing",
                                         "interactionId": "ixn-a:999999999"}),
                             9, "a request on an unknown interaction")
        harness.expect_error(ms.request({"message": "RequestNoSuchThing"}), 2,
                             "an unknown message")

        # The closed login connection leaves the session gauge once its close is seen.
        mt = wait_for(http_port,
                      lambda m: m.get('contactcore_sessions{type="AgentApplication"}') == N,
                      "the failed login's connection closed")
        ixn_text = scrape(http_port)[1]
        mt = parse(ixn_text)
        w = "ixnserver after the work"
        exact(mt, "contactcore_ixn_logins_total", N, w)
        exact(mt, "contactcore_ixn_login_failures_total", 1, w)
        exact(mt, "contactcore_ixn_agents_logged_in", N, w)
        exact(mt, 'contactcore_messages_received_total{name="RequestAgentLogin"}', N + 1, w)
        exact(mt, 'contactcore_messages_received_total{name="RequestRegisterClient"}', N + 2, w)
        exact(mt, 'contactcore_messages_received_total{name="RequestSubmit"}', M, w)
        exact(mt, 'contactcore_messages_received_total{name="RequestStopProcessing"}', 1, w)
        exact(mt, 'contactcore_messages_received_total{name="other"}', 1, w)
        exact(mt, 'contactcore_ixn_interaction_events_total{event="submitted"}', M, w)
        exact(mt, 'contactcore_errors_sent_total{code="5",name="NotAuthorized"}', 1, w)
        exact(mt, 'contactcore_errors_sent_total{code="9",name="UnknownInteraction"}', 1, w)
        exact(mt, 'contactcore_errors_sent_total{code="2",name="UnknownMessage"}', 1, w)
        check(errors_total(mt) == 3, "%s: 3 errors in all (got %s)" % (w, errors_total(mt)))
        exact(mt, 'contactcore_messages_sent_total{name="EventError"}', 3, w)
        # Acks: every registration (N desks, the failed login's, the media server's), the
        # N logins and the M submits.
        exact(mt, 'contactcore_messages_sent_total{name="EventAck"}', (N + 2) + N + M, w)
        # Answered through the session: the same acks, the failed login and the request
        # on an unknown interaction (the unknown message is refused before any handler).
        exact(mt, "contactcore_request_duration_seconds_count", (N + 2) + N + M + 2, w)
        exact(mt, 'contactcore_sessions{type="MediaServer"}', 1, w)
        exact(mt, 'contactcore_sessions{type="None"}', 0, w)
        exact(mt, 'contactcore_ixn_queue_interactions{tenant="%s",queue="sales",media="chat",'
                  'state="queued"}' % T, M, w)
        oldest = mt.get('contactcore_ixn_queue_oldest_wait_seconds{tenant="%s",queue="sales",'
                        'media="chat"}' % T)
        check(oldest is not None and oldest > 0, "%s: the oldest interaction has waited (%s s)"
              % (w, oldest))
        exact(mt, "contactcore_ixn_store_commit_duration_seconds_count",
              mt.get("contactcore_ixn_store_commits_total"), w + ", a duration per commit")
        check(mt.get("contactcore_ixn_store_commits_total", 0) >= 1,
              "%s: the submits were committed" % w)
        check(mt.get("process_resident_memory_bytes", 0) > 1e6, "%s: resident memory (%s)"
              % (w, mt.get("process_resident_memory_bytes")))
        busy = mt.get("contactcore_loop_busy_ratio")
        check(busy is not None and 0 <= busy <= 1, "%s: loop busy ratio in 0..1 (%s)" % (w, busy))
        # The series of TLS, registrations by name and supervisor actions are written from
        # the start, at 0 here (no TLS, no [clients], no supervisor).
        for key in ("contactcore_tls_handshakes_total", "contactcore_tls_failures_total",
                    "contactcore_tls_plaintext_refused_total",
                    'contactcore_registrations_failed_total{reason="secret"}',
                    'contactcore_registrations_failed_total{reason="type"}',
                    'contactcore_registrations_failed_total{reason="busy"}',
                    'contactcore_ixn_supervisor_actions_total{action="ForceNotReady",'
                    'result="ok"}',
                    'contactcore_ixn_supervisor_actions_total{action="Reassign",'
                    'result="refused"}'):
            exact(mt, key, 0, w)
        promtool_check(env, ixn_text, "ixnserver")

        # The statserver links: the ixnserver becomes ready, and routing offers.
        stat = env.start_stat("stat", [ixn], rules=RULES,
                              extra_server="http = 127.0.0.1:0\nmetrics-token = %s"
                              % METRICS_TOKEN)
        deadline = time.monotonic() + 20
        while True:
            st, h, body = get(http_port, "/healthz")
            if st == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        check(st == 200 and body == "ok\n", "ixnserver /healthz once the statserver linked: 200 "
                                            "ok (got %d %r)" % (st, body))
        mt = wait_for(http_port, lambda m: m.get(
            'contactcore_ixn_interaction_events_total{event="invited"}') == N,
            "N offers, one per agent")
        w = "ixnserver after the link"
        exact(mt, "contactcore_ixn_reporting_engines", 1, w)
        exact(mt, "contactcore_ixn_submit_to_invite_seconds_count", N, w)
        exact(mt, 'contactcore_ixn_queue_interactions{tenant="%s",queue="sales",media="chat",'
                  'state="queued"}' % T, M - N, w)
        exact(mt, 'contactcore_ixn_queue_interactions{tenant="%s",queue="sales",media="chat",'
                  'state="invited"}' % T, N, w)
        check(mt.get("contactcore_ixn_reservations_asked_total", 0) >= N and
              mt.get('contactcore_ixn_reservation_answers_total{outcome="granted"}', 0) >= N,
              "%s: at least N reservations asked and granted" % w)
        exact(mt, 'contactcore_sessions{type="ReportingEngine"}', 1, w)
        mt = wait_for(http_port,
                      lambda m: m.get("contactcore_ixn_state_to_status_seconds_count", 0) >= N,
                      "statuses for the offers' states")
        promtool_check(env, scrape(http_port)[1], "ixnserver after the link")

        sp = stat.ports.get("http")
        st, h, body = get(sp, "/metrics")
        check(st == 401 and "Bearer" in h.get("WWW-Authenticate", ""),
              "statserver /metrics without the metrics-token: 401 with WWW-Authenticate "
              "(got %d)" % st)
        st, h, body = get(sp, "/metrics", {"Authorization": "Bearer wrong"})
        check(st == 401, "statserver /metrics with a wrong token: 401 (got %d)" % st)
        auth = {"Authorization": "Bearer " + METRICS_TOKEN}
        smt = wait_for(sp, lambda m: m.get("contactcore_stat_agents_logged_in") == N,
                       "the statserver knows the N agents", headers=auth)
        w = "statserver"
        exact(smt, 'contactcore_stat_link_up{server="ixn-a",address="127.0.0.1:%d"}'
              % ixn.port, 1, w)
        exact(smt, 'contactcore_stat_reservation_answers_total{outcome="granted"}',
              mt.get('contactcore_ixn_reservation_answers_total{outcome="granted"}'), w +
              ", grants as the ixnserver counted them")
        check(smt.get("contactcore_stat_agent_states_total", 0) >= N and
              smt.get("contactcore_stat_statuses_computed_total", 0) >= N and
              smt.get('contactcore_stat_statuses_sent_total{to="ixnserver"}', 0) >= N,
              "%s: agent states in, statuses computed and sent" % w)
        exact(smt, "contactcore_stat_state_to_status_seconds_count",
              smt.get("contactcore_stat_agent_states_total"), w + ", a duration per state")
        exact(smt, 'contactcore_messages_received_total{name="EventPlaceAgentState"}',
              smt.get("contactcore_stat_agent_states_total"), w)
        st, h, body = get(sp, "/healthz")
        check(st == 200 and body == "ok\n", "statserver /healthz: 200 ok (got %d %r)" % (st, body))
        promtool_check(env, scrape(sp, auth)[1], "statserver")

        # Without its reporting engine the ixnserver is not ready again.
        check(stat.kill(signal.SIGTERM) == 0, "the statserver stops cleanly on SIGTERM")
        deadline = time.monotonic() + 20
        while True:
            st, h, body = get(http_port, "/healthz")
            if st != 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        check(st == 503 and body == "not ready: no reporting engine is linked\n",
              "ixnserver /healthz once the statserver is gone: 503 again (got %d %r)"
              % (st, body))
        mt, _ = scrape(http_port)
        exact(mt, 'contactcore_sessions{type="ReportingEngine"}', 0, "ixnserver without it")
        exact(mt, "contactcore_ixn_reporting_engines", 0, "ixnserver without it")


if __name__ == "__main__":
    main()
