#include "ixn/ixn_agents.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "ixn/ixn_explain.h"
#include "ixn/ixn_ixn.h"
#include "ixn/ixn_ixnreport.h"
#include "ixn/ixn_metrics.h"
#include "ixn/ixn_passwd.h"
#include "ixn/ixn_report.h"
#include "ixn/ixn_resv.h"
#include "ixn/ixn_super.h"
#include "proto/agentreq.h"

/* Longest agent key (ixn_config_key of tenant and agentId), with its NUL. */
#define AGENT_KEY_MAX IXN_KEY_MAX

/* Longest peer address kept as a throttle key (an IPv6 literal with "/64"). */
#define ADDR_KEY_MAX 64

/* A login waiting for the throttle's delay, then for its password check on the thread
 * pool. Everything the thread reads is a private copy, so the session may close
 * meanwhile. */
struct ixn_login_work {
    uv_work_t req;
    uv_timer_t timer; /* the throttle's delay before the check */
    bool timer_init;  /* the timer handle exists: freeing waits for its close */
    bool waiting;     /* the delay runs (no check queued yet) */
    ixn_client *client;
    char *password;
    char *hash;
    bool known; /* the agent is in the directory */
    bool ok;    /* set by the thread */
    char *tenant, *agent_id, *place_id;
    cc_media_mask added, ready;
    uint64_t delay_ms; /* the throttle's delay, for the log */
    char *tkey;        /* the agent's throttle key: tenant, NUL, agentId */
    size_t tkey_len;
    char addr[ADDR_KEY_MAX]; /* the peer's address: the other throttle key */
};

/* ---- versions ---- */

void ixn_agent_version_login(ixn_server *srv, ixn_agent *a)
{
    int64_t now = (int64_t)cc_wall_us();
    int64_t v = srv->vclock + 1;
    a->version = v > now ? v : now;
    srv->vclock = a->version;
    ixn_metrics_state_reported(a);
}

void ixn_agent_version_bump(ixn_server *srv, ixn_agent *a)
{
    a->version++;
    if (a->version > srv->vclock)
        srv->vclock = a->version;
    ixn_metrics_state_reported(a);
}

/* ---- agents ---- */

/* The agent's key in the agent map and the directory: identifiers may contain '/', so the
 * tenant is escaped (ixn_config_key) and tenant "a/b" with agent "c" is not tenant "a"
 * with agent "b/c". */
static size_t make_key(char *key, const char *tenant, const char *agent_id)
{
    return ixn_config_key(key, tenant, agent_id);
}

static void reason_free(ixn_reason *r)
{
    if (!r)
        return;
    free(r->description);
    free(r);
}

static void reason_set(ixn_agent *a, int id, bool present, int64_t code, const char *desc)
{
    reason_free(a->reasons[id]);
    a->reasons[id] = NULL;
    if (!present)
        return;
    ixn_reason *r = xmalloc(sizeof *r);
    r->code = code;
    r->description = desc ? xstrdup(desc) : NULL;
    a->reasons[id] = r;
}

static bool reason_equal(const ixn_reason *r, bool present, int64_t code, const char *desc)
{
    if (!r || !present)
        return !r && !present;
    if (r->code != code)
        return false;
    if (!r->description || !desc)
        return !r->description && !desc;
    return strcmp(r->description, desc) == 0;
}

static void grace_unlink(ixn_server *srv, ixn_agent *a)
{
    if (!a->in_grace)
        return;
    if (a->grace_prev)
        a->grace_prev->grace_next = a->grace_next;
    else
        srv->grace_head = a->grace_next;
    if (a->grace_next)
        a->grace_next->grace_prev = a->grace_prev;
    else
        srv->grace_tail = a->grace_prev;
    a->grace_prev = a->grace_next = NULL;
    a->in_grace = false;
}

static void agent_free(ixn_agent *a)
{
    for (int i = 0; i < CC_MEDIA_MAX; i++)
        reason_free(a->reasons[i]);
    free(a->key);
    free(a->tenant);
    free(a->agent_id);
    free(a->place_id);
    free(a);
}

/* Logs the agent out: one last event with loggedIn false, then it is gone. */
static void agent_logout(ixn_server *srv, ixn_agent *a, const char *why)
{
    /* What it holds goes back to the queues (or ends) before the last event, which then
     * reports no interactions. */
    ixn_core_agent_gone(srv, a);
    ixn_agent_version_bump(srv, a);
    ixn_report_publish(srv, a, "AgentLogout", false, 0);
    LOG_INFO("event=agent_logout tenant=%s agent=%s place=%s version=%" PRId64 " why=%s",
             LOGQ(a->tenant), LOGQ(a->agent_id), LOGQ(a->place_id), a->version, why);
    srv->stats.logouts++;
    grace_unlink(srv, a);
    if (a->client)
        a->client->agent = NULL;
    cc_map_dels(&srv->agents, a->key);
    srv->agent_count--;
    agent_free(a);
}

static void on_grace_timer(uv_timer_t *t);

static void grace_arm(ixn_server *srv)
{
    if (!srv->grace_head) {
        uv_timer_stop(&srv->grace_timer);
        return;
    }
    uint64_t now = cc_mono_us();
    uint64_t due = srv->grace_head->grace_deadline_us;
    uint64_t ms = due > now ? (due - now + 999) / 1000 : 0;
    uv_timer_start(&srv->grace_timer, on_grace_timer, ms, 0);
}

