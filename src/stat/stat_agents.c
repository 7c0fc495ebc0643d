#include "stat/stat_agents.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/map.h"
#include "proto/statistic.h"
#include "stat/stat_config.h"

struct stat_agent;

/* A reservation granted to one interaction server for one agent (protocol 7a): it counts
 * as an Invited interaction of its media on that server until it is used, released,
 * expires, or the agent or the link goes. */
typedef struct stat_grant {
    int64_t id;
    struct stat_agent *agent;
    int link;
    int media;
    uint64_t deadline_us;           /* monotonic */
    struct stat_grant *prev, *next; /* stat_agents' list, in deadline order */
    struct stat_grant *slot_next;   /* the slot's list */
} stat_grant;

/* Grants one server may hold for one agent at once. A conforming server holds one (it
 * asks again only after using or releasing it); the bound keeps a faulty one from
 * growing the list without end. */
#define GRANTS_PER_SLOT_MAX 64

/* An agent's skills as one interaction server reports them (routing.md section 1), at
 * most PROTO_SKILLS_MAX names of PROTO_SKILL_NAME_MAX bytes. A block is never changed once
 * made and is shared by counted references (a slot, and the status last sent), so that a
 * report with the same skills costs no allocation. Skills are sorted by name, so that two
 * lists are equal exactly when their bytes are. No skills is a NULL block. */
typedef struct stat_skills {
    uint32_t refs;
    uint16_t len; /* bytes of data */
    char data[];  /* per skill: its level as one byte, then its name and a NUL */
} stat_skills;

/* The bytes of the largest list: every skill a level, a name of the longest and a NUL. */
#define SKILLS_DATA_MAX (PROTO_SKILLS_MAX * (PROTO_SKILL_NAME_MAX + 2))

/* A not-ready reason of one media as one server reports it. */
typedef struct stat_reason {
    int media;
    int64_t code;
    char *desc; /* NULL when none */
} stat_reason;

/* One agent's state on one interaction server. */
typedef struct stat_slot {
    int link;              /* the server's link index */
    char *place;           /* placeId as that server reports it; NULL when absent */
    stat_skills *skills;   /* the skills that server reports; NULL when none */
    int64_t version;       /* newest version from that server */
    int64_t login_time_ms; /* loginTime as that server reports it; 0 when absent */
    stat_grant *grants;    /* the outstanding grants of that server */
    uint32_t ngrants;
    cc_media_mask added;
    cc_media_mask ready;
    bool dnd;
    bool snap_pending;             /* seen in the running snapshot and not yet answered */
    bool resend_pending;           /* in the link's running resend and not yet sent there */
    uint32_t counts[CC_MEDIA_MAX]; /* interactions that count, per media */
    cc_media_mask holding;         /* media with any interaction held (statistics) */
    stat_reason *reasons;          /* not-ready reasons given, for the statistics */
    int nreasons;
} stat_slot;

/* The comparable part of a status: everything but version and placeId (compared
 * separately as a string). Only the entries of media in "media" are meaningful. */
typedef struct stat_vec {
    const rules_rule *rule;
    bool logged_in;
    bool dnd;
    cc_media_mask media;
    cc_media_mask ready;
    uint32_t current[CC_MEDIA_MAX];
    uint32_t max[CC_MEDIA_MAX];
    uint32_t available[CC_MEDIA_MAX];
} stat_vec;

/* The state of one media of a status as statistics.md section 2 (`State`) names it, with
 * its reason and the time it began, so that statuses carry the time in state. */
typedef struct stat_mstate {
    int media;
    enum proto_sts_state state;
    bool has_reason;
    int64_t code;
    char *desc;    /* NULL when none */
    int64_t since; /* Unix ms */
} stat_mstate;

typedef struct stat_agent {
    char *key; /* tenant NUL agentId */
    size_t keylen;
    const char *tenant;   /* inside key */
    const char *agent_id; /* inside key */
    stat_slot *slots;     /* one per server the agent is logged in to, by link index */
    uint32_t nslots;      /* 0: logged in nowhere */
    uint32_t capslots;
    unsigned pins; /* snapshot lists holding it: it stays allocated meanwhile */
    bool sent;     /* last holds the vector sent most recently */
    char *last_place;
    stat_skills *last_skills; /* the skills of the status sent most recently */
    stat_vec last;
    stat_mstate *ms; /* per media listed in the status, in id order */
    int nms;
} stat_agent;

typedef struct stat_link_state {
    bool up;
    bool in_snapshot;
    bool settled; /* its first snapshot is in, or it failed, since start */
    size_t agents;
    stat_agent **snap; /* agents of the running snapshot, pinned */
    size_t snap_len;
    size_t snap_cap;
    /* The running resend (stat_agents_resend_start): agents still to be sent from
     * resend_pos on, pinned, the routable ones first. */
    stat_agent **resend;
    size_t resend_len;
    size_t resend_pos;
} stat_link_state;

struct stat_agents {
    cc_media_table *media;
    const rules_set *rules;
    bool count_after_work;
    int nlinks;
    stat_sink sink;
    cc_map agents;
    size_t max_agents;
    size_t known;       /* agents with at least one slot present */
    uint64_t bad_limit; /* logins refused because max_agents was reached */
    uint64_t grant_timeout_us;
    int nsettled;   /* links settled */
    bool gate_open; /* grants allowed: every link settled, or the start-up wait is over */
    stat_grant *grant_head, *grant_tail; /* every outstanding grant, oldest first */
    stat_agents_stats stats;
    cc_buf scratch;         /* encoding buffer reused for every status */
    stat_link_state *links; /* nlinks of them */
};

