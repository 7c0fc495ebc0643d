/* Interactions, queues and routing (protocol section 7): media servers submit and stop
 * interactions, queues per tenant hold them in order, routing offers them to the agent of
 * the tenant idle longest on the media whose newest status has room, and agents accept,
 * reject, finish, wrap up and transfer them. Every change is put into the durable store
 * and committed once per loop turn before the requests that depend on it are answered;
 * a failed commit undoes the turn's changes in memory, and events to desktops leave only
 * after the commit that makes their change durable. */
#ifndef IXN_IXN_H
#define IXN_IXN_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/ixnstate.h"
#include "common/metrics.h"
#include "ixn/ixn_agents.h"
#include "ixn/ixn_resv.h"
#include "net/session.h"
#include "proto/msg.h"

/** Longest interaction id: the server name, ':' and at least nine digits. */
#define IXN_ID_MAX (PROTO_ID_MAX + 24)

/** One interaction. */
typedef struct ixn_ixn {
    int64_t num;             /* the number in the id */
    char id[IXN_ID_MAX];     /* "<server>:<9 digits>" */
    struct ixn_queue *queue; /* its current queue */
    int media;
    char *user_data;   /* compact JSON object text, never NULL ("{}") */
    char *external_id; /* NULL when none was given */
    enum cc_ixn_state state;
    /* Position in its queue, smaller first: the wall-clock microsecond it entered the
     * queue (unique, kept by a reject), or a small number from a store of earlier
     * versions. */
    int64_t order;
    int64_t entered_us; /* wall clock it entered its current queue (a reject keeps it) */
    uint32_t priority;  /* 0..1000, from the submit or the queue's default */
    /* Owned by ixn_route: its step list while indexed (queued, not claimed), and the
     * agent whose outstanding reservation is for it. */
    struct ixn_steplist *rlist;
    struct ixn_ixn *r_prev, *r_next;
    ixn_agent *claimed_by;
    int64_t created_us, updated_us, ended_us; /* wall clock */
    uint64_t queued_mono_us;                  /* when it last entered its queue */
    ixn_agent *agent;                /* the agent holding it (Invited, Handling, AfterWork) */
    struct ixn_ixn *q_prev, *q_next; /* its queue's waiting list, or the ended list */
    struct ixn_ixn *a_prev, *a_next; /* the agent's held list */
    struct ixn_ixn *t_prev, *t_next; /* a timer list: invite timeout or after-work */
    int timer;                       /* -1 none, 0 invite timeout, 1 + media after-work */
    uint64_t deadline_us;            /* monotonic, for the timer list */
    uint64_t take_seq;               /* orders the agent's held list (the order taken) */
    /* The uncommitted batch (ixn_batch, docs/ixnserver.md "Durability"): 1 + the index of
     * the interaction's entry in the batch's undo log, 0 when the store has its memory
     * state. Set by ixn_batch_log; cleared by ixn_ixn once the commit succeeded or the
     * entry was undone. Routing takes only queued interactions without an entry. */
    size_t batch;
    /* Kept in memory after a failed commit, put again by the next one: written by
     * ixn_batch (its unsaved list) and by ixn_ixn when it puts them into a batch. */
    bool unsaved;
} ixn_ixn;

/**
 * Creates the interaction state of srv: queues of the configuration, the store under
 * data-dir (when configured) with every kept interaction loaded back, and the per-turn
 * commit hook. Returns 0, or a negative code after logging why.
 */
int ixn_core_init(ixn_server *srv);

/** The media of the queue tenant/name, draining ones included, or -1 when there is none
 * (a reload may not give an existing queue another media). */
int ixn_core_queue_media(ixn_server *srv, const char *tenant, const char *name);

/** The configuration's queues, targets, options and skills changed (a reload; srv->cfg
 * holds the new ones): new queues are made, removed ones drain (they serve what they hold
 * and take nothing new), every queue gets its new target and options, and every agent's
 * matches are computed again. Agents must already have their new skills. */
void ixn_core_reconfigure(ixn_server *srv);

/** Stops the hook and timers and commits what is pending (at shutdown). */
void ixn_core_shutdown(ixn_server *srv);

/** Frees every interaction and queue and closes the store; agents may still exist and
 * are detached from what they held. */
void ixn_core_free(ixn_server *srv);

/** Validates what --check-config checks beyond the file itself: data-dir writable. Prints
 * errors to stderr and returns their number. */
int ixn_core_check_config(const ixn_config *cfg);

/**
 * Finishes a request whose effects are put into the store: returns 0 when nothing waits
 * for a commit (the session answers now), or defers the request until the commit of
 * this loop turn and returns CC_SESSION_DEFERRED.
 */
int ixn_core_answer(ixn_server *srv, cc_session *s);

/** A session closes: forget any request of it waiting for a commit. */
void ixn_core_session_closed(ixn_server *srv, cc_session *s);

