#include "net/creds.h"

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "proto/msg.h"

bool cc_tenant_set_has(const cc_tenant_set *t, const char *tenant)
{
    if (!t || t->all)
        return true;
    for (size_t i = 0; i < t->count; i++)
        if (strcmp(t->names[i], tenant) == 0)
            return true;
    return false;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* An identifier of the protocol: 1..PROTO_ID_MAX bytes, no control characters. */
static bool id_ok(const char *s, size_t n)
{
    if (n == 0 || n > PROTO_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* [s, s + n) without the blanks around it. */
static void trim(const char **s, size_t *n)
{
    while (*n && is_blank(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_blank((*s)[*n - 1]))
        (*n)--;
}

static void tenants_free(cc_tenant_set *t)
{
    for (size_t i = 0; i < t->count; i++)
        free(t->names[i]);
    free(t->names);
    memset(t, 0, sizeof *t);
}

/* The TENANTS part: "*", or names separated by '|'. */
static bool parse_tenants(const char *s, size_t n, cc_tenant_set *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    trim(&s, &n);
    if (n == 1 && s[0] == '*') {
        out->all = true;
        return true;
    }
    if (n == 0) {
        snprintf(why, why_len, "%s", "TENANTS is empty (\"*\" stands for every tenant)");
        return false;
    }
    const char *end = s + n;
    while (s <= end) {
        const char *bar = memchr(s, '|', (size_t)(end - s));
        const char *stop = bar ? bar : end;
        const char *t = s;
        size_t tn = (size_t)(stop - s);
        trim(&t, &tn);
        if (tn == 1 && t[0] == '*') {
            snprintf(why, why_len, "%s", "\"*\" must stand alone in TENANTS");
            tenants_free(out);
            return false;
        }
        if (!id_ok(t, tn)) {
            snprintf(why, why_len, "tenant \"%.*s\" is not 1..%d bytes without control characters",
                     (int)(tn > 64 ? 64 : tn), t, PROTO_ID_MAX);
            tenants_free(out);
            return false;
        }
        if (out->count == CC_CREDS_TENANTS_MAX) {
            snprintf(why, why_len, "more than %d tenants", CC_CREDS_TENANTS_MAX);
            tenants_free(out);
            return false;
        }
        char *name = xmalloc(tn + 1);
        memcpy(name, t, tn);
        name[tn] = '\0';
        if (cc_tenant_set_has(out, name)) {
            free(name); /* named twice: once is enough */
        } else {
            out->names = xrealloc(out->names, (out->count + 1) * sizeof *out->names);
            out->names[out->count++] = name;
        }
        if (!bar)
            break;
        s = bar + 1;
    }
    return true;
}

static enum cc_client_type type_of(const char *s, size_t n)
{
    static const enum cc_client_type all[] = {CC_CLIENT_AGENT, CC_CLIENT_MEDIA, CC_CLIENT_REPORTING,
                                              CC_CLIENT_STAT, CC_CLIENT_SUPERVISOR};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *name = cc_client_type_name(all[i]);
        if (strlen(name) == n && memcmp(name, s, n) == 0)
            return all[i];
    }
    return CC_CLIENT_NONE;
}

bool cc_creds_is_hash(const char *s)
{
    /* A full hash is a setting followed by the digest; crypt_checksalt validates the
     * method and its parameters, and a hash is always longer than a bare prefix. */
    size_t n = strlen(s);
    if (s[0] != '$' || n < 13 || n > CRYPT_OUTPUT_SIZE - 1)
        return false;
    int rc = crypt_checksalt(s);
    return rc == CRYPT_SALT_OK || rc == CRYPT_SALT_TOO_CHEAP;
}

bool cc_creds_add(cc_creds *cs, const char *name, const char *value, unsigned types, char *why,
                  size_t why_len)
{
    if (!id_ok(name, strlen(name))) {
        snprintf(why, why_len, "the name must be 1..%d bytes without control characters",
                 PROTO_ID_MAX);
        return false;
    }
    if (cc_creds_find(cs, name)) {
        snprintf(why, why_len, "%s", "given twice");
        return false;
    }
    if (cs->count == CC_CREDS_MAX) {
        snprintf(why, why_len, "more than %d clients", CC_CREDS_MAX);
        return false;
    }
    /* TYPE ends at the first comma and HASH starts after the last: a crypt(3) hash has
     * no comma, so whatever lies between is TENANTS. */
    const char *first = strchr(value, ',');
    const char *last = strrchr(value, ',');
    if (!first || first == last) {
        snprintf(why, why_len, "%s", "the value must be TYPE, TENANTS, HASH");
        return false;
    }
    const char *t = value;
    size_t tn = (size_t)(first - value);
    trim(&t, &tn);
    enum cc_client_type type = type_of(t, tn);
    if (type == CC_CLIENT_NONE || !(type & types)) {
        snprintf(why, why_len, "TYPE \"%.*s\" is not a client type served here",
                 (int)(tn > 40 ? 40 : tn), t);
        return false;
    }
    const char *h = last + 1;
    size_t hn = strlen(h);
    trim(&h, &hn);
    char hash[CRYPT_OUTPUT_SIZE];
    if (hn >= sizeof hash) {
        snprintf(why, why_len, "%s",
                 "HASH is not a crypt(3) hash (make one with ixnserver --hash-password)");
        return false;
    }
    memcpy(hash, h, hn);
    hash[hn] = '\0';
    if (!cc_creds_is_hash(hash)) {
        snprintf(why, why_len, "%s",
                 "HASH is not a crypt(3) hash (make one with ixnserver --hash-password)");
        return false;
    }
    cc_tenant_set tenants;
    if (!parse_tenants(first + 1, (size_t)(last - first - 1), &tenants, why, why_len))
        return false;
    cs->v = xrealloc(cs->v, (cs->count + 1) * sizeof *cs->v);
    cc_cred *c = &cs->v[cs->count++];
    c->name = xstrdup(name);
    c->type = type;
    c->tenants = tenants;
    c->hash = xstrdup(hash);
    return true;
}

const cc_cred *cc_creds_find(const cc_creds *cs, const char *name)
{
    if (!cs)
        return NULL;
    for (size_t i = 0; i < cs->count; i++)
        if (strcmp(cs->v[i].name, name) == 0)
            return &cs->v[i];
    return NULL;
}

bool cc_creds_verify(const char *secret, const char *hash)
{
    struct crypt_data *cd = xcalloc(1, sizeof *cd);
    const char *out = crypt_rn(secret, hash, cd, sizeof *cd);
    bool ok = false;
    if (out && out[0] != '*') {
        /* Every byte is compared, so the time taken does not say where they differ. */
        size_t lo = strlen(out), lh = strlen(hash);
        unsigned char diff = (unsigned char)(lo != lh);
        for (size_t i = 0; i < lo && i < lh; i++)
            diff |= (unsigned char)(out[i] ^ hash[i]);
        ok = diff == 0;
    }
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return ok;
}

void cc_creds_free(cc_creds *cs)
{
    for (size_t i = 0; i < cs->count; i++) {
        free(cs->v[i].name);
        free(cs->v[i].hash);
        tenants_free(&cs->v[i].tenants);
    }
    free(cs->v);
    cs->v = NULL;
    cs->count = 0;
}
