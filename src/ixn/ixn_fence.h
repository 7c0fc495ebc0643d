/* Fencing of reporting engines (docs/ha.md): which reporting sessions an interaction
 * server takes statuses and reservation answers from. Each session declares a mode with
 * RequestReportingMode {primary, epoch}; one that never does counts as primary with epoch
 * 0. Sessions are judged per group: the sessions reporting the same agents (the same
 * tenants filter and partition, docs/ha.md), so that the pairs of two partitions never fence
 * each other. The sessions taken are the primaries with the highest epoch of their group;
 * every other one is fenced. A session that has named no group is in the group of every
 * agent. Pure bookkeeping, no I/O: the caller is told which sessions lost their standing,
 * so that it can drop what it holds from them. */
#ifndef IXN_FENCE_H
#define IXN_FENCE_H

#include <stdbool.h>
#include <stdint.h>

/** One reporting session's standing; embedded in the session's own record. */
typedef struct ixn_fence_member {
    bool primary;
    int64_t epoch;
    bool fenced; /* cached verdict: neither its statuses nor its answers are taken */
    bool joined;
    bool lost;   /* during a judgement: taken before, fenced now */
    char *group; /* the agents it reports, as a key (NULL: every agent); owned */
    int64_t top; /* the highest epoch of an open primary of its group; -1 when none */
    struct ixn_fence_member *prev, *next;
} ixn_fence_member;

/** The open reporting sessions and the epoch they are judged by. */
typedef struct ixn_fence {
    ixn_fence_member *head;
    int64_t top;      /* the highest epoch of an open primary of any group; -1 when none */
    uint64_t changes; /* judgements that fenced some member, for logs */
} ixn_fence;

/** Called for each member that was taken and is now fenced, after every verdict is
 * updated; it must not join, leave or set a mode. */
typedef void (*ixn_fence_lost_fn)(void *ctx, ixn_fence_member *m);

/** An empty set. */
void ixn_fence_init(ixn_fence *f);

/** Adds an open reporting session with the default mode (primary, epoch 0). A new
 * primary at epoch 0 may fence nobody, since the top is at least 0 once one is open. */
void ixn_fence_join(ixn_fence *f, ixn_fence_member *m);

/** Removes a closing session; the others' verdicts are worked out again (a lower epoch
 * may now be the highest). Harmless for a member that never joined. */
void ixn_fence_leave(ixn_fence *f, ixn_fence_member *m);

/** Sets m's declared mode and works every verdict out again; lost is called (when not
 * NULL) for each member, m included, that was taken before and is fenced now. */
void ixn_fence_set_mode(ixn_fence *f, ixn_fence_member *m, bool primary, int64_t epoch,
                        ixn_fence_lost_fn lost, void *ctx);

/** Sets the group m belongs to (copied; NULL: every agent) and works every verdict out
 * again, as ixn_fence_set_mode does. Members are in one group exactly when their keys
 * are equal strings. */
void ixn_fence_set_group(ixn_fence *f, ixn_fence_member *m, const char *group,
                         ixn_fence_lost_fn lost, void *ctx);

/** True when statuses and reservation answers from m are taken. */
bool ixn_fence_takes(const ixn_fence_member *m);

#endif
