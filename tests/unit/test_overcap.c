/* Unit tests of overcap (tools/lib): the desktop-side judgement of whether an invite put
 * an agent above its capacity rule, on the worked examples of capacity-rules.md section 4
 * (rule Blended). The tools' library is not linked into the unit tests, so its module is
 * compiled into this test directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../tools/lib/overcap.c"

enum { VOICE, CHAT, EMAIL, NMEDIA };

/* One listed media of a status: ready flag, current, max, available. */
static overcap_media M(bool ready, uint32_t current, uint32_t max, uint32_t available)
{
    overcap_media m = {.listed = true, .ready = ready};
    m.current = current;
    m.max = max;
    m.available = available;
    return m;
}

static void test_count(void **state)
{
    (void)state;
    overcap_held h = {.active = 2, .after_work = 1};
    assert_int_equal(overcap_count(&h, OVERCAP_AW_UNKNOWN), 2);
    assert_int_equal(overcap_count(&h, OVERCAP_AW_NO), 2);
    assert_int_equal(overcap_count(&h, OVERCAP_AW_YES), 3);
}

static void test_judge_blended(void **state)
{
    (void)state;
    /* Holding 2 chats: chat R 2 3 1. A third chat is within the rule. */
    overcap_media chat = M(true, 2, 3, 1);
    assert_int_equal(overcap_judge(&chat, 3, true), OVERCAP_OK);
    /* A fourth is above it. */
    assert_int_equal(overcap_judge(&chat, 4, true), OVERCAP_ABOVE_MAX);
    /* Holding 2 chats + 1 email: chat R 2 2 0; a third chat is above the rule. */
    chat = M(true, 2, 2, 0);
    assert_int_equal(overcap_judge(&chat, 3, true), OVERCAP_ABOVE_MAX);
    /* Holding 1 voice: chat R 0 0 0; any chat is above the rule. */
    chat = M(true, 0, 0, 0);
    assert_int_equal(overcap_judge(&chat, 1, false), OVERCAP_ABOVE_MAX);
    /* A media the status does not list cannot be judged. */
    overcap_media none = {0};
    assert_int_equal(overcap_judge(&none, 5, true), OVERCAP_OK);
}

static void test_judge_grant_in_flight(void **state)
{
    (void)state;
    /* The agent holds 2 chats. The statserver granted a reservation for a third and sent
     * the status counting the grant (chat R 3 3 0) before the invite arrived: the invite
     * makes 3, within max 3, and the status does not reflect what the agent held (2). */
    overcap_media st[NMEDIA] = {M(true, 0, 0, 0), M(true, 3, 3, 0), M(true, 0, 1, 1)};
    overcap_held held[NMEDIA] = {{0, 0}, {2, 0}, {0, 0}};
    bool reflects = overcap_reflects(st, held, NMEDIA, OVERCAP_AW_NO);
    assert_false(reflects);
    assert_int_equal(overcap_judge(&st[CHAT], 2 + 1, reflects), OVERCAP_OK);
    /* Counting the invite on top of the status's current would see 4 > 3: wrong. */
    assert_true(st[CHAT].current + 1 > st[CHAT].max);
}

static void test_judge_none_available(void **state)
{
    (void)state;
    /* 1 chat held, chat not ready: NR 1 3 0, and the status is up to date. An invite of
     * chat came although the status said nothing is available. */
    overcap_media st[NMEDIA] = {M(true, 0, 0, 0), M(false, 1, 3, 0), M(true, 0, 1, 1)};
    overcap_held held[NMEDIA] = {{0, 0}, {1, 0}, {0, 0}};
    bool reflects = overcap_reflects(st, held, NMEDIA, OVERCAP_AW_NO);
    assert_true(reflects);
    assert_int_equal(overcap_judge(&st[CHAT], 2, reflects), OVERCAP_NONE_AVAILABLE);
    /* Not reflecting (something changed, or a grant in flight): no verdict from it. */
    assert_int_equal(overcap_judge(&st[CHAT], 2, false), OVERCAP_OK);
}

