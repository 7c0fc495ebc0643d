/* Unit tests of the statserver's merged agents (src/stat/stat_agents.c): reservations of
 * protocol section 7a, the place and the skills of the earliest login (section 6,
 * routing.md section 1), driven without I/O through a recording sink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/alloc.h"
#include "proto/msg.h"
#include "proto/resv.h"
#include "rules/rules.h"
#include "stat/stat_agents.h"

#define MAX_SENT 512
/* Room for the text of the largest skills: 64 of "name:level," with 32-byte names. */
#define SKILLS_TEXT_MAX (PROTO_SKILLS_MAX * (PROTO_SKILL_NAME_MAX + 4) + 1)

/* One status as a link (or, link -1, the subscribers) received it, decoded again. */
typedef struct sent {
    int link;
    char agent[16];
    int64_t version;
    bool logged_in;
    uint32_t current, max, available; /* of chat */
    char place[32];
    size_t nskills;
    char skills[SKILLS_TEXT_MAX]; /* "name:level,..." in the order sent */
    bool ready;                   /* of chat */
    bool has_reason;              /* of chat */
    int64_t reason_code;
    char reason[32];
    int64_t since; /* of chat */
} sent;

typedef struct fix {
    cc_media_table media;
    rules_set *rules;
    stat_agents *st;
    int chat;
    sent sends[MAX_SENT];
    int nsends;
    sent published[MAX_SENT];
    int npublished;
    int64_t answers[MAX_SENT]; /* +id granted, -id refused */
    int links_of_answer[MAX_SENT];
    int nanswers;
    int64_t now; /* the sink's clock, Unix ms */
} fix;

static fix *F;

/* Decodes body (closed here) into s; the decoder checks that it is a valid status. */
static void record(fix *f, sent *s, int link, cc_sbuf *body, int64_t version)
{
    static char line[8192];
    int n = snprintf(line, sizeof line, "%.*s}", (int)body->len, body->data);
    assert_true(n > 0 && (size_t)n < sizeof line);
    proto_msg m;
    assert_int_equal(proto_msg_parse(&m, line, (size_t)n), 0);
    assert_non_null(json_object_get(m.root, "skills"));
    proto_agent_status ps;
    assert_int_equal(proto_decode_status(&m, &f->media, false, &ps), 0);
    memset(s, 0, sizeof *s);
    s->link = link;
    snprintf(s->agent, sizeof s->agent, "%s", ps.agent_id);
    s->version = version;
    s->logged_in = ps.logged_in;
    s->current = ps.current[f->chat];
    s->max = ps.max[f->chat];
    s->available = ps.available[f->chat];
    s->ready = ps.ready[f->chat];
    s->has_reason = ps.reasons[f->chat].present;
    s->reason_code = ps.reasons[f->chat].code;
    snprintf(s->reason, sizeof s->reason, "%s",
             ps.reasons[f->chat].description ? ps.reasons[f->chat].description : "");
    s->since = ps.since[f->chat];
    snprintf(s->place, sizeof s->place, "%s", ps.place_id ? ps.place_id : "");
    s->nskills = ps.skills.count;
    size_t off = 0;
    for (size_t i = 0; i < ps.skills.count; i++) {
        int w = snprintf(s->skills + off, sizeof s->skills - off, "%s%s:%d", i ? "," : "",
                         ps.skills.items[i].name, ps.skills.items[i].level);
        assert_true(w > 0 && (size_t)w < sizeof s->skills - off);
        off += (size_t)w;
    }
    proto_msg_free(&m);
}

static void link_send(void *user, int link, cc_sbuf *body, int64_t version)
{
    fix *f = user;
    assert_true(f->nsends < MAX_SENT);
    record(f, &f->sends[f->nsends++], link, body, version);
}

static void publish(void *user, const char *tenant, cc_sbuf *body)
{
    fix *f = user;
    assert_string_equal(tenant, "T");
    assert_true(f->npublished < MAX_SENT);
    record(f, &f->published[f->npublished++], -1, body, 0);
}

static void reserved(void *user, int link, int64_t id, bool granted)
{
    fix *f = user;
    assert_true(f->nanswers < MAX_SENT);
    f->links_of_answer[f->nanswers] = link;
    f->answers[f->nanswers++] = granted ? id : -id;
}

static int64_t now_ms(void *user)
{
    return ((fix *)user)->now;
}