/** The agent's added media changed (login, add, remove): joins and leaves pools. */
void ixn_core_agent_media(ixn_server *srv, ixn_agent *a);

/** A new status was kept for the agent: its pools may route again. */
void ixn_core_agent_status(ixn_server *srv, ixn_agent *a);

/**
 * A reservation asked by routing for pool ended (ixn_resv). a is NULL when the agent
 * logged out meanwhile. A grant is used at once: the oldest interaction of the pool goes
 * to the agent with the reservationId, and true is returned; false when it cannot be used
 * (the agent gone, not ready, DND, media removed, nothing waiting), and the caller
 * releases it. A refusal keeps the agent from being asked again for the media until a
 * newer status arrives.
 */
bool ixn_core_reservation_done(ixn_server *srv, struct ixn_pool *pool, ixn_agent *a, int media,
                               int64_t resv_id, enum ixn_resv_outcome outcome);

/** A reporting engine started reporting: routing may start. */
void ixn_core_reporting_started(ixn_server *srv);

/** A new desktop took the agent's session over (grace period): it gets an EventInvite,
 * with the seconds left, for every interaction still offered to the agent. */
void ixn_core_agent_resumed(ixn_server *srv, ixn_agent *a);

/** The agent is logged out: invited ones are revoked and handled ones go back to the
 * head of their queues, after-work ones end; the agent leaves every pool. */
void ixn_core_agent_gone(ixn_server *srv, ixn_agent *a);

/** The interaction with this id, kept in memory (NULL when none). */
ixn_ixn *ixn_core_find(ixn_server *srv, const char *id);

/** The interactions kept in memory, ended ones included, in no order: the one at or after
 * *pos (start with 0), with *pos moved past it, or NULL at the end. */
ixn_ixn *ixn_core_next(ixn_server *srv, size_t *pos);

/** Makes the loop turn once more without blocking, so that the commit hook runs soon. */
void ixn_core_wake(ixn_server *srv);

/** Sends the open event in b to a's desktop with the commit of this turn's changes (at
 * once without a store), so that it follows the events of those changes; nothing when
 * the agent has no desktop. */
void ixn_core_emit(ixn_server *srv, ixn_agent *a, cc_buf *b);

/**
 * A supervisor takes x, Invited or Handling, from its agent: back to the head of its
 * queue. The agent gets EventRevoked (Invited) or EventPartyRemoved (Handling) with
 * reason "Supervisor", and its change is reported (cause Revoked or PartyRemoved).
 */
void ixn_core_take_back(ixn_server *srv, ixn_ixn *x);

/** Keeps the queued x out of routing for a (which has no claim): a reassignment's
 * reservation is being asked for it. */
void ixn_core_claim(ixn_server *srv, ixn_ixn *x, ixn_agent *a);

/** Ends a's claim: its interaction, when still queued, is routed again. Returns it (NULL
 * when a had none). */
ixn_ixn *ixn_core_unclaim(ixn_server *srv, ixn_agent *a);

/** True when x may be offered now: queued, claimed by nobody and committed. */
bool ixn_core_offerable(const ixn_ixn *x);

/** Offers the queued x to a under the granted reservation resv_id, as routing does. */
void ixn_core_offer(ixn_server *srv, ixn_ixn *x, ixn_agent *a, int64_t resv_id);

/** Handler of RequestSubmit (MediaServer): a new interaction at the tail of its queue,
 * or the first one's id for a known externalId. */
int ixn_core_submit(cc_session *s, proto_msg *msg);
/** Handler of RequestStopProcessing: from a MediaServer it ends the interaction wherever
 * it is; from the agent holding it in Handling it starts after-work or ends it. */
int ixn_core_stop_processing(cc_session *s, proto_msg *msg);
/** Handler of RequestAccept: Invited becomes Handling. */
int ixn_core_accept(cc_session *s, proto_msg *msg);
/** Handler of RequestReject: an Invited interaction goes back to the head of its queue. */
int ixn_core_reject(cc_session *s, proto_msg *msg);
/** Handler of RequestCompleteAfterWork: an AfterWork interaction ends. */
int ixn_core_complete_after_work(cc_session *s, proto_msg *msg);
/** Handler of RequestPlaceInQueue: an Invited or Handling interaction goes to the tail
 * of another queue of the same tenant and media. */
int ixn_core_place_in_queue(cc_session *s, proto_msg *msg);
/** Handler of RequestQueueStatus (our extension): the counts of every queue. */
int ixn_core_queue_status(cc_session *s, proto_msg *msg);

/** True when the store is open, or none is configured (no data-dir). */
bool ixn_core_store_ready(const ixn_server *srv);

/** Adds the core's families to r: interaction steps, store commits, routing decisions
 * and the queues' gauges. srv->core must exist, and live as long as r is written. */
void ixn_core_metrics(ixn_server *srv, cc_metrics *r);

#endif