static void test_reflects(void **state)
{
    (void)state;
    /* 1 chat handling and 1 email in after-work. */
    overcap_media st[NMEDIA] = {M(true, 0, 0, 0), M(true, 1, 2, 1), M(true, 0, 1, 1)};
    overcap_held held[NMEDIA] = {{0, 0}, {1, 0}, {0, 1}};
    assert_true(overcap_reflects(st, held, NMEDIA, OVERCAP_AW_NO));
    assert_false(overcap_reflects(st, held, NMEDIA, OVERCAP_AW_YES));
    /* Unknown whether after-work counts: not sure, so not reflecting. */
    assert_false(overcap_reflects(st, held, NMEDIA, OVERCAP_AW_UNKNOWN));
    st[EMAIL].current = 1;
    assert_true(overcap_reflects(st, held, NMEDIA, OVERCAP_AW_YES));
    /* Holding a media the status does not list. */
    overcap_media st2[NMEDIA] = {M(true, 0, 1, 1), {0}, M(true, 0, 2, 2)};
    overcap_held held2[NMEDIA] = {{0, 0}, {1, 0}, {0, 0}};
    assert_false(overcap_reflects(st2, held2, NMEDIA, OVERCAP_AW_NO));
    held2[CHAT].active = 0;
    assert_true(overcap_reflects(st2, held2, NMEDIA, OVERCAP_AW_NO));
}

static void test_after_work_evidence(void **state)
{
    (void)state;
    /* 1 chat handling, 1 chat in after-work. */
    overcap_held held[NMEDIA] = {{0, 0}, {1, 1}, {0, 0}};
    overcap_media counted[NMEDIA] = {M(true, 0, 0, 0), M(true, 2, 3, 1), M(true, 0, 1, 1)};
    overcap_media not_counted[NMEDIA] = {M(true, 0, 0, 0), M(true, 1, 3, 2), M(true, 0, 1, 1)};
    overcap_media neither[NMEDIA] = {M(true, 0, 0, 0), M(true, 3, 3, 0), M(true, 0, 1, 1)};
    assert_int_equal(overcap_aw_evidence(counted, held, NMEDIA), OVERCAP_AW_YES);
    assert_int_equal(overcap_aw_evidence(not_counted, held, NMEDIA), OVERCAP_AW_NO);
    assert_int_equal(overcap_aw_evidence(neither, held, NMEDIA), OVERCAP_AW_UNKNOWN);
    /* Nothing in after-work: no evidence either way. */
    overcap_held busy[NMEDIA] = {{0, 0}, {1, 0}, {0, 0}};
    assert_int_equal(overcap_aw_evidence(not_counted, busy, NMEDIA), OVERCAP_AW_UNKNOWN);
    /* Another media out of step: no evidence. */
    overcap_media stale[NMEDIA] = {M(true, 0, 0, 0), M(true, 1, 3, 2), M(true, 1, 1, 0)};
    assert_int_equal(overcap_aw_evidence(stale, held, NMEDIA), OVERCAP_AW_UNKNOWN);
}

static void test_after_work_mode(void **state)
{
    (void)state;
    overcap_votes v = {0, 0};
    assert_int_equal(overcap_aw_mode(&v), OVERCAP_AW_UNKNOWN);
    overcap_vote(&v, OVERCAP_AW_UNKNOWN);
    assert_int_equal(overcap_aw_mode(&v), OVERCAP_AW_UNKNOWN);
    /* Statuses that look like after-work counted are never enough to count it, however
     * many: each may count a reservation granted for an invite still in flight. */
    for (int i = 0; i < 10; i++)
        overcap_vote(&v, OVERCAP_AW_YES);
    assert_int_equal(overcap_aw_mode(&v), OVERCAP_AW_UNKNOWN);
    overcap_vote(&v, OVERCAP_AW_NO);
    assert_int_equal(overcap_aw_mode(&v), OVERCAP_AW_UNKNOWN);
    overcap_votes w = {0, 0};
    overcap_vote(&w, OVERCAP_AW_NO);
    assert_int_equal(overcap_aw_mode(&w), OVERCAP_AW_NO);
    overcap_vote(&w, OVERCAP_AW_YES);
    assert_int_equal(overcap_aw_mode(&w), OVERCAP_AW_UNKNOWN);
}

