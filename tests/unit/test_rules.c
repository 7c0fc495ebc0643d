/* Unit tests of src/rules: every worked example of the capacity rules contract (section 4),
 * the evaluation of not, any and total, limits, error messages with line and column,
 * assignment precedence, a generated large file and the round trip of the normal form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/media.h"
#include "rules/rules.h"

/* ---- helpers -------------------------------------------------------------------- */

/* One parsed file with the media table and the messages it produced. */
typedef struct fixture {
    cc_media_table media;
    rules_set *set;
    cc_buf diag;
    int rc;
} fixture;

static void fx_parse(fixture *f, const char *text)
{
    cc_media_init(&f->media);
    cc_buf_init(&f->diag);
    f->rc = rules_parse(text, strlen(text), "t.rules", &f->media, &f->set, &f->diag);
}

static void fx_free(fixture *f)
{
    rules_free(f->set);
    cc_buf_free(&f->diag);
}

/* Parses text that must be valid. */
static void fx_ok(fixture *f, const char *text)
{
    fx_parse(f, text);
    if (f->rc != 0)
        fprintf(stderr, "unexpected errors:\n%s", f->diag.data ? f->diag.data : "");
    assert_int_equal(f->rc, 0);
    assert_non_null(f->set);
}

/* Parses text that must fail with rc and whose messages contain want. */
static void expect_error(const char *text, int rc, const char *want)
{
    fixture f;
    fx_parse(&f, text);
    if (f.rc != rc || !f.diag.data || !strstr(f.diag.data, want))
        fprintf(stderr, "text:\n%.300s\nrc=%d diag:\n%s\nwanted: %s\n", text, f.rc,
                f.diag.data ? f.diag.data : "", want);
    assert_int_equal(f.rc, rc);
    assert_null(f.set);
    assert_non_null(strstr(f.diag.data, want));
    fx_free(&f);
}

static int mid(fixture *f, const char *name)
{
    int id = cc_media_intern(&f->media, name, strlen(name));
    assert_true(id >= 0);
    return id;
}

/* An agent's situation: counts and readiness by media name. */
typedef struct agent {
    uint32_t counts[CC_MEDIA_MAX];
    cc_media_mask has, ready;
    rules_vector out[CC_MEDIA_MAX];
} agent;

static void agent_media(fixture *f, agent *a, const char *name, bool ready, uint32_t count)
{
    int id = mid(f, name);
    a->has |= (cc_media_mask)1 << id;
    if (ready)
        a->ready |= (cc_media_mask)1 << id;
    a->counts[id] = count;
}

static void check_vec(fixture *f, const agent *a, const char *name, bool ready, uint32_t n1,
                      uint32_t n2, uint32_t n3)
{
    const rules_vector *v = &a->out[mid(f, name)];
    if (v->ready != ready || v->current != n1 || v->max != n2 || v->available != n3)
        fprintf(stderr, "%s: got %s %u %u %u, want %s %u %u %u\n", name, v->ready ? "R" : "NR",
                v->current, v->max, v->available, ready ? "R" : "NR", n1, n2, n3);
    assert_int_equal(v->ready, ready);
    assert_int_equal(v->current, n1);
    assert_int_equal(v->max, n2);
    assert_int_equal(v->available, n3);
}

static void eval_rule(fixture *f, const char *rule, agent *a)
{
    const rules_rule *r = rules_find(f->set, rule);
    assert_non_null(r);
    rules_eval(r, a->counts, a->has, a->ready, a->out);
}

/* The rules of the contract's examples. */
static const char examples[] =
    "# '#' starts a comment\n"
    "rule \"Blended\" {\n"
    "    voice = any >= 1;                                      # a call only when idle\n"
    "    chat  = chat >= 3 or voice >= 1 or (chat >= 2 and email >= 1);\n"
    "    email = email >= 2 or voice >= 1 or (email >= 1 and chat >= 1);\n"
    "}\n"
    "rule \"ChatOnly\" { chat = chat >= 4; }\n"
    "rule \"Whisper\" { chat = not (voice >= 1) or chat >= 2; }\n"
    "rule \"Odd\" { chat = chat >= 1 and not (chat >= 3); }\n"
    "\n"
    "assign agent  \"Resources\" \"1001\"  \"Blended\";    # tenant, agent id, rule\n"
    "assign place  \"Resources\" \"P-12\"  \"ChatOnly\";   # tenant, place id, rule\n"
    "assign tenant \"Resources\"         \"Blended\";\n";

/* ---- section 4 of the contract -------------------------------------------------- */

/* One row of the Blended table: counts held, chat readiness, DND. */
static void blended_row(uint32_t voice, uint32_t chat, uint32_t email, bool chat_ready, bool dnd,
                        const uint32_t want[3][4])
{
    fixture f;
    fx_ok(&f, examples);
    agent a = {0};
    agent_media(&f, &a, "voice", !dnd, voice);
    agent_media(&f, &a, "chat", chat_ready && !dnd, chat);
    agent_media(&f, &a, "email", !dnd, email);
    eval_rule(&f, "Blended", &a);
    static const char *const names[] = {"voice", "chat", "email"};
    for (int i = 0; i < 3; i++)
        check_vec(&f, &a, names[i], want[i][0], want[i][1], want[i][2], want[i][3]);
    fx_free(&f);
}

