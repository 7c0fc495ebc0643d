/* The key of an agent's status in the NATS status bucket (docs/ha.md, "Status stream on
 * NATS"): `<tenant>.<agentId>`, each part escaped, so that any tool computes the key of an
 * agent and the agent of a key. A NATS KV key allows only [-/_=.a-zA-Z0-9]; every byte of
 * a part outside [-/=a-zA-Z0-9] (so also `_` and `.`) is written `_XX`, its value in two
 * upper-case hex digits, and an empty part is written `_` alone. The one `.` left in a key
 * is the boundary: no two (tenant, agentId) pairs share a key. No I/O, no allocation. */
#ifndef PROTO_STATKEY_H
#define PROTO_STATKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/msg.h"

/** The longest key of two parts of PROTO_ID_MAX bytes each: every byte escaped, plus the
 * dot and a NUL. */
#define PROTO_STATKEY_MAX (2 * 3 * PROTO_ID_MAX + 2)

/**
 * Writes the key of (tenant, agent_id) with a NUL into buf of cap bytes. Returns its
 * length, or 0 when it does not fit (buf is then left holding an empty string when cap
 * > 0).
 */
size_t proto_statkey_make(char *buf, size_t cap, const char *tenant, const char *agent_id);

/**
 * Splits key (len bytes) back into its parts, each unescaped with a NUL into its buffer
 * of cap bytes. Returns false for anything proto_statkey_make does not write: no dot or
 * more than one, a byte outside the escaped alphabet, a bad or needless escape (a byte
 * that needs none, lower-case hex), a part that does not fit.
 */
bool proto_statkey_parse(const char *key, size_t len, char *tenant, size_t tenant_cap,
                         char *agent_id, size_t agent_cap);

#endif
