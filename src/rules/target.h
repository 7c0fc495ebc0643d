/* Routing targets: agents' skills, the stepped target of a queue and the queue options of
 * docs/routing.md ("Target language"), parsed and compiled once, evaluated per agent
 * without allocation. No I/O here: text in, compiled form or a column and message out. */
#ifndef CC_TARGET_H
#define CC_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Bytes of a skill name ([a-z][a-z0-9_-]{0,31}). */
#define TARGET_SKILL_NAME_MAX 32
/** Skills per agent. */
#define TARGET_AGENT_SKILLS_MAX 64
/** Steps per target. */
#define TARGET_STEPS_MAX 16
/** Distinct skill names per configuration (one dictionary). */
#define TARGET_DICT_MAX 4096
/** Bytes of one target's text, and of the canonical text of each of its steps. */
#define TARGET_TEXT_MAX 4096
/** Nesting of parentheses and `not` in a target (see docs/routing.md for how it counts). */
#define TARGET_DEPTH_MAX 32
/** Highest skill level; an agent's levels are 1..TARGET_LEVEL_MAX, a target's 0..it. */
#define TARGET_LEVEL_MAX 10
/** Seconds of a step's `for` (1..this) and of a queue's aging (1..this). */
#define TARGET_SECONDS_MAX 86400
/** Highest priority of a queue option. */
#define TARGET_PRIORITY_MAX 1000

/** Interned skill names (one per configuration): name -> small id 0..TARGET_DICT_MAX-1. */
typedef struct target_dict target_dict;

/** A new, empty dictionary. */
target_dict *target_dict_new(void);

/** Frees a dictionary. NULL is ignored. */
void target_dict_free(target_dict *d);

/** id of name, or -1 when unknown. */
int target_dict_find(const target_dict *d, const char *name);

/** The name of id, or NULL when id is not in the dictionary. */
const char *target_dict_name(const target_dict *d, int id);

/** How many names the dictionary holds (their ids are 0..count-1). */
size_t target_dict_count(const target_dict *d);

/** An agent's skills: sorted by id, no duplicates. */
typedef struct target_skills {
    uint8_t count;
    uint16_t id[TARGET_AGENT_SKILLS_MAX];
    uint8_t level[TARGET_AGENT_SKILLS_MAX];
} target_skills;

/** Level of skill id (0 when the agent lacks it). */
unsigned target_skills_level(const target_skills *s, int id);

/** Where a parse failed: column (1-based, in the text given) and a message naming what was
 * expected. */
typedef struct target_error {
    size_t column;
    char message[160];
} target_error;

/**
 * Parses "name:level, name:level" (may be empty or blank) interning names into d.
 * Returns 0, or CC_E_PARSE with *err filled (err may be NULL) and out->count 0. A refused
 * line leaves no new name in d.
 */
int target_parse_skills(target_dict *d, const char *text, target_skills *out, target_error *err);

/** A compiled target (steps). */
typedef struct target target;

/**
 * Parses a target text; names are interned into d (an unknown skill in a target is fine:
 * every agent has level 0). Returns 0 and sets *out, or CC_E_PARSE with *out NULL and *err
 * filled (err may be NULL). A refused text leaves no new name in d.
 */
int target_parse(target_dict *d, const char *text, target **out, target_error *err);

/** The built-in target "any" (one step). */
target *target_any(void);

/** Frees a target. NULL is ignored. */
void target_free(target *t);

/** Number of steps, 1..TARGET_STEPS_MAX. */
size_t target_step_count(const target *t);

/** Seconds of step i (its `for`), 0 for the last step. */
uint32_t target_step_seconds(const target *t, size_t i);

/** Index of the step that applies after waited_ms milliseconds in the queue: step i applies
 * from target_step_begin_ms(t, i) (inclusive) to the next step's begin (exclusive). */
size_t target_step_at(const target *t, uint64_t waited_ms);

/** Milliseconds of waiting at which step i begins (0 for step 0). */
uint64_t target_step_begin_ms(const target *t, size_t i);

/** Whether an agent with skills s matches step i. No allocation; bounded stack. A level
 * above TARGET_LEVEL_MAX in s counts as TARGET_LEVEL_MAX. */
bool target_match(const target *t, size_t i, const target_skills *s);

/** Canonical text of step i's expression (for explain and logs), e.g.
 * "spanish >= 3 and billing >= 5". It parses back to a step that matches the same agents
 * and has the same canonical text. Valid as long as t. */
const char *target_step_text(const target *t, size_t i);

/** Canonical text of the whole target, steps with their `for` joined by "; ", e.g.
 * "spanish >= 3 and billing >= 5 for 30; billing >= 1". Valid as long as t. */
const char *target_text(const target *t);

/** A queue's options ([queue-options]); target_parse_queue_options fills every field. */
typedef struct target_queue_options {
    bool has_priority;
    uint32_t priority; /* 0..1000 */
    uint32_t aging_s;  /* 0 = none, else 1..86400 */
    int select_skill;  /* -1 = idle, else dict id */
} target_queue_options;

/**
 * Parses "priority N, aging SECONDS, select SKILL|idle": any subset (the empty text too),
 * comma separated, each at most once; a select skill is interned into d. Returns 0, or
 * CC_E_PARSE with *err filled (err may be NULL), *out then holding the defaults (no
 * priority, no aging, idle). A refused text leaves no new name in d.
 */
int target_parse_queue_options(target_dict *d, const char *text, target_queue_options *out,
                               target_error *err);

#endif
