#include "overcap.h"

uint32_t overcap_count(const overcap_held *h, overcap_aw aw)
{
    return h->active + (aw == OVERCAP_AW_YES ? h->after_work : 0);
}

overcap_aw overcap_aw_evidence(const overcap_media *st, const overcap_held *held, size_t n)
{
    bool any_aw = false, as_yes = true, as_no = true;
    for (size_t i = 0; i < n; i++) {
        const overcap_held *h = &held[i];
        if (h->after_work)
            any_aw = true;
        if (!st[i].listed) {
            /* A media the agent holds but the status does not list: out of date. */
            if (h->active || h->after_work)
                return OVERCAP_AW_UNKNOWN;
            continue;
        }
        if (st[i].current != h->active + h->after_work)
            as_yes = false;
        if (st[i].current != h->active)
            as_no = false;
    }
    if (!any_aw || as_yes == as_no)
        return OVERCAP_AW_UNKNOWN;
    return as_yes ? OVERCAP_AW_YES : OVERCAP_AW_NO;
}

void overcap_vote(overcap_votes *v, overcap_aw evidence)
{
    if (evidence == OVERCAP_AW_YES)
        v->yes++;
    else if (evidence == OVERCAP_AW_NO)
        v->no++;
}

overcap_aw overcap_aw_mode(const overcap_votes *v)
{
    return v->no > v->yes ? OVERCAP_AW_NO : OVERCAP_AW_UNKNOWN;
}

bool overcap_reflects(const overcap_media *st, const overcap_held *held, size_t n, overcap_aw aw)
{
    for (size_t i = 0; i < n; i++) {
        const overcap_held *h = &held[i];
        if (aw == OVERCAP_AW_UNKNOWN && h->after_work)
            return false;
        if (!st[i].listed) {
            if (h->active || h->after_work)
                return false;
            continue;
        }
        if (st[i].current != overcap_count(h, aw))
            return false;
    }
    return true;
}

void overcap_window_add(overcap_media *w, const overcap_media *st)
{
    if (!st->listed)
        return;
    if (!w->listed || st->max > w->max)
        w->max = st->max;
    w->listed = true;
}

overcap_media overcap_window_view(const overcap_media *st, const overcap_media *w)
{
    overcap_media m = *st;
    if (m.listed && w->listed && w->max > m.max)
        m.max = w->max;
    return m;
}

overcap_verdict overcap_judge(const overcap_media *st, uint32_t held, bool reflecting)
{
    if (!st->listed)
        return OVERCAP_OK;
    if (held > st->max)
        return OVERCAP_ABOVE_MAX;
    if (reflecting && st->available == 0)
        return OVERCAP_NONE_AVAILABLE;
    return OVERCAP_OK;
}

bool overcap_confirms(const overcap_media *st, uint32_t held)
{
    return st->listed && held > st->max;
}

bool overcap_final(overcap_verdict v, uint32_t held_then, uint32_t held_now, uint32_t max_seen)
{
    switch (v) {
    case OVERCAP_ABOVE_MAX: return held_now > max_seen;
    case OVERCAP_NONE_AVAILABLE: return held_now >= held_then;
    default: return false;
    }
}