static void test_blended_table(void **state)
{
    (void)state;
    /* Columns: voice, chat, email as {S, N1, N2, N3}. */
    blended_row(0, 0, 0, true, false,
                (const uint32_t[3][4]){{1, 0, 1, 1}, {1, 0, 3, 3}, {1, 0, 2, 2}});
    blended_row(0, 1, 0, true, false,
                (const uint32_t[3][4]){{1, 0, 0, 0}, {1, 1, 3, 2}, {1, 0, 1, 1}});
    blended_row(0, 2, 0, true, false,
                (const uint32_t[3][4]){{1, 0, 0, 0}, {1, 2, 3, 1}, {1, 0, 1, 1}});
    blended_row(0, 0, 1, true, false,
                (const uint32_t[3][4]){{1, 0, 0, 0}, {1, 0, 2, 2}, {1, 1, 2, 1}});
    blended_row(0, 2, 1, true, false,
                (const uint32_t[3][4]){{1, 0, 0, 0}, {1, 2, 2, 0}, {1, 1, 1, 0}});
    blended_row(1, 0, 0, true, false,
                (const uint32_t[3][4]){{1, 1, 1, 0}, {1, 0, 0, 0}, {1, 0, 0, 0}});
    blended_row(0, 1, 0, false, false,
                (const uint32_t[3][4]){{1, 0, 0, 0}, {0, 1, 3, 0}, {1, 0, 1, 1}});
    blended_row(0, 0, 0, true, true,
                (const uint32_t[3][4]){{0, 0, 1, 0}, {0, 0, 3, 0}, {0, 0, 2, 0}});
}

static void test_default_example(void **state)
{
    (void)state;
    fixture f;
    fx_ok(&f, "");
    agent a = {0};
    agent_media(&f, &a, "voice", true, 0);
    agent_media(&f, &a, "chat", true, 0);
    eval_rule(&f, "Default", &a);
    check_vec(&f, &a, "voice", true, 0, 1, 1);
    check_vec(&f, &a, "chat", true, 0, 0, 0);
    /* On a call Default has nothing more to give. */
    a.counts[mid(&f, "voice")] = 1;
    eval_rule(&f, "Default", &a);
    check_vec(&f, &a, "voice", true, 1, 1, 0);
    fx_free(&f);

    /* rules_empty gives the same Default to everybody. */
    cc_media_table media;
    cc_media_init(&media);
    rules_set *set = rules_empty(&media);
    const rules_rule *r = rules_lookup(set, "Resources", "1001", "P1");
    assert_string_equal(rules_rule_name(r), "Default");
    int voice = cc_media_find(&media, "voice", 5);
    assert_true(voice >= 0);
    uint32_t counts[CC_MEDIA_MAX] = {0};
    rules_vector out[CC_MEDIA_MAX];
    rules_eval(r, counts, (cc_media_mask)1 << voice, (cc_media_mask)1 << voice, out);
    assert_int_equal(out[voice].max, 1);
    assert_int_equal(out[voice].available, 1);
    rules_free(set);
}

static void test_whisper_example(void **state)
{
    (void)state;
    fixture f;
    fx_ok(&f, examples);
    agent a = {0};
    agent_media(&f, &a, "voice", true, 0);
    agent_media(&f, &a, "chat", true, 0);
    eval_rule(&f, "Whisper", &a);
    check_vec(&f, &a, "chat", true, 0, 0, 0);
    check_vec(&f, &a, "voice", true, 0, 0, 0);
    a.counts[mid(&f, "voice")] = 1;
    eval_rule(&f, "Whisper", &a);
    check_vec(&f, &a, "chat", true, 0, 2, 2);
    check_vec(&f, &a, "voice", true, 1, 0, 0);
    fx_free(&f);
}

static void test_odd_example(void **state)
{
    (void)state;
    fixture f;
    fx_ok(&f, examples);
    agent a = {0};
    agent_media(&f, &a, "chat", true, 0);
    eval_rule(&f, "Odd", &a);
    check_vec(&f, &a, "chat", true, 0, 1, 1);
    /* Blocked at 1 and 2, free again from 3 on: from 1 nothing, from 3 everything. */
    a.counts[mid(&f, "chat")] = 1;
    eval_rule(&f, "Odd", &a);
    check_vec(&f, &a, "chat", true, 1, 1, 0);
    a.counts[mid(&f, "chat")] = 3;
    eval_rule(&f, "Odd", &a);
    check_vec(&f, &a, "chat", true, 3, 1, 255);
    fx_free(&f);
}

/* ---- evaluation beyond the examples --------------------------------------------- */

static void test_one_interaction_builtin(void **state)
{
    (void)state;
    fixture f;
    fx_ok(&f, "");
    agent a = {0};
    agent_media(&f, &a, "voice", true, 0);
    agent_media(&f, &a, "chat", true, 0);
    agent_media(&f, &a, "sms", true, 0);
    eval_rule(&f, "OneInteractionOfAnyType", &a);
    check_vec(&f, &a, "voice", true, 0, 1, 1);
    check_vec(&f, &a, "chat", true, 0, 1, 1);
    check_vec(&f, &a, "sms", true, 0, 1, 1);
    a.counts[mid(&f, "chat")] = 1;
    eval_rule(&f, "OneInteractionOfAnyType", &a);
    check_vec(&f, &a, "voice", true, 0, 0, 0);
    check_vec(&f, &a, "chat", true, 1, 1, 0);
    check_vec(&f, &a, "sms", true, 0, 0, 0);
    fx_free(&f);
}

static void test_any_and_total(void **state)
{
    (void)state;
    fixture f;
    fx_ok(&f, "rule \"Any2\" { chat = any >= 2; email = any >= 2; }\n"
              "rule \"Total3\" { chat = total >= 3; email = total >= 3; voice = total >= 1; }\n");
    agent a = {0};
    agent_media(&f, &a, "chat", true, 1);
    agent_media(&f, &a, "email", true, 1);
    agent_media(&f, &a, "voice", true, 0);
    /* any: no single media holds 2, so each may go to 2 on its own. */
    eval_rule(&f, "Any2", &a);
    check_vec(&f, &a, "chat", true, 1, 2, 1);
    check_vec(&f, &a, "email", true, 1, 2, 1);
    check_vec(&f, &a, "voice", true, 0, 0, 0);
    /* total: 1 + 1 held, so one more of either. */
    eval_rule(&f, "Total3", &a);
    check_vec(&f, &a, "chat", true, 1, 2, 1);
    check_vec(&f, &a, "email", true, 1, 2, 1);
    check_vec(&f, &a, "voice", true, 0, 0, 0);
    /* any counts a media the agent has not added too. */
    agent_media(&f, &a, "sms", false, 2);
    a.has &= ~((cc_media_mask)1 << mid(&f, "sms"));
    eval_rule(&f, "Any2", &a);
    check_vec(&f, &a, "chat", true, 1, 0, 0);
    /* total over the limit of 255 still gives 0. */
    a.counts[mid(&f, "sms")] = 1000;
    eval_rule(&f, "Total3", &a);
    check_vec(&f, &a, "chat", true, 1, 0, 0);
    fx_free(&f);
}