static int setup(void **state)
{
    fix *f = xcalloc(1, sizeof *f);
    cc_media_init(&f->media);
    const char *text = "rule \"Chat2\" { chat = chat >= 2; }\nassign tenant \"T\" \"Chat2\";\n";
    assert_int_equal(rules_parse(text, strlen(text), "t.rules", &f->media, &f->rules, NULL), 0);
    f->chat = cc_media_intern(&f->media, "chat", 4);
    stat_sink sink = {.link_send = link_send,
                      .publish = publish,
                      .reserved = reserved,
                      .now_ms = now_ms,
                      .user = f};
    f->st = stat_agents_new(&f->media, f->rules, false, 2, 1000, &sink);
    stat_agents_set_reservation_timeout(f->st, 1000);
    for (int l = 0; l < 2; l++) {
        stat_agents_link_up(f->st, l);
        stat_agents_snapshot_done(f->st, l);
    }
    F = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fix *f = *state;
    stat_agents_free(f->st);
    rules_free(f->rules);
    free(f);
    return 0;
}

/* The agent's state on link: logged in with chat ready, holding invited chats, with
 * skills (NULL: none). */
static void apply_skills(fix *f, int link, int64_t version, int64_t login_ms, const char *place,
                         uint32_t invited, int64_t resv_id, const proto_skills *skills)
{
    proto_agent_state s;
    memset(&s, 0, sizeof s);
    if (skills)
        s.skills = *skills;
    s.tenant = "T";
    s.agent_id = "a1";
    s.place_id = place;
    s.version = version;
    s.login_time_ms = login_ms;
    s.reservation_id = resv_id;
    s.logged_in = true;
    s.added = s.ready = (cc_media_mask)1 << f->chat;
    s.counts[CC_IXN_INVITED][f->chat] = invited;
    stat_agents_apply(f->st, link, &s);
}

static void apply(fix *f, int link, int64_t version, int64_t login_ms, const char *place,
                  uint32_t invited, int64_t resv_id)
{
    apply_skills(f, link, version, login_ms, place, invited, resv_id, NULL);
}

/* The agent's state on link: logged in with chat, ready or not with the reason given
 * (code < 0: none). */
static void apply_ready(fix *f, int link, int64_t version, bool ready, int64_t code,
                        const char *desc)
{
    proto_agent_state s;
    memset(&s, 0, sizeof s);
    s.tenant = "T";
    s.agent_id = "a1";
    s.version = version;
    s.logged_in = true;
    s.added = (cc_media_mask)1 << f->chat;
    if (ready)
        s.ready = s.added;
    if (code >= 0)
        s.reasons[f->chat] = (proto_reason){true, code, desc};
    stat_agents_apply(f->st, link, &s);
}

/* stat_agents_each's visitor: records the status as published. */
static void visit(void *ctx, cc_sbuf *body)
{
    fix *f = ctx;
    assert_true(f->npublished < MAX_SENT);
    record(f, &f->published[f->npublished++], -1, body, 0);
}

static bool reserve(fix *f, int link, int64_t id, int64_t version, uint64_t now)
{
    proto_reserve r = {id, "T", "a1", "chat", version};
    return stat_agents_reserve(f->st, link, &r, true, now);
}

static const sent *last_to(const fix *f, int link)
{
    for (int i = f->nsends - 1; i >= 0; i--)
        if (f->sends[i].link == link)
            return &f->sends[i];
    return NULL;
}

static void test_grant_counts_on_every_server(void **state)
{
    fix *f = *state;
    apply(f, 0, 10, 1000, "P0", 0, 0);
    apply(f, 1, 20, 2000, "P1", 0, 0);
    assert_int_equal(last_to(f, 0)->available, 2);
    f->nsends = 0;
    assert_true(reserve(f, 0, 7, 10, 0));
    assert_int_equal(f->nanswers, 1);
    assert_int_equal(f->answers[0], 7);
    /* The grant counts as an Invited chat: both servers hear of it, each with its own
     * newest version. */
    assert_int_equal(f->nsends, 2);
    assert_int_equal(last_to(f, 0)->available, 1);
    assert_int_equal(last_to(f, 0)->version, 10);
    assert_int_equal(last_to(f, 1)->available, 1);
    assert_int_equal(last_to(f, 1)->version, 20);
    /* The other server gets the last slot; a third grant is refused. */
    assert_true(reserve(f, 1, 3, 20, 0));
    assert_int_equal(last_to(f, 1)->available, 0);
    apply(f, 0, 11, 1000, "P0", 1, 7); /* the offer under grant 7 */
    assert_int_equal(last_to(f, 0)->current, 2);
    assert_false(reserve(f, 0, 8, 11, 0));
    assert_int_equal(f->answers[f->nanswers - 1], -8);
}

