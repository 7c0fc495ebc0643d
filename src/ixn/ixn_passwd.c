#include "ixn/ixn_passwd.h"

#include <crypt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "net/creds.h"
#include "proto/msg.h"

/* yescrypt is libcrypt's strongest method and its default on Debian. */
#define IXN_PASSWD_PREFIX "$y$"

bool ixn_passwd_is_hash(const char *s)
{
    /* A full hash is a setting followed by the digest; crypt_checksalt validates the
     * method and parameters, and a hash is always longer than a bare method prefix. */
    if (s[0] != '$' || strlen(s) < 13 || strlen(s) > CRYPT_OUTPUT_SIZE - 1)
        return false;
    int rc = crypt_checksalt(s);
    return rc == CRYPT_SALT_OK || rc == CRYPT_SALT_TOO_CHEAP;
}

char *ixn_passwd_hash(const char *password, unsigned long rounds)
{
    char *setting = crypt_gensalt_ra(IXN_PASSWD_PREFIX, rounds, NULL, 0);
    if (!setting) {
        fprintf(stderr, "ixnserver: cannot make a salt with %lu rounds\n", rounds);
        return NULL;
    }
    struct crypt_data *cd = xcalloc(1, sizeof *cd);
    char *out = crypt_rn(password, setting, cd, sizeof *cd);
    char *res = (out && out[0] != '*') ? xstrdup(out) : NULL;
    if (!res)
        fprintf(stderr, "ixnserver: libcrypt could not hash the password\n");
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    free(setting);
    return res;
}

bool ixn_passwd_verify(const char *password, const char *hash)
{
    /* The same check as a [clients] secret: crypt(3), every byte compared. */
    return cc_creds_verify(password, hash);
}

/* ---- cost of a hash ---- */

static const char itoa64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int atoi64(char c)
{
    const char *p = c ? strchr(itoa64, c) : NULL;
    return p ? (int)(p - itoa64) : -1;
}

/* yescrypt's variable-length number (decode64_uint32 of its reference code): the first
 * character says how many follow; min is added. Returns the position after it, or NULL. */
static const char *yes_uint32(const char *s, uint32_t min, uint32_t *out)
{
    int c = atoi64(*s++);
    if (c < 0)
        return NULL;
    uint32_t start = 0, end = 47, chars = 1, bits = 0;
    uint64_t v = min;
    while ((uint32_t)c > end) {
        v += (uint64_t)(end + 1 - start) << bits;
        start = end + 1;
        end = start + (62 - end) / 2;
        chars++;
        bits += 6;
    }
    v += (uint64_t)((uint32_t)c - start) << bits;
    while (--chars) {
        c = atoi64(*s++);
        if (c < 0)
            return NULL;
        bits -= 6;
        v += (uint64_t)c << bits;
    }
    if (v > UINT32_MAX)
        return NULL;
    *out = (uint32_t)v;
    return s;
}

/* yescrypt and gost-yescrypt: "$y$" flavor, log2 N, r, then optionally a bitmask of the
 * parameters that follow (p first). The cost is the memory, N * r * p blocks. */
static bool cost_yescrypt(const char *params, double *cost, char *desc, size_t n)
{
    uint32_t flavor, nlog2, r, have = 0, p = 1;
    const char *s = yes_uint32(params, 0, &flavor);
    if (s)
        s = yes_uint32(s, 1, &nlog2);
    if (s)
        s = yes_uint32(s, 1, &r);
    if (s && *s != '$')
        s = yes_uint32(s, 1, &have);
    if (s && (have & 1))
        s = yes_uint32(s, 2, &p);
    if (!s || nlog2 > 63)
        return false;
    *cost = (double)r * p * (double)((uint64_t)1 << nlog2);
    snprintf(desc, n, "N=%" PRIu64 " r=%u p=%u", (uint64_t)1 << nlog2, r, p);
    return true;
}

/* scrypt "$7$": log2 N in one character, then r and p in five each (30 bits, least
 * significant first). */
