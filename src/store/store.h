/* The durable interaction store of the interaction server.
 *
 * The server keeps every interaction in memory and is the only writer; the store makes
 * each change durable before the server acknowledges it. Changes are gathered into a
 * batch (store_put, store_end) during one loop turn and written by store_commit in ONE
 * transaction, so a busy turn costs one fsync-free WAL append instead of one per request.
 * At start-up store_load hands every kept row back so the server can rebuild its queues
 * in their old order and its externalId map.
 *
 * The interface knows nothing about the database behind it (docs/store.md). Two back
 * ends: SQLite (the default) keeps DIR/ixn.db, a file in WAL mode with synchronous=NORMAL,
 * which survives kill -9 of the process (a power cut may lose the last transactions,
 * never corrupt the file); PostgreSQL (store_open_config) keeps the rows of many servers
 * in one database, each server owned by one process at a time (store_pg.c).
 *
 * Not thread-safe: one store is used from the loop thread that opened it. */
#ifndef CC_STORE_H
#define CC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/ixnstate.h"

/** Longest tenant, media, queue and externalId accepted, in bytes (as on the wire). */
#define STORE_MAX_ID 128
/** Longest agent reference, in bytes: "tenant/agentId" with a '/' or '\' inside the tenant
 * written as two bytes (the server's key, which identifiers with '/' cannot make
 * ambiguous), so a tenant of up to twice STORE_MAX_ID bytes, the slash and an agent id. */
#define STORE_MAX_AGENT (3 * STORE_MAX_ID + 1)
/** Largest user data (JSON text of an object) accepted, in bytes. */
#define STORE_MAX_USER_DATA (1024 * 1024)
/** Most distinct ids one batch holds; a put beyond it is refused (the server's own
 * queue limits keep it far below this). */
#define STORE_MAX_BATCH 1000000

/* The state of a stored interaction is an enum cc_ixn_state, whose numbers are what the
 * database keeps (common/ixnstate.h never renumbers them). CC_IXN_ENDED rows are kept for
 * reporting and externalId de-duplication. */

/** One interaction as stored. The strings are borrowed: store_put copies them, and
 * records handed to a store_load callback are valid only during that call. */
typedef struct store_ixn {
    int64_t id;              /**< the number of "<server>:<number>", > 0 */
    const char *tenant;      /**< non-empty, <= STORE_MAX_ID bytes */
    const char *media;       /**< non-empty, <= STORE_MAX_ID bytes */
    const char *queue;       /**< non-empty, <= STORE_MAX_ID bytes (the current queue) */
    const char *user_data;   /**< JSON object text or NULL, <= STORE_MAX_USER_DATA bytes */
    const char *external_id; /**< NULL or <= STORE_MAX_ID bytes, unique among kept rows */
    const char *agent;       /**< the agent holding it ("tenant/agentId", the tenant escaped)
                              * or NULL; <= STORE_MAX_AGENT */
    enum cc_ixn_state state; /**< where it is; its number is stored */
    int64_t order_key;       /**< position in its queue: smaller is served earlier */
    int64_t created_us;      /**< wall clock, microseconds since the epoch */
    int64_t updated_us;      /**< time of the last change */
    int64_t ended_us;        /**< time it ended; 0 while not ended */
    int64_t priority;        /**< routing priority given at submit (0..1000) */
} store_ixn;

/** Counters for logs and benchmarks; all since store_open. */
typedef struct store_stats {
    uint64_t rows_written;    /**< upserts and ends written by successful commits */
    uint64_t transactions;    /**< successful commits of a non-empty batch */
    uint64_t commit_failures; /**< commits rolled back (their batch was dropped) */
    uint64_t rows_rejected;   /**< store_put / store_end calls refused by their checks */
    uint64_t corrupt_rows;    /**< rows skipped by store_load because they failed checks */
    uint64_t rows_purged;     /**< ended rows deleted by store_purge */
    int64_t last_commit_us;   /**< duration of the last successful commit */
    int64_t max_commit_us;    /**< longest successful commit */
} store_stats;