static void test_not(void **state)
{
    (void)state;
    fixture f;
    fx_ok(&f, "rule \"N\" { chat = not chat >= 2; voice = !(chat >= 1) & !(voice >= 5); "
              "email = not not email >= 3; }\n");
    agent a = {0};
    agent_media(&f, &a, "chat", true, 0);
    agent_media(&f, &a, "voice", true, 0);
    agent_media(&f, &a, "email", true, 0);
    eval_rule(&f, "N", &a);
    /* chat is blocked only below 2: max 0, and nothing available from 0. */
    check_vec(&f, &a, "chat", true, 0, 0, 0);
    /* voice is blocked from 0 to 4 while idle on chat. */
    check_vec(&f, &a, "voice", true, 0, 0, 0);
    check_vec(&f, &a, "email", true, 0, 3, 3);
    a.counts[mid(&f, "chat")] = 2;
    eval_rule(&f, "N", &a);
    check_vec(&f, &a, "chat", true, 2, 0, 255);
    check_vec(&f, &a, "voice", true, 0, 255, 255);
    a.counts[mid(&f, "voice")] = 7;
    eval_rule(&f, "N", &a);
    check_vec(&f, &a, "voice", true, 7, 255, 255);
    fx_free(&f);
}

static void test_thresholds(void **state)
{
    (void)state;
    fixture f;
    fx_ok(&f, "rule \"Big\" { chat = chat >= 255; email = email >= 1; }\n");
    agent a = {0};
    agent_media(&f, &a, "chat", true, 0);
    agent_media(&f, &a, "email", true, 0);
    eval_rule(&f, "Big", &a);
    check_vec(&f, &a, "chat", true, 0, 255, 255);
    a.counts[mid(&f, "chat")] = 254;
    eval_rule(&f, "Big", &a);
    check_vec(&f, &a, "chat", true, 254, 255, 1);
    a.counts[mid(&f, "chat")] = 300;
    eval_rule(&f, "Big", &a);
    check_vec(&f, &a, "chat", true, 300, 255, 0);
    fx_free(&f);

    expect_error("rule \"X\" { chat = chat >= 256; }", CC_E_PARSE,
                 "t.rules:1:27: error: expected a number 1..255, found '256'");
    expect_error("rule \"X\" { chat = chat >= 0; }", CC_E_PARSE,
                 "t.rules:1:27: error: expected a number 1..255, found '0'");
    expect_error("rule \"X\" { chat = chat >= 99999999999999999999; }", CC_E_PARSE,
                 "expected a number 1..255");
}

static void test_unknown_media(void **state)
{
    (void)state;
    fixture f;
    fx_ok(&f, examples);
    agent a = {0};
    agent_media(&f, &a, "video", true, 0);
    agent_media(&f, &a, "chat", true, 0);
    eval_rule(&f, "ChatOnly", &a);
    check_vec(&f, &a, "video", true, 0, 0, 0);
    check_vec(&f, &a, "chat", true, 0, 4, 4);
    /* A media the agent does not have is left untouched. */
    a.out[mid(&f, "email")].max = 77;
    eval_rule(&f, "ChatOnly", &a);
    assert_int_equal(a.out[mid(&f, "email")].max, 77);
    fx_free(&f);
}

/* ---- files ---------------------------------------------------------------------- */

static void test_empty_and_comments(void **state)
{
    (void)state;
    fixture f;
    fx_ok(&f, "");
    assert_int_equal(f.diag.len, 0);
    assert_string_equal(rules_rule_name(rules_lookup(f.set, "T", "A", NULL)), "Default");
    fx_free(&f);
    fx_ok(&f, "# only comments\n   # and blanks\n\n\t#\n# no newline at the end");
    assert_int_equal(f.diag.len, 0);
    assert_string_equal(rules_rule_name(rules_lookup(f.set, "T", "A", "P")), "Default");
    assert_non_null(rules_find(f.set, "OneInteractionOfAnyType"));
    assert_null(rules_find(f.set, "Blended"));
    fx_free(&f);
}

static void test_keywords_and_symbols(void **state)
{
    (void)state;
    /* Keywords in any case, symbols for the operators, a rule with no condition. */
    fixture f;
    fx_ok(&f, "RULE \"A\" { chat = chat >= 2 | voice >= 1 & !(email >= 1); }\n"
              "Rule \"Empty\" { }\n"
              "ASSIGN Tenant \"T\" \"A\";\n");
    cc_buf out;
    cc_buf_init(&out);
    rules_format(f.set, &f.media, &out);
    assert_non_null(strstr(
        out.data, "rule \"A\" { chat = chat >= 2 or (voice >= 1 and not (email >= 1)); }\n"));
    assert_non_null(strstr(out.data, "rule \"Empty\" { }\n"));
    assert_non_null(strstr(out.data, "assign tenant \"T\" \"A\";\n"));
    cc_buf_free(&out);
    agent a = {0};
    agent_media(&f, &a, "chat", true, 0);
    eval_rule(&f, "Empty", &a);
    check_vec(&f, &a, "chat", true, 0, 0, 0);
    fx_free(&f);
}