/* Seen in `make demo` on a loaded machine (agent 1023, rule Blended, statserver with
 * count-after-work = no): the agent holds 1 chat handling, 1 chat in after-work and 1
 * email, unchanged for 1.7 s. Its server asks a reservation for another chat, and the
 * statserver's status at the grant (chat 2 2 0, email 1 1 0) arrives before the invite.
 * It looks like after-work counted; believing it (three such statuses made it so) judged
 * the invites after it above the rule. */
static void test_after_work_grant_in_flight(void **state)
{
    (void)state;
    overcap_held held[NMEDIA] = {{0, 0}, {1, 1}, {1, 0}};
    overcap_media grant[NMEDIA] = {M(true, 0, 0, 0), M(true, 2, 2, 0), M(true, 1, 1, 0)};
    assert_int_equal(overcap_aw_evidence(grant, held, NMEDIA), OVERCAP_AW_YES);
    overcap_votes v = {0, 0};
    for (int i = 0; i < 3; i++)
        overcap_vote(&v, overcap_aw_evidence(grant, held, NMEDIA));
    overcap_aw aw = overcap_aw_mode(&v);
    assert_int_equal(aw, OVERCAP_AW_UNKNOWN);
    /* The invite: chat 1 + 1 = 2 of max 2 (the grant's status), within the rule. With
     * after-work counted it would be 3 of 2. */
    uint32_t n = overcap_count(&held[CHAT], aw) + 1;
    assert_int_equal(n, 2);
    assert_int_equal(overcap_judge(&grant[CHAT], n, false), OVERCAP_OK);
    assert_int_equal(
        overcap_judge(&grant[CHAT], overcap_count(&held[CHAT], OVERCAP_AW_YES) + 1, false),
        OVERCAP_ABOVE_MAX);
}

static void test_window(void **state)
{
    (void)state;
    overcap_media w = {0};
    overcap_media unlisted = {0};
    /* An empty window leaves the newest status as it is. */
    overcap_media st = M(true, 3, 2, 0);
    overcap_media view = overcap_window_view(&st, &w);
    assert_int_equal(view.max, 2);
    assert_int_equal(view.current, 3);
    assert_int_equal(view.available, 0);
    /* The window keeps the largest max; a status that does not list the media adds
     * nothing. */
    overcap_media a = M(true, 2, 3, 1), b = M(true, 3, 2, 0);
    overcap_window_add(&w, &a);
    overcap_window_add(&w, &unlisted);
    overcap_window_add(&w, &b);
    assert_true(w.listed);
    assert_int_equal(w.max, 3);
    view = overcap_window_view(&st, &w);
    assert_int_equal(view.max, 3);
    /* The current and available of the newest status are kept. */
    assert_int_equal(view.current, 3);
    assert_int_equal(view.available, 0);
    /* A newest status that does not list the media stays unlisted: nothing to judge by. */
    view = overcap_window_view(&unlisted, &w);
    assert_false(view.listed);
    /* A max of 0 in the window counts: it is listed. */
    overcap_media z = {0};
    overcap_media zero = M(true, 0, 0, 0);
    overcap_window_add(&z, &zero);
    assert_true(z.listed);
    assert_int_equal(z.max, 0);
}

/* Seen in `make demo` on a loaded machine (agent 1007 on two servers, rule Blended): it
 * holds 2 chats, no email counted. Both servers route on the same status (chat 2 3 1,
 * email 0 1 1): ixn-a asks for a chat, ixn-b for an email. The statserver grants the chat
 * (chat 3 3 0, email 0 1 1), then the email, within the rule with chat 3 counted (chat
 * 3 2 0, email 1 1 0). ixn-a forwards all three statuses before its chat invite, which
 * waits for its store's commit: the newest status says chat max 2, although the chat was
 * granted with max 3. */