/** An open store (opaque). */
typedef struct store store;

/** Opens (creating when needed) the store in directory dir, which is created too, with
 * its missing parents (mode 0700). server_name is recorded in the store at creation; a
 * store created by a server of another name is refused (ids would change their meaning).
 * A second process opening the same dir while one has it open is refused.
 * On success *out is the store and 0 is returned. On failure returns CC_E_IO (directory or
 * file problem, another owner), CC_E_UNAVAILABLE (the database cannot be opened or set up)
 * or CC_E_CONFIG (another server's store), with a one-line message appended to err. */
int store_open(const char *dir, const char *server_name, store **out, cc_buf *err);

/** Which database keeps the interactions. */
enum store_kind {
    STORE_KIND_SQLITE,  /**< DIR/ixn.db, held with flock (the default) */
    STORE_KIND_POSTGRES /**< a PostgreSQL database, held by an advisory lock and an epoch */
};

/** Where a store lives. */
typedef struct store_config {
    enum store_kind kind;
    const char *dir;      /**< SQLite: the data directory */
    const char *dsn;      /**< PostgreSQL: the libpq connection string */
    int owner_timeout_ms; /**< PostgreSQL: an owner whose row was not renewed for this long
                           * has its connection ended by the next process that asks for the
                           * store (0: never) */
} store_config;

/** Opens the store cfg describes, for server_name. SQLite: as store_open(cfg->dir, ...).
 * PostgreSQL: connects, creates the tables when missing, takes the server's advisory
 * lock and moves its epoch on (the previous owner's commits fail from then on). Returns 0
 * with *out set; CC_E_OWNED when another process owns the server's store (a standby
 * retries); CC_E_UNAVAILABLE, CC_E_IO or CC_E_CONFIG with a message in err. */
int store_open_config(const store_config *cfg, const char *server_name, store **out, cc_buf *err);

/** Calls cb once for every kept row: first the not-ended ones ordered by (tenant, queue,
 * order_key, id), so queues can be rebuilt in their old order, then the ended ones by id
 * (for the externalId map and reporting). Rows that fail their checks (lengths, state,
 * JSON of user_data) are skipped, logged and counted in corrupt_rows. Only committed data
 * is seen. The callback may call store_put and store_end (they only queue); the rows it
 * queues are written by the next store_commit. Returns 0 or CC_E_UNAVAILABLE. */
int store_load(store *st, void (*cb)(void *ctx, const store_ixn *rec), void *ctx);

/** The highest interaction number ever committed to this store (0 for a new one). It
 * never goes down, also when rows are purged. The server allocates numbers above it,
 * keeps its own counter from then on and reports each new number via store_put; the
 * commit that writes the row moves this value on in the same transaction. */
int64_t store_last_id(const store *st);

/** Queues an upsert of the whole row rec (copied) into the current batch; a later
 * put or end of the same id in the same batch replaces it. Nothing is written until
 * store_commit. Returns 0, or CC_E_INVALID_ATTRIBUTE (id <= 0, missing or empty tenant,
 * media or queue, state out of range) or CC_E_LIMIT_EXCEEDED (a string over its limit,
 * or the batch full): then nothing is queued and the call is counted in rows_rejected. */
int store_put(store *st, const store_ixn *rec);

/** Queues "interaction id ended at ended_us" into the current batch: state ENDED, no
 * agent, updated_us = ended_us, the other columns unchanged. Use it when the whole
 * record is not at hand; a store_put of the same id earlier in the batch is updated in
 * place. Ending an id that is not stored is a no-op at commit. Returns 0,
 * CC_E_INVALID_ATTRIBUTE (id <= 0) or CC_E_LIMIT_EXCEEDED (the batch full). */
int store_end(store *st, int64_t id, int64_t ended_us);

/** The number of rows queued in the current batch (distinct ids). */
size_t store_pending(const store *st);