stat_agents *stat_agents_new(cc_media_table *media, const rules_set *rules, bool count_after_work,
                             int nlinks, size_t max_agents, const stat_sink *sink)
{
    assert(nlinks >= 0 && nlinks <= STAT_LINKS_MAX);
    stat_agents *st = xcalloc(1, sizeof *st);
    st->media = media;
    st->rules = rules;
    st->count_after_work = count_after_work;
    st->nlinks = nlinks;
    st->links = xcalloc((size_t)nlinks + 1, sizeof *st->links);
    st->max_agents = max_agents;
    st->sink = *sink;
    st->grant_timeout_us = 5000000;
    st->gate_open = nlinks == 0;
    cc_map_init(&st->agents);
    cc_buf_init(&st->scratch);
    return st;
}

/* The agent's slot of link, or NULL when it is not logged in there. An agent is on a
 * handful of servers at most, so a walk of its sorted slots is the cheapest lookup. */
static stat_slot *slot_find(const stat_agent *a, int link)
{
    for (uint32_t k = 0; k < a->nslots && a->slots[k].link <= link; k++)
        if (a->slots[k].link == link)
            return &a->slots[k];
    return NULL;
}

/* A new empty slot of link (not present before), kept in link order so that every walk
 * sees the servers in the order they are configured. Pointers to other slots of the
 * agent are invalid afterwards. */
static stat_slot *slot_add(stat_agent *a, int link)
{
    if (a->nslots == a->capslots) {
        a->capslots = a->capslots ? 2 * a->capslots : 1;
        a->slots = xrealloc(a->slots, a->capslots * sizeof *a->slots);
    }
    uint32_t at = 0;
    while (at < a->nslots && a->slots[at].link < link)
        at++;
    memmove(&a->slots[at + 1], &a->slots[at], (a->nslots - at) * sizeof *a->slots);
    a->nslots++;
    stat_slot *s = &a->slots[at];
    memset(s, 0, sizeof *s);
    s->link = link;
    return s;
}

/* Ends grant g of slot s. */
static void grant_end(stat_agents *st, stat_slot *s, stat_grant *g)
{
    stat_grant **pp = &s->grants;
    while (*pp != g)
        pp = &(*pp)->slot_next;
    *pp = g->slot_next;
    assert(s->ngrants > 0);
    s->ngrants--;
    if (g->prev)
        g->prev->next = g->next;
    else
        st->grant_head = g->next;
    if (g->next)
        g->next->prev = g->prev;
    else
        st->grant_tail = g->prev;
    free(g);
}

static void grants_end_all(stat_agents *st, stat_slot *s)
{
    while (s->grants)
        grant_end(st, s, s->grants);
}

static stat_grant *grant_find(const stat_slot *s, int64_t id)
{
    stat_grant *g = s->grants;
    while (g && g->id != id)
        g = g->slot_next;
    return g;
}

static stat_skills *skills_ref(stat_skills *k)
{
    if (k)
        k->refs++;
    return k;
}

static void skills_unref(stat_skills *k)
{
    if (k && --k->refs == 0)
        free(k);
}

static bool skills_equal(const stat_skills *x, const stat_skills *y)
{
    if (!x || !y)
        return x == y;
    return x == y || (x->len == y->len && memcmp(x->data, y->data, x->len) == 0);
}

/* A skill with its place in the list given, so that of a name given twice the first is
 * kept whatever the sort does with equal names. */
typedef struct skill_at {
    proto_skill skill;
    size_t at;
} skill_at;

static int skill_cmp(const void *x, const void *y)
{
    const skill_at *a = x, *b = y;
    int c = strcmp(a->skill.name, b->skill.name);
    return c ? c : (a->at > b->at) - (a->at < b->at);
}

/* The block of the skills in, or NULL when there are none. When keep holds the same
 * skills it is shared, else a new block is made. An entry a decoder would refuse (a bad
 * name or level, one beyond the maximum count, a name given again: the first is kept) is
 * left out, so that a block stays within the bounds above whatever the caller passes. */
static stat_skills *skills_make(const proto_skills *in, stat_skills *keep)
{
    skill_at sorted[PROTO_SKILLS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < in->count && i < PROTO_SKILLS_MAX; i++) {
        const proto_skill *k = &in->items[i];
        if (k->name && cc_media_name_valid(k->name, strnlen(k->name, PROTO_SKILL_NAME_MAX + 1)) &&
            k->level >= 1 && k->level <= PROTO_SKILL_LEVEL_MAX)
            sorted[n++] = (skill_at){*k, i};
    }
    if (n == 0)
        return NULL;
    qsort(sorted, n, sizeof sorted[0], skill_cmp);
    char data[SKILLS_DATA_MAX];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const proto_skill *k = &sorted[i].skill;
        if (i > 0 && strcmp(k->name, sorted[i - 1].skill.name) == 0)
            continue;
        size_t nl = strlen(k->name);
        data[len++] = (char)k->level;
        memcpy(data + len, k->name, nl + 1);
        len += nl + 1;
    }
    if (keep && keep->len == len && memcmp(keep->data, data, len) == 0)
        return skills_ref(keep);
    stat_skills *k = xmalloc(sizeof *k + len);
    k->refs = 1;
    k->len = (uint16_t)len;
    memcpy(k->data, data, len);
    return k;
}

/* Fills out with the skills of k (none when NULL); the names point into k. */
static void skills_to_proto(const stat_skills *k, proto_skills *out)
{
    out->count = 0;
    for (size_t off = 0; k && off < k->len; out->count++) {
        out->items[out->count].level = (unsigned char)k->data[off];
        out->items[out->count].name = k->data + off + 1;
        off += 1 + strlen(k->data + off + 1) + 1;
    }
}