static void test_window_two_servers(void **state)
{
    (void)state;
    overcap_media routed[NMEDIA] = {M(true, 0, 0, 0), M(true, 2, 3, 1), M(true, 0, 1, 1)};
    overcap_media granted[NMEDIA] = {M(true, 0, 0, 0), M(true, 3, 3, 0), M(true, 0, 1, 1)};
    overcap_media after[NMEDIA] = {M(true, 0, 0, 0), M(true, 3, 2, 0), M(true, 1, 1, 0)};
    overcap_media w[NMEDIA] = {{0}};
    for (int i = 0; i < NMEDIA; i++) {
        overcap_window_add(&w[i], &routed[i]);
        overcap_window_add(&w[i], &granted[i]);
        overcap_window_add(&w[i], &after[i]);
    }
    uint32_t n = 2 + 1;
    /* By the newest status alone the chat invite was above the rule: wrong. */
    assert_int_equal(overcap_judge(&after[CHAT], n, false), OVERCAP_ABOVE_MAX);
    overcap_media view = overcap_window_view(&after[CHAT], &w[CHAT]);
    assert_int_equal(overcap_judge(&view, n, false), OVERCAP_OK);
    /* The statuses after the invite keep showing chat 3 2 0 while the email is held; they
     * would confirm an invite judged above max 2, so the judgement must not start there. */
    assert_true(overcap_confirms(&after[CHAT], n));

    /* A real one: the agent holds 2 chats and 1 email (chat 2 2 0) and every status of the
     * window says so, but a third chat comes (a status said one available, wrongly). */
    overcap_media full = M(true, 2, 2, 0), wrong = M(true, 2, 2, 1);
    overcap_media w2 = {0};
    overcap_window_add(&w2, &full);
    overcap_window_add(&w2, &wrong);
    view = overcap_window_view(&wrong, &w2);
    assert_int_equal(overcap_judge(&view, 3, false), OVERCAP_ABOVE_MAX);
    assert_true(overcap_final(OVERCAP_ABOVE_MAX, 3, 3, view.max));
}

static void test_confirms_and_final(void **state)
{
    (void)state;
    /* The invite made 3 chats and the status before it said max 2 (an email held). The
     * status that allowed the route arrives just after: the email had ended, max 3. */
    overcap_media before = M(true, 2, 2, 0);
    overcap_media after = M(true, 2, 3, 1);
    assert_int_equal(overcap_judge(&before, 3, false), OVERCAP_ABOVE_MAX);
    assert_false(overcap_confirms(&after, 3));
    /* The status after the invite itself (honest counts) still shows it above. */
    overcap_media post = M(true, 3, 2, 0);
    assert_true(overcap_confirms(&post, 3));
    overcap_media unlisted = {0};
    assert_false(overcap_confirms(&unlisted, 3));

    assert_true(overcap_final(OVERCAP_ABOVE_MAX, 3, 3, 2));
    /* One of the chats held then ended meanwhile: maybe before the invite was sent. */
    assert_false(overcap_final(OVERCAP_ABOVE_MAX, 3, 2, 2));
    assert_true(overcap_final(OVERCAP_NONE_AVAILABLE, 2, 2, 3));
    assert_false(overcap_final(OVERCAP_NONE_AVAILABLE, 2, 1, 3));
    assert_false(overcap_final(OVERCAP_OK, 9, 9, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_judge_blended),
        cmocka_unit_test(test_judge_grant_in_flight),
        cmocka_unit_test(test_judge_none_available),
        cmocka_unit_test(test_reflects),
        cmocka_unit_test(test_after_work_evidence),
        cmocka_unit_test(test_after_work_mode),
        cmocka_unit_test(test_after_work_grant_in_flight),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_window_two_servers),
        cmocka_unit_test(test_confirms_and_final),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
