#!/usr/bin/env python3
"""No interaction lost or duplicated across `kill -9` of the ixnserver (issue #4,
protocol.md §7, the wire decisions on the store): 20 agents with mixed rules work through
interactions submitted pipelined with externalIds; a second batch of submits is still in
flight when the ixnserver gets SIGKILL. It is restarted with the same data-dir on the same
port. Then, before any agent is back: RequestQueueStatus counts as waiting exactly the
interactions that had not ended (between the stops acknowledged and the stops sent), none
invited or handled. Every externalId is submitted again: one acknowledged before the crash
returns its first interactionId with duplicate:true (ended ones included); one whose ack was
lost returns either its stored id (duplicate) or a new id above every id used before (ids
never reused). The agents log in again and handle the rest: nothing that had ended comes
back, everything else is handled exactly once, each agent gets each queue oldest first,
and the queues end empty. A desktop agent outside the load holds one sms in AfterWork, one
Handling and one Invited, with a fourth waiting behind them: after the restart the
AfterWork one has ended (its externalId still known) and the other three come back to the
agent in their old order."""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

N_AGENTS = 20
N_FIRST = 600       # submitted and acknowledged before the crash
N_SECOND = 200      # in flight when the ixnserver is killed
KILL_AFTER_DONE = 120
BOUND = 60.0
T = "Resources"
# A desktop agent outside the load, on a media of its own with after-work: at the crash it
# has one sms in AfterWork, one Handling, one Invited, and one more waits behind them.
SMS_AGENT = "6000"
SMS_QUEUE = (T, "sms-in")
SMS_RULES = 'rule "Sms2" { sms = sms >= 2; }\nassign agent "%s" "%s" "Sms2";\n' % (T, SMS_AGENT)


def start_agents(ixn, agents, hold_min, hold_max, seed):
    drv = harness.LoadDriver(hold_min=hold_min, hold_max=hold_max, seed=seed)
    for key, (pw, rule) in agents.items():
        a = harness.LoadAgent(drv, key, ixn.port, pw, harness.LOAD_CONDS[rule],
                              ("voice", "chat", "email"))
        a.connect()
        drv.add(a)
    return drv