static void reasons_clear(stat_slot *s)
{
    for (int i = 0; i < s->nreasons; i++)
        free(s->reasons[i].desc);
    free(s->reasons);
    s->reasons = NULL;
    s->nreasons = 0;
}

/* Keeps the reasons of the media a state adds, for the statistics engine only. */
static void reasons_set(stat_slot *s, const proto_agent_state *state, int nmedia)
{
    reasons_clear(s);
    int n = 0;
    for (int m = 0; m < nmedia; m++)
        if ((state->added >> m & 1) && state->reasons[m].present)
            n++;
    if (!n)
        return;
    s->reasons = xcalloc((size_t)n, sizeof *s->reasons);
    for (int m = 0; m < nmedia; m++)
        if ((state->added >> m & 1) && state->reasons[m].present) {
            stat_reason *r = &s->reasons[s->nreasons++];
            r->media = m;
            r->code = state->reasons[m].code;
            r->desc = state->reasons[m].description ? xstrdup(state->reasons[m].description) : NULL;
        }
}

/* The agent's merged state as the statistics engine takes it; the reasons are borrowed
 * from the slots. */
static void agent_view_fill(const stat_agents *st, const stat_agent *a, const stat_vec *v,
                            stat_agents_view *view)
{
    memset(view, 0, sizeof *view);
    view->tenant = a->tenant;
    view->agent_id = a->agent_id;
    view->logged_in = v->logged_in;
    view->dnd = v->dnd;
    view->added = v->media;
    view->ready = v->ready;
    (void)st;
    for (uint32_t k = 0; k < a->nslots; k++) {
        const stat_slot *s = &a->slots[k];
        view->holding |= s->holding;
        for (int i = 0; i < s->nreasons; i++) {
            const stat_reason *r = &s->reasons[i];
            if (!view->reasons[r->media].present && !(v->ready >> r->media & 1))
                view->reasons[r->media] = (proto_reason){true, r->code, r->desc};
        }
    }
    for (cc_media_mask m = v->media; m; m &= m - 1) {
        int i = __builtin_ctzll(m);
        view->available[i] = v->available[i];
    }
}