static void test_precedence(void **state)
{
    (void)state;
    fixture f;
    fx_ok(&f, "rule \"A\" { chat = chat >= 1; }\n"
              "rule \"P\" { chat = chat >= 2; }\n"
              "rule \"T\" { chat = chat >= 3; }\n"
              "assign tenant \"Res\" \"T\";\n"
              "assign place \"Res\" \"P1\" \"P\";\n"
              "assign agent \"Res\" \"1001\" \"A\";\n"
              "assign agent \"Other\" \"1001\" \"OneInteractionOfAnyType\";\n");
    assert_int_equal(f.diag.len, 0);
    assert_string_equal(rules_rule_name(rules_lookup(f.set, "Res", "1001", "P1")), "A");
    assert_string_equal(rules_rule_name(rules_lookup(f.set, "Res", "1001", NULL)), "A");
    assert_string_equal(rules_rule_name(rules_lookup(f.set, "Res", "1002", "P1")), "P");
    assert_string_equal(rules_rule_name(rules_lookup(f.set, "Res", "1002", "P2")), "T");
    assert_string_equal(rules_rule_name(rules_lookup(f.set, "Res", "1002", NULL)), "T");
    assert_string_equal(rules_rule_name(rules_lookup(f.set, "Other", "1001", "P1")),
                        "OneInteractionOfAnyType");
    assert_string_equal(rules_rule_name(rules_lookup(f.set, "Other", "1002", "P1")), "Default");
    /* Places and agents belong to their tenant. */
    assert_string_equal(rules_rule_name(rules_lookup(f.set, "Nobody", "1001", "P1")), "Default");
    fx_free(&f);
}

static void test_later_line_wins(void **state)
{
    (void)state;
    fixture f;
    fx_ok(&f, "rule \"A\" { chat = chat >= 1; }\n"
              "rule \"B\" { chat = chat >= 2; }\n"
              "assign agent \"Res\" \"1001\" \"A\";\n"
              "assign agent \"Res\" \"1001\" \"B\";\n"
              "assign place \"Res\" \"P1\" \"B\";\n"
              "assign place \"Res\" \"P1\" \"A\";\n"
              "assign tenant \"Res\" \"A\";\n"
              "assign tenant \"Res\" \"Default\";\n");
    assert_string_equal(rules_rule_name(rules_lookup(f.set, "Res", "1001", NULL)), "B");
    assert_string_equal(rules_rule_name(rules_lookup(f.set, "Res", "1002", "P1")), "A");
    assert_string_equal(rules_rule_name(rules_lookup(f.set, "Res", "1002", NULL)), "Default");
    assert_non_null(strstr(f.diag.data, "t.rules:4:1: warning: agent \"Res\" \"1001\" is assigned "
                                        "again (first on line 3); this line wins"));
    assert_non_null(strstr(f.diag.data, "t.rules:6:1: warning: place \"Res\" \"P1\""));
    assert_non_null(strstr(f.diag.data, "t.rules:8:1: warning: tenant \"Res\""));
    assert_null(strstr(f.diag.data, "error"));
    fx_free(&f);

    /* Warnings stop after RULES_ERRORS_MAX, with one line saying so. */
    cc_buf b;
    cc_buf_init(&b);
    for (int i = 0; i < 100; i++)
        cc_buf_puts(&b, "assign tenant \"Res\" \"Default\";\n");
    fx_ok(&f, b.data);
    int lines = 0;
    for (const char *s = f.diag.data; (s = strchr(s, '\n')); s++)
        lines++;
    assert_int_equal(lines, RULES_ERRORS_MAX + 1);
    assert_non_null(
        strstr(f.diag.data, "t.rules:22:1: warning: more than 20 warnings, the rest not shown\n"));
    cc_buf_free(&b);
    fx_free(&f);
    fx_ok(&f, "rule \"A\" { chat = chat >= 1; }\n"
              "rule \"B\" { chat = chat >= 2; }\n"
              "assign agent \"Res\" \"1001\" \"A\";\n"
              "assign agent \"Res\" \"1001\" \"B\";\n"
              "assign tenant \"Res\" \"Default\";\n");
    /* Only the assignments in effect are written back. */
    cc_buf out;
    cc_buf_init(&out);
    rules_format(f.set, &f.media, &out);
    assert_null(strstr(out.data, "assign agent \"Res\" \"1001\" \"A\";"));
    assert_non_null(strstr(out.data, "assign agent \"Res\" \"1001\" \"B\";"));
    assert_non_null(strstr(out.data, "assign tenant \"Res\" \"Default\";"));
    cc_buf_free(&out);
    fx_free(&f);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error(
        "rule Blended { }", CC_E_PARSE,
        "t.rules:1:6: error: expected a rule name in double quotes (1..64 bytes), found 'Blended'");
    expect_error("rule \"A\" chat = chat >= 1; }", CC_E_PARSE,
                 "t.rules:1:10: error: expected '{', found 'chat'");
    expect_error("rule \"A\" {\n  chat = chat >= 1\n}\n", CC_E_PARSE,
                 "t.rules:3:1: error: expected ';' or an operator ('or', 'and'), found '}'");
    expect_error("rule \"A\" {\n  chat = chat > 1;\n}\n", CC_E_PARSE,
                 "t.rules:2:15: error: expected '>=', found '>'");
    expect_error("rule \"A\" {\n  chat = (chat >= 1;\n}\n", CC_E_PARSE,
                 "t.rules:2:20: error: expected ')' or an operator ('or', 'and'), found ';'");
    expect_error("rule \"A\" { chat chat >= 1; }", CC_E_PARSE,
                 "t.rules:1:17: error: expected '=', found 'chat'");
    expect_error("rule \"A\" { Chat = chat >= 1; }", CC_E_PARSE,
                 "t.rules:1:12: error: expected a media name or '}', found 'Chat'");
    expect_error("rule \"A\" { any = chat >= 1; }", CC_E_PARSE,
                 "t.rules:1:12: error: expected a media name or '}', found 'any'");
    expect_error("rule \"A\" { chat = ; }", CC_E_PARSE,
                 "t.rules:1:19: error: expected a term (MEDIA >= N, any >= N or total >= N), 'not' "
                 "or '(', found ';'");
    expect_error("rule \"A\" { chat = chat >= 1; ", CC_E_PARSE,
                 "t.rules:1:30: error: expected '}', found end of file");
    expect_error("rule \"A { chat = chat >= 1; }\n", CC_E_PARSE,
                 "t.rules:1:6: error: expected a rule name in double quotes (1..64 bytes), found a "
                 "string without its closing '\"'");
    expect_error("rule \"\" { }", CC_E_PARSE, "t.rules:1:6: error: expected a rule name");
    expect_error("rule \"A\" { chat = chat >= 1 @ ; }", CC_E_PARSE,
                 "t.rules:1:29: error: expected ';' or an operator ('or', 'and'), found '@'");
    expect_error("\n\n   assign\n", CC_E_PARSE,
                 "t.rules:4:1: error: expected 'agent', 'place' or 'tenant', found end of file");
    expect_error(
        "assign agent \"T\" \"A\";", CC_E_PARSE,
        "t.rules:1:21: error: expected a rule name in double quotes (1..64 bytes), found ';'");
    expect_error("assign tenant \"T\" \"A\"", CC_E_PARSE,
                 "t.rules:1:22: error: expected ';', found end of file");
    expect_error("hello", CC_E_PARSE,
                 "t.rules:1:1: error: expected 'rule' or 'assign', found 'hello'");
    expect_error("assign tenant \"T\" \"Nope\";", CC_E_PARSE,
                 "t.rules:1:19: error: rule \"Nope\" is not defined");
    expect_error("rule \"A\" { }\nrule \"A\" { }", CC_E_PARSE,
                 "t.rules:2:6: error: rule \"A\" is already defined on line 1");
    expect_error("rule \"Default\" { chat = chat >= 1; }", CC_E_PARSE,
                 "t.rules:1:6: error: rule \"Default\" is built in and cannot be redefined");
    expect_error("rule \"OneInteractionOfAnyType\" { }", CC_E_PARSE,
                 "t.rules:1:6: error: rule \"OneInteractionOfAnyType\" is built in");
    expect_error("rule \"A\" {\n chat = chat >= 1;\n chat = chat >= 2;\n}", CC_E_PARSE,
                 "t.rules:3:2: error: media 'chat' already has a condition on line 2");
    /* A media name longer than 32 bytes is not a media name. */
    expect_error("rule \"A\" { chat = abcdefghijabcdefghijabcdefghijabc >= 1; }", CC_E_PARSE,
                 "t.rules:1:19: error: expected a term");

    /* A forgotten '}' costs one error, not one per following line. */
    fixture g;
    fx_parse(&g, "rule \"A\" { chat = chat >= 1;\nrule \"B\" { chat = chat >= 2; }\n"
                 "assign tenant \"T\" \"B\";\n");
    assert_int_equal(g.rc, CC_E_PARSE);
    assert_string_equal(g.diag.data,
                        "t.rules:2:1: error: expected a media name or '}', found 'rule'\n");
    fx_free(&g);

    /* Several errors are collected, and the parser stops after RULES_ERRORS_MAX. */
    fixture f;
    fx_parse(&f, "rule \"A\" { chat = chat >= 0; voice = x; }\n"
                 "rule B { }\n"
                 "assign tenant \"T\" \"Missing\";\n");
    assert_int_equal(f.rc, CC_E_PARSE);
    assert_non_null(strstr(f.diag.data, "t.rules:1:27: error"));
    assert_non_null(strstr(f.diag.data, "t.rules:1:39: error: expected '>='"));
    assert_non_null(strstr(f.diag.data, "t.rules:2:6: error"));
    assert_non_null(strstr(f.diag.data, "t.rules:3:19: error: rule \"Missing\""));
    fx_free(&f);
    cc_buf many;
    cc_buf_init(&many);
    for (int i = 0; i < 100; i++)
        cc_buf_puts(&many, "assign oops;\n");
    fx_parse(&f, many.data);
    assert_int_equal(f.rc, CC_E_PARSE);
    int lines = 0;
    for (const char *s = f.diag.data; (s = strchr(s, '\n')); s++)
        lines++;
    assert_int_equal(lines, RULES_ERRORS_MAX + 1);
    assert_non_null(
        strstr(f.diag.data, "t.rules:21:8: error: too many errors (over 20), giving up"));
    fx_free(&f);
    /* Exactly RULES_ERRORS_MAX errors are all reported, with no "too many". */
    cc_buf_reset(&many);
    for (int i = 0; i < RULES_ERRORS_MAX; i++)
        cc_buf_puts(&many, "assign oops;\n");
    fx_parse(&f, many.data);
    assert_int_equal(f.rc, CC_E_PARSE);
    assert_null(strstr(f.diag.data, "too many"));
    assert_non_null(strstr(
        f.diag.data, "t.rules:20:8: error: expected 'agent', 'place' or 'tenant', found 'oops'"));
    fx_free(&f);
    cc_buf_free(&many);
}

