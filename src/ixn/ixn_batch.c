#include "ixn/ixn_batch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

/* Grows *arr (of elements of size sz) so that one more fits. */
static void *grow(void *arr, size_t *cap, size_t n, size_t sz, size_t first)
{
    if (n < *cap)
        return arr;
    *cap = *cap ? 2 * *cap : first;
    return xrealloc(arr, *cap * sz);
}

void ixn_batch_init(ixn_batch *b)
{
    memset(b, 0, sizeof *b);
    cc_map_init(&b->touched_map);
}

void ixn_batch_free(ixn_batch *b)
{
    ixn_batch_clear(b);
    for (size_t i = 0; i < b->ncarried; i++)
        cc_sbuf_unref(b->carried[i].sb);
    free(b->reports);
    free(b->carried);
    free(b->log);
    free(b->offers);
    free(b->outbox);
    free(b->touched);
    free(b->unsaved);
    free(b->after);
    cc_map_free(&b->touched_map);
    memset(b, 0, sizeof *b);
}

void ixn_batch_snapshot(ixn_before *e, ixn_ixn *x)
{
    e->x = x;
    e->state = x->state;
    e->queue = x->queue;
    e->order = x->order;
    e->entered_us = x->entered_us;
    e->agent = x->agent;
    e->timer = x->timer;
    e->deadline_us = x->deadline_us;
    e->queued_mono_us = x->queued_mono_us;
    e->take_seq = x->take_seq;
    e->updated_us = x->updated_us;
    e->ended_us = x->ended_us;
}

ixn_before *ixn_batch_log(ixn_batch *b, ixn_ixn *x)
{
    b->log = grow(b->log, &b->caplog, b->nlog, sizeof *b->log, 64);
    ixn_before *e = &b->log[b->nlog++];
    memset(e, 0, sizeof *e);
    ixn_batch_snapshot(e, x);
    x->batch = b->nlog;
    return e;
}

void ixn_batch_offer(ixn_batch *b, ixn_agent *a, int media)
{
    b->offers = grow(b->offers, &b->capoffers, b->noffers, sizeof *b->offers, 16);
    b->offers[b->noffers++] =
        (ixn_offer_undo){.a = a, .media = media, .offer_seq = a->offer_seq[media]};
}

static size_t held_count(const ixn_agent *a)
{
    size_t n = 0;
    for (const ixn_ixn *x = a->held_head; x; x = x->a_next)
        n++;
    return n;
}

void ixn_batch_reported(ixn_batch *b, ixn_agent *a)
{
    size_t i = (size_t)(uintptr_t)cc_map_gets(&b->touched_map, a->key);
    if (!i) {
        b->touched = grow(b->touched, &b->captouched, b->ntouched, sizeof *b->touched, 16);
        b->touched[b->ntouched++] = (ixn_touched){.a = a};
        i = b->ntouched;
        cc_map_puts(&b->touched_map, a->key, (void *)(uintptr_t)i);
    }
    b->touched[i - 1].held = held_count(a);
}

void ixn_batch_hold(ixn_batch *b, ixn_agent *a, cc_sbuf *sb)
{
    b->outbox = grow(b->outbox, &b->capout, b->nout, sizeof *b->outbox, 16);
    b->outbox[b->nout++] = (ixn_held_event){.a = a, .sb = sb};
}

void ixn_batch_hold_report(ixn_batch *b, ixn_ixn *x, const char *tenant, cc_sbuf *sb,
                           bool if_undone)
{
    b->reports = grow(b->reports, &b->capreports, b->nreports, sizeof *b->reports, 16);
    b->reports[b->nreports++] =
        (ixn_held_report){.x = x, .tenant = tenant, .sb = sb, .if_undone = if_undone};
}

void ixn_batch_carry(ixn_batch *b, bool committed)
{
    for (size_t i = 0; i < b->nreports; i++) {
        ixn_held_report *r = &b->reports[i];
        if (committed ? r->if_undone : !r->kept && !r->if_undone) {
            cc_sbuf_unref(r->sb);
            continue;
        }
        b->carried = grow(b->carried, &b->capcarried, b->ncarried, sizeof *b->carried, 16);
        b->carried[b->ncarried++] = (ixn_held_report){.tenant = r->tenant, .sb = r->sb};
    }
    b->nreports = 0;
}

/* As ixn_batch_agent_gone rewrites an entry that would put an interaction back into a's
 * hands. */
static void entry_agent_gone(ixn_before *e, const ixn_agent *a, uint64_t now_mono_us,
                             int64_t now_wall_us)
{
    if (e->agent != a)
        return;
    e->agent = NULL;
    e->timer = -1;
    e->repersist = true;
    if (e->state == CC_IXN_AFTER_WORK) {
        e->state = CC_IXN_ENDED;
        e->ended_us = e->updated_us = now_wall_us;
    } else {
        e->state = CC_IXN_QUEUED;
        e->queued_mono_us = now_mono_us;
    }
}

