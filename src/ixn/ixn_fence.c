#include "ixn/ixn_fence.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

void ixn_fence_init(ixn_fence *f)
{
    f->head = NULL;
    f->top = -1;
    f->changes = 0;
}

static bool same_group(const ixn_fence_member *x, const ixn_fence_member *y)
{
    if (!x->group || !y->group)
        return x->group == y->group;
    return strcmp(x->group, y->group) == 0;
}

/* Works out the top epoch of every group and every verdict again. The members are the
 * reporting sessions (a handful, a few per partition), so walks over pairs are cheap.
 * Verdicts are all set before any callback runs, so that a callback sees the final
 * standing. */
static void judge(ixn_fence *f, ixn_fence_lost_fn lost, void *ctx)
{
    int64_t all_top = -1;
    for (ixn_fence_member *m = f->head; m; m = m->next) {
        int64_t top = -1;
        for (const ixn_fence_member *o = f->head; o; o = o->next)
            if (o->primary && o->epoch > top && same_group(m, o))
                top = o->epoch;
        m->top = top;
        if (top > all_top)
            all_top = top;
    }
    f->top = all_top;
    bool any_lost = false;
    for (ixn_fence_member *m = f->head; m; m = m->next) {
        bool fenced = !(m->primary && m->epoch == m->top);
        m->lost = fenced && !m->fenced;
        any_lost |= m->lost;
        m->fenced = fenced;
    }
    if (!any_lost)
        return;
    f->changes++;
    for (ixn_fence_member *m = f->head; m; m = m->next)
        if (m->lost) {
            m->lost = false;
            if (lost)
                lost(ctx, m);
        }
}

void ixn_fence_join(ixn_fence *f, ixn_fence_member *m)
{
    m->primary = true;
    m->epoch = 0;
    /* Not yet taken: judging it fenced at once is then no loss to report. */
    m->fenced = true;
    m->lost = false;
    m->joined = true;
    m->group = NULL;
    m->top = -1;
    m->prev = NULL;
    m->next = f->head;
    if (f->head)
        f->head->prev = m;
    f->head = m;
    judge(f, NULL, NULL);
}

void ixn_fence_leave(ixn_fence *f, ixn_fence_member *m)
{
    if (!m->joined)
        return;
    if (m->prev)
        m->prev->next = m->next;
    else
        f->head = m->next;
    if (m->next)
        m->next->prev = m->prev;
    m->prev = m->next = NULL;
    m->joined = false;
    free(m->group);
    m->group = NULL;
    judge(f, NULL, NULL);
}

void ixn_fence_set_mode(ixn_fence *f, ixn_fence_member *m, bool primary, int64_t epoch,
                        ixn_fence_lost_fn lost, void *ctx)
{
    if (!m->joined)
        ixn_fence_join(f, m);
    m->primary = primary;
    m->epoch = epoch;
    judge(f, lost, ctx);
}

void ixn_fence_set_group(ixn_fence *f, ixn_fence_member *m, const char *group,
                         ixn_fence_lost_fn lost, void *ctx)
{
    if (!m->joined)
        ixn_fence_join(f, m);
    free(m->group);
    m->group = group ? xstrdup(group) : NULL;
    judge(f, lost, ctx);
}

bool ixn_fence_takes(const ixn_fence_member *m)
{
    return m->joined && !m->fenced;
}