static void test_refusals(void **state)
{
    fix *f = *state;
    apply(f, 0, 10, 1000, "P0", 0, 0);
    assert_false(reserve(f, 0, 1, 9, 0));  /* stale version */
    assert_false(reserve(f, 1, 2, 10, 0)); /* not logged in on link 1 */
    proto_reserve unknown = {3, "T", "nobody", "chat", 10};
    assert_false(stat_agents_reserve(f->st, 0, &unknown, true, 0));
    proto_reserve email = {4, "T", "a1", "email", 10};
    assert_false(stat_agents_reserve(f->st, 0, &email, true, 0));
    proto_reserve bad = {5, NULL, NULL, NULL, 0};
    assert_false(stat_agents_reserve(f->st, 0, &bad, false, 0));
    /* Grants of one server count like those of several: two fit the rule, not three. */
    assert_true(reserve(f, 0, 6, 10, 0));
    assert_true(reserve(f, 0, 7, 10, 0));
    assert_false(reserve(f, 0, 8, 10, 0));
    assert_int_equal(f->nanswers, 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(f->answers[i] > 0, i == 5 || i == 6);
}

static void test_grant_ends(void **state)
{
    fix *f = *state;
    apply(f, 0, 10, 1000, "P0", 0, 0);
    apply(f, 1, 20, 2000, "P1", 0, 0);
    /* Expiry: the slot comes back, with statuses to both servers. */
    assert_true(reserve(f, 0, 1, 10, 5000));
    assert_int_equal(stat_agents_next_expiry(f->st), 6000);
    assert_int_equal(stat_agents_expire(f->st, 5999), 6000);
    assert_int_equal(last_to(f, 1)->available, 1);
    f->nsends = 0;
    assert_int_equal(stat_agents_expire(f->st, 6000), 0);
    assert_int_equal(f->nsends, 2);
    assert_int_equal(last_to(f, 1)->available, 2);
    /* Release. */
    assert_true(reserve(f, 0, 2, 10, 0));
    stat_agents_release(f->st, 1, 2); /* another server's id: nothing */
    assert_int_equal(last_to(f, 1)->available, 1);
    stat_agents_release(f->st, 0, 2);
    assert_int_equal(last_to(f, 1)->available, 2);
    /* Logout on the holder's server. */
    assert_true(reserve(f, 0, 3, 10, 0));
    proto_agent_state out = {.tenant = "T", .agent_id = "a1", .version = 11};
    stat_agents_apply(f->st, 0, &out);
    assert_int_equal(last_to(f, 1)->available, 2);
    assert_int_equal(stat_agents_next_expiry(f->st), 0);
    /* Link loss. */
    assert_true(reserve(f, 1, 4, 20, 0));
    stat_agents_link_down(f->st, 1);
    assert_int_equal(stat_agents_next_expiry(f->st), 0);
}

/* Runs the resend to its end, one link after the other, all at once. */
static size_t resend_all(fix *f)
{
    size_t n = stat_agents_resend_start(f->st);
    for (int l = 0; l < 2; l++)
        while (stat_agents_resend_step(f->st, l, 1000))
            ;
    return n;
}

/* A promoted member of a pair sends every known agent's status to every server it is
 * logged in to, each with that server's newest version, once per agent and server, with a
 * grant counted as it would be in any other status. */
static void test_resend(void **state)
{
    fix *f = *state;
    assert_int_equal(resend_all(f), 0);
    apply(f, 0, 10, 1000, "P0", 0, 0);
    apply(f, 1, 20, 2000, "P1", 0, 0);
    apply(f, 0, 11, 1000, "P0", 0, 0);
    assert_true(reserve(f, 1, 5, 20, 0));
    f->nsends = 0;
    f->npublished = 0;
    assert_int_equal(resend_all(f), 1);
    assert_int_equal(f->nsends, 2);
    assert_int_equal(f->sends[0].link + f->sends[1].link, 1);
    assert_int_equal(last_to(f, 0)->version, 11);
    assert_int_equal(last_to(f, 1)->version, 20);
    assert_int_equal(last_to(f, 0)->available, 1);
    assert_int_equal(last_to(f, 1)->available, 1);
    assert_string_equal(last_to(f, 0)->place, "P0");
    /* Nothing changed: the subscribers get nothing. */
    assert_int_equal(f->npublished, 0);
    /* A link whose snapshot runs is not sent to; the agent still is, on the other. */
    stat_agents_link_down(f->st, 1);
    stat_agents_link_up(f->st, 1);
    apply(f, 1, 21, 2000, "P1", 0, 0);
    f->nsends = 0;
    assert_int_equal(resend_all(f), 1);
    assert_int_equal(f->nsends, 1);
    assert_int_equal(f->sends[0].link, 0);
}

/* Agent "b<i>" logged in on link with chat, ready or not. */
static void apply_agent(fix *f, int link, int i, int64_t version, bool ready)
{
    char id[16];
    snprintf(id, sizeof id, "b%d", i);
    proto_agent_state s;
    memset(&s, 0, sizeof s);
    s.tenant = "T";
    s.agent_id = id;
    s.version = version;
    s.logged_in = true;
    s.added = (cc_media_mask)1 << f->chat;
    if (ready)
        s.ready = s.added;
    stat_agents_apply(f->st, link, &s);
}

/* The sends to link of agent id since the recording began. */
static int sends_of(const fix *f, int link, const char *id, const sent **last)
{
    int n = 0;
    *last = NULL;
    for (int i = 0; i < f->nsends; i++)
        if (f->sends[i].link == link && strcmp(f->sends[i].agent, id) == 0) {
            n++;
            *last = &f->sends[i];
        }
    return n;
}

/* The resend goes in slices, the agents that offer capacity first; a change in the middle
 * is sent once and at once, and the resend does not repeat it; an agent that logs out or
 * a link that goes in the middle is not sent to; a new start replaces a running one;
 * a standby's cancel leaves nothing to send. */
static void test_resend_slices(void **state)
{
    fix *f = *state;
    enum { N = 40 };
    /* Even agents not ready (no capacity), odd ones ready; all on link 0, the first ten on
     * link 1 too. */
    for (int i = 0; i < N; i++) {
        apply_agent(f, 0, i, 100 + i, i % 2 == 1);
        if (i < 10)
            apply_agent(f, 1, i, 500 + i, i % 2 == 1);
    }
    f->nsends = 0;
    f->npublished = 0;
    assert_int_equal(stat_agents_resend_start(f->st), N);
    /* Nothing goes before a step. */
    assert_int_equal(f->nsends, 0);
    assert_int_equal(stat_agents_resend_left(f->st, 0), N);
    assert_int_equal(stat_agents_resend_left(f->st, 1), 10);
    /* A first slice of 8 on link 0: all ready ones. */
    assert_int_equal(stat_agents_resend_step(f->st, 0, 8), N - 8);
    assert_int_equal(f->nsends, 8);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(f->sends[i].link, 0);
        assert_true(f->sends[i].ready);
        assert_true(f->sends[i].available > 0);
    }
    /* A change of an agent not sent yet (b2, not ready, and on both links) reaches both
     * links at once, with its new state and newest versions. */
    apply_agent(f, 0, 2, 202, true);
    const sent *last;
    assert_int_equal(sends_of(f, 0, "b2", &last), 1);
    assert_int_equal(last->version, 202);
    assert_true(last->ready);
    assert_int_equal(sends_of(f, 1, "b2", &last), 1);
    assert_int_equal(last->version, 502);
    /* A change that leaves the status as it was on the other link (b4 on link 1: a new
     * version only) goes to link 1 only; the resend still owes b4 to link 0. */
    apply_agent(f, 1, 4, 604, false);
    assert_int_equal(sends_of(f, 1, "b4", &last), 1);
    assert_int_equal(sends_of(f, 0, "b4", &last), 0);
    /* b12 and b30 (on link 0 only) log out in the middle: the resend skips them, and
     * frees them once it is past them. */
    proto_agent_state out;
    memset(&out, 0, sizeof out);
    out.tenant = "T";
    out.agent_id = "b12";
    stat_agents_apply(f->st, 0, &out);
    out.agent_id = "b30";
    stat_agents_apply(f->st, 0, &out);
    /* An agent of the first slice on link 0 only changes after it was sent: that status
     * goes at once, and the resend does not send it again. */
    int late = -1;
    for (int i = 0; i < 8 && late < 0; i++)
        if (atoi(f->sends[i].agent + 1) >= 10)
            late = atoi(f->sends[i].agent + 1);
    assert_true(late >= 10);
    apply_agent(f, 0, late, 1000 + late, false);
    /* Run link 0 to its end in slices of 8. */
    int steps = 0;
    while (stat_agents_resend_step(f->st, 0, 8))
        steps++;
    assert_true(steps >= 2);
    assert_int_equal(stat_agents_resend_left(f->st, 0), 0);
    /* Every agent still logged in on link 0 got exactly one status there, the latest:
     * b2 from its change, the late one from the slice and its change, the others from
     * the resend. */
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "b%d", i);
        int n = sends_of(f, 0, id, &last);
        if (i == 12 || i == 30) {
            assert_int_equal(n, 0);
            continue;
        }
        assert_int_equal(n, i == late ? 2 : 1);
        assert_true(last->logged_in);
        if (i == 2)
            assert_int_equal(last->version, 202);
        else if (i == late)
            assert_int_equal(last->version, 1000 + late);
        else
            assert_int_equal(last->version, 100 + i);
        assert_int_equal(last->ready, i == 2 || (i % 2 == 1 && i != late));
    }
    /* Link 1 is lost before its turn: nothing goes there, and its share is dropped. */
    int sends = f->nsends;
    stat_agents_link_down(f->st, 1);
    for (int i = sends; i < f->nsends; i++)
        assert_int_not_equal(f->sends[i].link, 1);
    assert_int_equal(stat_agents_resend_left(f->st, 1), 0);
    assert_int_equal(stat_agents_resend_step(f->st, 1, 8), 0);
    /* A new start replaces a running one; a cancel (standby) leaves nothing to send. */
    assert_int_equal(stat_agents_resend_start(f->st), N - 2);
    assert_int_equal(stat_agents_resend_left(f->st, 0), N - 2);
    stat_agents_resend_step(f->st, 0, 5);
    assert_int_equal(stat_agents_resend_start(f->st), N - 2);
    assert_int_equal(stat_agents_resend_left(f->st, 0), N - 2);
    stat_agents_resend_cancel(f->st);
    f->nsends = 0;
    assert_int_equal(stat_agents_resend_left(f->st, 0), 0);
    assert_int_equal(stat_agents_resend_step(f->st, 0, 100), 0);
    assert_int_equal(f->nsends, 0);
    assert_int_equal(stat_agents_count(f->st), N - 2);
}

