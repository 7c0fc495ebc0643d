#include "proto/statkey.h"

#include <string.h>

static const char HEX[] = "0123456789ABCDEF";

/* The bytes a part keeps as they are: the KV alphabet without `_` (the escape) and `.`
 * (the boundary). */
static bool plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '/' || c == '=';
}

/* Appends the escaped part s at *pos; false when it does not fit (a NUL still to come). */
static bool put_part(char *buf, size_t cap, size_t *pos, const char *s)
{
    size_t p = *pos;
    if (!*s) {
        if (p + 1 >= cap)
            return false;
        buf[p++] = '_';
    }
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (plain(*c)) {
            if (p + 1 >= cap)
                return false;
            buf[p++] = (char)*c;
        } else {
            if (p + 3 >= cap)
                return false;
            buf[p++] = '_';
            buf[p++] = HEX[*c >> 4];
            buf[p++] = HEX[*c & 15];
        }
    }
    *pos = p;
    return true;
}

size_t proto_statkey_make(char *buf, size_t cap, const char *tenant, const char *agent_id)
{
    size_t pos = 0;
    if (cap == 0)
        return 0;
    buf[0] = '\0';
    if (!put_part(buf, cap, &pos, tenant) || pos + 1 >= cap)
        goto full;
    buf[pos++] = '.';
    if (!put_part(buf, cap, &pos, agent_id))
        goto full;
    buf[pos] = '\0';
    return pos;
full:
    buf[0] = '\0';
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Unescapes the part p[0..n) into out (cap bytes with the NUL). */
static bool get_part(const char *p, size_t n, char *out, size_t cap)
{
    if (n == 1 && p[0] == '_') {
        if (cap < 1)
            return false;
        out[0] = '\0';
        return true;
    }
    if (n == 0)
        return false;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '_') {
            int hi = i + 2 < n ? hex_value(p[i + 1]) : -1;
            int lo = i + 2 < n ? hex_value(p[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return false;
            c = (unsigned char)(hi << 4 | lo);
            /* One spelling per key: a byte that needs no escape never has one, and a
             * NUL cannot be part of an identifier. */
            if (c == 0 || plain(c))
                return false;
            i += 2;
        } else if (!plain(c)) {
            return false;
        }
        if (o + 1 >= cap)
            return false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return true;
}

bool proto_statkey_parse(const char *key, size_t len, char *tenant, size_t tenant_cap,
                         char *agent_id, size_t agent_cap)
{
    const char *dot = memchr(key, '.', len);
    if (!dot || memchr(dot + 1, '.', len - (size_t)(dot - key) - 1))
        return false;
    size_t tn = (size_t)(dot - key);
    return get_part(key, tn, tenant, tenant_cap) &&
           get_part(dot + 1, len - tn - 1, agent_id, agent_cap);
}
