#include "ixn/ixn_throttle.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

/* Longest doubling: beyond it every rule's cap has long been reached, and the shift
 * cannot overflow (delays are below 2^32 microseconds). */
#define DOUBLINGS_MAX 30
/* Expired entries looked at from the oldest end whenever a key is added. */
#define SWEEP_MAX 8

struct ixn_throttle_entry {
    uint32_t failures; /* failures since the key was last forgotten or succeeded */
    uint32_t pending;  /* attempts in flight (begun, not ended) */
    uint64_t last_us;  /* the last failure, or when the entry was made */
    uint64_t locked_until_us;
    uint64_t next_us; /* the start of the latest delayed attempt: the next one queues behind */
    ixn_throttle_entry *prev, *next;
    size_t len;
    char key[];
};

void ixn_throttle_init(ixn_throttle *t, const ixn_throttle_rule *rule)
{
    memset(t, 0, sizeof *t);
    t->rule = *rule;
    if (t->rule.forget_us < t->rule.lockout_us)
        t->rule.forget_us = t->rule.lockout_us;
    if (t->rule.delay_max_us < t->rule.delay_us)
        t->rule.delay_max_us = t->rule.delay_us;
    cc_map_init(&t->map);
}

static void list_unlink(ixn_throttle *t, ixn_throttle_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        t->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        t->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_append(ixn_throttle *t, ixn_throttle_entry *e)
{
    e->prev = t->tail;
    e->next = NULL;
    if (t->tail)
        t->tail->next = e;
    else
        t->head = e;
    t->tail = e;
}

static void entry_drop(ixn_throttle *t, ixn_throttle_entry *e)
{
    list_unlink(t, e);
    cc_map_del(&t->map, e->key, e->len);
    t->count--;
    free(e);
}

/* An entry with nothing in flight whose failures and lockout are over holds nothing
 * worth keeping. */
static bool expired(const ixn_throttle *t, const ixn_throttle_entry *e, uint64_t now)
{
    return e->pending == 0 && now >= e->last_us + t->rule.forget_us && now >= e->locked_until_us;
}

/* The entry of key, or NULL; an expired one is dropped on the way. */
static ixn_throttle_entry *lookup(ixn_throttle *t, const char *key, size_t len, uint64_t now)
{
    ixn_throttle_entry *e = cc_map_get(&t->map, key, len);
    if (e && expired(t, e, now)) {
        entry_drop(t, e);
        return NULL;
    }
    return e;
}

static ixn_throttle_entry *entry_new(ixn_throttle *t, const char *key, size_t len, uint64_t now)
{
    /* The oldest entries are the first to expire (they are ordered by last failure). */
    for (int i = 0; i < SWEEP_MAX && t->head && expired(t, t->head, now); i++)
        entry_drop(t, t->head);
    if (t->rule.max_entries && t->count >= t->rule.max_entries && t->head) {
        t->stats.evicted++;
        entry_drop(t, t->head);
    }
    ixn_throttle_entry *e = xcalloc(1, sizeof *e + len + 1);
    memcpy(e->key, key, len);
    e->len = len;
    e->last_us = now;
    cc_map_put(&t->map, e->key, len, e);
    list_append(t, e);
    t->count++;
    return e;
}

void ixn_throttle_free(ixn_throttle *t)
{
    while (t->head)
        entry_drop(t, t->head);
    cc_map_free(&t->map);
}

static uint64_t delay_for(const ixn_throttle_rule *r, unsigned beyond_free)
{
    unsigned k = beyond_free > DOUBLINGS_MAX ? DOUBLINGS_MAX : beyond_free;
    uint64_t d = r->delay_us << k;
    return d > r->delay_max_us ? r->delay_max_us : d;
}

int ixn_throttle_check(ixn_throttle *t, const char *key, size_t len, uint64_t now_us,
                       uint64_t *start_us)
{
    const ixn_throttle_rule *r = &t->rule;
    *start_us = now_us;
    ixn_throttle_entry *e = lookup(t, key, len, now_us);
    if (!e)
        return 0;
    if (e->locked_until_us > now_us)
        return CC_E_LIMIT_EXCEEDED;
    if (e->locked_until_us) {
        /* The lockout is over, but not forgotten: the next failure locks again. */
        e->locked_until_us = 0;
        if (r->lockout_failures && e->failures >= r->lockout_failures)
            e->failures = r->lockout_failures - 1;
    }
    uint64_t n = (uint64_t)e->failures + (r->count_in_flight ? e->pending : 0);
    if (r->lockout_failures && n >= r->lockout_failures)
        return CC_E_LIMIT_EXCEEDED;
    if (n < r->free_failures || r->delay_us == 0)
        return 0;
    uint64_t base = e->next_us > now_us ? e->next_us : now_us;
    *start_us = base + delay_for(r, (unsigned)(n - r->free_failures));
    return 0;
}

void ixn_throttle_begin(ixn_throttle *t, const char *key, size_t len, uint64_t now_us,
                        uint64_t start_us)
{
    ixn_throttle_entry *e = lookup(t, key, len, now_us);
    if (!e)
        e = entry_new(t, key, len, now_us);
    /* Only a key that is itself delayed queues its later attempts behind this one. */
    uint64_t n = (uint64_t)e->failures + (t->rule.count_in_flight ? e->pending : 0);
    if (n >= t->rule.free_failures && t->rule.delay_us && start_us > e->next_us)
        e->next_us = start_us;
    if (e->pending < UINT32_MAX)
        e->pending++;
}

bool ixn_throttle_end(ixn_throttle *t, const char *key, size_t len, uint64_t now_us,
                      enum ixn_throttle_outcome outcome)
{
    const ixn_throttle_rule *r = &t->rule;
    ixn_throttle_entry *e = cc_map_get(&t->map, key, len);
    if (!e) {
        /* Dropped while in flight (the table was full): a failure starts it again. */
        if (outcome != IXN_THROTTLE_FAILED)
            return false;
        e = entry_new(t, key, len, now_us);
    } else if (e->pending) {
        e->pending--;
    }
    bool locked = false;
    if (outcome == IXN_THROTTLE_FAILED) {
        if (e->failures < UINT32_MAX)
            e->failures++;
        e->last_us = now_us;
        list_unlink(t, e);
        list_append(t, e);
        if (r->lockout_failures && e->failures >= r->lockout_failures &&
            e->locked_until_us <= now_us) {
            e->locked_until_us = now_us + r->lockout_us;
            t->stats.lockouts++;
            locked = true;
        }
    } else if (outcome == IXN_THROTTLE_SUCCEEDED) {
        e->failures = 0;
        e->locked_until_us = 0;
    }
    if (e->failures == 0 && e->pending == 0 && e->locked_until_us <= now_us)
        entry_drop(t, e);
    return locked;
}

unsigned ixn_throttle_failures(ixn_throttle *t, const char *key, size_t len, uint64_t now_us)
{
    ixn_throttle_entry *e = lookup(t, key, len, now_us);
    return e ? e->failures : 0;
}

size_t ixn_throttle_count(const ixn_throttle *t)
{
    return t->count;
}
