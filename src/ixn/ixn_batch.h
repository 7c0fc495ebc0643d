/* The uncommitted batch of the interaction server (docs/ixnserver.md, "Durability"): what a
 * failed commit must undo, and what must wait for a successful one. ixn_ixn changes
 * interactions at once; before the first change of an interaction in a batch it logs here
 * what the interaction was. Offers log the agent's place in the idle order, events to
 * desktops and interaction reports (ixn_ixnreport) are held here, and agents whose state
 * was reported with a change of the batch are noted. After the commit, ixn_ixn either sends the
 * held events and empties the batch, or puts every logged interaction back (only it knows the lists
 * they live in) and reports the noted agents again. Changes that cannot be undone (the agent is
 * gone) are kept, and their interactions wait in the unsaved list for a later commit. */
#ifndef IXN_BATCH_H
#define IXN_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/map.h"
#include "ixn/ixn_ixn.h"

/** What an interaction was before its first change in the batch. */
typedef struct ixn_before {
    ixn_ixn *x;
    bool created;   /**< submitted in this batch: withdrawn when the commit fails */
    bool repersist; /**< the state below is not in the store: put it again after a failure */
    bool again;     /**< sealed entry changed again after the seal (ixn_batch_seal) */
    enum cc_ixn_state state;
    struct ixn_queue *queue;
    int64_t order, entered_us;
    ixn_agent *agent;
    int timer;
    uint64_t deadline_us, queued_mono_us, take_seq;
    int64_t updated_us, ended_us;
} ixn_before;

/** An offer of the batch moved the agent to the end of a pool's idle order. */
typedef struct ixn_offer_undo {
    ixn_agent *a; /**< NULL once the agent is gone */
    int media;
    uint64_t offer_seq; /**< the value before the offer */
} ixn_offer_undo;

/** An event to an agent's desktop held until the commit of its change. */
typedef struct ixn_held_event {
    ixn_agent *a; /**< NULL once the agent is gone */
    cc_sbuf *sb;
} ixn_held_event;

/** An EventInteractionReported (ixn_ixnreport) held until the commit of its change. */
typedef struct ixn_held_report {
    ixn_ixn *x;         /* the interaction it reports; NULL once carried */
    const char *tenant; /* x's tenant, for the subscribers' filters (its queue's string) */
    cc_sbuf *sb;
    bool kept;      /* its change stays whatever the commit does (ixn_batch_keep) */
    bool if_undone; /* sent only when the commit fails: what a logout's rewrite of the
                     * undo log leaves (ixn_batch_agent_gone) */
} ixn_held_report;

/** An agent whose state was reported with changes of the batch. */
typedef struct ixn_touched {
    ixn_agent *a; /**< NULL once the agent is gone */
    size_t held;  /**< interactions it held in the last such report */
} ixn_touched;

/** The batch. The arrays are read by ixn_ixn when it undoes a batch; they are written
 * only here. */
typedef struct ixn_batch {
    ixn_before *log; /* one entry per interaction changed; ixn_ixn.batch = index + 1 */
    size_t nlog, caplog;
    ixn_offer_undo *offers;
    size_t noffers, capoffers;
    ixn_held_event *outbox;
    size_t nout, capout;
    ixn_touched *touched;
    size_t ntouched, captouched;
    cc_map touched_map; /* agent key -> 1 + index into touched */
    ixn_ixn **unsaved;  /* kept after a failed commit (ixn_ixn.unsaved), to be put again */
    size_t nunsaved, capunsaved;
    /* Interaction reports held with the batch, and those of changes a failed commit kept
     * (carried from batch to batch until a commit writes the unsaved ones): read and
     * emptied by ixn_ixnreport, which publishes them. */
    ixn_held_report *reports;
    size_t nreports, capreports;
    ixn_held_report *carried;
    size_t ncarried, capcarried;
    /* A commit in flight (ixn_batch_seal): the first seal_* entries of log, offers,
     * outbox and reports are its batch's, the rest the next batch's; after[i] is log[i]'s
     * interaction as that commit writes it. */
    bool sealed;
    size_t seal_log, seal_offers, seal_out, seal_reports;
    ixn_before *after;
    size_t capafter;
} ixn_batch;