def main():
    args = harness.parse_args()
    with harness.Env(args.bin, timeout=240) as env:
        agents, rules = harness.load_agents(N_AGENTS)
        passwords = {k: v[0] for k, v in agents.items()}
        passwords["%s/%s" % (T, SMS_AGENT)] = "pw" + SMS_AGENT
        queues = dict(harness.LOAD_QUEUES)
        queues["%s/%s" % SMS_QUEUE] = "sms"
        ixn = harness.start_ixn_queues(env, "ixn-a", agents=passwords, queues=queues,
                                       after_work={"sms": 60}, invite_timeout=60,
                                       media=("voice", "chat", "email", "sms"),
                                       extra_server="idle-timeout = 300")
        stat = env.start_stat("stat-1", [ixn], rules=rules + SMS_RULES)
        drv = start_agents(ixn, agents, 0.1, 0.4, seed=41)
        deadline = time.monotonic() + 15
        while any(a.statuses == 0 for a in drv.agents) and time.monotonic() < deadline:
            drv.step(0.05)
        check(all(a.statuses > 0 for a in drv.agents), "all agents logged in with a status")

        # ---- the sms agent's holdings, then load, then kill -9 in the middle of it ----
        ms = harness.media_server(ixn.port)
        desk = harness.agent(ixn.port, T, SMS_AGENT, "P" + SMS_AGENT, "pw" + SMS_AGENT,
                             media={"sms": 1})
        sms = []
        for i in range(4):
            sms.append(harness.submit_ok(ms, T, "sms", SMS_QUEUE[1], external_id="sms-%d" % i))
            if i == 3:
                desk.expect_none(harness.is_invite(), wait=0.5)
                break
            desk.next(harness.is_invite(sms[i]), what="invite of sms %d" % i)
            if i < 2:
                harness.expect_ack(desk.request({"message": "RequestAccept",
                                                 "interactionId": sms[i]}), "accept sms %d" % i)
            if i == 0:
                harness.expect_ack(desk.request({"message": "RequestStopProcessing",
                                                 "interactionId": sms[i]}),
                                   "sms 0 into after-work")
        check(True, "before the crash: sms 0 in AfterWork, 1 Handling, 2 Invited, 3 waiting")
        items = harness.load_items(N_FIRST + N_SECOND, "crash")
        order_of = {}           # externalId -> submission index (queue order)
        for i, it in enumerate(items):
            order_of[it[4]] = i
        first = harness.pipeline_submits(ms, items[:N_FIRST], tick=lambda: drv.step(0))
        ext_id = {}             # externalId -> interactionId acknowledged
        for it, ans in zip(items[:N_FIRST], first):
            if ans.get("message") == "EventAck":
                ext_id[it[4]] = ans.get("interactionId")
        check(len(ext_id) == N_FIRST, "first %d submits acknowledged" % N_FIRST)
        deadline = time.monotonic() + BOUND
        while len(drv.done) < KILL_AFTER_DONE and time.monotonic() < deadline:
            drv.step(0.01)
        check(len(drv.done) >= KILL_AFTER_DONE, "%d interactions ended before the crash"
              % len(drv.done))
        second_refs = {}
        lines = []
        for tenant, media, queue, ud, ext in items[N_FIRST:]:
            ref = ms.next_ref()
            second_refs[ref] = ext
            lines.append(json.dumps({"message": "RequestSubmit", "referenceId": ref,
                                             "tenant": tenant, "media": media, "queue": queue,
                                             "userData": ud, "externalId": ext}) + "\n")
        ms.send_raw("".join(lines))
        # Two more rounds so that the agents' last accepts and stops are on the wire too,
        # then the kill lands while the second batch is being read.
        drv.step(0)
        drv.step(0.005)
        ixn.kill(signal.SIGKILL)
        check(not ixn.running(), "ixnserver killed with SIGKILL in the middle of the load")

        # What is certain: acks read before the connection died.
        end = time.monotonic() + 2
        while not all(a.eof for a in drv.agents) and time.monotonic() < end:
            drv.step(0.02)
        ms.drain(0.3)
        for m in ms.log:
            if m.get("message") == "EventAck" and m.get("referenceId") in second_refs:
                ext_id[second_refs[m["referenceId"]]] = m.get("interactionId")
        ended = set(drv.done)                    # stop acknowledged = stored as ended
        maybe_ended = drv.stop_sent - ended      # stop sent, answer lost
        pre_invited = dict(drv.invited)
        pre_ids = set(ext_id.values())
        id_ext = {v: k for k, v in ext_id.items()}
        check(len(pre_ids) == len(ext_id), "acknowledged ids distinct before the crash")
        max_before = max(harness.ixn_number(i) for i in pre_ids)
        pre_order = harness.order_problems(drv, {i: order_of[id_ext[i]] for i in pre_ids})
        check(not pre_order and not drv.violations and not drv.errors,
              "before the crash: queue order, rules and answers fine (%s %s %s)"
              % (pre_order[:2], drv.violations[:2], drv.errors[:2]))
        print("info: before the crash %d acknowledged, %d ended, %d stops unanswered, "
              "%d of the second batch acknowledged"
              % (len(ext_id), len(ended), len(maybe_ended), len(ext_id) - N_FIRST), flush=True)
        drv.close()

        # ---- restart with the same data-dir ----
        ixn.restart()
        check(True, "ixnserver restarted on port %d with the same data-dir" % ixn.port)
        ms2 = harness.media_server(ixn.port)
        qs = harness.queue_status(ms2)
        q = qs.pop(SMS_QUEUE, {})
        check(q.get("waiting") == 3,
              "sms-in: the Handling, the Invited and the waiting sms are back, the one in "
              "AfterWork ended (got %s)" % q)
        waiting = sum(q.get("waiting", 0) for q in qs.values())
        check(all(q.get("invited") == 0 and q.get("handling") == 0 for q in qs.values()),
              "after restart nothing invited or handled (%s)" % list(qs.values()))
        acked_open = len(pre_ids - ended)
        lo = acked_open - len(maybe_ended & pre_ids)
        hi = acked_open + (N_SECOND - (len(ext_id) - N_FIRST))
        check(lo <= waiting <= hi,
              "after restart %d waiting: every acknowledged interaction not ended is back "
              "(expected %d..%d)" % (waiting, lo, hi))

        # Every externalId again: first ids back, ended ones included; lost acks resolved.
        again = harness.pipeline_submits(ms2, items)
        final = {}
        bad = []
        new_ids = []
        for it, ans in zip(items, again):
            ext = it[4]
            if ans.get("message") != "EventAck":
                bad.append("%s: %s" % (ext, ans))
                continue
            iid = ans.get("interactionId")
            final[ext] = iid
            if ext in ext_id:
                if iid != ext_id[ext] or ans.get("duplicate") is not True:
                    bad.append("%s: first id %s, got %s duplicate %r"
                               % (ext, ext_id[ext], iid, ans.get("duplicate")))
            elif ans.get("duplicate") is not True:
                new_ids.append(iid)
                if iid in pre_ids or harness.ixn_number(iid) <= max_before:
                    bad.append("%s: new id %s reuses or is not above the ids before (%d)"
                               % (ext, iid, max_before))
        check(not bad, "re-submit of every externalId: first ids with duplicate:true, new ids "
              "above every id used before (%d problems: %s)" % (len(bad), bad[:3]))
        check(len(set(final.values())) == len(items), "%d externalIds map to %d distinct ids"
              % (len(items), len(set(final.values()))))
        qs = harness.queue_status(ms2)
        qs.pop(SMS_QUEUE, None)
        waiting2 = sum(q.get("waiting", 0) for q in qs.values())
        check(waiting2 == waiting + len(new_ids), "waiting %d = %d + %d new, duplicates add "
              "nothing" % (waiting2, waiting, len(new_ids)))

        ans = harness.submit(ms2, T, "sms", SMS_QUEUE[1], external_id="sms-0")
        check(ans.get("interactionId") == sms[0] and ans.get("duplicate") is True,
              "the sms that ended in AfterWork keeps its externalId (got %s)" % ans)
        desk.close()
        desk = harness.agent(ixn.port, T, SMS_AGENT, "P" + SMS_AGENT, "pw" + SMS_AGENT,
                             media={"sms": 1})
        got = []
        for _ in range(3):
            m = desk.next(harness.is_invite(), timeout=15, what="sms invite after restart")
            got.append(m.get("interactionId"))
            harness.expect_ack(desk.request({"message": "RequestAccept",
                                             "interactionId": got[-1]}), "accept " + got[-1])
            harness.expect_ack(desk.request({"message": "RequestStopProcessing",
                                             "interactionId": got[-1]}), "done " + got[-1])
        check(got == sms[1:], "after the restart the sms agent gets the Handling, the Invited "
              "and the waiting sms in their old order %s (got %s)" % (sms[1:], got))
        desk.expect_none(harness.is_invite(), wait=0.3)
        check(True, "the sms that ended in AfterWork is not offered again")

        # ---- agents back: the rest is handled exactly once ----
        drv2 = start_agents(ixn, agents, 0.01, 0.05, seed=42)
        t0 = time.monotonic()
        while time.monotonic() - t0 < BOUND:
            drv2.step(0.01)
            if len(drv2.done) >= waiting2 and not drv2.busy():
                break
            if drv2.errors or drv2.violations:
                break
        drv2.step(0.2)
        post = set(drv2.done)
        all_ids = set(final.values())
        for what in (drv2.errors + drv2.violations)[:10]:
            print("  problem: %s" % what)
        check(not drv2.errors and not drv2.violations,
              "after restart: no errors, no agent above its rule")
        check(not (post & ended), "nothing that had ended comes back (%s)"
              % sorted(post & ended)[:5])
        lost = all_ids - ended - post - maybe_ended
        check(not lost, "none lost: every interaction ended before the crash or handled "
              "after (%d lost: %s)" % (len(lost), sorted(lost)[:5]))
        check(len(post) == waiting2, "handled after the restart: %d = waiting %d"
              % (len(post), waiting2))
        twice = [i for i, n in drv2.invited.items() if n != 1]
        check(not twice, "none duplicated: every one invited once after the restart (%s)"
              % twice[:5])
        check(not (set(drv2.invited) - all_ids), "no unknown interaction offered")
        ext_of = {v: k for k, v in final.items()}
        post_order = harness.order_problems(drv2, {i: order_of[ext_of[i]] for i in all_ids})
        check(not post_order, "after the restart each agent gets each queue in its old order "
              "(%s)" % post_order[:3])
        carried = len([i for i in post if i in pre_invited])
        print("info: after the restart %d handled (%d of them had been offered before the "
              "crash) in %.1fs" % (len(post), carried, time.monotonic() - t0), flush=True)
        qs = harness.queue_status(ms2)
        check(all(q.get("waiting") == 0 and q.get("invited") == 0 and q.get("handling") == 0
                  for q in qs.values()), "every queue ends empty")
        drv2.close()
        check(ixn.running() and stat.running(), "ixnserver and statserver still run")


if __name__ == "__main__":
    main()
