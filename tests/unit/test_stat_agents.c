/* Unit tests of the statserver's merged agents (src/stat/stat_agents.c): reservations of
 * protocol section 7a and the place of the earliest login (section 6), driven without
 * I/O through a recording sink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "proto/msg.h"
#include "proto/resv.h"
#include "rules/rules.h"
#include "stat/stat_agents.h"

#define MAX_SENT 64

/* One status as a link received it, decoded again. */
typedef struct sent {
    int link;
    int64_t version;
    uint32_t current, max, available; /* of chat */
    char place[32];
} sent;

typedef struct fix {
    cc_media_table media;
    rules_set *rules;
    stat_agents *st;
    int chat;
    sent sends[MAX_SENT];
    int nsends;
    int64_t answers[MAX_SENT]; /* +id granted, -id refused */
    int links_of_answer[MAX_SENT];
    int nanswers;
} fix;

static fix *F;

static void link_send(void *user, int link, cc_sbuf *body, int64_t version)
{
    fix *f = user;
    assert_true(f->nsends < MAX_SENT);
    char line[2048];
    int n = snprintf(line, sizeof line, "%.*s}", (int)body->len, body->data);
    assert_true(n > 0 && (size_t)n < sizeof line);
    proto_msg m;
    assert_int_equal(proto_msg_parse(&m, line, (size_t)n), 0);
    proto_agent_status ps;
    assert_int_equal(proto_decode_status(&m, &f->media, false, &ps), 0);
    sent *s = &f->sends[f->nsends++];
    memset(s, 0, sizeof *s);
    s->link = link;
    s->version = version;
    s->current = ps.current[f->chat];
    s->max = ps.max[f->chat];
    s->available = ps.available[f->chat];
    snprintf(s->place, sizeof s->place, "%s", ps.place_id ? ps.place_id : "");
    proto_msg_free(&m);
}

static void publish(void *user, const char *tenant, cc_sbuf *body)
{
    (void)user;
    (void)tenant;
    (void)body;
}

static void reserved(void *user, int link, int64_t id, bool granted)
{
    fix *f = user;
    assert_true(f->nanswers < MAX_SENT);
    f->links_of_answer[f->nanswers] = link;
    f->answers[f->nanswers++] = granted ? id : -id;
}

static int setup(void **state)
{
    fix *f = xcalloc(1, sizeof *f);
    cc_media_init(&f->media);
    const char *text = "rule \"Chat2\" { chat = chat >= 2; }\nassign tenant \"T\" \"Chat2\";\n";
    assert_int_equal(rules_parse(text, strlen(text), "t.rules", &f->media, &f->rules, NULL), 0);
    f->chat = cc_media_intern(&f->media, "chat", 4);
    stat_sink sink = {.link_send = link_send, .publish = publish, .reserved = reserved, .user = f};
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

/* The agent's state on link: logged in with chat ready, holding invited chats. */
static void apply(fix *f, int link, int64_t version, int64_t login_ms, const char *place,
                  uint32_t invited, int64_t resv_id)
{
    proto_agent_state s;
    memset(&s, 0, sizeof s);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_grant_counts_on_every_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grant_ends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_place_of_earliest_login, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_grant_before_every_link_settled, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