static void on_grace_timer(uv_timer_t *t)
{
    ixn_server *srv = t->data;
    uint64_t now = cc_mono_us();
    while (srv->grace_head && srv->grace_head->grace_deadline_us <= now)
        agent_logout(srv, srv->grace_head, "grace_expired");
    grace_arm(srv);
}

/* The desktop of a logged-in agent went away. */
static void agent_orphan(ixn_server *srv, ixn_agent *a)
{
    a->client = NULL;
    if (srv->cfg->grace_period_s == 0 || srv->shutting_down) {
        agent_logout(srv, a, "disconnected");
        return;
    }
    /* The grace period is the same for every agent, so appending keeps the FIFO in
     * deadline order and one timer serves them all. */
    a->grace_deadline_us = cc_mono_us() + (uint64_t)srv->cfg->grace_period_s * 1000000u;
    a->in_grace = true;
    a->grace_next = NULL;
    a->grace_prev = srv->grace_tail;
    if (srv->grace_tail)
        srv->grace_tail->grace_next = a;
    else
        srv->grace_head = a;
    srv->grace_tail = a;
    LOG_INFO("event=agent_grace tenant=%s agent=%s seconds=%u", LOGQ(a->tenant), LOGQ(a->agent_id),
             srv->cfg->grace_period_s);
    if (srv->grace_head == a)
        grace_arm(srv);
}

/* ---- checks shared by the agent requests ---- */

/* Fields, client type, login and identity, in the protocol's order. media (may be NULL
 * when the request has none) is checked for presence first and for being known last. */
static int agent_common(cc_session *s, proto_msg *msg, bool has_media, int *media_id,
                        ixn_agent **out)
{
    const char *agent_id, *tenant, *media = NULL;
    int rc;
    if ((has_media && (rc = proto_get_str(msg, "media", true, PROTO_ID_MAX, &media))) ||
        (rc = proto_get_id(msg, "agentId", false, &agent_id)) ||
        (rc = proto_get_id(msg, "tenant", false, &tenant)))
        return rc;
    if (media && !cc_media_name_valid(media, strlen(media))) {
        snprintf(msg->desc, sizeof msg->desc, "%s", "media must match [a-z][a-z0-9_-]{0,31}");
        return CC_E_INVALID_ATTRIBUTE;
    }
    if ((rc = cc_session_allow(s, msg, CC_CLIENT_AGENT)))
        return rc;
    ixn_client *c = cc_session_user(s);
    ixn_agent *a = c->agent;
    if (!a) {
        snprintf(msg->desc, sizeof msg->desc, "%s", "no agent is logged in on this connection");
        return CC_E_AGENT_NOT_LOGGED_IN;
    }
    if ((agent_id && strcmp(agent_id, a->agent_id) != 0) ||
        (tenant && strcmp(tenant, a->tenant) != 0)) {
        snprintf(msg->desc, sizeof msg->desc, "%s",
                 "this connection may act only on its own agent");
        return CC_E_NOT_AUTHORIZED;
    }
    if (has_media) {
        ixn_server *srv = c->srv;
        int id = cc_media_find(&srv->cfg->media, media, strlen(media));
        if (id < 0) {
            snprintf(msg->desc, sizeof msg->desc, "media %.64s is not configured here", media);
            return CC_E_UNKNOWN_MEDIA;
        }
        *media_id = id;
    }
    *out = a;
    return 0;
}

/* The common checks of a request on one media the agent must have added: those of
 * agent_common, then code 10 when the media is not added. */
static int added_media_request(cc_session *s, proto_msg *msg, int *media_id, ixn_agent **out)
{
    int rc = agent_common(s, msg, true, media_id, out);
    if (rc)
        return rc;
    if ((*out)->added & ((cc_media_mask)1 << *media_id))
        return 0;
    const ixn_client *c = cc_session_user(s);
    snprintf(msg->desc, sizeof msg->desc, "media %s is not added",
             cc_media_name(&c->srv->cfg->media, *media_id));
    return CC_E_INVALID_STATE;
}

void ixn_agent_changed(ixn_server *srv, ixn_agent *a, const char *cause)
{
    ixn_agent_changed_resv(srv, a, cause, 0);
}

void ixn_agent_changed_resv(ixn_server *srv, ixn_agent *a, const char *cause, int64_t resv_id)
{
    ixn_agent_version_bump(srv, a);
    ixn_report_publish(srv, a, cause, true, resv_id);
}

static void changed(ixn_server *srv, ixn_agent *a, const char *cause)
{
    ixn_agent_changed(srv, a, cause);
}

/* Whether skills a (names in dictionary da) and b (in db, NULL = none) are the same set of
 * names and levels. */
static bool skills_equal(const target_dict *da, const target_skills *a, const target_dict *db,
                         const target_skills *b)
{
    static const target_skills none;
    if (!b)
        b = &none;
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++) {
        int id = target_dict_find(db, target_dict_name(da, a->id[i]));
        if (id < 0 || target_skills_level(b, id) != a->level[i])
            return false;
    }
    return true;
}