static void test_place_of_earliest_login(void **state)
{
    fix *f = *state;
    /* Link 1 logged in first by loginTime, though its event arrives second. */
    apply(f, 0, 10, 5000, "LATE", 0, 0);
    apply(f, 1, 20, 1000, "EARLY", 0, 0);
    assert_string_equal(last_to(f, 0)->place, "EARLY");
    /* Equal times: the link configured first. */
    apply(f, 0, 11, 1000, "FIRST", 0, 0);
    assert_string_equal(last_to(f, 1)->place, "FIRST");
}

static void test_no_grant_before_every_link_settled(void **state)
{
    fix *f = *state;
    stat_sink sink = {.link_send = link_send, .publish = publish, .reserved = reserved, .user = f};
    stat_agents *fresh = stat_agents_new(&f->media, f->rules, false, 2, 1000, &sink);
    stat_agents *old = f->st;
    f->st = fresh;
    stat_agents_link_up(fresh, 0);
    stat_agents_link_up(fresh, 1);
    apply(f, 0, 10, 1000, "P0", 0, 0);
    stat_agents_snapshot_done(fresh, 0);
    /* Link 1's snapshot is not in: its holdings are unknown, so nothing is granted. */
    assert_false(reserve(f, 0, 1, 10, 0));
    stat_agents_link_down(fresh, 1);
    assert_true(reserve(f, 0, 2, 10, 0));
    /* The start-up wait opens the gate as well. */
    stat_agents *slow = stat_agents_new(&f->media, f->rules, false, 2, 1000, &sink);
    f->st = slow;
    stat_agents_link_up(slow, 0);
    apply(f, 0, 10, 1000, "P0", 0, 0);
    stat_agents_snapshot_done(slow, 0);
    assert_false(reserve(f, 0, 3, 10, 0));
    stat_agents_open_gate(slow);
    assert_true(reserve(f, 0, 4, 10, 0));
    stat_agents_free(slow);
    stat_agents_free(fresh);
    f->st = old;
}