static void test_limits(void **state)
{
    (void)state;
    char name[RULES_NAME_MAX + 2];
    memset(name, 'n', sizeof name);
    name[RULES_NAME_MAX] = '\0';
    char text[1024];
    fixture f;
    snprintf(text, sizeof text, "rule \"%s\" { }", name);
    fx_ok(&f, text);
    fx_free(&f);
    name[RULES_NAME_MAX] = 'n';
    name[RULES_NAME_MAX + 1] = '\0';
    snprintf(text, sizeof text, "rule \"%s\" { }", name);
    expect_error(text, CC_E_PARSE, "expected a rule name in double quotes (1..64 bytes)");

    char id[RULES_ID_MAX + 2];
    memset(id, 'i', sizeof id);
    id[RULES_ID_MAX] = '\0';
    snprintf(text, sizeof text, "assign agent \"%s\" \"%s\" \"Default\";", id, id);
    fx_ok(&f, text);
    assert_string_equal(rules_rule_name(rules_lookup(f.set, id, id, NULL)), "Default");
    fx_free(&f);
    id[RULES_ID_MAX] = 'i';
    id[RULES_ID_MAX + 1] = '\0';
    snprintf(text, sizeof text, "assign place \"T\" \"%s\" \"Default\";", id);
    expect_error(text, CC_E_PARSE, "expected a place id in double quotes (1..128 bytes)");

    /* 63 new media fit next to voice; the 64th new one does not. */
    cc_buf b;
    cc_buf_init(&b);
    cc_buf_puts(&b, "rule \"M\" {");
    for (int i = 0; i < CC_MEDIA_MAX - 1; i++)
        cc_buf_printf(&b, " m%d = m%d >= 1;", i, i);
    cc_buf_puts(&b, " }\n");
    fx_ok(&f, b.data);
    assert_int_equal(f.media.count, CC_MEDIA_MAX);
    fx_free(&f);
    cc_buf_puts(&b, "rule \"N\" { extra = any >= 1; }\n");
    expect_error(b.data, CC_E_LIMIT_EXCEEDED, "t.rules:2:12: error: too many media");
    cc_buf_free(&b);

    /* A table already full without voice leaves no room for Default's media. */
    cc_media_table full;
    cc_media_init(&full);
    for (int i = 0; i < CC_MEDIA_MAX; i++) {
        char m[8];
        snprintf(m, sizeof m, "m%d", i);
        assert_int_equal(cc_media_intern(&full, m, strlen(m)), i);
    }
    rules_set *none = NULL;
    cc_buf fd;
    cc_buf_init(&fd);
    assert_int_equal(rules_parse("", 0, "full", &full, &none, &fd), CC_E_LIMIT_EXCEEDED);
    assert_null(none);
    assert_non_null(strstr(fd.data, "full:1:1: error: too many media"));
    cc_buf_free(&fd);
    /* rules_empty then gives a Default that blocks everything rather than failing. */
    none = rules_empty(&full);
    uint32_t counts[CC_MEDIA_MAX] = {0};
    rules_vector out[CC_MEDIA_MAX];
    rules_eval(rules_lookup(none, "T", "A", NULL), counts, 3, 3, out);
    assert_int_equal(out[0].max, 0);
    assert_int_equal(out[1].available, 0);
    rules_free(none);

    /* Ids longer than any assignment simply find nothing. */
    char longid[RULES_ID_MAX * 2];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    fx_ok(&f, "assign tenant \"T\" \"OneInteractionOfAnyType\";");
    assert_string_equal(rules_rule_name(rules_lookup(f.set, longid, longid, longid)), "Default");
    assert_string_equal(rules_rule_name(rules_lookup(f.set, "T", longid, longid)),
                        "OneInteractionOfAnyType");
    assert_string_equal(rules_rule_name(rules_lookup(f.set, NULL, NULL, NULL)), "Default");
    fx_free(&f);

    /* A refused file leaves the caller's media table as it was. */
    cc_media_table media;
    cc_media_init(&media);
    cc_media_intern(&media, "chat", 4);
    rules_set *set = NULL;
    const char *bad = "rule \"A\" { sms = web >= 1; } oops";
    assert_int_equal(rules_parse(bad, strlen(bad), "x", &media, &set, NULL), CC_E_PARSE);
    assert_null(set);
    assert_int_equal(media.count, 1);
}

