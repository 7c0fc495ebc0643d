/* Interaction reporting (docs/statistics.md, "Interaction reporting"): reporting engines
 * subscribe with RequestStartInteractionReporting, get a snapshot of every unfinished
 * interaction and then one EventInteractionReported per step. Each step is encoded once
 * and the buffer shared by every subscriber; with a store, it is held in the batch and
 * published only after the commit that makes its change durable (a failed commit sends
 * what the undo leaves instead, see ixn_batch). A snapshot waits for the end of the
 * batch, so that it shows exactly what the published steps led to. */
#ifndef IXN_IXNREPORT_H
#define IXN_IXNREPORT_H

#include "ixn/ixn_agents.h"
#include "ixn/ixn_batch.h"
#include "ixn/ixn_ixn.h"
#include "net/session.h"
#include "proto/ixnreport.h"
#include "proto/msg.h"

struct ixn_queue;

/**
 * Reports a step of x that just happened (x shows its state after it): cause, the agent
 * involved (NULL: none), the queue it left on a transfer (NULL otherwise), and the
 * reason of a Revoked or Ended step. b NULL publishes now (no store: nothing can undo
 * it); otherwise the report is held in b until its commit. Nothing is encoded when no
 * engine receives steps.
 */
void ixn_ixnreport_step(ixn_server *srv, ixn_batch *b, ixn_ixn *x, enum proto_ixr_cause cause,
                        const ixn_agent *a, const struct ixn_queue *from,
                        enum proto_ixr_reason reason);

/** Agent a is logging out and ixn_batch_agent_gone will rewrite the entries of b that
 * put an interaction back into its hands: for each, the step a failure then leaves (the
 * interaction back in its queue, or ended) is held for the case the commit fails. */
void ixn_ixnreport_agent_gone(ixn_server *srv, ixn_batch *b, const ixn_agent *a);

/** The batch b was committed (or there was nothing to commit): the carried reports, once
 * no change is left unsaved, then the held ones are published; subscribers waiting for
 * their snapshot get it when nothing is left carried. Call before b is cleared. */
void ixn_ixnreport_committed(ixn_server *srv, ixn_batch *b);

/** The commit of b failed and its changes were undone: the reports of changes that stay
 * are carried to a later commit, the others dropped; waiting subscribers get their
 * snapshot when nothing is carried. Call before b is cleared. */
void ixn_ixnreport_undone(ixn_server *srv, ixn_batch *b);

/** Handler of RequestStartInteractionReporting (ReportingEngine): acks, and the snapshot
 * follows at the end of this loop turn's commit. A second start replaces the first. */
int ixn_ixnreport_start(cc_session *s, proto_msg *msg);

/** Handler of RequestStopInteractionReporting: no more steps; acked when not reporting
 * too. */
int ixn_ixnreport_stop(cc_session *s, proto_msg *msg);

/** Removes a closing client's subscription. */
void ixn_ixnreport_drop(ixn_client *c);

#endif
