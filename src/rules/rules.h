/* Capacity rules: the rule language of docs/capacity-rules.md, compiled and evaluated.
 * No I/O here: text in, a compiled rule set out; counts in, capacity vectors out. */
#ifndef CC_RULES_H
#define CC_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/media.h"

/** Limits on what a rules file may contain; every one is checked while parsing. */
#define RULES_FILE_MAX (8u * 1024u * 1024u) /* bytes of rules text */
#define RULES_NAME_MAX 64                   /* bytes of a rule name */
#define RULES_ID_MAX 128                    /* bytes of a tenant, agent or place id */
#define RULES_DEPTH_MAX 64                  /* nesting levels, see docs/capacity-rules.md */
#define RULES_THRESHOLD_MAX 255             /* N in "MEDIA >= N" is 1..255 */
#define RULES_ERRORS_MAX 20                 /* parsing stops after this many errors */

/** A compiled set of rules and assignments. */
typedef struct rules_set rules_set;
/** One rule of a set (or a built-in). Valid as long as its set. */
typedef struct rules_rule rules_rule;

/** The capacity vector of one media (capacity-rules.md section 3). */
typedef struct rules_vector {
    bool ready;         /* S */
    uint32_t current;   /* N1 */
    uint32_t max;       /* N2 */
    uint32_t available; /* N3 */
} rules_vector;

/**
 * Parses and compiles a rules file. Media names met in the text are interned into
 * media (the daemon's one table). filename is used only in messages.
 * Every error and warning is appended to diag as one line
 * "FILE:LINE:COL: error: MESSAGE" (or "warning:"), errors naming what was expected.
 * Returns 0 and sets *out, or CC_E_PARSE (or CC_E_LIMIT_EXCEEDED for too many media or a
 * text longer than RULES_FILE_MAX) with *out NULL. An empty text (or only comments) is a
 * valid, empty set. media is changed only on success, so a refused reload leaves no new
 * names behind. diag may be NULL when the caller does not want the messages.
 */
int rules_parse(const char *text, size_t len, const char *filename, cc_media_table *media,
                rules_set **out, cc_buf *diag);

/**
 * An empty set: every agent gets the built-in Default rule. "voice" is interned into
 * media for Default's condition; when the table is full without it, Default blocks
 * every media.
 */
rules_set *rules_empty(cc_media_table *media);

/** Frees a set and its rules. NULL is ignored. */
void rules_free(rules_set *set);

/**
 * The rule for an agent: assigned by agent, else by place, else by tenant, else the
 * built-in Default. place may be NULL. Never NULL.
 */
const rules_rule *rules_lookup(const rules_set *set, const char *tenant, const char *agent_id,
                               const char *place_id);

/** A rule by name, built-ins included; NULL when the set has no such rule. */
const rules_rule *rules_find(const rules_set *set, const char *name);

/** The rule's name ("Blended", "Default", ...). */
const char *rules_rule_name(const rules_rule *rule);

/**
 * Evaluates a rule. counts[i] is c[media i] of capacity-rules.md section 2, for every
 * interned media (ids 0..CC_MEDIA_MAX-1, unused ones 0). has is the set of media the
 * agent has added on some server, ready the subset that is ready (already cleared for
 * DND or logout by the caller). For each media in has, out[i] receives its vector;
 * other entries of out are left untouched.
 */
void rules_eval(const rules_rule *rule, const uint32_t counts[CC_MEDIA_MAX], cc_media_mask has,
                cc_media_mask ready, rules_vector out[CC_MEDIA_MAX]);

/**
 * The same results as rules_eval, computed straight from the definition of section 3
 * (every k tried one by one). Slow; for tests and the fuzzer, which check that the fast
 * evaluator agrees with it.
 */
void rules_eval_reference(const rules_rule *rule, const uint32_t counts[CC_MEDIA_MAX],
                          cc_media_mask has, cc_media_mask ready, rules_vector out[CC_MEDIA_MAX]);

/**
 * Writes the set back in normal form: every rule defined in the file (one line each,
 * media in name order, every and/or group inside another operator and every term after
 * a not in parentheses and no others, keywords lower-case), then every assignment in
 * effect (agents, places, tenants, each in file order), then the built-ins' names as
 * comments. The output parses to the same rules and formats to the same text.
 */
void rules_format(const rules_set *set, const cc_media_table *media, cc_buf *out);

#endif