static bool cost_scrypt(const char *params, double *cost, char *desc, size_t n)
{
    int nlog2 = atoi64(params[0]);
    uint32_t v[2] = {0, 0};
    if (nlog2 < 0)
        return false;
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 5; i++) {
            int c = atoi64(params[1 + 5 * k + i]);
            if (c < 0)
                return false;
            v[k] |= (uint32_t)c << (6 * i);
        }
    }
    *cost = (double)v[0] * v[1] * (double)((uint64_t)1 << nlog2);
    snprintf(desc, n, "N=%" PRIu64 " r=%u p=%u", (uint64_t)1 << nlog2, v[0], v[1]);
    return true;
}

/* The cost of a hash or setting of a method whose parameters this code reads; the
 * method's prefix ("$y$", "$2b$", ...) goes into prefix. False for any other. */
static bool hash_cost(const char *h, char *prefix, size_t plen, double *cost, char *desc, size_t n)
{
    const char *end = h[0] == '$' ? strchr(h + 1, '$') : NULL;
    if (!end || (size_t)(end - h) + 2 > plen)
        return false;
    size_t pl = (size_t)(end - h) + 1;
    memcpy(prefix, h, pl);
    prefix[pl] = '\0';
    const char *params = h + pl;
    if (strcmp(prefix, "$y$") == 0 || strcmp(prefix, "$gy$") == 0)
        return cost_yescrypt(params, cost, desc, n);
    if (strcmp(prefix, "$7$") == 0)
        return cost_scrypt(params, cost, desc, n);
    if (strcmp(prefix, "$2a$") == 0 || strcmp(prefix, "$2b$") == 0 || strcmp(prefix, "$2y$") == 0) {
        if (params[0] < '0' || params[0] > '9' || params[1] < '0' || params[1] > '9')
            return false;
        int c = (params[0] - '0') * 10 + (params[1] - '0');
        if (c > 63)
            return false;
        *cost = (double)((uint64_t)1 << c);
        snprintf(desc, n, "cost=%d", c);
        return true;
    }
    if (strcmp(prefix, "$5$") == 0 || strcmp(prefix, "$6$") == 0) {
        /* Without "rounds=" the method's own default of 5,000 applies. */
        unsigned long rounds = 5000;
        if (strncmp(params, "rounds=", 7) == 0) {
            char *e;
            rounds = strtoul(params + 7, &e, 10);
            if (*e != '$')
                return false;
        }
        *cost = (double)rounds;
        snprintf(desc, n, "rounds=%lu", rounds);
        return true;
    }
    return false;
}

bool ixn_passwd_too_cheap(const char *hash, char *why, size_t why_len)
{
    char prefix[8], desc[64], ddesc[64];
    double cost, dcost;
    if (!hash_cost(hash, prefix, sizeof prefix, &cost, desc, sizeof desc))
        return false;
    char *setting = crypt_gensalt_ra(prefix, 0, NULL, 0);
    char dprefix[8];
    bool known =
        setting && hash_cost(setting, dprefix, sizeof dprefix, &dcost, ddesc, sizeof ddesc);
    free(setting);
    if (!known || cost >= dcost)
        return false;
    static const char *const names[][2] = {
        {"$y$", "yescrypt"},    {"$gy$", "gost-yescrypt"}, {"$7$", "scrypt"},
        {"$2a$", "bcrypt"},     {"$2b$", "bcrypt"},        {"$2y$", "bcrypt"},
        {"$5$", "sha256crypt"}, {"$6$", "sha512crypt"},
    };
    const char *name = prefix;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(prefix, names[i][0]) == 0)
            name = names[i][1];
    snprintf(why, why_len, "%s %s, below the default %s", name, desc, ddesc);
    return true;
}

int ixn_passwd_cli(unsigned long rounds)
{
    char line[PROTO_TEXT_MAX + 2];
    if (!fgets(line, sizeof line, stdin)) {
        fprintf(stderr, "ixnserver: no password on stdin\n");
        return 1;
    }
    size_t n = strlen(line);
    if (n == sizeof line - 1 && line[n - 1] != '\n') {
        fprintf(stderr, "ixnserver: password longer than %d bytes\n", PROTO_TEXT_MAX);
        explicit_bzero(line, sizeof line);
        return 1;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    char *hash = ixn_passwd_hash(line, rounds);
    explicit_bzero(line, sizeof line);
    if (!hash)
        return 1;
    printf("%s\n", hash);
    free(hash);
    return fflush(stdout) == 0 ? 0 : 1;
}