/** Writes the current batch in one transaction (BEGIN IMMEDIATE ... COMMIT) together with
 * the highest id, and empties the batch. Returns 0 (also for an empty batch), or
 * CC_E_UNAVAILABLE when the write failed: the transaction is rolled back, the batch is
 * dropped, the stored data is as before, and the caller answers Unavailable (14) to the
 * requests that waited for it. Call once per loop turn, then acknowledge.
 * PostgreSQL: the same, one pipelined round trip (waited for); CC_E_STALE_OWNER when
 * another process took the store over (its epoch is higher) or the connection broke
 * during the commit: nothing more may be written, and the server must stop. */
int store_commit(store *st);

/** Starts writing the current batch and empties it, so that the next batch can fill while
 * this one is in flight. Returns 0 when it is already written (SQLite commits at once,
 * and an empty batch needs nothing), 1 when it is in flight (PostgreSQL: drive it with
 * store_commit_poll when store_fd is ready), or an error as store_commit's. Only one
 * commit is in flight at a time. */
int store_commit_begin(store *st);

/** Drives the commit in flight without blocking: 1 while it is still in flight
 * (*want_write: watch store_fd for writing too), 0 when it committed (also when none is
 * in flight), CC_E_UNAVAILABLE when it was rolled back, or CC_E_STALE_OWNER. */
int store_commit_poll(store *st, bool *want_write);

/** True while a commit started by store_commit_begin has not been reported finished by
 * store_commit_poll. store_commit, store_purge and store_find_external finish it first
 * (waiting), and keep its result for the next store_commit_poll. */
bool store_in_flight(const store *st);

/** True when commits really run in flight (PostgreSQL); SQLite commits at once. */
bool store_commits_async(const store *st);

/** Drops the current batch unwritten (a commit before it failed, and the caller undoes
 * the changes of both). */
void store_drop_batch(store *st);

/** The socket to watch while a commit is in flight (-1 for SQLite). */
int store_fd(const store *st);

/** PostgreSQL: renews the owner row in a transaction fenced by the epoch (blocking, one
 * round trip), so that a standby sees this owner alive; 0, CC_E_UNAVAILABLE or
 * CC_E_STALE_OWNER. SQLite, or a commit in flight: 0 at once. */
int store_renew(store *st);

/** The ownership epoch of this store (PostgreSQL; 0 for SQLite). */
int64_t store_epoch(const store *st);

/** Deletes the ended rows that ended before ended_before_us (their externalIds are
 * forgotten; the highest id is kept). Committed data only; the pending batch is not
 * touched. Returns the number of rows deleted (>= 0) or CC_E_UNAVAILABLE. */
int64_t store_purge(store *st, int64_t ended_before_us);

/** Looks up a kept row by externalId in the committed data (rows of the pending batch
 * are not seen: the caller knows its own uncommitted submits). A server that does not keep
 * ended interactions in memory can de-duplicate against this. Returns 0 with *id_out and
 * *state_out set, CC_E_NOT_FOUND, CC_E_LIMIT_EXCEEDED (external_id over STORE_MAX_ID) or
 * CC_E_UNAVAILABLE (read failed). */
int store_find_external(store *st, const char *external_id, int64_t *id_out,
                        enum cc_ixn_state *state_out);

/** Copies the counters into *out. */
void store_get_stats(const store *st, store_stats *out);

/** The path of the database file, or for PostgreSQL "postgres:" and the DSN without its
 * password (for logs and docs). */
const char *store_path(const store *st);

/** Closes the store; an uncommitted batch is dropped (call store_commit first). NULL is
 * ignored. */
void store_close(store *st);

/** Creates dir and its missing parents (mode 0700), like mkdir -p. Returns 0, or CC_E_IO
 * with the reason appended to err (may be NULL) when a part cannot be made or dir is not a
 * directory. Shared by the stores of both daemons. */
int store_make_dirs(const char *dir, cc_buf *err);

/** Appends a printf-formatted message (at most 511 bytes) to err; a NULL err is ignored.
 * The store and the history write their errors with it. */
void store_set_err(cc_buf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