static void test_nesting(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    fixture f;
    /* RULES_DEPTH_MAX parentheses are fine, one more is not. */
    for (int depth = RULES_DEPTH_MAX; depth <= RULES_DEPTH_MAX + 1; depth++) {
        cc_buf_reset(&b);
        cc_buf_puts(&b, "rule \"D\" { chat = ");
        for (int i = 0; i < depth; i++)
            cc_buf_puts(&b, i % 2 ? "(chat >= 1 or " : "(chat >= 1 and ");
        cc_buf_puts(&b, "voice >= 1");
        for (int i = 0; i < depth; i++)
            cc_buf_puts(&b, ")");
        cc_buf_puts(&b, "; }");
        if (depth == RULES_DEPTH_MAX) {
            fx_ok(&f, b.data);
            fx_free(&f);
        } else {
            expect_error(b.data, CC_E_PARSE, "nesting too deep: expected at most 64 levels");
        }
    }
    /* The same for not, and for both mixed. */
    for (int depth = RULES_DEPTH_MAX; depth <= RULES_DEPTH_MAX + 1; depth++) {
        cc_buf_reset(&b);
        cc_buf_puts(&b, "rule \"D\" { chat = ");
        for (int i = 0; i < depth; i++)
            cc_buf_puts(&b, i % 2 ? "not " : "(");
        cc_buf_puts(&b, "chat >= 1");
        for (int i = 0; i < depth; i += 2)
            cc_buf_puts(&b, ")");
        cc_buf_puts(&b, "; }");
        if (depth == RULES_DEPTH_MAX) {
            fx_ok(&f, b.data);
            fx_free(&f);
        } else {
            expect_error(b.data, CC_E_PARSE, "nesting too deep");
        }
    }
    /* The normal form's nesting counts too: "a or b and c" inside a not is written as
     * "not (a or (b and c))", two levels deeper than the not. */
    for (int nots = RULES_DEPTH_MAX - 2; nots <= RULES_DEPTH_MAX - 1; nots++) {
        cc_buf_reset(&b);
        cc_buf_puts(&b, "rule \"D\" { chat = ");
        for (int i = 0; i < nots; i++)
            cc_buf_puts(&b, "not ");
        cc_buf_puts(&b, "(a >= 1 or b >= 1 and c >= 1); }");
        if (nots == RULES_DEPTH_MAX - 2) {
            fx_ok(&f, b.data);
            cc_buf out1;
            cc_buf_init(&out1);
            rules_format(f.set, &f.media, &out1);
            fixture g;
            fx_ok(&g, out1.data);
            fx_free(&g);
            cc_buf_free(&out1);
            fx_free(&f);
        } else {
            expect_error(b.data, CC_E_PARSE,
                         "t.rules:1:12: error: nesting too deep: expected at most 64 levels of "
                         "'not' and of 'and'/'or' inside other operators");
        }
    }
    /* The normal form writes "not (chat >= 1)": the parentheses count as well. */
    for (int nots = RULES_DEPTH_MAX - 1; nots <= RULES_DEPTH_MAX; nots++) {
        cc_buf_reset(&b);
        cc_buf_puts(&b, "rule \"D\" { chat = ");
        for (int i = 0; i < nots; i++)
            cc_buf_puts(&b, "not ");
        cc_buf_puts(&b, "chat >= 1; }");
        if (nots == RULES_DEPTH_MAX - 1) {
            fx_ok(&f, b.data);
            fx_free(&f);
        } else {
            expect_error(b.data, CC_E_PARSE, "t.rules:1:12: error: nesting too deep");
        }
    }
    /* Far over the limit is an error, never a stack overflow. */
    cc_buf_reset(&b);
    cc_buf_puts(&b, "rule \"D\" { chat = ");
    for (int i = 0; i < 200000; i++)
        cc_buf_puts(&b, "((!");
    cc_buf_puts(&b, "chat >= 1; }");
    expect_error(b.data, CC_E_PARSE, "t.rules:1:83: error: nesting too deep");
    cc_buf_free(&b);
}

