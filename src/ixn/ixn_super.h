/* Supervisor actions (docs/protocol.md, "Supervisor actions"; docs/operations.md,
 * "Credentials and supervisors"): a Supervisor client forces an agent not ready on a
 * media, logs an agent out, takes an interaction back from its agent to the head of its
 * queue, or reassigns an interaction to another agent under a reservation like any
 * offer, each within the supervisor's tenants. The agent's desktop hears of each as an
 * EventSupervisorAction naming the supervisor, and each attempt, refused ones included,
 * is written to the audit log ([server] audit-log, one key=value line per action) and to
 * the server's log. */
#ifndef IXN_SUPER_H
#define IXN_SUPER_H

#include <stdbool.h>
#include <stdint.h>

#include "ixn/ixn_agents.h"
#include "ixn/ixn_resv.h"
#include "net/session.h"
#include "proto/msg.h"
#include "proto/supmsg.h"

/** A reassignment waiting for its reservation's answer (opaque). */
struct ixn_reassign;

/** Opens the audit log of srv->cfg (append; created 0600 when missing). Returns 0, or
 * CC_E_IO (logged) when the file cannot be opened. */
int ixn_super_init(ixn_server *srv);

/** Supervisor actions counted as they are audited, by action (enum proto_sup_action):
 * done, or refused with an error. */
typedef struct ixn_super_counts {
    uint64_t ok[PROTO_SUP_ACTION_COUNT];
    uint64_t refused[PROTO_SUP_ACTION_COUNT];
} ixn_super_counts;

/** The counts of srv's supervisor module (after ixn_super_init; valid until
 * ixn_super_free), for the metrics to read. */
const ixn_super_counts *ixn_super_counts_of(const ixn_server *srv);

/** Opens the audit log again by its path (after a rotation moved the file away), on
 * SIGHUP; when that fails the old file stays in use (logged). Nothing without audit-log. */
void ixn_super_reopen(ixn_server *srv);

/** Closes the audit log and forgets the reassignments still waiting. */
void ixn_super_free(ixn_server *srv);

/** Handler of RequestForceNotReady, RequestForceLogout, RequestRevokeInteraction and
 * RequestReassign. */
int ixn_super_request(cc_session *s, proto_msg *msg);

/** Handler of RequestAgentInteractions: what an agent of the supervisor's tenants holds
 * here, for the supervisor to pick one to take back or reassign. */
int ixn_super_query(cc_session *s, proto_msg *msg);

/** A session closes: its reassignments still waiting are answered to nobody. */
void ixn_super_session_closed(ixn_server *srv, cc_session *s);

/**
 * The reservation asked for a reassignment ended with outcome (a is NULL when the agent
 * logged out meanwhile). On a grant that can be used the interaction is offered to the
 * agent and true is returned; otherwise the interaction is routed as usual, the
 * supervisor gets code 10, and false is returned (the caller releases a grant).
 */
bool ixn_super_reservation_done(ixn_server *srv, struct ixn_reassign *r, ixn_agent *a, int media,
                                int64_t resv_id, enum ixn_resv_outcome outcome);

#endif
