/* Credentials per client (docs/operations.md, "Credentials and supervisors"): the
 * [clients] section that both daemons read, one entry per client that may register,
 *
 *     NAME = TYPE, TENANTS, HASH
 *
 * NAME is the clientName the client registers with, TYPE its clientType, TENANTS the
 * tenants it may touch ("*" for all, else names separated by '|') and HASH the crypt(3)
 * hash of its secret, which it presents as its token. The parser and the secret check
 * are here; which requests touch which tenant is each daemon's business. No I/O. */
#ifndef NET_CREDS_H
#define NET_CREDS_H

#include <stdbool.h>
#include <stddef.h>

#include "net/session.h"

/** Most entries a [clients] section may hold. */
#define CC_CREDS_MAX 4096
/** Most tenants one entry may name. */
#define CC_CREDS_TENANTS_MAX 256

/** The tenants a client may touch: all of them, or those listed. */
typedef struct cc_tenant_set {
    bool all;
    size_t count;
    char **names; /* count names, each 1..PROTO_ID_MAX bytes, owned */
} cc_tenant_set;

/** True when t lets its client touch tenant; a NULL t stands for all tenants. */
bool cc_tenant_set_has(const cc_tenant_set *t, const char *tenant);

/** One entry of [clients]. */
typedef struct cc_cred {
    char *name;               /* the clientName */
    enum cc_client_type type; /* the one clientType this name registers as */
    cc_tenant_set tenants;
    char *hash; /* crypt(3) hash of the secret */
} cc_cred;

/** Every entry of one [clients] section, in file order. */
typedef struct cc_creds {
    cc_cred *v;
    size_t count;
} cc_creds;

/**
 * Parses the entry name = value and appends it to cs. types is the mask of the client
 * types this daemon serves. On a mistake returns false and writes why (why_len bytes) in
 * words fit for a configuration error: the name not an identifier or given twice, a type
 * not served, an empty or malformed tenant list, or a value that is not a crypt(3) hash.
 */
bool cc_creds_add(cc_creds *cs, const char *name, const char *value, unsigned types, char *why,
                  size_t why_len);

/** The entry registering as name, or NULL. */
const cc_cred *cc_creds_find(const cc_creds *cs, const char *name);

/** True when s looks like a crypt(3) hash of a method this libcrypt supports. */
bool cc_creds_is_hash(const char *s);

/**
 * True when secret matches hash, compared in time independent of where they differ.
 * Blocking (tens of milliseconds at a default cost): the session runs it on libuv's
 * thread pool. Safe to call from several threads at once.
 */
bool cc_creds_verify(const char *secret, const char *hash);

/** Frees every entry (cs itself stays usable, empty). */
void cc_creds_free(cc_creds *cs);

#endif
