/* libFuzzer target for routing targets (src/rules/target): any bytes as a target text, as a
 * skills line and as queue options. The first line is also read as a target and every
 * further line as an agent's skills. A refused text must leave a column inside it, a
 * message and no new skill name; an accepted one must keep every documented range. For a
 * parsed target every step is evaluated against a few agents, and its canonical text (and
 * that of the whole target) must parse back to steps that match the same agents and print
 * the same text. Anything else found is a crash or a sanitizer report. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "rules/target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Agents beyond those written in the input. */
#define AGENTS_MAX 24

static void check_error(int rc, const target_error *e, size_t len)
{
    if (rc != CC_E_PARSE || e->column < 1 || e->column > len + 1 || e->message[0] == '\0' ||
        !memchr(e->message, '\0', sizeof e->message))
        abort();
}

/* A skills set is sorted by id without duplicates, levels 1..10, ids in the dictionary. */
static void check_skills(const target_dict *d, const target_skills *s)
{
    if (s->count > TARGET_AGENT_SKILLS_MAX)
        abort();
    for (unsigned i = 0; i < s->count; i++) {
        if (i > 0 && s->id[i - 1] >= s->id[i])
            abort();
        if (s->level[i] < 1 || s->level[i] > TARGET_LEVEL_MAX)
            abort();
        if (!target_dict_name(d, s->id[i]))
            abort();
        if (target_skills_level(s, s->id[i]) != s->level[i])
            abort();
    }
}

/* Parses text as skills; on success adds the set to agents. */
static void try_skills(target_dict *d, const char *text, target_skills *agents, size_t *n)
{
    size_t before = target_dict_count(d);
    target_skills s;
    target_error e;
    int rc = target_parse_skills(d, text, &s, &e);
    if (rc != 0) {
        check_error(rc, &e, strlen(text));
        if (s.count != 0 || target_dict_count(d) != before)
            abort();
        return;
    }
    check_skills(d, &s);
    if (*n < AGENTS_MAX)
        agents[(*n)++] = s;
}

static void try_options(target_dict *d, const char *text)
{
    size_t before = target_dict_count(d);
    target_queue_options o;
    target_error e;
    int rc = target_parse_queue_options(d, text, &o, &e);
    if (rc != 0) {
        check_error(rc, &e, strlen(text));
        if (target_dict_count(d) != before || o.has_priority || o.aging_s || o.select_skill != -1)
            abort();
        return;
    }
    if (o.priority > TARGET_PRIORITY_MAX || (!o.has_priority && o.priority != 0) ||
        o.aging_s > TARGET_SECONDS_MAX)
        abort();
    if (o.select_skill != -1 && !target_dict_name(d, o.select_skill))
        abort();
}

/* Agents made from the dictionary: every name at a level from the seed, and single names at
 * every level, so that terms on names the input never gave an agent are met too. */
static void make_agents(const target_dict *d, uint64_t seed, target_skills *agents, size_t *n)
{
    size_t count = target_dict_count(d);
    target_skills all = {0};
    for (size_t id = 0; id < count && all.count < TARGET_AGENT_SKILLS_MAX; id++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned level = (unsigned)(seed >> 33) % (TARGET_LEVEL_MAX + 1);
        if (level == 0)
            continue;
        all.id[all.count] = (uint16_t)id;
        all.level[all.count++] = (uint8_t)level;
    }
    if (*n < AGENTS_MAX)
        agents[(*n)++] = all;
    for (size_t id = 0; id < count && *n < AGENTS_MAX; id++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        target_skills one = {.count = 1};
        one.id[0] = (uint16_t)id;
        one.level[0] = (uint8_t)(1 + (seed >> 33) % TARGET_LEVEL_MAX);
        agents[(*n)++] = one;
    }
}

/* The target's texts parse back to the same meaning and the same texts. */
static void check_round_trip(target_dict *d, const target *t, const target_skills *agents,
                             size_t nagents)
{
    size_t before = target_dict_count(d);
    size_t steps = target_step_count(t);
    if (steps < 1 || steps > TARGET_STEPS_MAX)
        abort();
    target *whole = NULL;
    if (target_parse(d, target_text(t), &whole, NULL) != 0)
        abort();
    if (strcmp(target_text(whole), target_text(t)) != 0 || target_step_count(whole) != steps)
        abort();
    for (size_t i = 0; i < steps; i++) {
        const char *text = target_step_text(t, i);
        if (strlen(text) > TARGET_TEXT_MAX)
            abort();
        target *again = NULL;
        if (target_parse(d, text, &again, NULL) != 0)
            abort();
        if (target_step_count(again) != 1 || strcmp(target_step_text(again, 0), text) != 0)
            abort();
        if (target_step_seconds(whole, i) != target_step_seconds(t, i))
            abort();
        for (size_t a = 0; a < nagents; a++) {
            bool m = target_match(t, i, &agents[a]);
            if (target_match(again, 0, &agents[a]) != m || target_match(whole, i, &agents[a]) != m)
                abort();
        }
        target_free(again);
        /* Timing: step i applies from its begin to the next one's. */
        uint32_t secs = target_step_seconds(t, i);
        if ((i + 1 == steps) != (secs == 0) || secs > TARGET_SECONDS_MAX)
            abort();
        uint64_t begin = target_step_begin_ms(t, i);
        if (target_step_at(t, begin) != i)
            abort();
        if (i > 0 && target_step_at(t, begin - 1) != i - 1)
            abort();
        if (i + 1 < steps && target_step_begin_ms(t, i + 1) != begin + (uint64_t)secs * 1000)
            abort();
    }
    target_free(whole);
    /* Canonical texts name only names the target already interned. */
    if (target_dict_count(d) != before)
        abort();
}

static void try_target(target_dict *d, const char *text, uint64_t seed, target_skills *agents,
                       size_t nagents)
{
    size_t before = target_dict_count(d);
    target *t = NULL;
    target_error e;
    int rc = target_parse(d, text, &t, &e);
    if (rc != 0) {
        size_t len = strnlen(text, TARGET_TEXT_MAX + 1);
        check_error(rc, &e, len);
        if (t || target_dict_count(d) != before)
            abort();
        return;
    }
    size_t n = nagents;
    make_agents(d, seed, agents, &n);
    check_round_trip(d, t, agents, n);
    target_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The parsers take NUL-terminated text: the input up to its first NUL. */
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    uint64_t seed = 1469598103934665603ULL;
    for (size_t i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 1099511628211ULL;

    target_dict *d = target_dict_new();
    target_skills agents[2 * AGENTS_MAX + 1];
    size_t nagents = 0;
    agents[nagents++] = (target_skills){0};

    /* The whole text as each of the three languages. */
    try_skills(d, text, agents, &nagents);
    try_options(d, text);

    /* Line by line: the first is a target, the others agents' skills (and options). */
    char *nl = strchr(text, '\n');
    if (nl) {
        *nl = '\0';
        for (char *line = nl + 1; line && *line;) {
            char *end = strchr(line, '\n');
            if (end)
                *end = '\0';
            try_skills(d, line, agents, &nagents);
            try_options(d, line);
            line = end ? end + 1 : NULL;
        }
        try_target(d, text, seed, agents, nagents);
        *nl = '\n';
    }
    memcpy(text, data, size);
    text[size] = '\0';
    try_target(d, text, seed, agents, nagents);

    target_dict_free(d);
    free(text);
    return 0;
}
