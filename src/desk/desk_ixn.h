/* The interactions this desk holds, as far as the desk can tell from the events and
 * answers it receives (the server sends a desktop no list of its own). Used for `list`,
 * for the short forms of an interaction id (`last`, a number suffix) and for the ages
 * shown. Pure bookkeeping, no I/O, so it is unit-tested. */
#ifndef DESK_IXN_H
#define DESK_IXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/ixnstate.h"
#include "common/media.h"
#include "proto/msg.h"

/** Most interactions tracked at once; an agent's rule allows far fewer (255 at most per
 * media), and an invite beyond this is shown but not tracked. */
#define DESK_IXN_MAX 256

/** One interaction held by this desk. */
typedef struct desk_ixn {
    char id[PROTO_ID_MAX + 1];
    char media[CC_MEDIA_NAME_MAX + 1];
    char queue[PROTO_ID_MAX + 1];
    enum cc_ixn_state state; /* CC_IXN_INVITED, CC_IXN_HANDLING or CC_IXN_AFTER_WORK */
    uint64_t since_us;       /* monotonic time the (latest) invite arrived */
} desk_ixn;

/** The interactions held, oldest invite first, and the newest invite's id. */
typedef struct desk_ixn_table {
    int count;
    desk_ixn items[DESK_IXN_MAX];
    char last[PROTO_ID_MAX + 1]; /* id of the newest invite; "" before the first */
} desk_ixn_table;

/** Initialises an empty table. */
void desk_ixn_init(desk_ixn_table *t);

/** Forgets every interaction (the newest invite's id is kept for `last`). */
void desk_ixn_clear(desk_ixn_table *t);

/**
 * Records an invite: the interaction is held as Invited since now_us, and becomes the
 * newest invite. An id already held (offered again after a revoke) is updated and moved
 * to the end. Strings longer than their fields are refused with CC_E_INVALID_ATTRIBUTE;
 * a full table gives CC_E_LIMIT_EXCEEDED (the id still becomes the newest invite).
 * Returns 0 otherwise.
 */
int desk_ixn_invited(desk_ixn_table *t, const char *id, const char *media, const char *queue,
                     uint64_t now_us);

/** The interaction with exactly this id, or NULL. */
desk_ixn *desk_ixn_find(desk_ixn_table *t, const char *id);

/** Sets the state of a held interaction; false when it is not held. */
bool desk_ixn_set_state(desk_ixn_table *t, const char *id, enum cc_ixn_state state);

/** Forgets a held interaction; false when it is not held. */
bool desk_ixn_remove(desk_ixn_table *t, const char *id);

/**
 * Turns an ID argument of a command into a full interaction id in out (outlen bytes):
 * - "last": the newest invite's id (an error before the first invite);
 * - digits only: the one held interaction whose id ends in ':' and that number (leading
 *   zeros ignored, so 17 matches "ixn-a:000000017"); two or more is an error naming
 *   them; none, and server (the server's name) not empty, gives "SERVER:NNNNNNNNN"
 *   (the number zero-padded to 9 digits) for the server to judge;
 * - anything else: taken as the full id.
 * Returns 0, or CC_E_INVALID_ATTRIBUTE with a sentence for the user in err.
 */
int desk_ixn_resolve(desk_ixn_table *t, const char *arg, const char *server, char *out,
                     size_t outlen, char *err, size_t errlen);

/**
 * Appends the `list` table: one row per held interaction (id, media, queue, state, age
 * in whole seconds since its invite), oldest first, or "no interactions\n".
 */
void desk_ixn_format_list(cc_buf *out, const desk_ixn_table *t, uint64_t now_us);

#endif