void ixn_agents_reload(ixn_server *srv, const ixn_config *old)
{
    static const target_skills none;
    size_t removed = 0, reskilled = 0;
    size_t pos = 0;
    cc_map_slot *sl;
    while ((sl = cc_map_next(&srv->agents, &pos))) {
        ixn_agent *a = sl->value;
        a->skills_changed = false;
        if (!cc_map_gets(&srv->cfg->agents, a->key)) {
            /* Gone from the directory: logged out, and its desktop's connection closed,
             * which tells the desktop (its next login is refused). */
            ixn_client *c = a->client;
            agent_logout(srv, a, "removed_from_directory");
            if (c && c->session)
                cc_session_close(c->session);
            removed++;
            continue;
        }
        const target_skills *sk = ixn_config_skills(srv->cfg, a->key);
        a->skills_changed = !skills_equal(old->dict, &a->skills, srv->cfg->dict, sk);
        /* Always copied: the ids are those of the new file's dictionary. */
        a->skills = sk ? *sk : none;
    }
    ixn_core_reconfigure(srv);
    pos = 0;
    while ((sl = cc_map_next(&srv->agents, &pos))) {
        ixn_agent *a = sl->value;
        if (!a->skills_changed)
            continue;
        a->skills_changed = false;
        reskilled++;
        LOG_INFO("event=agent_skills_changed tenant=%s agent=%s", LOGQ(a->tenant),
                 LOGQ(a->agent_id));
        changed(srv, a, PROTO_CAUSE_SKILLS_CHANGED);
    }
    LOG_INFO("event=agents_reloaded logged_in=%zu removed=%zu skills_changed=%zu", srv->agent_count,
             removed, reskilled);
}

int ixn_agent_require(cc_session *s, proto_msg *msg, ixn_agent **out)
{
    return agent_common(s, msg, false, NULL, out);
}

void ixn_agent_force_not_ready(ixn_server *srv, ixn_agent *a, int media, bool present, int64_t code,
                               const char *desc)
{
    cc_media_mask bit = (cc_media_mask)1 << media;
    if (!(a->ready & bit) && reason_equal(a->reasons[media], present, code, desc))
        return;
    a->ready &= ~bit;
    reason_set(a, media, present, code, desc);
    changed(srv, a, "NotReadyForMedia");
}

void ixn_agent_force_logout(ixn_server *srv, ixn_agent *a)
{
    agent_logout(srv, a, "supervisor");
}

/* ---- agent requests ---- */

static void login_after(uv_work_t *req, int status);

static void login_work(uv_work_t *req)
{
    ixn_login_work *w = req->data;
    bool match = ixn_passwd_verify(w->password, w->hash);
    w->ok = w->known && match;
    explicit_bzero(w->password, strlen(w->password));
}

static void on_work_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Frees w, at once or, when its timer handle exists, once libuv closed it. */
static void work_free(ixn_login_work *w)
{
    explicit_bzero(w->password, strlen(w->password));
    free(w->password);
    free(w->hash);
    free(w->tenant);
    free(w->agent_id);
    free(w->place_id);
    free(w->tkey);
    if (w->timer_init)
        uv_close((uv_handle_t *)&w->timer, on_work_timer_closed);
    else
        free(w);
}

/* The peer's address without its port: the key of the per-address table. An IPv6 peer
 * counts per /64, the block one subscriber usually holds, and an IPv4 one mapped into
 * IPv6 as the IPv4 address. */