static bool text_equal(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

/* The state of media m as the `State` statistic defines it (m is added: the agent is
 * logged in with it somewhere). */
static enum proto_sts_state media_state(const stat_agents_view *v, int m)
{
    cc_media_mask bit = (cc_media_mask)1 << m;
    if (v->dnd)
        return PROTO_STS_DND;
    if (!(v->ready & bit))
        return PROTO_STS_NOT_READY;
    if (v->available[m] == 0)
        return PROTO_STS_FULL;
    if (v->holding & bit)
        return PROTO_STS_BUSY;
    return PROTO_STS_READY;
}

static void mstates_clear(stat_agent *a)
{
    for (int i = 0; i < a->nms; i++)
        free(a->ms[i].desc);
    free(a->ms);
    a->ms = NULL;
    a->nms = 0;
}

/* Brings the agent's per-media states up to view: a media whose state or reason changed
 * starts again at view->at, the others keep their since. Returns true when any changed. */
static bool mstates_update(stat_agent *a, const stat_agents_view *view)
{
    stat_mstate next[CC_MEDIA_MAX];
    int n = 0;
    bool changed = false;
    for (cc_media_mask m = view->added; m; m &= m - 1) {
        int i = __builtin_ctzll(m);
        stat_mstate *x = &next[n++];
        memset(x, 0, sizeof *x);
        x->media = i;
        x->state = media_state(view, i);
        x->has_reason = x->state == PROTO_STS_NOT_READY && view->reasons[i].present;
        x->code = x->has_reason ? view->reasons[i].code : 0;
        const char *desc = x->has_reason ? view->reasons[i].description : NULL;
        const stat_mstate *old = NULL;
        for (int k = 0; k < a->nms; k++)
            if (a->ms[k].media == i)
                old = &a->ms[k];
        if (old && old->state == x->state && old->has_reason == x->has_reason &&
            old->code == x->code && text_equal(old->desc, desc)) {
            x->since = old->since;
            x->desc = (char *)old->desc; /* borrowed until the copy below */
            continue;
        }
        x->since = view->at;
        x->desc = (char *)desc;
        changed = true;
    }
    if (!changed && n == a->nms)
        return false;
    stat_mstate *ms = n ? xcalloc((size_t)n, sizeof *ms) : NULL;
    for (int k = 0; k < n; k++) {
        ms[k] = next[k];
        ms[k].desc = next[k].desc ? xstrdup(next[k].desc) : NULL;
    }
    mstates_clear(a);
    a->ms = ms;
    a->nms = n;
    return true;
}

static void agent_free(stat_agents *st, stat_agent *a)
{
    for (uint32_t i = 0; i < a->nslots; i++) {
        reasons_clear(&a->slots[i]);
        grants_end_all(st, &a->slots[i]);
        free(a->slots[i].place);
        skills_unref(a->slots[i].skills);
    }
    free(a->slots);
    skills_unref(a->last_skills);
    free(a->last_place);
    mstates_clear(a);
    free(a->key);
    free(a);
}

void stat_agents_free(stat_agents *st)
{
    if (!st)
        return;
    size_t pos = 0;
    cc_map_slot *ms;
    while ((ms = cc_map_next(&st->agents, &pos)))
        agent_free(st, ms->value);
    cc_map_free(&st->agents);
    for (int i = 0; i < st->nlinks; i++) {
        free(st->links[i].snap);
        free(st->links[i].resend);
    }
    free(st->links);
    cc_buf_free(&st->scratch);
    free(st);
}

/* The map key of an agent: identifiers never hold control characters, so a NUL between
 * tenant and agent id cannot be confused with either. */
static size_t make_key(char *buf, size_t cap, const char *tenant, const char *agent_id)
{
    size_t tl = strlen(tenant), al = strlen(agent_id);
    if (tl + al + 1 > cap)
        return 0;
    memcpy(buf, tenant, tl);
    buf[tl] = '\0';
    memcpy(buf + tl + 1, agent_id, al);
    return tl + 1 + al;
}

#define KEY_MAX (2 * PROTO_ID_MAX + 2)

static stat_agent *agent_find(const stat_agents *st, const char *tenant, const char *agent_id)
{
    char key[KEY_MAX];
    size_t n = make_key(key, sizeof key, tenant, agent_id);
    return n ? cc_map_get(&st->agents, key, n) : NULL;
}

static stat_agent *agent_get_or_add(stat_agents *st, const char *tenant, const char *agent_id)
{
    char key[KEY_MAX];
    size_t n = make_key(key, sizeof key, tenant, agent_id);
    if (!n)
        return NULL;
    stat_agent *a = cc_map_get(&st->agents, key, n);
    if (a)
        return a;
    if (st->agents.count >= st->max_agents) {
        if (st->bad_limit++ % 1000 == 0)
            LOG_WARN("event=agent_limit max_agents=%zu refused=%" PRIu64, st->max_agents,
                     st->bad_limit);
        return NULL;
    }
    a = xcalloc(1, sizeof *a);
    a->key = xmalloc(n + 1);
    memcpy(a->key, key, n);
    a->key[n] = '\0';
    a->keylen = n;
    a->tenant = a->key;
    a->agent_id = a->key + strlen(a->key) + 1;
    cc_map_put(&st->agents, key, n, a);
    return a;
}

/* Drops an agent that is known nowhere and held by no snapshot list. Returns true when
 * it was freed. */
static bool agent_maybe_drop(stat_agents *st, stat_agent *a)
{
    if (a->nslots || a->pins)
        return false;
    cc_map_del(&st->agents, a->key, a->keylen);
    agent_free(st, a);
    return true;
}

/* True when slot x's login is earlier than y's: the smaller loginTime, a server that
 * reports one before one that does not, and on equal times the link configured first
 * (x_link < y_link), so that a statserver restart picks the same winner. */
static bool login_earlier(const stat_slot *x, int x_link, const stat_slot *y, int y_link)
{
    int64_t tx = x->login_time_ms > 0 ? x->login_time_ms : INT64_MAX;
    int64_t ty = y->login_time_ms > 0 ? y->login_time_ms : INT64_MAX;
    if (tx != ty)
        return tx < ty;
    return x_link < y_link;
}

/* Sums the agent's slots, outstanding grants counted as Invited interactions, and
 * evaluates its rule. *place and *skills receive the placeId and the skills of the
 * earliest current login (NULL when none), so that both come from one server. */
static void agent_compute(const stat_agents *st, const stat_agent *a, stat_vec *v,
                          const char **place, stat_skills **skills)
{
    uint32_t counts[CC_MEDIA_MAX];
    int nmedia = st->media->count;
    memset(counts, 0, sizeof counts);
    memset(v, 0, sizeof *v);
    cc_media_mask added = 0, ready = 0;
    bool dnd = false;
    const stat_slot *first = NULL;
    for (uint32_t k = 0; k < a->nslots; k++) {
        const stat_slot *s = &a->slots[k];
        added |= s->added;
        ready |= s->ready & s->added;
        dnd = dnd || s->dnd;
        for (int m = 0; m < nmedia; m++)
            counts[m] += s->counts[m];
        for (const stat_grant *g = s->grants; g; g = g->slot_next)
            counts[g->media]++;
        if (!first || login_earlier(s, s->link, first, first->link))
            first = s;
    }
    *place = first ? first->place : NULL;
    *skills = first ? first->skills : NULL;
    v->logged_in = a->nslots != 0;
    v->dnd = dnd;
    v->media = added;
    v->rule = rules_lookup(st->rules, a->tenant, a->agent_id, *place);
    if (dnd)
        ready = 0;
    rules_vector out[CC_MEDIA_MAX];
    rules_eval(v->rule, counts, added, ready, out);
    for (int m = 0; m < nmedia; m++) {
        if (!(added & ((cc_media_mask)1 << m)))
            continue;
        if (out[m].ready)
            v->ready |= (cc_media_mask)1 << m;
        v->current[m] = out[m].current;
        v->max[m] = out[m].max;
        v->available[m] = out[m].available;
    }
}

static bool place_equal(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

/* A field-by-field compare over the media present, so that no status is encoded just to
 * learn that nothing changed. Rules are compared by name as well as by pointer because a
 * reload replaces every rule object. */
static bool vec_equal(const stat_vec *x, const stat_vec *y)
{
    if (x->logged_in != y->logged_in || x->dnd != y->dnd || x->media != y->media ||
        x->ready != y->ready)
        return false;
    if (x->rule != y->rule && strcmp(rules_rule_name(x->rule), rules_rule_name(y->rule)) != 0)
        return false;
    for (cc_media_mask m = x->media; m; m &= m - 1) {
        int i = __builtin_ctzll(m);
        if (x->current[i] != y->current[i] || x->max[i] != y->max[i] ||
            x->available[i] != y->available[i])
            return false;
    }
    return true;
}

/* Encodes a status; a (NULL for an agent known nowhere) gives the per-media states. */
static cc_sbuf *encode(stat_agents *st, const char *tenant, const char *agent_id, const char *place,
                       const stat_skills *skills, const stat_vec *v, const stat_agent *a)
{
    proto_agent_status ps;
    memset(&ps, 0, sizeof ps);
    skills_to_proto(skills, &ps.skills);
    ps.tenant = tenant;
    ps.agent_id = agent_id;
    ps.place_id = place;
    ps.rule = v->rule ? rules_rule_name(v->rule) : NULL;
    ps.version = 0;
    ps.logged_in = v->logged_in;
    ps.dnd = v->dnd;
    ps.media = v->media;
    for (cc_media_mask m = v->media; m; m &= m - 1) {
        int i = __builtin_ctzll(m);
        ps.ready[i] = (v->ready >> i) & 1;
        ps.current[i] = v->current[i];
        ps.max[i] = v->max[i];
        ps.available[i] = v->available[i];
    }
    for (int k = 0; a && k < a->nms; k++) {
        const stat_mstate *x = &a->ms[k];
        if (!(v->media >> x->media & 1))
            continue;
        ps.since[x->media] = x->since;
        if (x->has_reason)
            ps.reasons[x->media] = (proto_reason){true, x->code, x->desc};
    }
    cc_buf_reset(&st->scratch);
    proto_enc_status(&st->scratch, &ps, st->media);
    return cc_sbuf_new(st->scratch.data, st->scratch.len);
}

static bool link_open(const stat_agents *st, int l)
{
    return st->links[l].up && !st->links[l].in_snapshot;
}

/*
 * Recomputes an agent and sends its status: to origin (a link index, or -1 for none)
 * always, since routing there waits for the status carrying that server's version; to
 * its other servers and to the subscribers only when the vector changed. Frees the agent
 * when it is known nowhere any more; returns false then.
 */
static bool agent_update(stat_agents *st, stat_agent *a, int origin)
{
    stat_vec v;
    const char *place;
    stat_skills *skills;
    agent_compute(st, a, &v, &place, &skills);
    bool vec_changed = !a->sent || !vec_equal(&v, &a->last) || !place_equal(place, a->last_place) ||
                       !skills_equal(skills, a->last_skills);
    stat_agents_view view;
    agent_view_fill(st, a, &v, &view);
    view.at = st->sink.now_ms ? st->sink.now_ms(st->sink.user) : (int64_t)(cc_wall_us() / 1000);
    /* A new reason or state without a new vector concerns the StatClients only: the
     * interaction servers route on the vector. */
    bool states_changed = mstates_update(a, &view);
    bool changed = vec_changed || states_changed;
    stat_slot *at_origin = origin >= 0 ? slot_find(a, origin) : NULL;
    bool to_origin = at_origin && link_open(st, origin);
    if (changed || to_origin) {
        cc_sbuf *body = encode(st, a->tenant, a->agent_id, place, skills, &v, a);
        st->stats.encoded++;
        /* A status sent to a server also answers the agent's place in that server's
         * running resend: a later copy would only repeat it. */
        if (to_origin) {
            st->sink.link_send(st->sink.user, origin, body, at_origin->version);
            st->stats.link_sends++;
            at_origin->resend_pending = false;
        }
        if (vec_changed)
            for (uint32_t k = 0; k < a->nslots; k++) {
                int l = a->slots[k].link;
                if (l != origin && link_open(st, l)) {
                    st->sink.link_send(st->sink.user, l, body, a->slots[k].version);
                    st->stats.link_sends++;
                    a->slots[k].resend_pending = false;
                }
            }
        if (changed) {
            /* A known agent that became unknown is published once as logged out; an
             * agent never published before that is gone again needs no message. */
            if (v.logged_in || a->sent) {
                if (st->sink.changed)
                    st->sink.changed(st->sink.user, a->tenant, a->agent_id, a->nslots != 0, body);
                st->sink.publish(st->sink.user, a->tenant, body);
                st->stats.published++;
            }
            a->last = v;
            a->sent = true;
            if (!place_equal(place, a->last_place)) {
                free(a->last_place);
                a->last_place = place ? xstrdup(place) : NULL;
            }
            if (skills != a->last_skills) {
                skills_unref(a->last_skills);
                a->last_skills = skills_ref(skills);
            }
        }
        cc_sbuf_unref(body);
    }
    /* An equal vector may still name a rule of a set being replaced: keep the current
     * object, so that the old set can be freed after a reload. */
    a->last.rule = v.rule;
    if (st->sink.agent)
        st->sink.agent(st->sink.user, &view);
    return !agent_maybe_drop(st, a);
}

static void slot_remove(stat_agents *st, stat_agent *a, int link)
{
    stat_slot *s = slot_find(a, link);
    assert(s);
    grants_end_all(st, s);
    reasons_clear(s);
    free(s->place);
    skills_unref(s->skills);
    size_t at = (size_t)(s - a->slots);
    memmove(s, s + 1, (a->nslots - at - 1) * sizeof *s);
    if (--a->nslots == 0) {
        st->known--;
        free(a->slots);
        a->slots = NULL;
        a->capslots = 0;
    }
    assert(st->links[link].agents > 0);
    st->links[link].agents--;
}

void stat_agents_link_up(stat_agents *st, int link)
{
    assert(link >= 0 && link < st->nlinks);
    stat_link_state *ls = &st->links[link];
    assert(ls->agents == 0 && ls->snap_len == 0);
    ls->up = true;
    ls->in_snapshot = true;
}

/* Ends a link's running resend: the agents not yet sent are unpinned (and freed when known
 * nowhere any more). */
static void resend_release(stat_agents *st, int link)
{
    stat_link_state *ls = &st->links[link];
    for (size_t i = ls->resend_pos; i < ls->resend_len; i++) {
        stat_agent *a = ls->resend[i];
        assert(a->pins > 0);
        a->pins--;
        stat_slot *s = slot_find(a, link);
        if (s)
            s->resend_pending = false;
        agent_maybe_drop(st, a);
    }
    free(ls->resend);
    ls->resend = NULL;
    ls->resend_len = ls->resend_pos = 0;
}

/* Releases a link's snapshot list. Agents left with no login and no other pin are freed
 * by the caller's sweep. */
static void snap_release(stat_agents *st, int link)
{
    stat_link_state *ls = &st->links[link];
    for (size_t i = 0; i < ls->snap_len; i++) {
        stat_agent *a = ls->snap[i];
        assert(a->pins > 0);
        a->pins--;
        stat_slot *s = slot_find(a, link);
        if (s)
            s->snap_pending = false;
    }
    ls->snap_len = 0;
}

void stat_agents_link_settled(stat_agents *st, int link)
{
    assert(link >= 0 && link < st->nlinks);
    if (!st->links[link].settled) {
        st->links[link].settled = true;
        st->nsettled++;
    }
    if (!st->gate_open && st->nsettled == st->nlinks) {
        st->gate_open = true;
        LOG_INFO("event=reservations_open why=all_links_settled");
    }
}

bool stat_agents_granting(const stat_agents *st)
{
    return st->gate_open;
}

void stat_agents_open_gate(stat_agents *st)
{
    if (st->gate_open)
        return;
    st->gate_open = true;
    LOG_INFO("event=reservations_open why=start_wait_over");
}

void stat_agents_link_down(stat_agents *st, int link)
{
    assert(link >= 0 && link < st->nlinks);
    stat_agents_link_settled(st, link);
    stat_link_state *ls = &st->links[link];
    if (!ls->up && ls->agents == 0 && ls->snap_len == 0)
        return;
    ls->up = false;
    ls->in_snapshot = false;
    snap_release(st, link);
    resend_release(st, link);
    size_t pos = 0;
    cc_map_slot *ms;
    /* Only the agent under the cursor can be deleted here, which the map allows. */
    while ((ms = cc_map_next(&st->agents, &pos))) {
        stat_agent *a = ms->value;
        if (slot_find(a, link)) {
            slot_remove(st, a, link);
            agent_update(st, a, -1);
        } else {
            agent_maybe_drop(st, a);
        }
    }
    assert(ls->agents == 0);
}

void stat_agents_apply(stat_agents *st, int link, const proto_agent_state *state)
{
    assert(link >= 0 && link < st->nlinks);
    stat_link_state *ls = &st->links[link];
    if (!ls->up)
        return;
    st->stats.events++;
    if (!state->logged_in) {
        stat_agent *a = agent_find(st, state->tenant, state->agent_id);
        if (!a || !slot_find(a, link))
            return;
        slot_remove(st, a, link);
        agent_update(st, a, -1);
        return;
    }
    stat_agent *a = agent_get_or_add(st, state->tenant, state->agent_id);
    if (!a)
        return;
    stat_slot *s = slot_find(a, link);
    if (!s) {
        if (!a->nslots)
            st->known++;
        s = slot_add(a, link);
        ls->agents++;
    }
    s->version = state->version;
    s->login_time_ms = state->login_time_ms;
    /* The offer made under the grant is in this state now: it counts instead. */
    stat_grant *used = state->reservation_id > 0 ? grant_find(s, state->reservation_id) : NULL;
    if (used)
        grant_end(st, s, used);
    s->dnd = state->dnd;
    s->added = state->added;
    s->ready = state->ready & state->added;
    s->holding = 0;
    int nmedia = st->media->count;
    for (int m = 0; m < nmedia; m++) {
        uint32_t c = state->counts[CC_IXN_INVITED][m] + state->counts[CC_IXN_HANDLING][m];
        if (st->count_after_work)
            c += state->counts[CC_IXN_AFTER_WORK][m];
        s->counts[m] = c;
        if (state->counts[CC_IXN_INVITED][m] + state->counts[CC_IXN_HANDLING][m] +
            state->counts[CC_IXN_AFTER_WORK][m])
            s->holding |= (cc_media_mask)1 << m;
    }
    reasons_set(s, state, nmedia);
    if (!place_equal(s->place, state->place_id)) {
        free(s->place);
        s->place = state->place_id ? xstrdup(state->place_id) : NULL;
    }
    /* The same skills again (the usual case) keep the block; other skills replace it and
     * are a change of the status like any other (agent_update compares them). */
    stat_skills *skills = skills_make(&state->skills, s->skills);
    skills_unref(s->skills);
    s->skills = skills;
    if (ls->in_snapshot) {
        if (!s->snap_pending) {
            s->snap_pending = true;
            if (ls->snap_len == ls->snap_cap) {
                ls->snap_cap = ls->snap_cap ? ls->snap_cap * 2 : 256;
                ls->snap = xrealloc(ls->snap, ls->snap_cap * sizeof *ls->snap);
            }
            ls->snap[ls->snap_len++] = a;
            a->pins++;
        }
        return;
    }
    agent_update(st, a, link);
}

size_t stat_agents_snapshot_done(stat_agents *st, int link)
{
    assert(link >= 0 && link < st->nlinks);
    stat_link_state *ls = &st->links[link];
    if (!ls->up || !ls->in_snapshot)
        return 0;
    ls->in_snapshot = false;
    stat_agents_link_settled(st, link);
    size_t n = 0;
    for (size_t i = 0; i < ls->snap_len; i++) {
        stat_agent *a = ls->snap[i];
        a->pins--;
        stat_slot *s = slot_find(a, link);
        if (s && s->snap_pending) {
            s->snap_pending = false;
            n++;
            agent_update(st, a, link);
        } else {
            agent_maybe_drop(st, a);
        }
    }
    ls->snap_len = 0;
    return n;
}

/* True when the agent's last status offers capacity somewhere: the agents an interaction
 * server may route to at once, whose statuses a resend sends first. */
static bool agent_routable(const stat_agent *a)
{
    if (!a->sent || !a->last.logged_in || a->last.dnd)
        return false;
    for (cc_media_mask m = a->last.media & a->last.ready; m; m &= m - 1)
        if (a->last.available[__builtin_ctzll(m)] > 0)
            return true;
    return false;
}

void stat_agents_resend_cancel(stat_agents *st)
{
    for (int l = 0; l < st->nlinks; l++)
        resend_release(st, l);
}

size_t stat_agents_resend_start(stat_agents *st)
{
    stat_agents_resend_cancel(st);
    /* Room for every agent of each open link: routable agents fill a list from the
     * front, the others from the back. */
    size_t *back = xcalloc((size_t)st->nlinks + 1, sizeof *back);
    for (int l = 0; l < st->nlinks; l++) {
        stat_link_state *ls = &st->links[l];
        if (!link_open(st, l) || !ls->agents)
            continue;
        ls->resend = xmalloc(ls->agents * sizeof *ls->resend);
        back[l] = ls->agents;
    }
    size_t n = 0, pos = 0;
    cc_map_slot *ms;
    while ((ms = cc_map_next(&st->agents, &pos))) {
        stat_agent *a = ms->value;
        bool any = false, first = agent_routable(a);
        for (uint32_t k = 0; k < a->nslots; k++) {
            stat_slot *s = &a->slots[k];
            stat_link_state *ls = &st->links[s->link];
            if (!ls->resend)
                continue;
            assert(ls->resend_len < back[s->link]);
            if (first)
                ls->resend[ls->resend_len++] = a;
            else
                ls->resend[--back[s->link]] = a;
            s->resend_pending = true;
            a->pins++;
            any = true;
        }
        n += any;
    }
    /* Close the gap between the two ends. */
    for (int l = 0; l < st->nlinks; l++) {
        stat_link_state *ls = &st->links[l];
        if (!ls->resend)
            continue;
        size_t rest = ls->agents - back[l];
        memmove(ls->resend + ls->resend_len, ls->resend + back[l], rest * sizeof *ls->resend);
        ls->resend_len += rest;
        if (!ls->resend_len) {
            free(ls->resend);
            ls->resend = NULL;
        }
    }
    free(back);
    return n;
}

size_t stat_agents_resend_step(stat_agents *st, int link, size_t max)
{
    assert(link >= 0 && link < st->nlinks);
    stat_link_state *ls = &st->links[link];
    size_t sent = 0;
    while (ls->resend_pos < ls->resend_len && sent < max) {
        stat_agent *a = ls->resend[ls->resend_pos++];
        a->pins--;
        /* An agent gone from the link, or sent there since the start, is skipped. */
        stat_slot *s = slot_find(a, link);
        if (s && s->resend_pending) {
            s->resend_pending = false;
            /* The current status, computed now: never older than one sent before. */
            stat_vec v;
            const char *place;
            stat_skills *skills;
            agent_compute(st, a, &v, &place, &skills);
            cc_sbuf *body = encode(st, a->tenant, a->agent_id, place, skills, &v, a);
            st->stats.encoded++;
            st->sink.link_send(st->sink.user, link, body, s->version);
            st->stats.link_sends++;
            cc_sbuf_unref(body);
            sent++;
        }
        agent_maybe_drop(st, a);
    }
    if (ls->resend_pos == ls->resend_len)
        resend_release(st, link);
    return ls->resend_len - ls->resend_pos;
}

size_t stat_agents_resend_left(const stat_agents *st, int link)
{
    assert(link >= 0 && link < st->nlinks);
    return st->links[link].resend_len - st->links[link].resend_pos;
}

size_t stat_agents_link_count(const stat_agents *st, int link)
{
    return st->links[link].agents;
}

size_t stat_agents_link_count_of(const stat_agents *st, int link, stat_agents_filter_fn filter,
                                 void *ctx)
{
    size_t n = 0, pos = 0;
    cc_map_slot *ms;
    while ((ms = cc_map_next(&st->agents, &pos))) {
        const stat_agent *a = ms->value;
        if (slot_find(a, link) && filter(ctx, a->tenant))
            n++;
    }
    return n;
}

size_t stat_agents_count(const stat_agents *st)
{
    return st->known;
}

stat_agents_stats stat_agents_get_stats(const stat_agents *st)
{
    return st->stats;
}

void stat_agents_set_rules(stat_agents *st, const rules_set *rules)
{
    st->rules = rules;
    size_t pos = 0;
    cc_map_slot *ms;
    while ((ms = cc_map_next(&st->agents, &pos))) {
        stat_agent *a = ms->value;
        /* Agents whose snapshot is still running are answered when it completes. */
        if (!a->sent && a->pins)
            continue;
        agent_update(st, a, -1);
    }
}

cc_sbuf *stat_agents_status(stat_agents *st, const char *tenant, const char *agent_id)
{
    stat_agent *a = agent_find(st, tenant, agent_id);
    stat_vec v;
    const char *place = NULL;
    stat_skills *skills = NULL;
    if (a && a->nslots) {
        agent_compute(st, a, &v, &place, &skills);
    } else {
        memset(&v, 0, sizeof v);
        v.rule = rules_lookup(st->rules, tenant, agent_id, NULL);
    }
    return encode(st, tenant, agent_id, place, skills, &v, a && a->nslots ? a : NULL);
}

size_t stat_agents_each(stat_agents *st, stat_agents_filter_fn filter, stat_agents_visit_fn visit,
                        void *ctx)
{
    size_t n = 0, pos = 0;
    cc_map_slot *ms;
    while ((ms = cc_map_next(&st->agents, &pos))) {
        stat_agent *a = ms->value;
        if (!a->nslots || (filter && !filter(ctx, a->tenant)))
            continue;
        stat_vec v;
        const char *place;
        stat_skills *skills;
        agent_compute(st, a, &v, &place, &skills);
        cc_sbuf *body = encode(st, a->tenant, a->agent_id, place, skills, &v, a);
        visit(ctx, body);
        cc_sbuf_unref(body);
        n++;
    }
    return n;
}

size_t stat_agents_each_key(stat_agents *st, stat_agents_key_fn fn, void *ctx)
{
    size_t n = 0, pos = 0;
    cc_map_slot *ms;
    while ((ms = cc_map_next(&st->agents, &pos))) {
        stat_agent *a = ms->value;
        if (!a->nslots)
            continue;
        fn(ctx, a->tenant, a->agent_id);
        n++;
    }
    return n;
}

bool stat_agents_known(const stat_agents *st, const char *tenant, const char *agent_id)
{
    const stat_agent *a = agent_find(st, tenant, agent_id);
    return a && a->nslots;
}

void stat_agents_set_reservation_timeout(stat_agents *st, uint64_t timeout_us)
{
    st->grant_timeout_us = timeout_us;
}

bool stat_agents_reserve(stat_agents *st, int link, const proto_reserve *r, bool valid,
                         uint64_t now_us)
{
    assert(link >= 0 && link < st->nlinks);
    assert(r->reservation_id > 0);
    stat_agent *a = NULL;
    stat_slot *s = NULL;
    int m = -1;
    const char *why = NULL;
    if (!valid) {
        why = "bad_fields";
    } else if (!st->gate_open) {
        why = "starting";
    } else if (!link_open(st, link)) {
        why = "link_not_reporting";
    } else if (!(a = agent_find(st, r->tenant, r->agent_id)) || !(s = slot_find(a, link))) {
        why = "not_logged_in";
    } else if (s->version != r->version) {
        why = "stale_version";
    } else if (s->ngrants >= GRANTS_PER_SLOT_MAX) {
        why = "too_many_grants";
    } else if ((m = cc_media_find(st->media, r->media, strlen(r->media))) < 0 ||
               !(s->added & ((cc_media_mask)1 << m))) {
        why = "media_not_added";
    } else {
        stat_vec v;
        const char *place;
        stat_skills *skills;
        agent_compute(st, a, &v, &place, &skills);
        if (!(v.media & ((cc_media_mask)1 << m)) || v.available[m] == 0)
            why = "no_capacity";
    }
    st->stats.reserve_asked++;
    st->sink.reserved(st->sink.user, link, r->reservation_id, why == NULL);
    if (why) {
        st->stats.reserve_refused++;
        LOG_DEBUG("event=reservation_refused link=%d id=%" PRId64 " why=%s", link,
                  r->reservation_id, why);
        return false;
    }
    stat_grant *g = xcalloc(1, sizeof *g);
    g->id = r->reservation_id;
    g->agent = a;
    g->link = link;
    g->media = m;
    g->deadline_us = now_us + st->grant_timeout_us;
    /* One timeout for every grant, so appending keeps the list in deadline order. */
    g->prev = st->grant_tail;
    if (st->grant_tail)
        st->grant_tail->next = g;
    else
        st->grant_head = g;
    st->grant_tail = g;
    g->slot_next = s->grants;
    s->grants = g;
    s->ngrants++;
    st->stats.reserve_granted++;
    agent_update(st, a, -1);
    return true;
}

void stat_agents_release(stat_agents *st, int link, int64_t reservation_id)
{
    /* Outstanding grants are few (one per agent being offered), so a walk is enough. */
    for (stat_grant *g = st->grant_head; g; g = g->next) {
        if (g->link != link || g->id != reservation_id)
            continue;
        stat_agent *a = g->agent;
        grant_end(st, slot_find(a, link), g);
        st->stats.reserve_released++;
        agent_update(st, a, -1);
        return;
    }
}

uint64_t stat_agents_expire(stat_agents *st, uint64_t now_us)
{
    while (st->grant_head && st->grant_head->deadline_us <= now_us) {
        stat_grant *g = st->grant_head;
        stat_agent *a = g->agent;
        LOG_INFO("event=reservation_expired link=%d id=%" PRId64 " tenant=%s agent=%s", g->link,
                 g->id, LOGQ(a->tenant), LOGQ(a->agent_id));
        grant_end(st, slot_find(a, g->link), g);
        st->stats.reserve_expired++;
        agent_update(st, a, -1);
    }
    return st->grant_head ? st->grant_head->deadline_us : 0;
}

uint64_t stat_agents_next_expiry(const stat_agents *st)
{
    return st->grant_head ? st->grant_head->deadline_us : 0;
}