/** Initialises an empty batch. */
void ixn_batch_init(ixn_batch *b);

/** Frees what b holds (held events and reports are dropped). */
void ixn_batch_free(ixn_batch *b);

/** Records x as it is now in a new entry (x->batch must be 0) and returns the entry;
 * x->batch becomes its index + 1. */
ixn_before *ixn_batch_log(ixn_batch *b, ixn_ixn *x);

/** Copies x's current state into e. */
void ixn_batch_snapshot(ixn_before *e, ixn_ixn *x);

/** Records a's place in media's idle order, about to be moved by an offer. */
void ixn_batch_offer(ixn_batch *b, ixn_agent *a, int media);

/** Notes that a's state was just reported with a change of the batch. */
void ixn_batch_reported(ixn_batch *b, ixn_agent *a);

/** Holds sb (the reference passes to the batch) for a's desktop until the commit. */
void ixn_batch_hold(ixn_batch *b, ixn_agent *a, cc_sbuf *sb);

/** Holds sb (the reference passes to the batch), an interaction report of x's change in
 * tenant, until the commit; if_undone: only if the commit fails. */
void ixn_batch_hold_report(ixn_batch *b, ixn_ixn *x, const char *tenant, cc_sbuf *sb,
                           bool if_undone);

/** Moves held reports to the carried list, in order. committed false (the commit failed):
 * the reports of kept changes and those held for a failure move, the others are dropped;
 * true (committed while changes kept earlier are still unsaved): every report but those
 * held for a failure moves. */
void ixn_batch_carry(ixn_batch *b, bool committed);

/** The agent is about to be freed: the batch forgets it (held events, offers, reports),
 * and entries that would put an interaction back into its hands put it where the logout
 * puts it instead — invited and handled ones queued, after-work ones ended at now_wall_us
 * — and are marked to be written again. Call after the logout released what a held. */
void ixn_batch_agent_gone(ixn_batch *b, ixn_agent *a, uint64_t now_mono_us, int64_t now_wall_us);

/** x's change (by a logout) stays whatever the commit does: its entry, unless x was
 * created in this batch, now records x as it is and is marked to be written again, and
 * the reports of x held so far are kept. */
void ixn_batch_keep(ixn_batch *b, ixn_ixn *x);

/** Adds x to the unsaved list (x->unsaved); a no-op when it is there. */
void ixn_batch_unsaved_add(ixn_batch *b, ixn_ixn *x);

/** Takes x out of the unsaved list (before it is freed). */
void ixn_batch_unsaved_drop(ixn_batch *b, ixn_ixn *x);

/** A commit of the batch so far is now in flight (PostgreSQL): what was logged until now
 * belongs to it, and every logged interaction is recorded as that commit writes it.
 * Further changes go on in the same log (one undo log for both batches: a failed commit
 * undoes them all); ixn_batch_touched marks sealed entries changed again. */
void ixn_batch_seal(ixn_batch *b);

/** Before a change of x that is logged already: notes a change after the seal. */
void ixn_batch_touched(ixn_batch *b, ixn_ixn *x);

/** Sends the held events from index from up to (not including) to, to their agents'
 * current desktops; they stay held until ixn_batch_drop_sealed. */
void ixn_batch_send_range(ixn_batch *b, size_t from, size_t to);

/** The sealed batch's commit succeeded and its events were sent: drops its held events
 * and offers; the next batch's stay (their indexes move down by the events dropped). */
void ixn_batch_drop_sealed(ixn_batch *b);

/** Sends every held event to its agent's current desktop (the commit succeeded). */
void ixn_batch_send_held(ixn_batch *b);

/** Empties the batch, dropping held events and reports (not the carried ones). The caller has
 * cleared x->batch of every entry (or freed x). */
void ixn_batch_clear(ixn_batch *b);

#endif