static void peer_addr(cc_session *s, char *out, size_t n)
{
    const char *peer = cc_conn_peer(cc_session_conn(s));
    const char *colon = strrchr(peer, ':');
    size_t len = colon ? (size_t)(colon - peer) : strlen(peer);
    if (len >= 2 && peer[0] == '[' && peer[len - 1] == ']') {
        char host[ADDR_KEY_MAX];
        unsigned char a[16];
        snprintf(host, sizeof host, "%.*s", (int)(len - 2), peer + 1);
        if (uv_inet_pton(AF_INET6, host, a) == 0) {
            static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            if (memcmp(a, mapped, sizeof mapped) == 0) {
                snprintf(out, n, "%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
                return;
            }
            char net[48];
            memset(a + 8, 0, 8);
            if (uv_inet_ntop(AF_INET6, a, net, sizeof net) == 0) {
                snprintf(out, n, "%.47s/64", net);
                return;
            }
        }
        snprintf(out, n, "%s", host);
        return;
    }
    snprintf(out, n, "%.*s", (int)len, peer);
}

/* The attempt of w is over for the throttle: outcome for its agent; for its address, a
 * failure counts but a success forgets nothing, so that knowing one password does not
 * clear the guesses made at others. Logs a lockout that this failure caused. */
static void throttle_end(ixn_server *srv, const ixn_login_work *w,
                         enum ixn_throttle_outcome outcome)
{
    uint64_t now = cc_mono_us();
    if (ixn_throttle_end(&srv->throttle_agents, w->tkey, w->tkey_len, now, outcome))
        LOG_WARN("event=login_lockout scope=agent tenant=%s agent=%s addr=%s failures=%u "
                 "seconds=%u",
                 LOGQ(w->tenant), LOGQ(w->agent_id), LOGQ(w->addr),
                 srv->cfg->login_lockout_failures, srv->cfg->login_lockout_s);
    enum ixn_throttle_outcome o = outcome == IXN_THROTTLE_SUCCEEDED ? IXN_THROTTLE_NONE : outcome;
    if (ixn_throttle_end(&srv->throttle_addrs, w->addr, strlen(w->addr), now, o))
        LOG_WARN("event=login_lockout scope=address addr=%s failures=%u seconds=%u", w->addr,
                 srv->cfg->login_addr_lockout_failures, srv->cfg->login_lockout_s);
}

/* The delay is over: the password check goes to the thread pool. */
static void on_login_delay(uv_timer_t *t)
{
    ixn_login_work *w = t->data;
    ixn_client *c = w->client;
    w->waiting = false;
    if (uv_queue_work(c->srv->loop, &w->req, login_work, login_after) < 0) {
        throttle_end(c->srv, w, IXN_THROTTLE_NONE);
        c->work = NULL;
        work_free(w);
        cc_session_finish(c->session, CC_E_UNAVAILABLE, "cannot check the password now");
    }
}

static int h_login(cc_session *s, proto_msg *msg)
{
    proto_areq_login login;
    int rc;
    if ((rc = proto_areq_decode_login(msg, &login)) ||
        (rc = cc_session_allow(s, msg, CC_CLIENT_AGENT)) ||
        (rc = cc_session_tenant_check(s, msg, login.tenant)))
        return rc;
    const char *tenant = login.tenant, *agent_id = login.agent_id, *place_id = login.place_id,
               *password = login.password;
    ixn_client *c = cc_session_user(s);
    ixn_server *srv = c->srv;
    cc_media_mask added = 0, ready = 0;
    for (int i = 0; i < login.nmedia; i++) {
        const char *name = login.media[i].name;
        int id = cc_media_find(&srv->cfg->media, name, strlen(name));
        if (id < 0) {
            snprintf(msg->desc, sizeof msg->desc, "media %s is not configured here", name);
            return CC_E_UNKNOWN_MEDIA;
        }
        added |= (cc_media_mask)1 << id;
        if (login.media[i].ready)
            ready |= (cc_media_mask)1 << id;
    }
    if (c->agent) {
        snprintf(msg->desc, sizeof msg->desc, "%s", "an agent is logged in on this connection");
        return CC_E_INVALID_STATE;
    }
    /* The throttle knows agents by name only, whether the directory has them or not, so
     * that an unknown agent is delayed and locked out exactly like a known one. */
    size_t lt = strlen(tenant), la = strlen(agent_id);
    char tkey[AGENT_KEY_MAX], addr[ADDR_KEY_MAX];
    memcpy(tkey, tenant, lt + 1);
    memcpy(tkey + lt + 1, agent_id, la);
    peer_addr(s, addr, sizeof addr);
    uint64_t now = cc_mono_us(), start_agent, start_addr;
    if (ixn_throttle_check(&srv->throttle_agents, tkey, lt + 1 + la, now, &start_agent) ||
        ixn_throttle_check(&srv->throttle_addrs, addr, strlen(addr), now, &start_addr)) {
        srv->stats.login_locked++;
        LOG_DEBUG("event=agent_login_locked session=%" PRIu64 " tenant=%s agent=%s addr=%s",
                  cc_session_id(s), LOGQ(tenant), LOGQ(agent_id), LOGQ(addr));
        snprintf(msg->desc, sizeof msg->desc, "%s", "too many failed logins: try again later");
        return CC_E_LIMIT_EXCEEDED;
    }
    uint64_t start = start_agent > start_addr ? start_agent : start_addr;
    char key[AGENT_KEY_MAX];
    make_key(key, tenant, agent_id);
    const char *hash = cc_map_gets(&srv->cfg->agents, key);
    ixn_login_work *w = xcalloc(1, sizeof *w);
    w->req.data = w;
    w->client = c;
    w->password = xstrdup(password);
    w->known = hash != NULL;
    w->hash = xstrdup(hash ? hash : srv->dummy_hash);
    w->tenant = xstrdup(tenant);
    w->agent_id = xstrdup(agent_id);
    w->place_id = xstrdup(place_id);
    w->added = added;
    w->ready = ready;
    w->tkey = xmalloc(lt + 1 + la);
    memcpy(w->tkey, tkey, lt + 1 + la);
    w->tkey_len = lt + 1 + la;
    memcpy(w->addr, addr, sizeof addr);
    ixn_throttle_begin(&srv->throttle_agents, w->tkey, w->tkey_len, now, start);
    ixn_throttle_begin(&srv->throttle_addrs, w->addr, strlen(w->addr), now, start);
    if (start > now) {
        /* The wait runs on the loop's timer: the connection is paused meanwhile (it
         * counts as active for the idle timeout) and nothing else waits for it. */
        w->delay_ms = (start - now + 999) / 1000;
        srv->stats.login_delayed++;
        uv_timer_init(srv->loop, &w->timer);
        w->timer_init = true;
        w->timer.data = w;
        w->waiting = true;
        uv_timer_start(&w->timer, on_login_delay, w->delay_ms, 0);
    } else if (uv_queue_work(srv->loop, &w->req, login_work, login_after) < 0) {
        throttle_end(srv, w, IXN_THROTTLE_NONE);
        work_free(w);
        snprintf(msg->desc, sizeof msg->desc, "%s", "cannot check the password now");
        return CC_E_UNAVAILABLE;
    }
    c->work = w;
    cc_session_defer(s);
    return CC_SESSION_DEFERRED;
}

static void client_free(ixn_client *c)
{
    assert(!c->session && !c->work && !c->agent);
    free(c);
}

/* Back on the loop thread with the password's verdict; the rest of the login's checks
 * run now, against the state as it is at this moment. */
static void login_after(uv_work_t *req, int status)
{
    ixn_login_work *w = req->data;
    ixn_client *c = w->client;
    ixn_server *srv = c->srv;
    c->work = NULL;
    /* A wrong password counts even when nobody is left to answer, so that closing the
     * connection right after a guess does not escape the count. */
    bool gone = !c->session || cc_conn_is_closing(cc_session_conn(c->session));
    enum ixn_throttle_outcome outcome = status < 0 ? IXN_THROTTLE_NONE
                                        : !w->ok   ? IXN_THROTTLE_FAILED
                                        : gone     ? IXN_THROTTLE_NONE
                                                   : IXN_THROTTLE_SUCCEEDED;
    throttle_end(srv, w, outcome);
    if (!c->session) {
        work_free(w);
        client_free(c);
        return;
    }
    cc_session *s = c->session;
    int err = 0;
    const char *desc = NULL;
    char key[AGENT_KEY_MAX];
    make_key(key, w->tenant, w->agent_id);
    ixn_agent *a = cc_map_gets(&srv->agents, key);
    if (gone) {
        /* Closed meanwhile (idle, slow, shutdown): nobody to log in for. */
        err = CC_E_CLOSED;
    } else if (status < 0 || !w->ok) {
        err = status < 0 ? CC_E_UNAVAILABLE : CC_E_NOT_AUTHORIZED;
        desc = status < 0 ? "cannot check the password now" : "unknown agent or wrong password";
        srv->stats.login_failures++;
        LOG_INFO("event=agent_login_failed session=%" PRIu64 " tenant=%s agent=%s addr=%s "
                 "failures=%u delay_ms=%" PRIu64,
                 cc_session_id(s), LOGQ(w->tenant), LOGQ(w->agent_id), LOGQ(w->addr),
                 ixn_throttle_failures(&srv->throttle_agents, w->tkey, w->tkey_len, cc_mono_us()),
                 w->delay_ms);
    } else if (a && a->client) {
        err = CC_E_AGENT_ALREADY_LOGGED_IN;
        desc = "the agent is logged in on another connection";
    } else if (a) {
        /* Inside the grace period: this connection takes the session over as it is
         * (media, readiness, dnd); only the place may change. */
        grace_unlink(srv, a);
        a->client = c;
        c->agent = a;
        a->fwd_valid = false; /* this desktop has seen no status yet */
        free(a->place_id);
        a->place_id = xstrdup(w->place_id);
        changed(srv, a, "AgentLogin");
        srv->stats.takeovers++;
        ixn_core_agent_resumed(srv, a);
        LOG_INFO("event=agent_login session=%" PRIu64 " tenant=%s agent=%s place=%s "
                 "version=%" PRId64 " takeover=1",
                 cc_session_id(s), LOGQ(a->tenant), LOGQ(a->agent_id), LOGQ(a->place_id),
                 a->version);
    } else if (srv->cfg->max_agents && srv->agent_count >= srv->cfg->max_agents) {
        err = CC_E_LIMIT_EXCEEDED;
        desc = "max-agents reached";
    } else {
        a = xcalloc(1, sizeof *a);
        a->key = xstrdup(key);
        a->tenant = xstrdup(w->tenant);
        a->agent_id = xstrdup(w->agent_id);
        a->place_id = xstrdup(w->place_id);
        a->added = w->added;
        a->ready = w->ready;
        a->client = c;
        c->agent = a;
        a->login_time_ms = (int64_t)(cc_wall_us() / 1000);
        a->login_seq = ++srv->idle_seq;
        const target_skills *sk = ixn_config_skills(srv->cfg, a->key);
        if (sk)
            a->skills = *sk;
        cc_map_puts(&srv->agents, a->key, a);
        srv->agent_count++;
        srv->stats.logins++;
        ixn_agent_version_login(srv, a);
        ixn_core_agent_media(srv, a);
        ixn_report_publish(srv, a, "AgentLogin", true, 0);
        LOG_INFO("event=agent_login session=%" PRIu64 " tenant=%s agent=%s place=%s "
                 "version=%" PRId64 " media=%d",
                 cc_session_id(s), LOGQ(a->tenant), LOGQ(a->agent_id), LOGQ(a->place_id),
                 a->version, __builtin_popcountll(a->added));
    }
    work_free(w);
    if (!err) {
        proto_skills skills;
        ixn_report_skills(srv, a, &skills);
        proto_areq_enc_login_ack(cc_session_ack_buf(s), &skills);
    }
    cc_session_finish(s, err, desc);
}

static int h_logout(cc_session *s, proto_msg *msg)
{
    ixn_agent *a;
    int rc = agent_common(s, msg, false, NULL, &a);
    if (rc)
        return rc;
    ixn_client *c = cc_session_user(s);
    if (a->busy) {
        snprintf(msg->desc, sizeof msg->desc, "%s",
                 "the agent holds invited or handled interactions");
        return CC_E_INVALID_STATE;
    }
    agent_logout(c->srv, a, "request");
    /* Interactions in after-work ended with the logout: answer once that is stored. */
    return ixn_core_answer(c->srv, s);
}

static int h_add_media(cc_session *s, proto_msg *msg)
{
    bool ready = false;
    ixn_agent *a;
    int id, rc;
    if ((rc = proto_get_flag(msg, "ready", false, &ready)) ||
        (rc = agent_common(s, msg, true, &id, &a)))
        return rc;
    ixn_client *c = cc_session_user(s);
    cc_media_mask bit = (cc_media_mask)1 << id;
    if (a->added & bit) {
        snprintf(msg->desc, sizeof msg->desc, "media %s is added already",
                 cc_media_name(&c->srv->cfg->media, id));
        return CC_E_INVALID_STATE;
    }
    a->added |= bit;
    if (ready)
        a->ready |= bit;
    else
        a->ready &= ~bit;
    reason_set(a, id, false, 0, NULL);
    ixn_core_agent_media(c->srv, a);
    changed(c->srv, a, "MediaAdded");
    return 0;
}

static int h_remove_media(cc_session *s, proto_msg *msg)
{
    ixn_agent *a;
    int id, rc;
    if ((rc = added_media_request(s, msg, &id, &a)))
        return rc;
    ixn_client *c = cc_session_user(s);
    if (a->held_media[id]) {
        snprintf(msg->desc, sizeof msg->desc, "the agent holds interactions of %s",
                 cc_media_name(&c->srv->cfg->media, id));
        return CC_E_INVALID_STATE;
    }
    cc_media_mask bit = (cc_media_mask)1 << id;
    a->added &= ~bit;
    a->ready &= ~bit;
    reason_set(a, id, false, 0, NULL);
    ixn_core_agent_media(c->srv, a);
    changed(c->srv, a, "MediaRemoved");
    return 0;
}

static int h_not_ready(cc_session *s, proto_msg *msg)
{
    bool present;
    int64_t code;
    const char *desc;
    ixn_agent *a;
    int id, rc;
    if ((rc = proto_get_reason(msg, "reason", &present, &code, &desc)) ||
        (rc = added_media_request(s, msg, &id, &a)))
        return rc;
    ixn_client *c = cc_session_user(s);
    cc_media_mask bit = (cc_media_mask)1 << id;
    if (!(a->ready & bit) && reason_equal(a->reasons[id], present, code, desc))
        return 0;
    a->ready &= ~bit;
    reason_set(a, id, present, code, desc);
    changed(c->srv, a, "NotReadyForMedia");
    return 0;
}

static int h_cancel_not_ready(cc_session *s, proto_msg *msg)
{
    ixn_agent *a;
    int id, rc;
    if ((rc = added_media_request(s, msg, &id, &a)))
        return rc;
    ixn_client *c = cc_session_user(s);
    cc_media_mask bit = (cc_media_mask)1 << id;
    if ((a->ready & bit) && !a->reasons[id])
        return 0;
    a->ready |= bit;
    reason_set(a, id, false, 0, NULL);
    changed(c->srv, a, "ReadyForMedia");
    return 0;
}

static int h_change_reason(cc_session *s, proto_msg *msg)
{
    bool present;
    int64_t code;
    const char *desc;
    ixn_agent *a;
    int id, rc;
    if ((rc = proto_get_reason(msg, "reason", &present, &code, &desc)))
        return rc;
    /* Unlike RequestNotReadyForMedia, the protocol lists reason as required here. */
    if (!present) {
        snprintf(msg->desc, sizeof msg->desc, "%s", "reason is missing");
        return CC_E_INVALID_ATTRIBUTE;
    }
    if ((rc = added_media_request(s, msg, &id, &a)))
        return rc;
    ixn_client *c = cc_session_user(s);
    if (reason_equal(a->reasons[id], present, code, desc))
        return 0;
    reason_set(a, id, present, code, desc);
    changed(c->srv, a, "MediaStateReasonChanged");
    return 0;
}

static int set_dnd(cc_session *s, proto_msg *msg, bool on)
{
    ixn_agent *a;
    int rc = agent_common(s, msg, false, NULL, &a);
    if (rc)
        return rc;
    if (a->dnd == on)
        return 0;
    a->dnd = on;
    ixn_client *c = cc_session_user(s);
    changed(c->srv, a, on ? "DoNotDisturbOn" : "DoNotDisturbOff");
    return 0;
}

static int h_dnd_on(cc_session *s, proto_msg *msg)
{
    return set_dnd(s, msg, true);
}
static int h_dnd_off(cc_session *s, proto_msg *msg)
{
    return set_dnd(s, msg, false);
}

/* ---- status from a reporting engine ---- */

/* FNV-1a over n bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211u;
    }
    return h;
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
    /* The terminating zero keeps "ab"+"c" apart from "a"+"bc"; NULL differs from "". */
    return s ? fnv(h, s, strlen(s) + 1) : fnv(h, "\xff", 1);
}

