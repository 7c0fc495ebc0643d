/* The PostgreSQL back end of the interaction store (private to src/store).
 *
 * store.c keeps the batch and the public functions; this module only talks to the
 * database: it takes ownership of a server name (advisory lock, epoch row), writes a
 * batch in one pipelined transaction fenced by the epoch, loads, purges and looks up
 * externalIds. Rows of many servers share one database, keyed by (server, id). */
#ifndef CC_STORE_PG_H
#define CC_STORE_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "store/store.h"

/** One queued change of a batch: an upsert of the whole row, or an end. */
enum store_batch_kind { STORE_BATCH_PUT, STORE_BATCH_END };

/** A batch entry; for a put, rec's strings point into strs (one allocation per row). */
typedef struct store_batch_ent {
    enum store_batch_kind kind;
    store_ixn rec;
    char *strs;
} store_batch_ent;

/** A PostgreSQL connection that owns one server name (opaque). */
typedef struct store_pg store_pg;

/** Connects with dsn, creates the tables when missing, takes the server's advisory lock
 * and moves its epoch on. Returns 0 with *out and *last_id set; CC_E_OWNED when another
 * process holds the lock (after terminating its connection when its owner row was not
 * renewed for owner_timeout_ms); CC_E_UNAVAILABLE (no connection, SQL failed) or
 * CC_E_CONFIG (a newer schema), with a message in err. */
int store_pg_open(const char *dsn, const char *server_name, int owner_timeout_ms, store_pg **out,
                  int64_t *last_id, cc_buf *err);

/** The DSN without its password, for logs (owned by the store). */
const char *store_pg_describe(const store_pg *pg);

/** The epoch this owner holds. */
int64_t store_pg_epoch(const store_pg *pg);

/** Starts writing n entries (and the highest id new_last when > 0) in one pipelined
 * transaction that first checks the epoch. Nothing blocks. Returns 0 (then call
 * store_pg_commit_step until it is done), CC_E_STALE_OWNER or CC_E_UNAVAILABLE. */
int store_pg_commit_start(store_pg *pg, const store_batch_ent *ents, size_t n, int64_t new_last);

/** Drives a started commit without blocking: 1 while it is in flight (*want_write tells
 * whether the socket should be watched for writing too), 0 when it committed, or
 * CC_E_STALE_OWNER (the epoch check failed or the connection, and with it the lock, was
 * lost during the commit) or CC_E_UNAVAILABLE (rolled back). */
int store_pg_commit_step(store_pg *pg, bool *want_write);

/** The connection's socket (-1 when there is none). */
int store_pg_fd(const store_pg *pg);

/** Loads the server's rows as store_load promises; *corrupt counts the rows skipped.
 * Returns 0 or CC_E_UNAVAILABLE. */
int store_pg_load(store_pg *pg, void (*cb)(void *ctx, const store_ixn *rec), void *ctx,
                  uint64_t *corrupt, uint64_t *rows);

/** Deletes the ended rows that ended before ended_before_us, only while this owner's
 * epoch is current. Returns the number deleted or CC_E_UNAVAILABLE. */
int64_t store_pg_purge(store_pg *pg, int64_t ended_before_us);

/** As store_find_external, on the committed rows of this server. */
int store_pg_find_external(store_pg *pg, const char *external_id, int64_t *id_out,
                           enum cc_ixn_state *state_out);

/** Closes the connection (which drops the lock). NULL is ignored. */
void store_pg_close(store_pg *pg);

#endif
