/* Unit tests of src/rules/target: every operator, level 0 for a missing skill, any, the
 * precedence of and/or/not and parentheses (against a direct evaluation of random
 * expressions too), step timing at its exact boundaries, canonical texts and their round
 * trip, the skills line and queue options parsers, errors with their column and message,
 * and every limit at N and N + 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "rules/target.h"

/* ---- helpers -------------------------------------------------------------------- */

/* Parses a target that must be valid. */
static target *ok(target_dict *d, const char *text)
{
    target *t = NULL;
    target_error e;
    int rc = target_parse(d, text, &t, &e);
    if (rc != 0)
        fprintf(stderr, "unexpected error in \"%.200s\": %zu: %s\n", text, e.column, e.message);
    assert_int_equal(rc, 0);
    assert_non_null(t);
    return t;
}

/* Checks one parse result against the wanted column and a part of the message. */
static void check_error(const char *what, const char *text, int rc, const target_error *e,
                        size_t column, const char *want)
{
    if (rc != CC_E_PARSE || e->column != column || !strstr(e->message, want))
        fprintf(stderr, "%s \"%.200s\": rc=%d column %zu \"%s\"; wanted column %zu \"%s\"\n", what,
                text, rc, e->column, e->message, column, want);
    assert_int_equal(rc, CC_E_PARSE);
    assert_int_equal(e->column, column);
    assert_non_null(strstr(e->message, want));
}

/* A target that must be refused at column with a message containing want; the dictionary
 * must not keep any name from it. */
static void bad_in(target_dict *d, const char *text, size_t column, const char *want)
{
    size_t before = target_dict_count(d);
    target *t = (target *)1;
    target_error e;
    int rc = target_parse(d, text, &t, &e);
    check_error("target", text, rc, &e, column, want);
    assert_null(t);
    assert_int_equal(target_dict_count(d), before);
}

static void bad(const char *text, size_t column, const char *want)
{
    target_dict *d = target_dict_new();
    bad_in(d, text, column, want);
    target_dict_free(d);
}

static target_skills skills(target_dict *d, const char *line)
{
    target_skills s;
    target_error e;
    int rc = target_parse_skills(d, line, &s, &e);
    if (rc != 0)
        fprintf(stderr, "unexpected error in skills \"%.200s\": %zu: %s\n", line, e.column,
                e.message);
    assert_int_equal(rc, 0);
    return s;
}

static void bad_skills(const char *line, size_t column, const char *want)
{
    target_dict *d = target_dict_new();
    target_skills s;
    s.count = 7;
    target_error e;
    int rc = target_parse_skills(d, line, &s, &e);
    check_error("skills", line, rc, &e, column, want);
    assert_int_equal(s.count, 0);
    assert_int_equal(target_dict_count(d), 0);
    target_dict_free(d);
}

static target_queue_options options(target_dict *d, const char *text)
{
    target_queue_options o;
    target_error e;
    int rc = target_parse_queue_options(d, text, &o, &e);
    if (rc != 0)
        fprintf(stderr, "unexpected error in options \"%s\": %zu: %s\n", text, e.column, e.message);
    assert_int_equal(rc, 0);
    return o;
}

static void bad_options(const char *text, size_t column, const char *want)
{
    target_dict *d = target_dict_new();
    target_queue_options o = {.has_priority = true, .priority = 9, .aging_s = 9};
    target_error e;
    int rc = target_parse_queue_options(d, text, &o, &e);
    check_error("options", text, rc, &e, column, want);
    assert_false(o.has_priority);
    assert_int_equal(o.aging_s, 0);
    assert_int_equal(o.select_skill, -1);
    assert_int_equal(target_dict_count(d), 0);
    target_dict_free(d);
}

/* Whether an agent with the skills line matches the one-step target text. */
static bool matches(const char *text, const char *line)
{
    target_dict *d = target_dict_new();
    target *t = ok(d, text);
    assert_int_equal(target_step_count(t), 1);
    target_skills s = skills(d, line);
    bool m = target_match(t, 0, &s);
    target_free(t);
    target_dict_free(d);
    return m;
}

/* The canonical text of a one-step target. */
static void canonical(const char *text, const char *want)
{
    target_dict *d = target_dict_new();
    target *t = ok(d, text);
    if (strcmp(target_step_text(t, 0), want) != 0)
        fprintf(stderr, "\"%s\" gave \"%s\", wanted \"%s\"\n", text, target_step_text(t, 0), want);
    assert_string_equal(target_step_text(t, 0), want);
    target_free(t);
    target_dict_free(d);
}

/* ---- evaluation ----------------------------------------------------------------- */