/* What a desktop sees of a status, except each media's since: the members of a pair
 * stamp it with their own clocks, so two copies of one status differ only there. */
static uint64_t status_digest(const proto_agent_status *st, int nmedia)
{
    uint64_t h = 14695981039346656037u;
    unsigned char flags[2] = {st->logged_in, st->dnd};
    h = fnv(h, flags, sizeof flags);
    h = fnv(h, &st->media, sizeof st->media);
    h = fnv_str(h, st->place_id);
    h = fnv_str(h, st->rule);
    for (int i = 0; i < nmedia; i++) {
        if (!(st->media & ((cc_media_mask)1 << i)))
            continue;
        uint32_t v[4] = {st->ready[i], st->current[i], st->max[i], st->available[i]};
        h = fnv(h, v, sizeof v);
        const proto_reason *r = &st->reasons[i];
        if (r->present) {
            h = fnv(h, &r->code, sizeof r->code);
            h = fnv_str(h, r->description);
        }
    }
    for (size_t i = 0; i < st->skills.count; i++) {
        h = fnv_str(h, st->skills.items[i].name);
        h = fnv(h, &st->skills.items[i].level, sizeof st->skills.items[i].level);
    }
    return h;
}

static int h_status(cc_session *s, proto_msg *msg)
{
    ixn_client *c = cc_session_user(s);
    ixn_server *srv = c->srv;
    int rc = cc_session_allow(s, msg, CC_CLIENT_REPORTING);
    if (rc) {
        srv->stats.status_dropped++;
        return rc;
    }
    if (!ixn_fence_takes(&c->fence)) {
        /* A standby, or a primary a higher epoch has replaced: neither kept nor
         * forwarded, so a desktop never sees the same change from both members. */
        srv->stats.status_fenced++;
        return 0;
    }
    proto_agent_status st;
    if ((rc = proto_decode_status(msg, &srv->cfg->media, false, &st)) ||
        (rc = cc_session_tenant_check(s, msg, st.tenant))) {
        srv->stats.status_dropped++;
        return rc;
    }
    char key[AGENT_KEY_MAX];
    make_key(key, st.tenant, st.agent_id);
    ixn_agent *a = cc_map_gets(&srv->agents, key);
    if (!a) {
        srv->stats.status_dropped++;
        return CC_E_AGENT_NOT_LOGGED_IN;
    }
    if (!ixn_report_wants(c, a)) {
        /* Another partition's agent: its owner alone speaks for it (docs/ha.md). */
        srv->stats.status_fenced++;
        return 0;
    }
    /* Routing needs the newest status; with several reporting engines an older one
     * may arrive late, and it is forwarded but not kept. */
    /* Any status after a refusal allows asking again (protocol 7a). */
    a->refused = 0;
    ixn_metrics_status_received(a, st.version);
    if (!a->has_status || st.version >= a->status_version) {
        a->has_status = true;
        a->status_from = c;
        a->status_version = st.version;
        a->status_media = st.media;
        for (int i = 0; i < srv->cfg->media.count; i++)
            a->available[i] = (st.media & ((cc_media_mask)1 << i)) ? st.available[i] : 0;
        ixn_core_agent_status(srv, a);
    }
    if (!a->client || !a->client->session)
        return 0;
    /* In a pair (an epoch above 0), a promoted member sends every agent's status again;
     * the desktop already has it when nothing changed meanwhile. A lone statserver's
     * statuses are forwarded as always. */
    uint64_t digest = status_digest(&st, srv->cfg->media.count);
    if (c->fence.top > 0 && a->fwd_valid && a->fwd_version == st.version &&
        a->fwd_digest == digest) {
        srv->stats.status_repeated++;
        return 0;
    }
    /* Forward the bytes as received, opened again so the desktop connection appends
     * its own seq (a line that carried a seq of its own is written again without it). */
    size_t n;
    const char *line = cc_session_line(s, &n);
    cc_buf_reset(&srv->scratch);
    if (proto_msg_forward_open(msg, line, n, "seq", &srv->scratch) != 0) {
        srv->stats.status_dropped++;
        return CC_E_INVALID_MESSAGE;
    }
    cc_sbuf *sb = cc_sbuf_new(srv->scratch.data, srv->scratch.len);
    cc_session_send(a->client->session, sb, NULL);
    cc_sbuf_unref(sb);
    srv->stats.status_forwarded++;
    a->fwd_valid = true;
    a->fwd_version = st.version;
    a->fwd_digest = digest;
    return 0;
}

