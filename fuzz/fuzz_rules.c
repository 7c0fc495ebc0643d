/* libFuzzer target for the capacity rules: any bytes as a rules file. A file that parses
 * must format to a normal form that parses again to the same normal form and means the
 * same (same capacity vectors), and the fast evaluator must agree with the reference one
 * taken straight from the definition. Anything else found is a crash or a sanitizer
 * report. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/media.h"
#include "rules/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Counts that depend on the input, mostly small so thresholds are met, sometimes large. */
static void make_counts(uint64_t seed, uint32_t counts[CC_MEDIA_MAX], cc_media_mask *ready)
{
    *ready = 0;
    for (int m = 0; m < CC_MEDIA_MAX; m++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t r = (uint32_t)(seed >> 33);
        counts[m] = r % 16 == 0 ? 250 + r % 12 : r % 4;
        if (r % 5)
            *ready |= (cc_media_mask)1 << m;
    }
}

/* Field by field: the struct's padding is not part of the result. */
static int vec_equal(const rules_vector *a, const rules_vector *b)
{
    return a->ready == b->ready && a->current == b->current && a->max == b->max &&
           a->available == b->available;
}

/* Runs a rule through both evaluators and, when the normal form's set is given, through
 * the same rule there, with counts moved to the media ids of that set. */
static void check_rule(const rules_rule *rule, const cc_media_table *media, const rules_rule *again,
                       const cc_media_table *media2, uint64_t seed, int with_reference)
{
    uint32_t counts[CC_MEDIA_MAX];
    cc_media_mask ready;
    make_counts(seed, counts, &ready);
    cc_media_mask has =
        media->count >= CC_MEDIA_MAX ? ~(cc_media_mask)0 : ((cc_media_mask)1 << media->count) - 1;
    for (int m = media->count; m < CC_MEDIA_MAX; m++)
        counts[m] = 0;
    rules_vector fast[CC_MEDIA_MAX], ref[CC_MEDIA_MAX];
    memset(fast, 0, sizeof fast);
    memset(ref, 0, sizeof ref);
    rules_eval(rule, counts, has, ready, fast);
    if (with_reference) {
        rules_eval_reference(rule, counts, has, ready, ref);
        for (int m = 0; m < media->count; m++)
            if (!vec_equal(&fast[m], &ref[m]))
                abort();
    }
    if (!again)
        return;
    /* The normal form may intern media in another order: translate by name. Media that
     * only the original table knows (never used by a rule) keep count 0 in both. */
    uint32_t counts2[CC_MEDIA_MAX] = {0};
    cc_media_mask has2 = 0, ready2 = 0;
    int map[CC_MEDIA_MAX];
    for (int m = 0; m < media->count; m++) {
        const char *name = cc_media_name(media, m);
        map[m] = cc_media_find(media2, name, strlen(name));
        if (map[m] < 0) {
            /* A media the normal form never names only matters through any/total. */
            map[m] = -1;
            continue;
        }
        counts2[map[m]] = counts[m];
        has2 |= (cc_media_mask)1 << map[m];
        if (ready >> m & 1)
            ready2 |= (cc_media_mask)1 << map[m];
    }
    /* any and total see every count, so compare only when none was dropped. */
    for (int m = 0; m < media->count; m++)
        if (map[m] < 0 && counts[m] != 0)
            return;
    rules_vector out2[CC_MEDIA_MAX];
    memset(out2, 0, sizeof out2);
    rules_eval(again, counts2, has2, ready2, out2);
    for (int m = 0; m < media->count; m++)
        if (map[m] >= 0 && !vec_equal(&fast[m], &out2[map[m]]))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_media_table media;
    cc_media_init(&media);
    rules_set *set = NULL;
    cc_buf diag;
    cc_buf_init(&diag);
    int rc = rules_parse((const char *)data, size, "fuzz.rules", &media, &set, &diag);
    if (rc != 0) {
        /* A refused file produced at least one message and no set. */
        if (set || diag.len == 0)
            abort();
        cc_buf_free(&diag);
        return 0;
    }

    cc_buf norm1, norm2, diag2;
    cc_buf_init(&norm1);
    cc_buf_init(&norm2);
    cc_buf_init(&diag2);
    rules_format(set, &media, &norm1);
    cc_media_table media2;
    cc_media_init(&media2);
    rules_set *set2 = NULL;
    if (rules_parse(norm1.data, norm1.len, "normal.rules", &media2, &set2, &diag2) != 0)
        abort();
    rules_format(set2, &media2, &norm2);
    if (norm1.len != norm2.len || memcmp(norm1.data, norm2.data, norm1.len) != 0)
        abort();

    /* Evaluate every rule the normal form names, plus the built-ins. */
    uint64_t seed = 1469598103934665603ULL;
    for (size_t i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 1099511628211ULL;
    for (const char *line = norm1.data; *line; line = strchr(line, '\n') + 1) {
        /* Every line of the normal form ends with a newline. */
        if (!strchr(line, '\n'))
            abort();
        if (strncmp(line, "rule \"", 6) != 0)
            continue;
        const char *p = line + 6;
        const char *q = strchr(p, '"');
        if (!q)
            abort();
        char name[RULES_NAME_MAX + 1];
        size_t n = (size_t)(q - p);
        if (n > RULES_NAME_MAX)
            abort();
        memcpy(name, p, n);
        name[n] = '\0';
        const rules_rule *r1 = rules_find(set, name);
        const rules_rule *r2 = rules_find(set2, name);
        if (!r1 || !r2)
            abort();
        check_rule(r1, &media, r2, &media2, seed++, size <= 2048);
    }
    check_rule(rules_find(set, "Default"), &media, NULL, NULL, seed++, 1);
    check_rule(rules_find(set, "OneInteractionOfAnyType"), &media, NULL, NULL, seed, 1);
    rules_lookup(set, "Resources", "1001", "P-12");

    rules_free(set);
    rules_free(set2);
    cc_buf_free(&norm1);
    cc_buf_free(&norm2);
    cc_buf_free(&diag);
    cc_buf_free(&diag2);
    return 0;
}