static void test_operators(void **state)
{
    (void)state;
    static const struct {
        const char *expr;
        bool at3; /* an agent with a:3 */
    } cases[] = {
        {"a >= 2", true},  {"a >= 3", true}, {"a >= 4", false}, {"a > 2", true},  {"a > 3", false},
        {"a = 3", true},   {"a = 2", false}, {"a = 4", false},  {"a <= 3", true}, {"a <= 4", true},
        {"a <= 2", false}, {"a < 4", true},  {"a < 3", false},  {"a>=3", true},   {"a<3", false},
        {"a  =\t3", true}, {"a >= 0", true}, {"a > 10", false}, {"a < 10", true}, {"a <= 10", true},
        {"a = 10", false}, {"a < 0", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool m = matches(cases[i].expr, "a:3");
        if (m != cases[i].at3)
            fprintf(stderr, "%s with a:3 gave %d\n", cases[i].expr, m);
        assert_int_equal(m, cases[i].at3);
    }
    /* Both ends of the level range. */
    assert_true(matches("a = 10", "a:10"));
    assert_true(matches("a >= 10", "a:10"));
    assert_false(matches("a > 9", "a:9"));
    assert_true(matches("a = 1", "a:1"));
    assert_false(matches("a < 1", "a:1"));
    /* Other skills of the agent do not matter. */
    assert_true(matches("b = 5", "a:1, b:5, c:10"));
    assert_false(matches("b = 5", "a:5, c:5"));
}

static void test_missing_skill_is_level_0(void **state)
{
    (void)state;
    /* Known to the dictionary (another agent has it) but not held by this one. */
    assert_false(matches("spanish >= 1", "billing:5"));
    assert_true(matches("spanish = 0", "billing:5"));
    assert_true(matches("spanish < 1", "billing:5"));
    assert_true(matches("spanish <= 0", "billing:5"));
    assert_true(matches("spanish >= 0", "billing:5"));
    assert_false(matches("spanish > 0", "billing:5"));
    /* An agent with no skills at all. */
    assert_true(matches("spanish = 0", ""));
    assert_false(matches("spanish >= 1", ""));

    /* A name that no agent has is interned and is level 0 for everybody. */
    target_dict *d = target_dict_new();
    target *t = ok(d, "ghost < 1");
    assert_int_equal(target_dict_count(d), 1);
    assert_int_equal(target_dict_find(d, "ghost"), 0);
    assert_string_equal(target_dict_name(d, 0), "ghost");
    assert_null(target_dict_name(d, 1));
    assert_null(target_dict_name(d, -1));
    assert_int_equal(target_dict_find(d, "nobody"), -1);
    target_skills none = {0};
    assert_true(target_match(t, 0, &none));
    assert_int_equal(target_skills_level(&none, 0), 0);
    assert_int_equal(target_skills_level(&none, -1), 0);
    target_free(t);
    target_dict_free(d);
}

static void test_levels_above_max_count_as_max(void **state)
{
    (void)state;
    target_dict *d = target_dict_new();
    target *t = ok(d, "a = 10");
    target_skills s = {.count = 1, .id = {0}, .level = {200}};
    assert_true(target_match(t, 0, &s));
    target_free(t);
    target_dict_free(d);
}

static void test_any(void **state)
{
    (void)state;
    assert_true(matches("any", ""));
    assert_true(matches("ANY", "a:1"));
    assert_false(matches("not any", ""));
    assert_true(matches("any or a >= 5", ""));
    assert_false(matches("any and a >= 5", ""));

    target *t = target_any();
    assert_int_equal(target_step_count(t), 1);
    assert_string_equal(target_step_text(t, 0), "any");
    assert_string_equal(target_text(t), "any");
    assert_int_equal(target_step_seconds(t, 0), 0);
    assert_int_equal(target_step_begin_ms(t, 0), 0);
    assert_int_equal(target_step_at(t, 0), 0);
    assert_int_equal(target_step_at(t, UINT64_MAX), 0);
    target_skills none = {0};
    assert_true(target_match(t, 0, &none));
    target_free(t);
    target_free(NULL);
}

/* Every combination of a, b, c held (level 1) or not. */
static void truth_table(const char *text, bool (*want)(bool a, bool b, bool c))
{
    target_dict *d = target_dict_new();
    target *t = ok(d, text);
    for (int m = 0; m < 8; m++) {
        char line[32] = "";
        bool a = m & 1, b = m & 2, c = m & 4;
        snprintf(line, sizeof line, "%s%s%s", a ? "a:1," : "", b ? "b:1," : "", c ? "c:1," : "");
        size_t n = strlen(line);
        if (n)
            line[n - 1] = '\0';
        target_skills s = skills(d, line);
        if (target_match(t, 0, &s) != want(a, b, c))
            fprintf(stderr, "%s with \"%s\" gave %d\n", text, line, !want(a, b, c));
        assert_int_equal(target_match(t, 0, &s), want(a, b, c));
    }
    target_free(t);
    target_dict_free(d);
}

static bool w_or_and(bool a, bool b, bool c)
{
    return a || (b && c);
}
static bool w_paren_or_and(bool a, bool b, bool c)
{
    return (a || b) && c;
}
static bool w_not_and(bool a, bool b, bool c)
{
    (void)c;
    return !a && b;
}
static bool w_not_paren(bool a, bool b, bool c)
{
    (void)c;
    return !(a && b);
}
static bool w_and_or(bool a, bool b, bool c)
{
    return (a && b) || c;
}
static bool w_not_or(bool a, bool b, bool c)
{
    return !a || (b && !c);
}
static bool w_not_not(bool a, bool b, bool c)
{
    (void)b;
    (void)c;
    return a;
}

static void test_precedence(void **state)
{
    (void)state;
    truth_table("a >= 1 or b >= 1 and c >= 1", w_or_and);
    truth_table("(a >= 1 or b >= 1) and c >= 1", w_paren_or_and);
    truth_table("not a >= 1 and b >= 1", w_not_and);
    truth_table("not (a >= 1 and b >= 1)", w_not_paren);
    truth_table("a >= 1 and b >= 1 or c >= 1", w_and_or);
    truth_table("not a >= 1 or b >= 1 and not c >= 1", w_not_or);
    truth_table("not not a >= 1", w_not_not);
    truth_table("((((a >= 1))))", w_not_not);
    truth_table("NOT a>=1 Or b>=1 AND not(c>=1)", w_not_or);
    truth_table("(a>=1)or(b>=1)and(c>=1)", w_or_and);
}

/* A random expression over skills a..d, written fully parenthesised with random blanks,
 * and evaluated directly: the compiled form must agree on every agent. */
typedef struct gen {
    uint64_t seed;
    cc_buf text;
} gen;

static unsigned rnd(gen *g, unsigned n)
{
    g->seed = g->seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(g->seed >> 33) % n;
}

/* Writes an expression and returns its value for the agent levels lv[0..3] via the
 * same random choices (the generator is replayed once per agent). */
static bool gen_expr(gen *g, int depth, const unsigned lv[4])
{
    static const char *const ops[] = {">=", ">", "=", "<=", "<"};
    unsigned kind = depth >= 5 ? rnd(g, 2) : rnd(g, 6);
    if (rnd(g, 3) == 0)
        cc_buf_puts(&g->text, " ");
    if (kind <= 1) {
        if (rnd(g, 12) == 0) {
            cc_buf_puts(&g->text, "any");
            return true;
        }
        unsigned skill = rnd(g, 4), op = rnd(g, 5), level = rnd(g, 11);
        cc_buf_printf(&g->text, "%c %s %u", 'a' + skill, ops[op], level);
        unsigned l = lv[skill];
        switch (op) {
        case 0: return l >= level;
        case 1: return l > level;
        case 2: return l == level;
        case 3: return l <= level;
        default: return l < level;
        }
    }
    if (kind == 2) {
        cc_buf_puts(&g->text, "not ");
        cc_buf_puts(&g->text, "(");
        bool v = !gen_expr(g, depth + 1, lv);
        cc_buf_puts(&g->text, ")");
        return v;
    }
    bool is_and = kind >= 4;
    unsigned n = 2 + rnd(g, 3);
    cc_buf_puts(&g->text, "(");
    bool v = is_and;
    for (unsigned i = 0; i < n; i++) {
        if (i)
            cc_buf_puts(&g->text, is_and ? " and " : " or ");
        bool x = gen_expr(g, depth + 1, lv);
        v = is_and ? v && x : v || x;
    }
    cc_buf_puts(&g->text, ")");
    return v;
}

static void test_random_expressions(void **state)
{
    (void)state;
    for (uint64_t round = 1; round <= 300; round++) {
        target_dict *d = target_dict_new();
        gen g = {.seed = round};
        cc_buf_init(&g.text);
        unsigned zero[4] = {0, 0, 0, 0};
        gen_expr(&g, 0, zero);
        target *t = ok(d, g.text.data);
        /* The canonical text means the same and is its own canonical text. */
        target *again = ok(d, target_step_text(t, 0));
        assert_string_equal(target_step_text(again, 0), target_step_text(t, 0));
        for (unsigned agent = 0; agent < 40; agent++) {
            unsigned lv[4];
            char line[64] = "";
            cc_buf lb;
            cc_buf_init(&lb);
            for (int k = 0; k < 4; k++) {
                lv[k] = (agent * 7 + (unsigned)k * 13 + (unsigned)round) % 11;
                if (lv[k])
                    cc_buf_printf(&lb, "%s%c:%u", lb.len ? ", " : "", 'a' + k, lv[k]);
            }
            snprintf(line, sizeof line, "%s", lb.data ? lb.data : "");
            cc_buf_free(&lb);
            gen replay = {.seed = round};
            cc_buf_init(&replay.text);
            bool want = gen_expr(&replay, 0, lv);
            cc_buf_free(&replay.text);
            target_skills s = skills(d, line);
            if (target_match(t, 0, &s) != want)
                fprintf(stderr, "%s with %s: wanted %d\n", g.text.data, line, want);
            assert_int_equal(target_match(t, 0, &s), want);
            assert_int_equal(target_match(again, 0, &s), want);
        }
        target_free(again);
        target_free(t);
        cc_buf_free(&g.text);
        target_dict_free(d);
    }
}

/* ---- steps ---------------------------------------------------------------------- */

static void test_step_timing(void **state)
{
    (void)state;
    target_dict *d = target_dict_new();
    target *t = ok(d, "spanish >= 3 and billing >= 5 for 30; billing >= 5 for 60; billing >= 1");
    assert_int_equal(target_step_count(t), 3);
    assert_int_equal(target_step_seconds(t, 0), 30);
    assert_int_equal(target_step_seconds(t, 1), 60);
    assert_int_equal(target_step_seconds(t, 2), 0);
    assert_int_equal(target_step_begin_ms(t, 0), 0);
    assert_int_equal(target_step_begin_ms(t, 1), 30000);
    assert_int_equal(target_step_begin_ms(t, 2), 90000);
    assert_int_equal(target_step_at(t, 0), 0);
    assert_int_equal(target_step_at(t, 29999), 0);
    /* Waited exactly the first step's seconds: the second step applies. */
    assert_int_equal(target_step_at(t, 30000), 1);
    assert_int_equal(target_step_at(t, 89999), 1);
    assert_int_equal(target_step_at(t, 90000), 2);
    assert_int_equal(target_step_at(t, UINT64_MAX), 2);
    assert_string_equal(target_step_text(t, 0), "spanish >= 3 and billing >= 5");
    assert_string_equal(target_step_text(t, 1), "billing >= 5");
    assert_string_equal(target_step_text(t, 2), "billing >= 1");
    assert_string_equal(target_text(t),
                        "spanish >= 3 and billing >= 5 for 30; billing >= 5 for 60; billing >= 1");

    /* Each step matches by its own expression. */
    target_skills es = skills(d, "spanish:5, billing:5");
    target_skills b9 = skills(d, "billing:9");
    target_skills b1 = skills(d, "billing:1");
    assert_true(target_match(t, 0, &es));
    assert_false(target_match(t, 0, &b9));
    assert_true(target_match(t, 1, &b9));
    assert_false(target_match(t, 1, &b1));
    assert_true(target_match(t, 2, &b1));
    target_free(t);

    /* The extreme step lengths: 16 steps of a day each. */
    cc_buf b;
    cc_buf_init(&b);
    for (int i = 0; i < TARGET_STEPS_MAX - 1; i++)
        cc_buf_printf(&b, "a >= %d for %d; ", i % 11, TARGET_SECONDS_MAX);
    cc_buf_puts(&b, "any");
    t = ok(d, b.data);
    assert_int_equal(target_step_count(t), TARGET_STEPS_MAX);
    uint64_t day = (uint64_t)TARGET_SECONDS_MAX * 1000;
    assert_int_equal(target_step_begin_ms(t, TARGET_STEPS_MAX - 1), day * (TARGET_STEPS_MAX - 1));
    assert_int_equal(target_step_at(t, day * (TARGET_STEPS_MAX - 1) - 1), TARGET_STEPS_MAX - 2);
    assert_int_equal(target_step_at(t, day * (TARGET_STEPS_MAX - 1)), TARGET_STEPS_MAX - 1);
    assert_int_equal(target_step_at(t, day), 1);
    assert_int_equal(target_step_at(t, day - 1), 0);
    target_free(t);
    cc_buf_free(&b);

    t = ok(d, "a >= 1 for 1; any");
    assert_int_equal(target_step_at(t, 999), 0);
    assert_int_equal(target_step_at(t, 1000), 1);
    target_free(t);
    target_dict_free(d);
}

static void test_for_placement(void **state)
{
    (void)state;
    /* Missing on a step that is not the last: the column of the ';'. */
    bad("a >= 1; b >= 1", 7, "expected 'for SECONDS' before ';'");
    bad("a >= 1 for 5; b >= 1; any", 21, "expected 'for SECONDS' before ';'");
    /* Present on the last step: the column of 'for'. */
    bad("a >= 1 for 30", 8, "the last step takes no 'for'");
    bad("a >= 1 for 5; b >= 1 FOR 9", 22, "the last step takes no 'for'");
    /* A "for" on the last step is refused wherever it stands. */
    bad("a >= 5 for 30", 8, "the last step takes no 'for'");
    /* Seconds 1..86400. */
    bad("a >= 1 for 0; any", 12, "expected seconds 1..86400, found '0'");
    bad("a >= 1 for 86401; any", 12, "expected seconds 1..86400, found '86401'");
    bad("a >= 1 for; any", 11, "expected seconds 1..86400, found ';'");
    bad("a >= 1 for 99999999999999999999; any", 12, "expected seconds 1..86400");
    target_dict *d = target_dict_new();
    target_free(ok(d, "a >= 1 for 1; any"));
    target *t = ok(d, "a >= 1 for 86400; any");
    assert_int_equal(target_step_seconds(t, 0), 86400);
    target_free(t);
    target_dict_free(d);
    /* Empty steps. */
    bad("a >= 1 for 30;", 15, "expected a step");
    bad("a >= 1 for 30; ", 16, "expected a step");
    bad("a >= 1 for 30;; any", 15, "expected a step");
    bad(";", 1, "expected a skill name, 'any', 'not' or '('");
    bad("", 1, "expected a skill name, 'any', 'not' or '(', found end of text");
    bad("   ", 4, "found end of text");
}

/* ---- canonical text ------------------------------------------------------------- */

static void test_canonical_text(void **state)
{
    (void)state;
    canonical("spanish>=3   and\tbilling >=5", "spanish >= 3 and billing >= 5");
    canonical("a >= 1 or b >= 1 and c >= 1", "a >= 1 or b >= 1 and c >= 1");
    canonical("(a >= 1 or b >= 1) and c >= 1", "(a >= 1 or b >= 1) and c >= 1");
    canonical("((a >= 1))", "a >= 1");
    canonical("(a >= 1 and b >= 1) or c >= 1", "a >= 1 and b >= 1 or c >= 1");
    canonical("(a >= 1 or b >= 1) or (c >= 1 or d >= 1)", "a >= 1 or b >= 1 or c >= 1 or d >= 1");
    canonical("a >= 1 and (b >= 1 and c >= 1)", "a >= 1 and b >= 1 and c >= 1");
    canonical("not a>=1", "not (a >= 1)");
    canonical("not not a>=1", "not not (a >= 1)");
    canonical("not (not (a>=1))", "not not (a >= 1)");
    canonical("not any", "not any");
    canonical("NOT a>=1 AND b>2 OR c=3", "not (a >= 1) and b > 2 or c = 3");
    canonical("not (a<1 or b<=2)", "not (a < 1 or b <= 2)");
    canonical("a = 0", "a = 0");
    canonical("Any", "any");
    /* Keywords in any letter case; the canonical text writes them in lower case. */
    target_dict *d = target_dict_new();
    target *t = ok(d, "a >= 1 For 10 ; (b >= 2 OR c < 3) And NOT d = 4");
    assert_string_equal(target_text(t), "a >= 1 for 10; (b >= 2 or c < 3) and not (d = 4)");
    target_free(t);
    target_dict_free(d);
}

/* ---- skills lines --------------------------------------------------------------- */

static void test_skills_parse(void **state)
{
    (void)state;
    target_dict *d = target_dict_new();
    target_skills s = skills(d, "sales:7, spanish:5, billing:3");
    assert_int_equal(s.count, 3);
    assert_int_equal(target_dict_count(d), 3);
    /* Sorted by id: the order the names were interned in. */
    for (unsigned i = 0; i < s.count; i++)
        assert_int_equal(s.id[i], i);
    assert_int_equal(target_skills_level(&s, target_dict_find(d, "sales")), 7);
    assert_int_equal(target_skills_level(&s, target_dict_find(d, "spanish")), 5);
    assert_int_equal(target_skills_level(&s, target_dict_find(d, "billing")), 3);
    /* Ids already known come out sorted whatever the order written. */
    s = skills(d, "billing:9 ,sales : 1");
    assert_int_equal(s.count, 2);
    assert_int_equal(s.id[0], target_dict_find(d, "sales"));
    assert_int_equal(s.id[1], target_dict_find(d, "billing"));
    assert_int_equal(s.level[0], 1);
    assert_int_equal(s.level[1], 9);
    assert_int_equal(target_skills_level(&s, target_dict_find(d, "spanish")), 0);
    /* Empty and blank lines: no skills. */
    assert_int_equal(skills(d, "").count, 0);
    assert_int_equal(skills(d, " \t ").count, 0);
    /* Levels 1..10 and every character a name may have. */
    s = skills(d, "a-b_9:1, z:10");
    assert_int_equal(s.count, 2);
    assert_int_equal(target_skills_level(&s, target_dict_find(d, "a-b_9")), 1);
    assert_int_equal(target_skills_level(&s, target_dict_find(d, "z")), 10);
    target_dict_free(d);

    bad_skills("a:0", 3, "expected a level 1..10, found '0'");
    bad_skills("a:11", 3, "expected a level 1..10, found '11'");
    bad_skills("a:1, b:", 8, "expected a level 1..10, found end of text");
    bad_skills("a:1.5", 4, "expected ',' or end of text, found '.'");
    bad_skills("a:-1", 3, "expected a level 1..10, found '-'");
    bad_skills("a 1", 3, "expected ':' and a level after 'a', found '1'");
    bad_skills("a", 2, "expected ':' and a level after 'a', found end of text");
    bad_skills("a:1,", 5, "expected a skill name, found end of text");
    bad_skills(",a:1", 1, "expected a skill name, found ','");
    bad_skills("a:1 b:2", 5, "expected ',' or end of text, found 'b'");
    bad_skills("a:1,, b:2", 5, "expected a skill name, found ','");
    bad_skills("sales:1, billing:2, sales:3", 21, "skill 'sales' is given twice");
    bad_skills("Sales:1", 1, "lower case");
    bad_skills("a:1, sAles:1", 6, "lower case");
    bad_skills("1abc:1", 1, "expected a skill name, found '1'");
    bad_skills("_a:1", 1, "expected a skill name, found '_'");
    bad_skills("-a:1", 1, "expected a skill name, found '-'");
    bad_skills("a.b:1", 2, "expected ':' and a level after 'a', found '.'");
    bad_skills("ñ:1", 1, "found byte 0xc3");
    bad_skills("any:1", 1, "'any', a reserved word");
    bad_skills("b:1, and:2", 6, "'and', a reserved word");
    bad_skills("for:1", 1, "reserved word");
    bad_skills("not:1", 1, "reserved word");
    bad_skills("or:1", 1, "reserved word");
    bad_skills("OR:1", 1, "reserved word");
}

static void test_skills_limits(void **state)
{
    (void)state;
    /* A name of 32 bytes is accepted, 33 refused. */
    char name[TARGET_SKILL_NAME_MAX + 2];
    memset(name, 'n', sizeof name);
    name[TARGET_SKILL_NAME_MAX] = '\0';
    char line[128];
    snprintf(line, sizeof line, "%s:4", name);
    target_dict *d = target_dict_new();
    target_skills s = skills(d, line);
    assert_int_equal(s.count, 1);
    assert_int_equal(target_dict_find(d, name), 0);
    target *t = NULL;
    snprintf(line, sizeof line, "%s = 4", name);
    t = ok(d, line);
    assert_true(target_match(t, 0, &s));
    target_free(t);
    snprintf(line, sizeof line, "select %s", name);
    assert_int_equal(options(d, line).select_skill, 0);
    target_dict_free(d);
    name[TARGET_SKILL_NAME_MAX] = 'n';
    name[TARGET_SKILL_NAME_MAX + 1] = '\0';
    snprintf(line, sizeof line, "x:1, %s:4", name);
    bad_skills(line, 6, "is longer than 32 bytes");
    snprintf(line, sizeof line, "x >= 1 or %s = 4", name);
    bad(line, 11, "is longer than 32 bytes");
    snprintf(line, sizeof line, "select %s", name);
    bad_options(line, 8, "is longer than 32 bytes");

    /* 64 skills are accepted, a 65th is refused at its column. */
    cc_buf b;
    cc_buf_init(&b);
    for (int i = 0; i < TARGET_AGENT_SKILLS_MAX; i++)
        cc_buf_printf(&b, "%ss%02d:%d", i ? ", " : "", i, 1 + i % 10);
    d = target_dict_new();
    s = skills(d, b.data);
    assert_int_equal(s.count, TARGET_AGENT_SKILLS_MAX);
    for (int i = 0; i < TARGET_AGENT_SKILLS_MAX; i++) {
        char n[16];
        snprintf(n, sizeof n, "s%02d", i);
        assert_int_equal(target_skills_level(&s, target_dict_find(d, n)), 1 + i % 10);
    }
    target_dict_free(d);
    size_t col = b.len + 3;
    cc_buf_puts(&b, ", s64:1");
    bad_skills(b.data, col, "too many skills (at most 64 per agent)");
    cc_buf_free(&b);
}

/* ---- queue options -------------------------------------------------------------- */

static void test_queue_options(void **state)
{
    (void)state;
    target_dict *d = target_dict_new();
    target_queue_options o = options(d, "");
    assert_false(o.has_priority);
    assert_int_equal(o.priority, 0);
    assert_int_equal(o.aging_s, 0);
    assert_int_equal(o.select_skill, -1);
    o = options(d, "  ");
    assert_false(o.has_priority);
    o = options(d, "priority 0");
    assert_true(o.has_priority);
    assert_int_equal(o.priority, 0);
    o = options(d, "priority 1000");
    assert_true(o.has_priority);
    assert_int_equal(o.priority, 1000);
    assert_int_equal(o.aging_s, 0);
    o = options(d, "aging 1");
    assert_false(o.has_priority);
    assert_int_equal(o.aging_s, 1);
    assert_int_equal(options(d, "aging 86400").aging_s, 86400);
    assert_int_equal(options(d, "select idle").select_skill, -1);
    assert_int_equal(options(d, "select IDLE").select_skill, -1);
    assert_int_equal(target_dict_count(d), 0);
    o = options(d, "select billing");
    assert_int_equal(o.select_skill, 0);
    assert_string_equal(target_dict_name(d, 0), "billing");
    o = options(d, "priority 5, aging 30, select spanish");
    assert_true(o.has_priority);
    assert_int_equal(o.priority, 5);
    assert_int_equal(o.aging_s, 30);
    assert_int_equal(o.select_skill, 1);
    o = options(d, "select billing,aging 2 ,  PRIORITY 7");
    assert_int_equal(o.priority, 7);
    assert_int_equal(o.aging_s, 2);
    assert_int_equal(o.select_skill, 0);
    target_dict_free(d);

    bad_options("priority 1001", 10, "expected a priority 0..1000, found '1001'");
    bad_options("priority", 9, "expected a priority 0..1000, found end of text");
    bad_options("priority -1", 10, "expected a priority 0..1000, found '-'");
    bad_options("aging 0", 7, "expected aging seconds 1..86400, found '0'");
    bad_options("aging 86401", 7, "expected aging seconds 1..86400, found '86401'");
    bad_options("select", 7, "expected a skill name or 'idle' after 'select', found end of text");
    bad_options("select Billing", 8, "lower case");
    bad_options("select any", 8, "'any', a reserved word");
    bad_options("select 5", 8, "expected a skill name or 'idle' after 'select', found '5'");
    bad_options("priority 1, priority 2", 13, "'priority' is given twice");
    bad_options("aging 5, priority 1, aging 5", 22, "'aging' is given twice");
    bad_options("select idle, select billing", 14, "'select' is given twice");
    bad_options("select billing, select billing", 17, "'select' is given twice");
    bad_options("prio 5", 1, "expected 'priority', 'aging' or 'select', found 'prio'");
    bad_options("priority 1,", 12, "expected 'priority', 'aging' or 'select', found end of text");
    bad_options("priority 1 aging 2", 12, "expected ',' or end of text, found 'aging'");
    bad_options("select billing spanish", 16, "expected ',' or end of text, found 'spanish'");
    bad_options(", priority 1", 1, "expected 'priority', 'aging' or 'select', found ','");
}

/* ---- errors --------------------------------------------------------------------- */

static void test_errors(void **state)
{
    (void)state;
    bad("spanish", 8, "expected an operator (>=, >, =, <=, <) after 'spanish', found end of text");
    bad("spanish => 3", 10, "expected a level 0..10, found '>'");
    bad("spanish == 3", 10, "expected a level 0..10, found '='");
    bad("spanish != 3", 9, "expected an operator");
    bad("spanish >= 11", 12, "expected a level 0..10, found '11'");
    bad("spanish >= -1", 12, "expected a level 0..10, found '-'");
    bad("spanish >=", 11, "expected a level 0..10, found end of text");
    bad("spanish >= 3 and", 17, "expected a skill name, 'any', 'not' or '(', found end of text");
    bad("spanish >= 3 or or b >= 1", 17, "expected a skill name, 'any', 'not' or '(', found 'or'");
    bad("(a >= 1", 8, "expected 'and', 'or' or ')', found end of text");
    bad("(a >= 1 for 5; any)", 9, "expected 'and', 'or' or ')', found 'for'");
    bad("a >= 1)", 7, "expected 'and', 'or', 'for', ';' or end of text, found ')'");
    bad("a >= 1 xor b >= 1", 8, "expected 'and', 'or', 'for', ';' or end of text, found 'xor'");
    bad("a >= 1 & b >= 1", 8, "found '&'");
    bad("a >= 1 for 30 b >= 1", 15, "expected ';' or end of text, found 'b'");
    bad("Spanish >= 1", 1,
        "expected a skill name (lower case: a-z, 0-9, '_', '-'), found 'Spanish'");
    bad("for >= 1", 1, "expected a skill name, 'any', 'not' or '(', found 'for'");
    bad("and", 1, "found 'and'");
    bad("any >= 1", 5, "expected 'and', 'or', 'for', ';' or end of text, found '>='");
    bad("()", 2, "expected a skill name, 'any', 'not' or '(', found ')'");
    bad("not", 4, "found end of text");
    bad("a >= \x01", 6, "expected a level 0..10, found byte 0x01");
    bad("a >= 1 and \xff", 12, "found byte 0xff");
    bad("_x >= 1", 1, "found '_'");
    bad("9a >= 1", 1, "found '9'");
    /* A long token is cut in the message, which always fits. */
    char longword[200];
    memset(longword, 'q', sizeof longword - 1);
    longword[sizeof longword - 1] = '\0';
    bad(longword, 1, "is longer than 32 bytes");
    char text[300];
    snprintf(text, sizeof text, "a >= 1 %s", longword);
    bad(text, 8, "...'");
}

/* ---- limits --------------------------------------------------------------------- */

static void test_steps_limit(void **state)
{
    (void)state;
    target_dict *d = target_dict_new();
    cc_buf b;
    cc_buf_init(&b);
    for (int i = 0; i < TARGET_STEPS_MAX - 1; i++)
        cc_buf_printf(&b, "a >= %d for %d; ", i % 11, i + 1);
    cc_buf_puts(&b, "any");
    target *t = ok(d, b.data);
    assert_int_equal(target_step_count(t), TARGET_STEPS_MAX);
    assert_int_equal(target_step_seconds(t, TARGET_STEPS_MAX - 2), TARGET_STEPS_MAX - 1);
    target_free(t);
    cc_buf_reset(&b);
    for (int i = 0; i < TARGET_STEPS_MAX; i++)
        cc_buf_printf(&b, "a >= %d for %d; ", i % 11, i + 1);
    size_t col = b.len + 1;
    cc_buf_puts(&b, "any");
    bad_in(d, b.data, col, "too many steps (at most 16)");
    cc_buf_free(&b);
    target_dict_free(d);
}

/* n nested levels of open around "a >= 1", each closed by close. */
static void nest(cc_buf *b, int n, const char *open, const char *close)
{
    cc_buf_reset(b);
    for (int i = 0; i < n; i++)
        cc_buf_puts(b, open);
    cc_buf_puts(b, "a >= 1");
    for (int i = 0; i < n; i++)
        cc_buf_puts(b, close);
}

static void test_depth_limit(void **state)
{
    (void)state;
    target_dict *d = target_dict_new();
    target_skills a1 = skills(d, "a:1");
    cc_buf b;
    cc_buf_init(&b);

    nest(&b, TARGET_DEPTH_MAX, "(", ")");
    target *t = ok(d, b.data);
    assert_string_equal(target_step_text(t, 0), "a >= 1");
    target_free(t);
    nest(&b, TARGET_DEPTH_MAX + 1, "(", ")");
    bad_in(d, b.data, TARGET_DEPTH_MAX + 1, "nesting deeper than 32 levels");

    /* An even number of nots means the term itself, one more its negation. */
    target_skills none = {0};
    nest(&b, TARGET_DEPTH_MAX, "not ", "");
    t = ok(d, b.data);
    assert_true(target_match(t, 0, &a1));
    assert_false(target_match(t, 0, &none));
    target *again = ok(d, target_step_text(t, 0));
    assert_string_equal(target_step_text(again, 0), target_step_text(t, 0));
    target_free(again);
    target_free(t);
    nest(&b, TARGET_DEPTH_MAX + 1, "not ", "");
    bad_in(d, b.data, 4 * TARGET_DEPTH_MAX + 1, "nesting deeper than 32 levels");

    /* A '(' right after a not belongs to it. */
    nest(&b, TARGET_DEPTH_MAX, "not (", ")");
    t = ok(d, b.data);
    assert_true(target_match(t, 0, &a1));
    target_free(t);
    nest(&b, TARGET_DEPTH_MAX - 1, "not (", ")");
    t = ok(d, b.data);
    assert_false(target_match(t, 0, &a1));
    assert_true(target_match(t, 0, &none));
    target_free(t);
    nest(&b, TARGET_DEPTH_MAX + 1, "not (", ")");
    bad_in(d, b.data, 5 * TARGET_DEPTH_MAX + 1, "nesting deeper than 32 levels");
    nest(&b, TARGET_DEPTH_MAX / 2, "not ((", "))");
    target_free(ok(d, b.data));
    nest(&b, TARGET_DEPTH_MAX / 2 + 1, "not ((", "))");
    bad_in(d, b.data, 6 * (TARGET_DEPTH_MAX / 2) + 1, "nesting deeper than 32 levels");

    /* The deepest evaluation stack: an and/or pair per level, the complex operand last. */
    for (int n = TARGET_DEPTH_MAX; n <= TARGET_DEPTH_MAX + 1; n++) {
        cc_buf_reset(&b);
        for (int i = 0; i < n; i++)
            cc_buf_puts(&b, "b >= 1 or b >= 1 and (");
        cc_buf_puts(&b, "b >= 1 or b >= 1 and a >= 1");
        for (int i = 0; i < n; i++)
            cc_buf_puts(&b, ")");
        if (n > TARGET_DEPTH_MAX) {
            bad_in(d, b.data, 22 * TARGET_DEPTH_MAX + 22, "nesting deeper than 32 levels");
            continue;
        }
        t = ok(d, b.data);
        assert_false(target_match(t, 0, &a1));
        assert_false(target_match(t, 0, &none));
        target_skills both = skills(d, "a:1, b:1");
        assert_true(target_match(t, 0, &both));
        assert_string_equal(target_step_text(t, 0), b.data);
        target_free(t);
    }
    cc_buf_free(&b);
    target_dict_free(d);
}

static void test_text_limit(void **state)
{
    (void)state;
    target_dict *d = target_dict_new();
    char text[TARGET_TEXT_MAX + 2];
    memset(text, ' ', sizeof text);
    memcpy(text, "a >= 1", 6);
    text[TARGET_TEXT_MAX] = '\0';
    target *t = ok(d, text);
    assert_string_equal(target_step_text(t, 0), "a >= 1");
    target_free(t);
    text[TARGET_TEXT_MAX] = ' ';
    text[TARGET_TEXT_MAX + 1] = '\0';
    bad_in(d, text, TARGET_TEXT_MAX + 1, "target longer than 4096 bytes");

    /* A target whose canonical text would not fit is refused at the step where it
     * overflows, so that every text given out parses back. "a>=1 or " (8 bytes) is
     * "a >= 1 or " (10) in canonical form. */
    cc_buf b;
    cc_buf_init(&b);
    cc_buf_puts(&b, "a>=1");
    while (b.len + 8 <= 3000)
        cc_buf_puts(&b, " or a>=1");
    target_free(ok(d, b.data));
    cc_buf_reset(&b);
    cc_buf_puts(&b, "b>=1 for 5; a>=1");
    while (b.len + 8 <= TARGET_TEXT_MAX)
        cc_buf_puts(&b, " or a>=1");
    bad_in(d, b.data, 13, "target too long: in canonical form");
    /* Two steps that fit alone but not together: the second is named. */
    cc_buf_reset(&b);
    cc_buf_puts(&b, "a>=1");
    while (b.len + 8 <= 1900)
        cc_buf_puts(&b, " or a>=1");
    cc_buf_puts(&b, " for 5;");
    size_t second = b.len + 1;
    cc_buf_puts(&b, "a>=2");
    while (b.len + 8 <= 3900)
        cc_buf_puts(&b, " or a>=2");
    bad_in(d, b.data, second, "target too long: in canonical form");
    /* A canonical text of exactly 4096 bytes is accepted and parses back; 4097 are refused. */
    for (int extra = 0; extra <= 1; extra++) {
        cc_buf_reset(&b);
        cc_buf_puts(&b, "any for 86400; ");
        size_t canon = strlen("any for 86400; ");
        cc_buf_puts(&b, "a>=1");
        canon += 6;
        while (canon + 10 <= TARGET_TEXT_MAX - 10) {
            cc_buf_puts(&b, " or a>=1");
            canon += 10;
        }
        /* The last term " or NAME >= 1" fills the rest exactly (or one byte more). */
        size_t name_len = TARGET_TEXT_MAX - canon + (size_t)extra - 9;
        assert_true(name_len >= 1 && name_len <= 12);
        cc_buf_puts(&b, " or ");
        for (size_t i = 0; i < name_len; i++)
            cc_buf_putc(&b, 'z');
        cc_buf_puts(&b, ">=1");
        if (!extra) {
            target *t2 = ok(d, b.data);
            assert_int_equal(strlen(target_text(t2)), TARGET_TEXT_MAX);
            target *t3 = ok(d, target_text(t2));
            assert_string_equal(target_text(t3), target_text(t2));
            target_free(t3);
            target_free(t2);
        } else {
            bad_in(d, b.data, 16, "target too long: in canonical form");
        }
    }
    cc_buf_free(&b);
    target_dict_free(d);
}

static void test_dict_limit(void **state)
{
    (void)state;
    target_dict *d = target_dict_new();
    cc_buf b;
    cc_buf_init(&b);
    /* 4096 names through skills lines of 64. */
    for (int line = 0; line < TARGET_DICT_MAX / TARGET_AGENT_SKILLS_MAX; line++) {
        cc_buf_reset(&b);
        for (int i = 0; i < TARGET_AGENT_SKILLS_MAX; i++)
            cc_buf_printf(&b, "%sk%d:1", i ? ", " : "", line * TARGET_AGENT_SKILLS_MAX + i);
        assert_int_equal(skills(d, b.data).count, TARGET_AGENT_SKILLS_MAX);
    }
    cc_buf_free(&b);
    assert_int_equal(target_dict_count(d), TARGET_DICT_MAX);
    assert_string_equal(target_dict_name(d, TARGET_DICT_MAX - 1), "k4095");
    /* Known names are still fine everywhere; a new one is refused at its column. */
    target *t = ok(d, "k0 >= 1 for 5; k4095 >= 1");
    target_free(t);
    assert_int_equal(skills(d, "k7:2").count, 1);
    assert_int_equal(options(d, "select k9").select_skill, 9);
    bad_in(d, "k0 >= 1 or fresh >= 1", 12, "too many distinct skill names (at most 4096");
    target_skills s;
    target_error e;
    int rc = target_parse_skills(d, "k1:1, fresh:2", &s, &e);
    check_error("skills", "k1:1, fresh:2", rc, &e, 7, "too many distinct skill names");
    target_queue_options o;
    rc = target_parse_queue_options(d, "select fresh", &o, &e);
    check_error("options", "select fresh", rc, &e, 8, "too many distinct skill names");
    assert_int_equal(target_dict_count(d), TARGET_DICT_MAX);
    target_dict_free(d);
}

/* A refused text leaves no name behind, whichever parser refused it, and the error
 * pointer may be NULL. */
static void test_refused_leaves_dict_unchanged(void **state)
{
    (void)state;
    target_dict *d = target_dict_new();
    target_free(ok(d, "old >= 1"));
    target *t = NULL;
    assert_int_equal(target_parse(d, "new1 >= 1 and new2 >= 1 and", &t, NULL), CC_E_PARSE);
    assert_null(t);
    target_skills s;
    assert_int_equal(target_parse_skills(d, "new3:1, new4:11", &s, NULL), CC_E_PARSE);
    target_queue_options o;
    assert_int_equal(target_parse_queue_options(d, "select new5, aging 0", &o, NULL), CC_E_PARSE);
    assert_int_equal(target_dict_count(d), 1);
    assert_int_equal(target_dict_find(d, "new1"), -1);
    assert_int_equal(target_dict_find(d, "new5"), -1);
    /* The names can be added afterwards and get the next ids. */
    s = skills(d, "new4:2");
    assert_int_equal(s.id[0], 1);
    target_dict_free(d);
    target_dict_free(NULL);
}

/* ---- speed ---------------------------------------------------------------------- */

static void test_match_speed(void **state)
{
    (void)state;
    target_dict *d = target_dict_new();
    target *t = ok(d, "spanish >= 3 and billing >= 5 for 30; billing >= 5 or sales > 7");
    target_skills s = skills(d, "sales:7, spanish:5, billing:3, french:2, vip:1");
    volatile unsigned hits = 0;
    enum { N = 2000000 };
    clock_t t0 = clock();
    for (int i = 0; i < N; i++)
        hits += target_match(t, (size_t)(i & 1), &s);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    print_message("target_match: %.1f ns per evaluation\n", secs * 1e9 / N);
    assert_int_equal(hits, 0);
    /* Generous for sanitizer builds and a loaded machine; an optimised build takes tens
     * of nanoseconds. */
    assert_true(secs < 2.0);
    target_free(t);
    target_dict_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_missing_skill_is_level_0),
        cmocka_unit_test(test_levels_above_max_count_as_max),
        cmocka_unit_test(test_any),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_random_expressions),
        cmocka_unit_test(test_step_timing),
        cmocka_unit_test(test_for_placement),
        cmocka_unit_test(test_canonical_text),
        cmocka_unit_test(test_skills_parse),
        cmocka_unit_test(test_skills_limits),
        cmocka_unit_test(test_queue_options),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_steps_limit),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_text_limit),
        cmocka_unit_test(test_dict_limit),
        cmocka_unit_test(test_refused_leaves_dict_unchanged),
        cmocka_unit_test(test_match_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