/* ---- sessions ---- */

static const cc_handler handlers[] = {
    {"RequestAgentLogin", h_login},
    {"RequestAgentLogout", h_logout},
    {"RequestAddMedia", h_add_media},
    {"RequestRemoveMedia", h_remove_media},
    {"RequestNotReadyForMedia", h_not_ready},
    {"RequestCancelNotReadyForMedia", h_cancel_not_ready},
    {"RequestChangeMediaStateReason", h_change_reason},
    {"RequestDoNotDisturbOn", h_dnd_on},
    {"RequestDoNotDisturbOff", h_dnd_off},
    {"RequestStartPlaceAgentStateReportingAll", ixn_report_start},
    {"RequestStopPlaceAgentStateReportingAll", ixn_report_stop},
    {"RequestReportingMode", ixn_report_mode},
    {"RequestStartInteractionReporting", ixn_ixnreport_start},
    {"RequestStopInteractionReporting", ixn_ixnreport_stop},
    {"EventCurrentAgentStatus", h_status},
    {"EventAgentReserved", ixn_resv_answer},
    {"RequestSubmit", ixn_core_submit},
    {"RequestStopProcessing", ixn_core_stop_processing},
    {"RequestAccept", ixn_core_accept},
    {"RequestReject", ixn_core_reject},
    {"RequestCompleteAfterWork", ixn_core_complete_after_work},
    {"RequestPlaceInQueue", ixn_core_place_in_queue},
    {"RequestQueueStatus", ixn_core_queue_status},
    {"RequestExplainRouting", ixn_explain_routing},
    {"RequestForceNotReady", ixn_super_request},
    {"RequestForceLogout", ixn_super_request},
    {"RequestRevokeInteraction", ixn_super_request},
    {"RequestReassign", ixn_super_request},
    {"RequestAgentInteractions", ixn_super_query},
};