/* Far more servers than the old one-bit-per-link mask allowed: an agent on links 299, 5
 * and 130 (logged in that way round) is summed over the three, its statuses go to those
 * three in link order, the earliest login gives the place, and a logout from the middle
 * one or a lost link leaves the others as they were. */
static void test_many_links(void **state)
{
    fix *f = *state;
    enum { NL = 300 };
    stat_sink sink = {.link_send = link_send, .publish = publish, .reserved = reserved, .user = f};
    stat_agents *many = stat_agents_new(&f->media, f->rules, false, NL, 1000, &sink);
    stat_agents *old = f->st;
    f->st = many;
    for (int l = 0; l < NL; l++) {
        stat_agents_link_up(many, l);
        stat_agents_snapshot_done(many, l);
    }
    assert_true(stat_agents_granting(many));
    apply(f, 299, 10, 3000, "P299", 0, 0);
    apply(f, 5, 20, 2000, "P5", 0, 0);
    apply(f, 130, 30, 1000, "P130", 1, 0);
    assert_int_equal(stat_agents_count(many), 1);
    assert_int_equal(stat_agents_link_count(many, 130), 1);
    assert_int_equal(stat_agents_link_count(many, 6), 0);
    /* The last change (an invite on 130) reached every server, in link order. */
    assert_int_equal(f->nsends, 1 + 2 + 3);
    assert_int_equal(f->sends[3].link, 130);
    assert_int_equal(f->sends[4].link, 5);
    assert_int_equal(f->sends[5].link, 299);
    assert_int_equal(f->sends[4].version, 20);
    assert_int_equal(f->sends[5].version, 10);
    assert_int_equal(f->sends[5].current, 1);
    assert_int_equal(f->sends[5].available, 1);
    assert_string_equal(f->sends[5].place, "P130");
    /* A grant on 299 counts as well, and is found again for its release. */
    assert_true(reserve(f, 299, 1, 10, 0));
    assert_int_equal(last_to(f, 5)->current, 2);
    stat_agents_release(many, 299, 1);
    assert_int_equal(last_to(f, 5)->current, 1);
    /* Logout from 130: the place falls to the next earliest login. */
    proto_agent_state out = {.tenant = "T", .agent_id = "a1", .version = 31};
    stat_agents_apply(many, 130, &out);
    assert_int_equal(stat_agents_link_count(many, 130), 0);
    assert_string_equal(last_to(f, 299)->place, "P5");
    assert_int_equal(last_to(f, 299)->current, 0);
    stat_agents_link_down(many, 5);
    assert_string_equal(last_to(f, 299)->place, "P299");
    assert_int_equal(stat_agents_count(many), 1);
    stat_agents_link_down(many, 299);
    assert_int_equal(stat_agents_count(many), 0);
    stat_agents_free(many);
    f->st = old;
}

