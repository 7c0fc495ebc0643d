/* Reservations (protocol section 7a): before routing offers an interaction to an agent,
 * it asks the reporting engine that sent the agent's newest status for one slot of the
 * agent's capacity, without waiting for the answer (other agents are asked meanwhile).
 * Each engine answers in order, so its unanswered reservations form a FIFO. Routing
 * (ixn_ixn) learns every outcome through ixn_core_reservation_done. */
#ifndef IXN_RESV_H
#define IXN_RESV_H

#include <stdint.h>

#include "ixn/ixn_agents.h"
#include "net/session.h"
#include "proto/msg.h"

struct ixn_pool;

/** An engine that leaves its oldest reservation unanswered this long (monotonic
 * microseconds) is taken for stuck and its connection is closed: every reservation it
 * holds ends IXN_RESV_LOST, and a reporting engine reconnects with a fresh snapshot. */
#define IXN_RESV_OVERDUE_US (10u * 1000000u)

/** One reservation asked and not answered yet. */
typedef struct ixn_resv {
    int64_t id;
    uint64_t asked_us;             /* monotonic time it was asked */
    ixn_agent *agent;              /* NULL once the agent logged out: a grant is then released */
    int media;                     /* the media of the slot */
    struct ixn_pool *pool;         /* routing's pool that asked, handed back with the outcome */
    struct ixn_reassign *reassign; /* a supervisor's reassignment that asked (ixn_super);
                                      NULL when routing asked */
    ixn_client *engine;            /* the reporting engine asked */
    struct ixn_resv *next;         /* the engine's FIFO */
} ixn_resv;

/** How a reservation ended, as routing is told. */
enum ixn_resv_outcome {
    IXN_RESV_GRANTED, /* granted: routing offers now, or releases by returning false */
    IXN_RESV_REFUSED, /* refused: not asked again for the media until a newer status */
    IXN_RESV_LOST,    /* the engine went away before it answered */
};

/**
 * Asks the engine that sent a's newest status (a->status_from, which must be set) for a
 * slot of media, with a new reservationId, and records it on the agent (a->resv must be
 * NULL). pool is handed back with the outcome.
 */
void ixn_resv_ask(ixn_server *srv, ixn_agent *a, int media, struct ixn_pool *pool);

/**
 * As ixn_resv_ask, for a supervisor's reassignment: the outcome goes to
 * ixn_super_reservation_done with reassign instead of to routing.
 */
void ixn_resv_ask_reassign(ixn_server *srv, ixn_agent *a, int media, struct ixn_reassign *reassign);

/** The agent logs out: its unanswered reservation stays in the engine's FIFO without it,
 * and a grant that answers it is released. */
void ixn_resv_agent_gone(ixn_agent *a);

/** A reporting engine's connection closes, or it is fenced (ixn_fence): each of its
 * unanswered reservations ends as IXN_RESV_LOST, and agents whose newest status came from
 * it lose that status (routing waits for a status from an engine that is taken). */
void ixn_resv_engine_closed(ixn_server *srv, ixn_client *c);

/** Starts the check for overdue answers (srv->resv_timer, once a second). */
void ixn_resv_start(ixn_server *srv);

/** Stops and closes the check's timer (the server is shutting down). */
void ixn_resv_stop(ixn_server *srv);

/** Closes the session of every engine whose oldest unanswered reservation was asked more
 * than IXN_RESV_OVERDUE_US before now_us (monotonic); the timer calls it every second. */
void ixn_resv_check_overdue(ixn_server *srv, uint64_t now_us);

/** Handler of EventAgentReserved (ReportingEngine): the answer to the oldest reservation
 * asked of this engine. An answer that matches none, or cannot be read, is dropped and
 * counted. */
int ixn_resv_answer(cc_session *s, proto_msg *msg);

#endif