static void on_register(cc_session *s)
{
    ixn_server *srv = cc_session_server(s)->user;
    ixn_client *c = xcalloc(1, sizeof *c);
    c->srv = srv;
    c->session = s;
    c->all_next = srv->clients;
    if (srv->clients)
        srv->clients->all_prev = c;
    srv->clients = c;
    cc_session_set_user(s, c);
    if (cc_session_type(s) == CC_CLIENT_REPORTING)
        ixn_fence_join(&srv->fence, &c->fence);
}

static void on_close(cc_session *s)
{
    ixn_server *srv = cc_session_server(s)->user;
    assert(srv->conns > 0);
    srv->conns--;
    ixn_client *c = cc_session_user(s);
    if (!c)
        return;
    cc_session_set_user(s, NULL);
    if (c->all_prev)
        c->all_prev->all_next = c->all_next;
    else
        srv->clients = c->all_next;
    if (c->all_next)
        c->all_next->all_prev = c->all_prev;
    ixn_report_drop(c);
    ixn_ixnreport_drop(c);
    if (cc_session_type(s) == CC_CLIENT_REPORTING) {
        ixn_fence_leave(&srv->fence, &c->fence);
        ixn_resv_engine_closed(srv, c);
    }
    ixn_core_session_closed(srv, s);
    ixn_super_session_closed(srv, s);
    if (c->agent) {
        ixn_agent *a = c->agent;
        c->agent = NULL;
        agent_orphan(srv, a);
    }
    c->session = NULL;
    if (c->work && c->work->waiting) {
        /* Still in the throttle's delay: no check has started, and none will. */
        ixn_login_work *w = c->work;
        uv_timer_stop(&w->timer);
        throttle_end(srv, w, IXN_THROTTLE_NONE);
        c->work = NULL;
        work_free(w);
    }
    /* A password check still running holds the client; it frees it when done. */
    if (!c->work)
        client_free(c);
}