static void test_large_file(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    int rules = 0, assigns = 0;
    while (b.len < 1024 * 1024) {
        cc_buf_printf(&b,
                      "rule \"R%d\" { voice = any >= 1; chat = chat >= %d or voice >= 1 or "
                      "(chat >= 2 and email >= 1); email = email >= 2 or total >= %d; }\n",
                      rules, 1 + rules % 255, 1 + rules % 200);
        for (int i = 0; i < 4; i++, assigns++)
            cc_buf_printf(&b, "assign agent \"Tenant%d\" \"%d\" \"R%d\";\n", assigns % 7, assigns,
                          rules);
        cc_buf_printf(&b, "assign place \"Tenant1\" \"P%d\" \"R%d\";\n", rules, rules);
        rules++;
    }
    assert_true(rules > 1000);
    fixture f;
    clock_t t0 = clock();
    fx_ok(&f, b.data);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    /* Generous even for a sanitizer build: a reload must not stall the loop for long. */
    assert_true(secs < 2.0);
    assert_string_equal(rules_rule_name(rules_lookup(f.set, "Tenant3", "10", NULL)), "R2");
    assert_string_equal(rules_rule_name(rules_lookup(f.set, "Tenant1", "x", "P77")), "R77");

    /* Its normal form reads back to the same normal form. */
    cc_buf out1, out2;
    cc_buf_init(&out1);
    cc_buf_init(&out2);
    rules_format(f.set, &f.media, &out1);
    fixture g;
    fx_ok(&g, out1.data);
    rules_format(g.set, &g.media, &out2);
    assert_string_equal(out1.data, out2.data);
    cc_buf_free(&out1);
    cc_buf_free(&out2);
    fx_free(&g);
    fx_free(&f);

    /* Over RULES_FILE_MAX the text is refused before it is read. */
    cc_media_table media;
    cc_media_init(&media);
    rules_set *set = NULL;
    cc_buf diag;
    cc_buf_init(&diag);
    char *huge = calloc(RULES_FILE_MAX + 1, 1);
    assert_non_null(huge);
    memset(huge, ' ', RULES_FILE_MAX + 1);
    assert_int_equal(rules_parse(huge, RULES_FILE_MAX + 1, "big.rules", &media, &set, &diag),
                     CC_E_LIMIT_EXCEEDED);
    assert_null(set);
    assert_non_null(strstr(diag.data, "big.rules:1:1: error: the file has 8388609 bytes"));
    /* Exactly RULES_FILE_MAX is fine. */
    assert_int_equal(rules_parse(huge, RULES_FILE_MAX, "big.rules", &media, &set, &diag), 0);
    rules_free(set);
    free(huge);
    cc_buf_free(&diag);
    cc_buf_free(&b);
}

static void test_format_round_trip(void **state)
{
    (void)state;
    static const char *const inputs[] = {
        examples,
        "rule \"X\" { chat = (a >= 1 or (b >= 2 or c >= 3)) and ((d >= 1 and e >= 2) and f >= 3); "
        "}",
        "rule \"Y\" { zeta = not (a >= 1 and b >= 2) or not (c >= 1 or d >= 1) and total >= 4; "
        "alpha = ((any >= 3)); }",
        "rule \"Z\" { chat = !!!chat >= 1 | (voice >= 1 | (email >= 1 & (sms >= 1 | x >= 1))); }",
        "assign tenant \"a b # c\" \"Default\";\nrule \"weird name: \\\\ ok\" { }",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        fixture f, g;
        fx_ok(&f, inputs[i]);
        cc_buf out1, out2;
        cc_buf_init(&out1);
        cc_buf_init(&out2);
        rules_format(f.set, &f.media, &out1);
        fx_ok(&g, out1.data);
        rules_format(g.set, &g.media, &out2);
        assert_string_equal(out1.data, out2.data);
        cc_buf_free(&out1);
        cc_buf_free(&out2);
        fx_free(&f);
        fx_free(&g);
    }

    fixture f;
    fx_ok(&f, examples);
    cc_buf out;
    cc_buf_init(&out);
    rules_format(f.set, &f.media, &out);
    assert_string_equal(
        out.data,
        "rule \"Blended\" { chat = chat >= 3 or voice >= 1 or (chat >= 2 and email >= 1); "
        "email = email >= 2 or voice >= 1 or (email >= 1 and chat >= 1); voice = any >= 1; }\n"
        "rule \"ChatOnly\" { chat = chat >= 4; }\n"
        "rule \"Whisper\" { chat = not (voice >= 1) or chat >= 2; }\n"
        "rule \"Odd\" { chat = chat >= 1 and not (chat >= 3); }\n"
        "assign agent \"Resources\" \"1001\" \"Blended\";\n"
        "assign place \"Resources\" \"P-12\" \"ChatOnly\";\n"
        "assign tenant \"Resources\" \"Blended\";\n"
        "# built-in rule \"Default\": voice = any >= 1; every other media blocked\n"
        "# built-in rule \"OneInteractionOfAnyType\": every media m the agent has: m = any >= 1\n");
    cc_buf_free(&out);
    fx_free(&f);

    /* Flattening: nested ors and ands print without their redundant parentheses. */
    fx_ok(&f, "rule \"F\" { chat = (a >= 1 or (b >= 2 or c >= 3)) and ((d >= 1 and e >= 2) and f "
              ">= 3); }");
    cc_buf_init(&out);
    rules_format(f.set, &f.media, &out);
    assert_non_null(
        strstr(out.data, "chat = (a >= 1 or b >= 2 or c >= 3) and d >= 1 and e >= 2 and f >= 3;"));
    cc_buf_free(&out);
    fx_free(&f);
}