#define SK(...)                                                                                    \
    (&(proto_skills){.count = sizeof((proto_skill[]){__VA_ARGS__}) / sizeof(proto_skill),          \
                     .items = {__VA_ARGS__}})

static void logout(fix *f, int link, int64_t version)
{
    proto_agent_state out = {.tenant = "T", .agent_id = "a1", .version = version};
    stat_agents_apply(f->st, link, &out);
}

/* A status carries the skills of the server of the earliest login, sorted by name; a
 * change of them is a change of the status, a change on another server is not. */
static void test_skills_of_earliest_login(void **state)
{
    fix *f = *state;
    apply_skills(f, 0, 10, 1000, "P0", 0, 0, SK({"spanish", 5}, {"billing", 9}));
    assert_string_equal(last_to(f, 0)->skills, "billing:9,spanish:5");
    assert_int_equal(f->npublished, 1);
    assert_string_equal(f->published[0].skills, "billing:9,spanish:5");
    apply_skills(f, 1, 20, 2000, "P1", 0, 0, SK({"sales", 7}));
    assert_string_equal(last_to(f, 1)->skills, "billing:9,spanish:5");
    assert_string_equal(last_to(f, 1)->place, "P0");

    /* Another server's skills change: its own answer only, nothing changes. */
    f->nsends = f->npublished = 0;
    apply_skills(f, 1, 21, 2000, "P1", 0, 0, SK({"sales", 8}));
    assert_int_equal(f->nsends, 1);
    assert_int_equal(f->sends[0].link, 1);
    assert_int_equal(f->sends[0].version, 21);
    assert_string_equal(f->sends[0].skills, "billing:9,spanish:5");
    assert_int_equal(f->npublished, 0);

    /* The same skills in another order are the same skills. */
    f->nsends = 0;
    apply_skills(f, 0, 11, 1000, "P0", 0, 0, SK({"billing", 9}, {"spanish", 5}));
    assert_int_equal(f->nsends, 1);
    assert_int_equal(f->npublished, 0);

    /* A level changes (a reload, cause SkillsChanged): every server and the subscribers. */
    f->nsends = 0;
    apply_skills(f, 0, 12, 1000, "P0", 0, 0, SK({"spanish", 6}, {"billing", 9}));
    assert_int_equal(f->nsends, 2);
    assert_int_equal(last_to(f, 0)->version, 12);
    assert_int_equal(last_to(f, 1)->version, 21);
    assert_string_equal(last_to(f, 1)->skills, "billing:9,spanish:6");
    assert_int_equal(f->npublished, 1);
    assert_string_equal(f->published[0].skills, "billing:9,spanish:6");
    /* A skill added, then every skill removed: changes as well. */
    apply_skills(f, 0, 13, 1000, "P0", 0, 0, SK({"spanish", 6}, {"billing", 9}, {"a-b_1", 1}));
    assert_int_equal(f->npublished, 2);
    assert_string_equal(f->published[1].skills, "a-b_1:1,billing:9,spanish:6");
    apply(f, 0, 14, 1000, "P0", 0, 0);
    assert_int_equal(f->npublished, 3);
    assert_int_equal(f->published[2].nskills, 0);
    assert_int_equal(last_to(f, 1)->nskills, 0);

    /* RequestAgentStatus and the subscription snapshot carry them. */
    apply_skills(f, 0, 15, 1000, "P0", 0, 0, SK({"vip", 1}));
    sent got;
    cc_sbuf *body = stat_agents_status(f->st, "T", "a1");
    record(f, &got, -1, body, 0);
    cc_sbuf_unref(body);
    assert_string_equal(got.skills, "vip:1");
    int before = f->npublished;
    assert_int_equal(stat_agents_each(f->st, NULL, visit, f), 1);
    assert_int_equal(f->npublished, before + 1);
    assert_string_equal(f->published[before].skills, "vip:1");
    body = stat_agents_status(f->st, "T", "nobody");
    record(f, &got, -1, body, 0);
    cc_sbuf_unref(body);
    assert_false(got.logged_in);
    assert_int_equal(got.nskills, 0);

    /* The earliest login leaves: the other server's skills (and place) take over. */
    f->nsends = f->npublished = 0;
    logout(f, 0, 16);
    assert_int_equal(f->npublished, 1);
    assert_string_equal(f->published[0].skills, "sales:8");
    assert_string_equal(f->published[0].place, "P1");
    assert_string_equal(last_to(f, 1)->skills, "sales:8");
    /* Logged out everywhere: no skills. */
    logout(f, 1, 22);
    assert_int_equal(f->npublished, 2);
    assert_false(f->published[1].logged_in);
    assert_int_equal(f->published[1].nskills, 0);
}