void ixn_server_init(ixn_server *srv, ixn_config *cfg, uv_loop_t *loop, cc_server *cs)
{
    memset(srv, 0, sizeof *srv);
    srv->cfg = cfg;
    srv->cs = cs;
    srv->loop = loop;
    cc_map_init(&srv->agents);
    cc_buf_init(&srv->scratch);
    ixn_fence_init(&srv->fence);
    srv->vclock = (int64_t)cc_wall_us();
    uv_timer_init(loop, &srv->grace_timer);
    srv->grace_timer.data = srv;
    ixn_resv_start(srv);
    /* The verdict for an unknown agent is "no" whatever the hash says, so any hash of
     * the directory will do; using one gives unknown agents the same cost as known. */
    size_t pos = 0;
    cc_map_slot *sl = cc_map_next(&cfg->agents, &pos);
    srv->dummy_hash = sl ? xstrdup(sl->value) : ixn_passwd_hash("no such agent", 0);
    if (!srv->dummy_hash)
        srv->dummy_hash = xstrdup("*");
    ixn_throttle_rule rule = {
        .free_failures = cfg->login_free_failures,
        .lockout_failures = cfg->login_lockout_failures,
        .delay_us = (uint64_t)cfg->login_delay_ms * 1000u,
        .delay_max_us = (uint64_t)cfg->login_delay_max_ms * 1000u,
        .lockout_us = (uint64_t)cfg->login_lockout_s * 1000000u,
        .forget_us = (uint64_t)cfg->login_forget_s * 1000000u,
        .max_entries = cfg->login_track_max,
        .count_in_flight = true,
    };
    ixn_throttle_init(&srv->throttle_agents, &rule);
    rule.free_failures = cfg->login_addr_free_failures;
    rule.lockout_failures = cfg->login_addr_lockout_failures;
    /* Many desktops behind one address log in at once (an office, a proxy, a load test):
     * only real failures count for an address. */
    rule.count_in_flight = false;
    ixn_throttle_init(&srv->throttle_addrs, &rule);
    cs->handlers = handlers;
    cs->handler_count = sizeof handlers / sizeof handlers[0];
    cs->on_register = on_register;
    cs->on_close = on_close;
    cs->user = srv;
}

void ixn_server_shutdown(ixn_server *srv)
{
    const ixn_stats *st = &srv->stats;
    LOG_INFO("event=login_stats failures=%" PRIu64 " delayed=%" PRIu64 " locked=%" PRIu64
             " lockouts_agent=%" PRIu64 " lockouts_address=%" PRIu64 " evicted_agent=%" PRIu64
             " evicted_address=%" PRIu64,
             st->login_failures, st->login_delayed, st->login_locked,
             srv->throttle_agents.stats.lockouts, srv->throttle_addrs.stats.lockouts,
             srv->throttle_agents.stats.evicted, srv->throttle_addrs.stats.evicted);
    LOG_INFO("event=fence_stats statuses_fenced=%" PRIu64 " answers_fenced=%" PRIu64
             " statuses_repeated=%" PRIu64 " fencings=%" PRIu64 " top_epoch=%" PRId64,
             st->status_fenced, st->resv_fenced, st->status_repeated, srv->fence.changes,
             srv->fence.top);
    srv->shutting_down = true;
    for (ixn_client *c = srv->clients; c; c = c->all_next)
        cc_session_close(c->session);
    uv_timer_stop(&srv->grace_timer);
    uv_close((uv_handle_t *)&srv->grace_timer, NULL);
    ixn_resv_stop(srv);
}

void ixn_server_free(ixn_server *srv)
{
    size_t pos = 0;
    cc_map_slot *sl;
    while ((sl = cc_map_next(&srv->agents, &pos))) {
        ixn_agent *a = sl->value;
        if (a->client)
            a->client->agent = NULL;
        agent_free(a);
    }
    cc_map_free(&srv->agents);
    cc_buf_free(&srv->scratch);
    free(srv->held_scratch);
    free(srv->dummy_hash);
    ixn_throttle_free(&srv->throttle_agents);
    ixn_throttle_free(&srv->throttle_addrs);
}