/* A small deterministic generator, so a failure reproduces. */
static uint32_t rnd_state = 12345;

static uint32_t rnd(uint32_t n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 8) % n;
}

static void gen_expr(cc_buf *b, int depth)
{
    static const char *const media[] = {"voice", "chat", "email", "sms"};
    uint32_t pick = depth > 3 ? rnd(4) : rnd(9);
    if (pick < 4) {
        /* Small thresholds meet the counts often; 255 and 254 test the top end. */
        uint32_t n = rnd(10) == 0 ? 254 + rnd(2) : 1 + rnd(5);
        if (pick == 0)
            cc_buf_printf(b, "any >= %u", n);
        else if (pick == 1)
            cc_buf_printf(b, "total >= %u", n);
        else
            cc_buf_printf(b, "%s >= %u", media[rnd(4)], n);
    } else if (pick < 6) {
        cc_buf_puts(b, rnd(2) ? "not " : "!");
        gen_expr(b, depth + 1);
    } else {
        cc_buf_putc(b, '(');
        gen_expr(b, depth + 1);
        cc_buf_puts(b, pick == 6 ? " or " : pick == 7 ? " and " : " | ");
        gen_expr(b, depth + 1);
        if (rnd(2)) {
            cc_buf_puts(b, rnd(2) ? " and " : " or ");
            gen_expr(b, depth + 1);
        }
        cc_buf_putc(b, ')');
    }
}

/* Field by field: the struct's padding is not part of the result. */
static bool vec_equal(const rules_vector *a, const rules_vector *b)
{
    return a->ready == b->ready && a->current == b->current && a->max == b->max &&
           a->available == b->available;
}

/* The fast evaluator against the definition, on random rules and counts; and each rule's
 * normal form must mean the same as the rule. */
static void test_eval_matches_definition(void **state)
{
    (void)state;
    static const char *const media[] = {"voice", "chat", "email", "sms"};
    for (int round = 0; round < 300; round++) {
        cc_buf b;
        cc_buf_init(&b);
        for (int r = 0; r < 5; r++) {
            cc_buf_printf(&b, "rule \"R%d\" {", r);
            for (int m = 0; m < 4; m++) {
                if (rnd(4) == 0)
                    continue;
                cc_buf_printf(&b, " %s = ", media[m]);
                gen_expr(&b, 0);
                cc_buf_putc(&b, ';');
            }
            cc_buf_puts(&b, " }\n");
        }
        fixture f, g;
        fx_ok(&f, b.data);
        cc_buf norm;
        cc_buf_init(&norm);
        rules_format(f.set, &f.media, &norm);
        fx_ok(&g, norm.data);
        for (int r = 0; r < 5; r++) {
            char name[16];
            snprintf(name, sizeof name, "R%d", r);
            for (int trial = 0; trial < 20; trial++) {
                agent a = {0}, ref = {0}, again = {0};
                for (int m = 0; m < 4; m++) {
                    uint32_t c = rnd(8) == 0 ? 250 + rnd(10) : rnd(4);
                    bool ready = rnd(4) != 0;
                    agent_media(&f, &a, media[m], ready, c);
                    agent_media(&f, &ref, media[m], ready, c);
                    agent_media(&g, &again, media[m], ready, c);
                }
                eval_rule(&f, name, &a);
                const rules_rule *rule = rules_find(f.set, name);
                rules_eval_reference(rule, ref.counts, ref.has, ref.ready, ref.out);
                eval_rule(&g, name, &again);
                for (int m = 0; m < 4; m++) {
                    int id = mid(&f, media[m]);
                    const rules_vector *x = &a.out[id], *y = &ref.out[id];
                    const rules_vector *z = &again.out[mid(&g, media[m])];
                    if (!vec_equal(x, y) || !vec_equal(x, z))
                        fprintf(stderr,
                                "%s media %s counts %u %u %u %u:\nfast %u %u %u %u, "
                                "reference %u %u %u %u, normal form %u %u %u %u\n%s\n",
                                name, media[m], a.counts[0], a.counts[1], a.counts[2], a.counts[3],
                                x->ready, x->current, x->max, x->available, y->ready, y->current,
                                y->max, y->available, z->ready, z->current, z->max, z->available,
                                b.data);
                    assert_true(vec_equal(x, y));
                    assert_true(vec_equal(x, z));
                }
            }
        }
        cc_buf_free(&norm);
        cc_buf_free(&b);
        fx_free(&f);
        fx_free(&g);
    }
}

/* The statserver evaluates on every state change of every agent: keep one evaluation of a
 * typical rule well under a microsecond-scale budget even in a debug build. */
static void test_eval_speed(void **state)
{
    (void)state;
    fixture f;
    fx_ok(&f, examples);
    agent a = {0};
    agent_media(&f, &a, "voice", true, 0);
    agent_media(&f, &a, "chat", true, 1);
    agent_media(&f, &a, "email", true, 1);
    const rules_rule *r = rules_find(f.set, "Blended");
    clock_t t0 = clock();
    for (int i = 0; i < 100000; i++) {
        a.counts[mid(&f, "chat")] = (uint32_t)(i % 3);
        rules_eval(r, a.counts, a.has, a.ready, a.out);
    }
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    assert_true(secs < 2.0);
    fx_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blended_table),
        cmocka_unit_test(test_default_example),
        cmocka_unit_test(test_whisper_example),
        cmocka_unit_test(test_odd_example),
        cmocka_unit_test(test_one_interaction_builtin),
        cmocka_unit_test(test_any_and_total),
        cmocka_unit_test(test_not),
        cmocka_unit_test(test_thresholds),
        cmocka_unit_test(test_unknown_media),
        cmocka_unit_test(test_empty_and_comments),
        cmocka_unit_test(test_keywords_and_symbols),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_later_line_wins),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_large_file),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_eval_matches_definition),
        cmocka_unit_test(test_eval_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