/* 64 skills with 32-byte names are kept whole; what a decoder refuses is left out. */
static void test_skills_limits(void **state)
{
    fix *f = *state;
    static char names[PROTO_SKILLS_MAX][PROTO_SKILL_NAME_MAX + 1];
    proto_skills many = {.count = PROTO_SKILLS_MAX};
    for (int i = 0; i < PROTO_SKILLS_MAX; i++) {
        /* 32 bytes, given in reverse order of their names. */
        snprintf(names[i], sizeof names[i], "s%02d%029d", PROTO_SKILLS_MAX - 1 - i, 0);
        assert_int_equal(strlen(names[i]), PROTO_SKILL_NAME_MAX);
        many.items[i] = (proto_skill){names[i], i % PROTO_SKILL_LEVEL_MAX + 1};
    }
    apply_skills(f, 0, 10, 1000, "P0", 0, 0, &many);
    const sent *s = last_to(f, 0);
    assert_int_equal(s->nskills, PROTO_SKILLS_MAX);
    char want[64];
    snprintf(want, sizeof want, "%s:%d,", names[PROTO_SKILLS_MAX - 1],
             (PROTO_SKILLS_MAX - 1) % PROTO_SKILL_LEVEL_MAX + 1);
    assert_memory_equal(s->skills, want, strlen(want));
    snprintf(want, sizeof want, ",%s:1", names[0]);
    assert_string_equal(s->skills + strlen(s->skills) - strlen(want), want);

    char long_name[PROTO_SKILL_NAME_MAX + 2];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    apply_skills(f, 0, 11, 1000, "P0", 0, 0,
                 SK({"ok", 3}, {"Bad", 2}, {"zero", 0}, {"eleven", 11}, {long_name, 4}, {"ok", 5},
                    {"ten", 10}, {NULL, 1}, {"1st", 1}));
    assert_string_equal(last_to(f, 0)->skills, "ok:3,ten:10");
    /* Nothing valid at all is no skills. */
    apply_skills(f, 0, 12, 1000, "P0", 0, 0, SK({"Bad", 2}));
    assert_int_equal(last_to(f, 0)->nskills, 0);
}