void ixn_batch_agent_gone(ixn_batch *b, ixn_agent *a, uint64_t now_mono_us, int64_t now_wall_us)
{
    /* The states a sealed commit writes are what the next batch's failure goes back to. */
    if (b->sealed)
        for (size_t i = 0; i < b->seal_log; i++)
            entry_agent_gone(&b->after[i], a, now_mono_us, now_wall_us);
    for (size_t i = 0; i < b->nout; i++)
        if (b->outbox[i].a == a)
            b->outbox[i].a = NULL;
    for (size_t i = 0; i < b->noffers; i++)
        if (b->offers[i].a == a)
            b->offers[i].a = NULL;
    size_t t = (size_t)(uintptr_t)cc_map_dels(&b->touched_map, a->key);
    if (t)
        b->touched[t - 1].a = NULL;
    for (size_t i = 0; i < b->nlog; i++)
        entry_agent_gone(&b->log[i], a, now_mono_us, now_wall_us);
}

void ixn_batch_keep(ixn_batch *b, ixn_ixn *x)
{
    if (!x->batch)
        return;
    ixn_before *e = &b->log[x->batch - 1];
    if (b->sealed && x->batch <= b->seal_log) {
        /* Kept also when the sealed commit succeeds and the next one fails. */
        ixn_batch_snapshot(&b->after[x->batch - 1], x);
        b->after[x->batch - 1].repersist = true;
    }
    if (e->created)
        return;
    ixn_batch_snapshot(e, x);
    e->repersist = true;
    for (size_t i = 0; i < b->nreports; i++)
        if (b->reports[i].x == x)
            b->reports[i].kept = true;
}

void ixn_batch_unsaved_add(ixn_batch *b, ixn_ixn *x)
{
    if (x->unsaved)
        return;
    b->unsaved = grow(b->unsaved, &b->capunsaved, b->nunsaved, sizeof *b->unsaved, 16);
    b->unsaved[b->nunsaved++] = x;
    x->unsaved = true;
}

void ixn_batch_unsaved_drop(ixn_batch *b, ixn_ixn *x)
{
    if (!x->unsaved)
        return;
    for (size_t i = 0; i < b->nunsaved; i++) {
        if (b->unsaved[i] == x) {
            b->unsaved[i] = b->unsaved[--b->nunsaved];
            break;
        }
    }
    x->unsaved = false;
}

void ixn_batch_seal(ixn_batch *b)
{
    b->sealed = true;
    b->seal_log = b->nlog;
    b->seal_offers = b->noffers;
    b->seal_out = b->nout;
    b->seal_reports = b->nreports;
    if (b->capafter < b->nlog) {
        b->capafter = b->caplog;
        b->after = xrealloc(b->after, b->capafter * sizeof *b->after);
    }
    for (size_t i = 0; i < b->nlog; i++) {
        b->log[i].again = false;
        memset(&b->after[i], 0, sizeof b->after[i]);
        ixn_batch_snapshot(&b->after[i], b->log[i].x);
    }
}

void ixn_batch_touched(ixn_batch *b, ixn_ixn *x)
{
    if (b->sealed && x->batch && x->batch <= b->seal_log)
        b->log[x->batch - 1].again = true;
}

void ixn_batch_send_range(ixn_batch *b, size_t from, size_t to)
{
    for (size_t i = from; i < to && i < b->nout; i++) {
        const ixn_held_event *ev = &b->outbox[i];
        if (ev->a && ev->a->client && ev->a->client->session)
            cc_session_send(ev->a->client->session, ev->sb, NULL);
    }
}

void ixn_batch_drop_sealed(ixn_batch *b)
{
    for (size_t i = 0; i < b->seal_out; i++)
        cc_sbuf_unref(b->outbox[i].sb);
    b->nout -= b->seal_out;
    if (b->nout)
        memmove(b->outbox, b->outbox + b->seal_out, b->nout * sizeof *b->outbox);
    b->noffers -= b->seal_offers;
    if (b->noffers)
        memmove(b->offers, b->offers + b->seal_offers, b->noffers * sizeof *b->offers);
    b->seal_out = b->seal_offers = 0;
}

void ixn_batch_send_held(ixn_batch *b)
{
    for (size_t i = 0; i < b->nout; i++) {
        const ixn_held_event *ev = &b->outbox[i];
        if (ev->a && ev->a->client && ev->a->client->session)
            cc_session_send(ev->a->client->session, ev->sb, NULL);
    }
}

void ixn_batch_clear(ixn_batch *b)
{
    for (size_t i = 0; i < b->nout; i++)
        cc_sbuf_unref(b->outbox[i].sb);
    b->nout = 0;
    for (size_t i = 0; i < b->nreports; i++)
        cc_sbuf_unref(b->reports[i].sb);
    b->nreports = 0;
    b->nlog = 0;
    b->noffers = 0;
    b->ntouched = 0;
    b->sealed = false;
    b->seal_log = b->seal_offers = b->seal_out = b->seal_reports = 0;
    if (b->touched_map.count) {
        cc_map_free(&b->touched_map);
        cc_map_init(&b->touched_map);
    }
}
