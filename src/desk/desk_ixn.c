#include "desk/desk_ixn.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "desk/desk_cmd.h"

void desk_ixn_init(desk_ixn_table *t)
{
    memset(t, 0, sizeof *t);
}

void desk_ixn_clear(desk_ixn_table *t)
{
    t->count = 0;
}

static int index_of(const desk_ixn_table *t, const char *id)
{
    for (int i = 0; i < t->count; i++)
        if (strcmp(t->items[i].id, id) == 0)
            return i;
    return -1;
}

int desk_ixn_invited(desk_ixn_table *t, const char *id, const char *media, const char *queue,
                     uint64_t now_us)
{
    if (!desk_text_valid(id, PROTO_ID_MAX) || !desk_text_valid(media, CC_MEDIA_NAME_MAX) ||
        !desk_text_valid(queue, PROTO_ID_MAX))
        return CC_E_INVALID_ATTRIBUTE;
    snprintf(t->last, sizeof t->last, "%s", id);
    /* Offered again (after a revoke or a reject): it counts as a new invite, so it moves
     * to the end and its age starts again. */
    desk_ixn_remove(t, id);
    if (t->count == DESK_IXN_MAX)
        return CC_E_LIMIT_EXCEEDED;
    desk_ixn *x = &t->items[t->count++];
    snprintf(x->id, sizeof x->id, "%s", id);
    snprintf(x->media, sizeof x->media, "%s", media);
    snprintf(x->queue, sizeof x->queue, "%s", queue);
    x->state = CC_IXN_INVITED;
    x->since_us = now_us;
    return 0;
}

desk_ixn *desk_ixn_find(desk_ixn_table *t, const char *id)
{
    int i = index_of(t, id);
    return i < 0 ? NULL : &t->items[i];
}

bool desk_ixn_set_state(desk_ixn_table *t, const char *id, enum cc_ixn_state state)
{
    desk_ixn *x = desk_ixn_find(t, id);
    if (!x)
        return false;
    x->state = state;
    return true;
}

bool desk_ixn_remove(desk_ixn_table *t, const char *id)
{
    int i = index_of(t, id);
    if (i < 0)
        return false;
    memmove(&t->items[i], &t->items[i + 1], (size_t)(t->count - i - 1) * sizeof t->items[0]);
    t->count--;
    return true;
}

/* Longest number suffix accepted: 18 digits always fit in an int64_t. */
#define SUFFIX_DIGITS_MAX 18

/* The value of s when it is 1..SUFFIX_DIGITS_MAX digits, else -1. */
static int64_t digits_value(const char *s, size_t n)
{
    if (n == 0 || n > SUFFIX_DIGITS_MAX)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* The number after the last ':' of an id, or -1 when there is none. */
static int64_t id_number(const char *id)
{
    const char *colon = strrchr(id, ':');
    if (!colon)
        return -1;
    return digits_value(colon + 1, strlen(colon + 1));
}

int desk_ixn_resolve(desk_ixn_table *t, const char *arg, const char *server, char *out,
                     size_t outlen, char *err, size_t errlen)
{
    if (errlen > 0)
        err[0] = '\0';
    size_t n = strlen(arg);
    if (strcmp(arg, "last") == 0) {
        if (t->last[0] == '\0') {
            snprintf(err, errlen, "no invite has arrived yet, so there is no last one");
            return CC_E_INVALID_ATTRIBUTE;
        }
        snprintf(out, outlen, "%s", t->last);
        return 0;
    }
    if (n == 0 || n > PROTO_ID_MAX) {
        snprintf(err, errlen, "an interaction id is 1..%d bytes", PROTO_ID_MAX);
        return CC_E_INVALID_ATTRIBUTE;
    }
    int64_t want = digits_value(arg, n);
    bool digits_only = strspn(arg, "0123456789") == n;
    if (!digits_only) {
        snprintf(out, outlen, "%s", arg);
        return 0;
    }
    if (want < 0) {
        snprintf(err, errlen, "interaction number %.24s%s has more than %d digits", arg,
                 n > 24 ? "..." : "", SUFFIX_DIGITS_MAX);
        return CC_E_INVALID_ATTRIBUTE;
    }
    int found = -1;
    int matches = 0;
    for (int i = 0; i < t->count; i++)
        if (id_number(t->items[i].id) == want) {
            if (matches++ == 0)
                found = i;
        }
    if (matches == 1) {
        snprintf(out, outlen, "%s", t->items[found].id);
        return 0;
    }
    if (matches > 1) {
        int second = found + 1;
        while (id_number(t->items[second].id) != want)
            second++;
        snprintf(err, errlen,
                 "%s is ambiguous: it matches %d interactions (%s, %s%s); give the "
                 "full id",
                 arg, matches, t->items[found].id, t->items[second].id, matches > 2 ? ", ..." : "");
        return CC_E_INVALID_ATTRIBUTE;
    }
    if (!server || !*server) {
        snprintf(err, errlen, "no interaction numbered %s is held here; give the full id", arg);
        return CC_E_INVALID_ATTRIBUTE;
    }
    int len = snprintf(out, outlen, "%s:%09" PRId64, server, want);
    if (len < 0 || (size_t)len >= outlen || (size_t)len > PROTO_ID_MAX) {
        snprintf(err, errlen, "no interaction numbered %s is held here; give the full id", arg);
        return CC_E_INVALID_ATTRIBUTE;
    }
    return 0;
}

void desk_ixn_format_list(cc_buf *out, const desk_ixn_table *t, uint64_t now_us)
{
    if (t->count == 0) {
        cc_buf_puts(out, "no interactions\n");
        return;
    }
    int wid = (int)strlen("interaction");
    int wmedia = (int)strlen("media");
    int wqueue = (int)strlen("queue");
    for (int i = 0; i < t->count; i++) {
        const desk_ixn *x = &t->items[i];
        int n = (int)strlen(x->id);
        if (n > wid)
            wid = n;
        n = (int)strlen(x->media);
        if (n > wmedia)
            wmedia = n;
        n = (int)strlen(x->queue);
        if (n > wqueue)
            wqueue = n;
    }
    cc_buf_printf(out, "  %-*s  %-*s  %-*s  %-9s  %s\n", wid, "interaction", wmedia, "media",
                  wqueue, "queue", "state", "age");
    for (int i = 0; i < t->count; i++) {
        const desk_ixn *x = &t->items[i];
        uint64_t age = now_us > x->since_us ? (now_us - x->since_us) / 1000000u : 0;
        cc_buf_printf(out, "  %-*s  %-*s  %-*s  %-9s  %" PRIu64 " s\n", wid, x->id, wmedia,
                      x->media, wqueue, x->queue, cc_ixn_state_name(x->state), age);
    }
}