/* Skills reported during a server's snapshot go out with the statuses that end it. */
static void test_skills_in_snapshot(void **state)
{
    fix *f = *state;
    stat_sink sink = {.link_send = link_send, .publish = publish, .reserved = reserved, .user = f};
    stat_agents *old = f->st;
    f->st = stat_agents_new(&f->media, f->rules, false, 2, 1000, &sink);
    stat_agents_link_up(f->st, 0);
    apply_skills(f, 0, 10, 1000, "P0", 0, 0, SK({"sales", 7}));
    apply_skills(f, 0, 11, 1000, "P0", 0, 0, SK({"sales", 8}));
    assert_int_equal(f->nsends, 0);
    assert_int_equal(stat_agents_snapshot_done(f->st, 0), 1);
    assert_int_equal(f->nsends, 1);
    assert_string_equal(f->sends[0].skills, "sales:8");
    assert_int_equal(f->npublished, 1);
    assert_string_equal(f->published[0].skills, "sales:8");
    /* The link goes: logged out, no skills. */
    stat_agents_link_down(f->st, 0);
    assert_int_equal(f->npublished, 2);
    assert_int_equal(f->published[1].nskills, 0);
    stat_agents_free(f->st);
    f->st = old;
}

/* Statuses carry each media's not-ready reason and the time its state began; a new
 * reason alone is published to the StatClients but not sent to the other servers, whose
 * routing does not depend on it. */
static void test_reason_and_since(void **state)
{
    fix *f = *state;
    f->now = 1000;
    apply_ready(f, 1, 5, false, -1, NULL);
    apply_ready(f, 0, 10, false, 3, "Lunch");
    const sent *p = &f->published[f->npublished - 1];
    assert_false(p->ready);
    assert_true(p->has_reason);
    assert_int_equal(p->reason_code, 3);
    assert_string_equal(p->reason, "Lunch");
    assert_int_equal(p->since, 1000);

    /* The same state again later: the origin hears it with the old since, nobody else. */
    f->now = 2000;
    int np = f->npublished;
    f->nsends = 0;
    apply_ready(f, 0, 11, false, 3, "Lunch");
    assert_int_equal(f->npublished, np);
    assert_int_equal(f->nsends, 1);
    assert_int_equal(f->sends[0].link, 0);
    assert_int_equal(f->sends[0].since, 1000);
    assert_string_equal(f->sends[0].reason, "Lunch");

    /* Another reason: a new since, published; the other server is not told. */
    f->now = 3000;
    f->nsends = 0;
    apply_ready(f, 0, 12, false, 4, "Break");
    assert_int_equal(f->npublished, np + 1);
    p = &f->published[f->npublished - 1];
    assert_int_equal(p->reason_code, 4);
    assert_string_equal(p->reason, "Break");
    assert_int_equal(p->since, 3000);
    assert_int_equal(f->nsends, 1);
    assert_int_equal(f->sends[0].link, 0);

    /* Ready on one server is ready (the merged status): no reason any more. */
    f->now = 4000;
    f->nsends = 0;
    apply_ready(f, 1, 6, true, -1, NULL);
    p = &f->published[f->npublished - 1];
    assert_true(p->ready);
    assert_false(p->has_reason);
    assert_int_equal(p->since, 4000);
    assert_int_equal(f->nsends, 2);

    /* A subscriber's snapshot and a RequestAgentStatus carry the same since. */
    f->npublished = 0;
    assert_int_equal(stat_agents_each(f->st, NULL, visit, f), 1);
    assert_int_equal(f->published[0].since, 4000);
    cc_sbuf *body = stat_agents_status(f->st, "T", "a1");
    record(f, &f->published[1], -1, body, 0);
    cc_sbuf_unref(body);
    assert_int_equal(f->published[1].since, 4000);
    assert_true(f->published[1].ready);

    /* Logged out everywhere: no media, so no since. */
    f->now = 5000;
    proto_agent_state out;
    memset(&out, 0, sizeof out);
    out.tenant = "T";
    out.agent_id = "a1";
    out.version = 13;
    stat_agents_apply(f->st, 0, &out);
    out.version = 7;
    stat_agents_apply(f->st, 1, &out);
    p = &f->published[f->npublished - 1];
    assert_false(p->logged_in);
    assert_int_equal(p->since, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_grant_counts_on_every_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grant_ends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resend_slices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_place_of_earliest_login, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_grant_before_every_link_settled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skills_of_earliest_login, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skills_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skills_in_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reason_and_since, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_links, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
