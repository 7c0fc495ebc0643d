/* Capacity rules: lexer, recursive-descent parser with file:line:col errors, compiled
 * form and evaluator. See docs/capacity-rules.md for the language and the numbers.
 *
 * Each blocking condition is kept twice: as a tree (for rules_format) and as postfix code
 * over binary operators (for rules_eval). Evaluation never tries k = 0..255 one by one:
 * with every count but c[m] held, each term is either a constant or "k >= t", so the
 * condition as a function of k is computed at once as a 256-bit set, one bitwise step
 * per instruction. */
#include "rules/rules.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/map.h"

/* Operators of the tree and of the postfix code. */
enum rules_op {
    OP_MEDIA, /* media >= n */
    OP_ANY,   /* any >= n */
    OP_TOTAL, /* total >= n */
    OP_NOT,
    OP_AND,
    OP_OR,
};

/* One node of a condition's tree; children are linked through next. */
typedef struct rules_node {
    uint8_t op;
    uint8_t n;     /* threshold of a term */
    uint8_t media; /* media id of OP_MEDIA */
    int32_t kid;   /* first child, -1 for none */
    int32_t next;  /* next sibling, -1 for none */
    int32_t last;  /* last child, so flattening appends in O(1) */
} rules_node;

/* One postfix instruction; AND and OR take two operands. */
typedef struct rules_code {
    uint8_t op;
    uint8_t n;
    uint8_t media;
} rules_code;

/* The evaluation stack is bounded by the nesting limit; compile refuses anything deeper,
 * so the bound holds whatever the text. */
#define RULES_STACK_MAX (4 * RULES_DEPTH_MAX + 8)

/* A compiled blocking condition. */
typedef struct rules_cond {
    rules_node *nodes;
    int32_t root;
    rules_code *code;
    uint32_t ncode;
} rules_cond;

struct rules_rule {
    char *name;
    uint32_t line;                   /* where it was defined, 0 for a built-in */
    rules_cond *conds[CC_MEDIA_MAX]; /* NULL: no condition of its own */
    rules_cond *fallback;            /* for every media without its own condition */
    bool uses_any, uses_total;       /* whether rules_eval must look at all the counts */
};

enum assign_kind { ASSIGN_AGENT, ASSIGN_PLACE, ASSIGN_TENANT };

static const char *const assign_kind_name[] = {"agent", "place", "tenant"};

/* One assign line. superseded is set when a later line assigns the same key. */
typedef struct rules_assign {
    enum assign_kind kind;
    char *tenant;
    char *id; /* agent or place id; NULL for a tenant */
    char *rule_name;
    const rules_rule *rule;
    uint32_t line;                /* of the assign keyword */
    uint32_t rule_line, rule_col; /* of the rule name, for "not defined" */
    bool superseded;
} rules_assign;

struct rules_set {
    rules_rule **rules; /* defined in the file, in file order */
    size_t nrules, caprules;
    rules_rule *def;        /* built-in Default */
    rules_rule *one;        /* built-in OneInteractionOfAnyType */
    cc_map by_name;         /* name -> rules_rule*, built-ins included */
    rules_assign **assigns; /* file order */
    size_t nassigns, capassigns;
    cc_map by_key[3]; /* per assign_kind: key -> rules_assign* */
};

#define BUILTIN_DEFAULT "Default"
#define BUILTIN_ONE "OneInteractionOfAnyType"

/* ---- sets and rules ---- */

static void cond_free(rules_cond *c)
{
    if (!c)
        return;
    free(c->nodes);
    free(c->code);
    free(c);
}

static void rule_free(rules_rule *r)
{
    if (!r)
        return;
    for (int i = 0; i < CC_MEDIA_MAX; i++)
        cond_free(r->conds[i]);
    cond_free(r->fallback);
    free(r->name);
    free(r);
}

static rules_rule *rule_new(const char *name, size_t len, uint32_t line)
{
    rules_rule *r = xcalloc(1, sizeof *r);
    r->name = xstrndup(name, len);
    r->line = line;
    return r;
}

/* A condition "any >= 1", the one condition of both built-ins. */
static rules_cond *cond_any1(void)
{
    rules_cond *c = xcalloc(1, sizeof *c);
    c->nodes = xcalloc(1, sizeof *c->nodes);
    c->nodes[0] = (rules_node){.op = OP_ANY, .n = 1, .kid = -1, .next = -1, .last = -1};
    c->root = 0;
    c->code = xcalloc(1, sizeof *c->code);
    c->code[0] = (rules_code){.op = OP_ANY, .n = 1};
    c->ncode = 1;
    return c;
}

/* A set with only the built-ins; voice is Default's media id or negative for none. */
static rules_set *set_new(int voice)
{
    rules_set *s = xcalloc(1, sizeof *s);
    cc_map_init(&s->by_name);
    for (int i = 0; i < 3; i++)
        cc_map_init(&s->by_key[i]);
    s->def = rule_new(BUILTIN_DEFAULT, strlen(BUILTIN_DEFAULT), 0);
    if (voice >= 0)
        s->def->conds[voice] = cond_any1();
    s->def->uses_any = true;
    s->one = rule_new(BUILTIN_ONE, strlen(BUILTIN_ONE), 0);
    s->one->fallback = cond_any1();
    s->one->uses_any = true;
    cc_map_puts(&s->by_name, s->def->name, s->def);
    cc_map_puts(&s->by_name, s->one->name, s->one);
    return s;
}

rules_set *rules_empty(cc_media_table *media)
{
    return set_new(cc_media_intern(media, "voice", 5));
}

void rules_free(rules_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->nrules; i++)
        rule_free(set->rules[i]);
    free(set->rules);
    for (size_t i = 0; i < set->nassigns; i++) {
        rules_assign *a = set->assigns[i];
        free(a->tenant);
        free(a->id);
        free(a->rule_name);
        free(a);
    }
    free(set->assigns);
    rule_free(set->def);
    rule_free(set->one);
    cc_map_free(&set->by_name);
    for (int i = 0; i < 3; i++)
        cc_map_free(&set->by_key[i]);
    free(set);
}

const rules_rule *rules_find(const rules_set *set, const char *name)
{
    return cc_map_gets(&set->by_name, name);
}

const char *rules_rule_name(const rules_rule *rule)
{
    return rule->name;
}

/* The map key of an assignment: the tenant alone, or tenant NUL id. Returns the key's
 * length, or 0 when an id is too long to have been assigned at all. */
static size_t assign_key(char key[2 * RULES_ID_MAX + 2], const char *tenant, const char *id)
{
    size_t tl = strlen(tenant);
    if (tl > RULES_ID_MAX)
        return 0;
    memcpy(key, tenant, tl);
    if (!id)
        return tl;
    size_t il = strlen(id);
    if (il > RULES_ID_MAX)
        return 0;
    key[tl] = '\0';
    memcpy(key + tl + 1, id, il);
    return tl + 1 + il;
}

static const rules_assign *assign_get(const rules_set *set, enum assign_kind kind,
                                      const char *tenant, const char *id)
{
    char key[2 * RULES_ID_MAX + 2];
    size_t len = assign_key(key, tenant, id);
    if (!len)
        return NULL;
    return cc_map_get(&set->by_key[kind], key, len);
}

const rules_rule *rules_lookup(const rules_set *set, const char *tenant, const char *agent_id,
                               const char *place_id)
{
    const rules_assign *a = NULL;
    if (tenant && agent_id)
        a = assign_get(set, ASSIGN_AGENT, tenant, agent_id);
    if (!a && tenant && place_id)
        a = assign_get(set, ASSIGN_PLACE, tenant, place_id);
    if (!a && tenant)
        a = assign_get(set, ASSIGN_TENANT, tenant, NULL);
    return a ? a->rule : set->def;
}

/* ---- evaluation ---- */

/* The set of k in 0..255 for which a condition holds. Every threshold is at most 255, so
 * the value at 255 is also the value for every larger k. */
typedef struct kset {
    uint64_t w[4];
} kset;

static kset kset_const(bool v)
{
    uint64_t x = v ? ~(uint64_t)0 : 0;
    return (kset){{x, x, x, x}};
}

/* The set of k >= t. */
static kset kset_from(uint64_t t)
{
    kset s;
    for (unsigned i = 0; i < 4; i++) {
        uint64_t lo = (uint64_t)i * 64;
        if (t <= lo)
            s.w[i] = ~(uint64_t)0;
        else if (t >= lo + 64)
            s.w[i] = 0;
        else
            s.w[i] = ~(uint64_t)0 << (t - lo);
    }
    return s;
}

static bool kset_has(const kset *s, uint32_t k)
{
    assert(k < 256);
    return (s->w[k / 64] >> (k % 64)) & 1;
}

/* The smallest member >= from, or -1. */
static int kset_next(const kset *s, uint32_t from)
{
    for (uint32_t i = from / 64; i < 4; i++) {
        uint64_t w = s->w[i];
        if (i == from / 64)
            w &= ~(uint64_t)0 << (from % 64);
        if (w)
            return (int)(i * 64 + (uint32_t)__builtin_ctzll(w));
    }
    return -1;
}

/* What every term needs to know about the counts other than c[m]. */
typedef struct eval_ctx {
    const uint32_t *counts;
    uint64_t total; /* sum of all counts */
    uint32_t max1;  /* largest count */
    int max1_id;    /* media holding it */
    uint32_t max2;  /* largest count of any other media */
} eval_ctx;

static kset cond_eval(const rules_cond *c, const eval_ctx *x, int m)
{
    kset stack[RULES_STACK_MAX];
    uint32_t sp = 0;
    for (uint32_t i = 0; i < c->ncode; i++) {
        const rules_code *op = &c->code[i];
        switch (op->op) {
        case OP_MEDIA:
            assert(sp < RULES_STACK_MAX);
            if (op->media == m)
                stack[sp++] = kset_from(op->n);
            else
                stack[sp++] = kset_const(x->counts[op->media] >= op->n);
            break;
        case OP_ANY: {
            assert(sp < RULES_STACK_MAX);
            uint32_t others = m == x->max1_id ? x->max2 : x->max1;
            stack[sp++] = others >= op->n ? kset_const(true) : kset_from(op->n);
            break;
        }
        case OP_TOTAL: {
            assert(sp < RULES_STACK_MAX);
            uint64_t others = x->total - x->counts[m];
            stack[sp++] = others >= op->n ? kset_const(true) : kset_from(op->n - others);
            break;
        }
        case OP_NOT:
            assert(sp >= 1);
            for (int w = 0; w < 4; w++)
                stack[sp - 1].w[w] = ~stack[sp - 1].w[w];
            break;
        case OP_AND:
            assert(sp >= 2);
            sp--;
            for (int w = 0; w < 4; w++)
                stack[sp - 1].w[w] &= stack[sp].w[w];
            break;
        case OP_OR:
            assert(sp >= 2);
            sp--;
            for (int w = 0; w < 4; w++)
                stack[sp - 1].w[w] |= stack[sp].w[w];
            break;
        default: assert(!"unknown rules op");
        }
    }
    assert(sp == 1);
    return stack[0];
}

void rules_eval(const rules_rule *rule, const uint32_t counts[CC_MEDIA_MAX], cc_media_mask has,
                cc_media_mask ready, rules_vector out[CC_MEDIA_MAX])
{
    /* Only any and total look beyond the media being evaluated; most rules have neither,
     * so the pass over all 64 counts is skipped for them. */
    eval_ctx x = {.counts = counts, .max1_id = -1};
    if (rule->uses_total)
        for (int i = 0; i < CC_MEDIA_MAX; i++)
            x.total += counts[i];
    if (rule->uses_any) {
        for (int i = 0; i < CC_MEDIA_MAX; i++) {
            if (x.max1_id < 0 || counts[i] > x.max1) {
                x.max2 = x.max1;
                x.max1 = counts[i];
                x.max1_id = i;
            } else if (counts[i] > x.max2) {
                x.max2 = counts[i];
            }
        }
    }
    for (cc_media_mask left = has; left; left &= left - 1) {
        int m = __builtin_ctzll(left);
        rules_vector *v = &out[m];
        v->ready = ready >> m & 1;
        v->current = counts[m];
        const rules_cond *c = rule->conds[m] ? rule->conds[m] : rule->fallback;
        if (!c) {
            v->max = 0;
            v->available = 0;
            continue;
        }
        kset f = cond_eval(c, &x, m);
        int first = kset_next(&f, 0);
        v->max = first < 0 ? RULES_THRESHOLD_MAX : (uint32_t)first;
        if (!v->ready) {
            v->available = 0;
        } else if (v->current > RULES_THRESHOLD_MAX) {
            v->available = kset_has(&f, RULES_THRESHOLD_MAX) ? 0 : RULES_THRESHOLD_MAX;
        } else {
            int next = kset_next(&f, v->current);
            v->available = next < 0 ? RULES_THRESHOLD_MAX : (uint32_t)next - v->current;
        }
    }
}

/* The reference evaluator walks the tree with the real counts: no shortcut of the fast
 * one (constant terms, step sets, the value at 255 standing for every larger k) is used. */
static bool ref_node(const rules_node *nodes, int32_t i, const uint32_t *counts)
{
    const rules_node *nd = &nodes[i];
    switch (nd->op) {
    case OP_MEDIA: return counts[nd->media] >= nd->n;
    case OP_ANY:
        for (int m = 0; m < CC_MEDIA_MAX; m++)
            if (counts[m] >= nd->n)
                return true;
        return false;
    case OP_TOTAL: {
        uint64_t sum = 0;
        for (int m = 0; m < CC_MEDIA_MAX; m++)
            sum += counts[m];
        return sum >= nd->n;
    }
    case OP_NOT: return !ref_node(nodes, nd->kid, counts);
    case OP_AND:
        for (int32_t k = nd->kid; k >= 0; k = nodes[k].next)
            if (!ref_node(nodes, k, counts))
                return false;
        return true;
    default:
        for (int32_t k = nd->kid; k >= 0; k = nodes[k].next)
            if (ref_node(nodes, k, counts))
                return true;
        return false;
    }
}

void rules_eval_reference(const rules_rule *rule, const uint32_t counts[CC_MEDIA_MAX],
                          cc_media_mask has, cc_media_mask ready, rules_vector out[CC_MEDIA_MAX])
{
    uint32_t c[CC_MEDIA_MAX];
    for (int m = 0; m < CC_MEDIA_MAX; m++) {
        if (!(has >> m & 1))
            continue;
        rules_vector *v = &out[m];
        v->ready = ready >> m & 1;
        v->current = counts[m];
        v->max = 0;
        v->available = 0;
        const rules_cond *cond = rule->conds[m] ? rule->conds[m] : rule->fallback;
        if (!cond)
            continue;
        memcpy(c, counts, sizeof c);
        v->max = RULES_THRESHOLD_MAX;
        for (uint32_t k = 0; k <= RULES_THRESHOLD_MAX; k++) {
            c[m] = k;
            if (ref_node(cond->nodes, cond->root, c)) {
                v->max = k;
                break;
            }
        }
        if (!v->ready)
            continue;
        uint32_t n = 0;
        for (; n < RULES_THRESHOLD_MAX; n++) {
            c[m] = counts[m] > UINT32_MAX - n ? UINT32_MAX : counts[m] + n;
            if (ref_node(cond->nodes, cond->root, c))
                break;
        }
        v->available = n;
    }
}

/* ---- lexer ---- */

enum tok_kind {
    T_EOF,
    T_IDENT,
    T_STRING,
    T_NUMBER,
    T_LBRACE,
    T_RBRACE,
    T_SEMI,
    T_EQ,
    T_LPAREN,
    T_RPAREN,
    T_BAR,
    T_AMP,
    T_BANG,
    T_GE,
    T_BAD,        /* a character that starts no token */
    T_BAD_STRING, /* a string without its closing quote on the same line */
};

typedef struct tok {
    enum tok_kind kind;
    const char *p; /* the token's text; for a string, its contents */
    size_t len;
    uint32_t line, col;
    uint32_t num; /* a number's value, saturated well above 255 */
} tok;

typedef struct lexer {
    const char *p, *end;
    uint32_t line;
    const char *line_start;
} lexer;

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9') || c == '-';
}

static tok lex_next(lexer *lx)
{
    for (;;) {
        while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r' ||
                                   *lx->p == '\n' || *lx->p == '\f' || *lx->p == '\v')) {
            if (*lx->p == '\n') {
                lx->line++;
                lx->line_start = lx->p + 1;
            }
            lx->p++;
        }
        if (lx->p < lx->end && *lx->p == '#') {
            while (lx->p < lx->end && *lx->p != '\n')
                lx->p++;
            continue;
        }
        break;
    }
    tok t = {.p = lx->p, .len = 1, .line = lx->line, .col = (uint32_t)(lx->p - lx->line_start) + 1};
    if (lx->p >= lx->end) {
        t.kind = T_EOF;
        t.len = 0;
        return t;
    }
    char c = *lx->p;
    if (is_ident_start(c)) {
        const char *s = lx->p;
        while (lx->p < lx->end && is_ident_char(*lx->p))
            lx->p++;
        t.kind = T_IDENT;
        t.len = (size_t)(lx->p - s);
        return t;
    }
    if (c >= '0' && c <= '9') {
        const char *s = lx->p;
        uint32_t v = 0;
        while (lx->p < lx->end && *lx->p >= '0' && *lx->p <= '9') {
            if (v < 100000)
                v = v * 10 + (uint32_t)(*lx->p - '0');
            lx->p++;
        }
        t.kind = T_NUMBER;
        t.len = (size_t)(lx->p - s);
        t.num = v;
        return t;
    }
    if (c == '"') {
        const char *s = ++lx->p;
        while (lx->p < lx->end && *lx->p != '"' && (unsigned char)*lx->p >= 0x20 && *lx->p != 0x7f)
            lx->p++;
        t.p = s;
        t.len = (size_t)(lx->p - s);
        if (lx->p < lx->end && *lx->p == '"') {
            lx->p++;
            t.kind = T_STRING;
        } else {
            t.kind = T_BAD_STRING;
        }
        return t;
    }
    lx->p++;
    switch (c) {
    case '{': t.kind = T_LBRACE; break;
    case '}': t.kind = T_RBRACE; break;
    case ';': t.kind = T_SEMI; break;
    case '=': t.kind = T_EQ; break;
    case '(': t.kind = T_LPAREN; break;
    case ')': t.kind = T_RPAREN; break;
    case '|': t.kind = T_BAR; break;
    case '&': t.kind = T_AMP; break;
    case '!': t.kind = T_BANG; break;
    case '>':
        if (lx->p < lx->end && *lx->p == '=') {
            lx->p++;
            t.kind = T_GE;
            t.len = 2;
        } else {
            t.kind = T_BAD;
        }
        break;
    default: t.kind = T_BAD; break;
    }
    return t;
}

/* ---- parser ---- */

typedef struct parser {
    lexer lx;
    tok cur;
    const char *file;
    cc_buf *diag;
    cc_media_table media; /* a working copy, given back only on success */
    rules_set *set;
    int errors, warnings;
    bool stop; /* too many errors: unwind and give up */
    bool too_many_media;
    int depth;         /* parentheses and nots open at this point */
    rules_node *nodes; /* the condition being parsed */
    size_t nnodes, capnodes;
} parser;

static void advance(parser *p)
{
    p->cur = lex_next(&p->lx);
}

/* Keywords are matched without regard to case. */
static bool is_kw(const tok *t, const char *kw)
{
    size_t n = strlen(kw);
    if (t->kind != T_IDENT || t->len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t->p[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != kw[i])
            return false;
    }
    return true;
}

static void diag_line(parser *p, const char *level, uint32_t line, uint32_t col, const char *fmt,
                      va_list ap) __attribute__((format(printf, 5, 0)));

static void diag_line(parser *p, const char *level, uint32_t line, uint32_t col, const char *fmt,
                      va_list ap)
{
    if (!p->diag)
        return;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    cc_buf_printf(p->diag, "%s:%u:%u: %s: %s\n", p->file, line, col, level, msg);
}

static void error_at(parser *p, uint32_t line, uint32_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void error_at(parser *p, uint32_t line, uint32_t col, const char *fmt, ...)
{
    if (p->stop)
        return;
    if (p->errors >= RULES_ERRORS_MAX) {
        /* One more error than the limit: say so where it was found and stop reading. */
        p->stop = true;
        if (p->diag)
            cc_buf_printf(p->diag, "%s:%u:%u: error: too many errors (over %d), giving up\n",
                          p->file, line, col, RULES_ERRORS_MAX);
        return;
    }
    p->errors++;
    va_list ap;
    va_start(ap, fmt);
    diag_line(p, "error", line, col, fmt, ap);
    va_end(ap);
}

static void warning_at(parser *p, uint32_t line, uint32_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void warning_at(parser *p, uint32_t line, uint32_t col, const char *fmt, ...)
{
    /* Warnings are bounded like errors, so a file of repeated lines cannot flood the log. */
    if (p->warnings >= RULES_ERRORS_MAX) {
        if (p->warnings++ == RULES_ERRORS_MAX && p->diag)
            cc_buf_printf(p->diag, "%s:%u:%u: warning: more than %d warnings, the rest not shown\n",
                          p->file, line, col, RULES_ERRORS_MAX);
        return;
    }
    p->warnings++;
    va_list ap;
    va_start(ap, fmt);
    diag_line(p, "warning", line, col, fmt, ap);
    va_end(ap);
}

/* A short printable description of the current token for "found ..." in messages. */
static const char *describe(const tok *t, char *buf, size_t size)
{
    switch (t->kind) {
    case T_EOF: return "end of file";
    case T_BAD_STRING: return "a string without its closing '\"' on the same line";
    case T_STRING:
        if (t->len > 24)
            snprintf(buf, size, "\"%.24s...\"", t->p);
        else
            snprintf(buf, size, "\"%.*s\"", (int)t->len, t->p);
        return buf;
    case T_BAD: {
        unsigned char c = (unsigned char)t->p[0];
        if (c >= 0x21 && c < 0x7f)
            snprintf(buf, size, "'%c'", c);
        else
            snprintf(buf, size, "byte 0x%02x", c);
        return buf;
    }
    default:
        snprintf(buf, size, "'%.*s'", t->len > 32 ? 32 : (int)t->len, t->p);
        if (t->len > 32)
            snprintf(buf + strlen(buf) - 1, size - strlen(buf) + 1, "...'");
        return buf;
    }
}

/* Reports that the current token is not what was expected. */
static void expected(parser *p, const char *what)
{
    char buf[64];
    error_at(p, p->cur.line, p->cur.col, "expected %s, found %s", what,
             describe(&p->cur, buf, sizeof buf));
}

static bool is_reserved(const tok *t)
{
    return is_kw(t, "or") || is_kw(t, "and") || is_kw(t, "not") || is_kw(t, "any") ||
           is_kw(t, "total") || is_kw(t, "rule") || is_kw(t, "assign");
}

/* Interns the media name at the current token into the working table; -1 after an error. */
static int media_of(parser *p, const char *what)
{
    if (p->cur.kind != T_IDENT || is_reserved(&p->cur) ||
        !cc_media_name_valid(p->cur.p, p->cur.len)) {
        expected(p, what);
        return -1;
    }
    int id = cc_media_intern(&p->media, p->cur.p, p->cur.len);
    if (id == CC_E_LIMIT_EXCEEDED) {
        error_at(p, p->cur.line, p->cur.col,
                 "too many media: '%.*s' would be number %d, expected at most %d", (int)p->cur.len,
                 p->cur.p, CC_MEDIA_MAX + 1, CC_MEDIA_MAX);
        p->too_many_media = true;
        return -1;
    }
    assert(id >= 0);
    return id;
}

static int32_t node_new(parser *p, enum rules_op op, int n, int media)
{
    if (p->nnodes == p->capnodes) {
        p->capnodes = p->capnodes ? p->capnodes * 2 : 16;
        p->nodes = xrealloc(p->nodes, p->capnodes * sizeof *p->nodes);
    }
    p->nodes[p->nnodes] = (rules_node){.op = (uint8_t)op,
                                       .n = (uint8_t)n,
                                       .media = (uint8_t)(media < 0 ? 0 : media),
                                       .kid = -1,
                                       .next = -1,
                                       .last = -1};
    return (int32_t)p->nnodes++;
}

/* Appends child to an AND or OR node, taking over the children of a child with the same
 * operator, so "a or (b or c)" and "(a or b) or c" become one flat "a or b or c". */
static void node_add(parser *p, int32_t parent, int32_t child)
{
    rules_node *par = &p->nodes[parent];
    rules_node *ch = &p->nodes[child];
    int32_t first = child, last = child;
    if (ch->op == par->op) {
        first = ch->kid;
        last = ch->last;
    }
    if (par->kid < 0)
        par->kid = first;
    else
        p->nodes[par->last].next = first;
    par->last = last;
}

static int32_t parse_or(parser *p);

/* A number 1..255 after ">=". */
static int parse_threshold(parser *p)
{
    if (p->cur.kind != T_GE) {
        expected(p, "'>='");
        return -1;
    }
    advance(p);
    if (p->cur.kind != T_NUMBER || p->cur.num < 1 || p->cur.num > RULES_THRESHOLD_MAX) {
        expected(p, "a number 1..255");
        return -1;
    }
    int n = (int)p->cur.num;
    advance(p);
    return n;
}

/* Enters one level of nesting, or reports that the limit is reached. */
static bool enter(parser *p)
{
    if (p->depth >= RULES_DEPTH_MAX) {
        error_at(p, p->cur.line, p->cur.col,
                 "nesting too deep: expected at most %d levels of parentheses and 'not'",
                 RULES_DEPTH_MAX);
        return false;
    }
    p->depth++;
    return true;
}

static int32_t parse_not(parser *p)
{
    if (p->cur.kind == T_BANG || is_kw(&p->cur, "not")) {
        if (!enter(p))
            return -1;
        advance(p);
        int32_t kid = parse_not(p);
        p->depth--;
        if (kid < 0)
            return -1;
        int32_t n = node_new(p, OP_NOT, 0, -1);
        p->nodes[n].kid = kid;
        p->nodes[n].last = kid;
        return n;
    }
    if (p->cur.kind == T_LPAREN) {
        if (!enter(p))
            return -1;
        advance(p);
        int32_t e = parse_or(p);
        p->depth--;
        if (e < 0)
            return -1;
        if (p->cur.kind != T_RPAREN) {
            expected(p, "')' or an operator ('or', 'and')");
            return -1;
        }
        advance(p);
        return e;
    }
    enum rules_op op;
    int media = -1;
    if (is_kw(&p->cur, "any")) {
        op = OP_ANY;
        advance(p);
    } else if (is_kw(&p->cur, "total")) {
        op = OP_TOTAL;
        advance(p);
    } else {
        media = media_of(p, "a term (MEDIA >= N, any >= N or total >= N), 'not' or '('");
        if (media < 0)
            return -1;
        op = OP_MEDIA;
        advance(p);
    }
    int n = parse_threshold(p);
    if (n < 0)
        return -1;
    return node_new(p, op, n, media);
}

static int32_t parse_and(parser *p)
{
    int32_t first = parse_not(p);
    if (first < 0 || !(p->cur.kind == T_AMP || is_kw(&p->cur, "and")))
        return first;
    int32_t n = node_new(p, OP_AND, 0, -1);
    node_add(p, n, first);
    while (p->cur.kind == T_AMP || is_kw(&p->cur, "and")) {
        advance(p);
        int32_t kid = parse_not(p);
        if (kid < 0)
            return -1;
        node_add(p, n, kid);
    }
    return n;
}

static int32_t parse_or(parser *p)
{
    int32_t first = parse_and(p);
    if (first < 0 || !(p->cur.kind == T_BAR || is_kw(&p->cur, "or")))
        return first;
    int32_t n = node_new(p, OP_OR, 0, -1);
    node_add(p, n, first);
    while (p->cur.kind == T_BAR || is_kw(&p->cur, "or")) {
        advance(p);
        int32_t kid = parse_and(p);
        if (kid < 0)
            return -1;
        node_add(p, n, kid);
    }
    return n;
}

/* Emits the postfix code of a subtree and returns the stack it needs. */
static uint32_t emit(const rules_node *nodes, int32_t i, rules_code *code, uint32_t *ncode)
{
    const rules_node *nd = &nodes[i];
    switch (nd->op) {
    case OP_MEDIA:
    case OP_ANY:
    case OP_TOTAL:
        code[(*ncode)++] = (rules_code){.op = nd->op, .n = nd->n, .media = nd->media};
        return 1;
    case OP_NOT: {
        uint32_t need = emit(nodes, nd->kid, code, ncode);
        code[(*ncode)++] = (rules_code){.op = OP_NOT};
        return need;
    }
    default: {
        uint32_t need = emit(nodes, nd->kid, code, ncode);
        for (int32_t k = nodes[nd->kid].next; k >= 0; k = nodes[k].next) {
            uint32_t kneed = 1 + emit(nodes, k, code, ncode);
            if (kneed > need)
                need = kneed;
            code[(*ncode)++] = (rules_code){.op = nd->op};
        }
        return need;
    }
    }
}

/* The nesting of a subtree as its normal form writes it: each not, each and/or group
 * inside another operator and each term right after a not (which rules_format puts in
 * parentheses) is one level. */
static int normal_depth(const rules_node *nodes, int32_t i, bool root)
{
    const rules_node *nd = &nodes[i];
    if (nd->op == OP_NOT) {
        const rules_node *kid = &nodes[nd->kid];
        bool term = kid->op != OP_NOT && kid->op != OP_AND && kid->op != OP_OR;
        return 1 + (term ? 1 : normal_depth(nodes, nd->kid, false));
    }
    if (nd->op != OP_AND && nd->op != OP_OR)
        return 0;
    int deepest = 0;
    for (int32_t k = nd->kid; k >= 0; k = nodes[k].next) {
        int d = normal_depth(nodes, k, false);
        if (d > deepest)
            deepest = d;
    }
    return deepest + (root ? 0 : 1);
}

/* Turns the parsed tree into a condition; NULL (after an error) when it would need more
 * evaluation stack than the nesting limit allows, which the depth check should prevent. */
static rules_cond *compile(parser *p, int32_t root, uint32_t line, uint32_t col)
{
    /* The text's own nesting is already within the limit, but its normal form may add
     * parentheses ("a or b and c" becomes "a or (b and c)"); refusing what would not read
     * back keeps rules_format's output always parseable. */
    if (normal_depth(p->nodes, root, true) > RULES_DEPTH_MAX) {
        error_at(p, line, col,
                 "nesting too deep: expected at most %d levels of 'not' and of 'and'/'or' "
                 "inside other operators",
                 RULES_DEPTH_MAX);
        return NULL;
    }
    rules_cond *c = xcalloc(1, sizeof *c);
    c->nodes = xmalloc(p->nnodes * sizeof *c->nodes);
    memcpy(c->nodes, p->nodes, p->nnodes * sizeof *c->nodes);
    c->root = root;
    /* Each term and not gives one instruction, an and/or of n operands n - 1, so the code
     * is never longer than twice the tree. */
    c->code = xmalloc(2 * p->nnodes * sizeof *c->code);
    uint32_t need = emit(c->nodes, root, c->code, &c->ncode);
    assert(c->ncode <= 2 * p->nnodes);
    if (need > RULES_STACK_MAX) {
        error_at(p, line, col, "expression too complex: expected at most %d levels of nesting",
                 RULES_DEPTH_MAX);
        cond_free(c);
        return NULL;
    }
    return c;
}

/* Skips to the end of a broken condition: past its ';', or up to the rule's '}'. */
static void recover_cond(parser *p)
{
    while (p->cur.kind != T_EOF && p->cur.kind != T_SEMI && p->cur.kind != T_RBRACE)
        advance(p);
    if (p->cur.kind == T_SEMI)
        advance(p);
}

/* Skips to the next top-level statement after an error. */
static void recover_top(parser *p)
{
    while (p->cur.kind != T_EOF && !is_kw(&p->cur, "rule") && !is_kw(&p->cur, "assign"))
        advance(p);
}

/* Checks that the current token is a string of 1..max bytes; reports it otherwise. */
static bool want_string(parser *p, const char *what, size_t max)
{
    if (p->cur.kind != T_STRING || p->cur.len < 1 || p->cur.len > max) {
        char buf[160];
        snprintf(buf, sizeof buf, "%s in double quotes (1..%zu bytes)", what, max);
        expected(p, buf);
        return false;
    }
    return true;
}

static void set_add_rule(rules_set *s, rules_rule *r)
{
    if (s->nrules == s->caprules) {
        s->caprules = s->caprules ? s->caprules * 2 : 16;
        s->rules = xrealloc(s->rules, s->caprules * sizeof *s->rules);
    }
    s->rules[s->nrules++] = r;
}

/* rule "NAME" { MEDIA = EXPR; ... } */
static void parse_rule(parser *p)
{
    advance(p);
    if (!want_string(p, "a rule name", RULES_NAME_MAX)) {
        recover_top(p);
        return;
    }
    tok name = p->cur;
    rules_rule *r = rule_new(name.p, name.len, name.line);
    bool keep = true;
    if (!strcmp(r->name, BUILTIN_DEFAULT) || !strcmp(r->name, BUILTIN_ONE)) {
        error_at(p, name.line, name.col,
                 "rule \"%s\" is built in and cannot be redefined; expected another name", r->name);
        keep = false;
    } else {
        const rules_rule *old = cc_map_gets(&p->set->by_name, r->name);
        if (old) {
            error_at(p, name.line, name.col,
                     "rule \"%s\" is already defined on line %u; expected a new name", r->name,
                     old->line);
            keep = false;
        }
    }
    advance(p);
    if (p->cur.kind != T_LBRACE) {
        expected(p, "'{'");
        rule_free(r);
        recover_top(p);
        return;
    }
    advance(p);
    uint32_t cond_line[CC_MEDIA_MAX] = {0};
    while (!p->stop && p->cur.kind != T_RBRACE) {
        if (p->cur.kind == T_EOF) {
            expected(p, "'}'");
            break;
        }
        if (is_kw(&p->cur, "rule") || is_kw(&p->cur, "assign")) {
            /* A forgotten '}' should cost one error, not one per following line. */
            expected(p, "a media name or '}'");
            break;
        }
        tok mt = p->cur;
        int m = media_of(p, "a media name or '}'");
        if (m < 0) {
            recover_cond(p);
            continue;
        }
        bool dup = r->conds[m] != NULL;
        if (dup)
            error_at(p, mt.line, mt.col,
                     "media '%.*s' already has a condition on line %u; expected one per media",
                     (int)mt.len, mt.p, cond_line[m]);
        advance(p);
        if (p->cur.kind != T_EQ) {
            expected(p, "'='");
            recover_cond(p);
            continue;
        }
        advance(p);
        p->nnodes = 0;
        p->depth = 0;
        int32_t root = parse_or(p);
        if (root >= 0 && p->cur.kind != T_SEMI) {
            expected(p, "';' or an operator ('or', 'and')");
            root = -1;
        }
        if (root < 0) {
            recover_cond(p);
            continue;
        }
        advance(p);
        if (!dup) {
            r->conds[m] = compile(p, root, mt.line, mt.col);
            cond_line[m] = mt.line;
            for (size_t i = 0; i < p->nnodes; i++) {
                r->uses_any |= p->nodes[i].op == OP_ANY;
                r->uses_total |= p->nodes[i].op == OP_TOTAL;
            }
        }
    }
    if (p->cur.kind == T_RBRACE)
        advance(p);
    if (keep && !p->stop) {
        set_add_rule(p->set, r);
        cc_map_puts(&p->set->by_name, r->name, r);
    } else {
        rule_free(r);
    }
}

/* assign agent|place "TENANT" "ID" "RULE"; or assign tenant "TENANT" "RULE"; */
static void parse_assign(parser *p)
{
    tok at = p->cur;
    advance(p);
    enum assign_kind kind;
    if (is_kw(&p->cur, "agent")) {
        kind = ASSIGN_AGENT;
    } else if (is_kw(&p->cur, "place")) {
        kind = ASSIGN_PLACE;
    } else if (is_kw(&p->cur, "tenant")) {
        kind = ASSIGN_TENANT;
    } else {
        expected(p, "'agent', 'place' or 'tenant'");
        recover_top(p);
        return;
    }
    advance(p);
    tok tenant, id = {0}, rule;
    if (!want_string(p, "a tenant id", RULES_ID_MAX)) {
        recover_top(p);
        return;
    }
    tenant = p->cur;
    advance(p);
    if (kind != ASSIGN_TENANT) {
        if (!want_string(p, kind == ASSIGN_AGENT ? "an agent id" : "a place id", RULES_ID_MAX)) {
            recover_top(p);
            return;
        }
        id = p->cur;
        advance(p);
    }
    if (!want_string(p, "a rule name", RULES_NAME_MAX)) {
        recover_top(p);
        return;
    }
    rule = p->cur;
    advance(p);
    if (p->cur.kind != T_SEMI) {
        expected(p, "';'");
        recover_top(p);
        return;
    }
    advance(p);

    rules_assign *a = xcalloc(1, sizeof *a);
    a->kind = kind;
    a->tenant = xstrndup(tenant.p, tenant.len);
    a->id = kind == ASSIGN_TENANT ? NULL : xstrndup(id.p, id.len);
    a->rule_name = xstrndup(rule.p, rule.len);
    a->line = at.line;
    a->rule_line = rule.line;
    a->rule_col = rule.col;
    rules_set *s = p->set;
    if (s->nassigns == s->capassigns) {
        s->capassigns = s->capassigns ? s->capassigns * 2 : 16;
        s->assigns = xrealloc(s->assigns, s->capassigns * sizeof *s->assigns);
    }
    s->assigns[s->nassigns++] = a;
    char key[2 * RULES_ID_MAX + 2];
    size_t klen = assign_key(key, a->tenant, a->id);
    assert(klen > 0);
    rules_assign *old = cc_map_put(&s->by_key[kind], key, klen, a);
    if (old) {
        old->superseded = true;
        if (kind == ASSIGN_TENANT)
            warning_at(p, at.line, at.col,
                       "tenant \"%s\" is assigned again (first on line %u); this line wins",
                       a->tenant, old->line);
        else
            warning_at(p, at.line, at.col,
                       "%s \"%s\" \"%s\" is assigned again (first on line %u); this line wins",
                       assign_kind_name[kind], a->tenant, a->id, old->line);
    }
}

/* Resolves the rule names of assignments once every rule of the file is known, so an
 * assign may come before the rule it names. */
static void resolve_assigns(parser *p)
{
    for (size_t i = 0; i < p->set->nassigns && !p->stop; i++) {
        rules_assign *a = p->set->assigns[i];
        a->rule = cc_map_gets(&p->set->by_name, a->rule_name);
        if (!a->rule)
            error_at(p, a->rule_line, a->rule_col,
                     "rule \"%s\" is not defined; expected a rule of this file, \"%s\" or "
                     "\"%s\"",
                     a->rule_name, BUILTIN_DEFAULT, BUILTIN_ONE);
    }
}

int rules_parse(const char *text, size_t len, const char *filename, cc_media_table *media,
                rules_set **out, cc_buf *diag)
{
    *out = NULL;
    if (!text)
        text = "";
    if (!filename)
        filename = "rules";
    if (len > RULES_FILE_MAX) {
        if (diag)
            cc_buf_printf(diag, "%s:1:1: error: the file has %zu bytes, expected at most %u\n",
                          filename, len, RULES_FILE_MAX);
        return CC_E_LIMIT_EXCEEDED;
    }
    parser p = {.file = filename, .diag = diag, .media = *media};
    p.lx = (lexer){.p = text, .end = text + len, .line = 1, .line_start = text};
    int voice = cc_media_intern(&p.media, "voice", 5);
    if (voice < 0) {
        error_at(&p, 1, 1,
                 "too many media: the built-in Default needs 'voice', expected at most %d media",
                 CC_MEDIA_MAX);
        return CC_E_LIMIT_EXCEEDED;
    }
    p.set = set_new(voice);
    advance(&p);
    while (!p.stop && p.cur.kind != T_EOF) {
        if (is_kw(&p.cur, "rule")) {
            parse_rule(&p);
        } else if (is_kw(&p.cur, "assign")) {
            parse_assign(&p);
        } else {
            expected(&p, "'rule' or 'assign'");
            advance(&p);
            recover_top(&p);
        }
    }
    resolve_assigns(&p);
    free(p.nodes);
    if (p.errors) {
        rules_free(p.set);
        return p.too_many_media ? CC_E_LIMIT_EXCEEDED : CC_E_PARSE;
    }
    *media = p.media;
    *out = p.set;
    return 0;
}

/* ---- normal form ---- */

static void fmt_node(const rules_node *nodes, int32_t i, const cc_media_table *media, cc_buf *out)
{
    const rules_node *nd = &nodes[i];
    switch (nd->op) {
    case OP_MEDIA: cc_buf_printf(out, "%s >= %u", cc_media_name(media, nd->media), nd->n); return;
    case OP_ANY: cc_buf_printf(out, "any >= %u", nd->n); return;
    case OP_TOTAL: cc_buf_printf(out, "total >= %u", nd->n); return;
    case OP_NOT: {
        /* and/or need parentheses here; a term gets them too, so that "not (chat >= 3)"
         * cannot be misread as "(not chat) >= 3". Only a not after a not goes without. */
        bool paren = nodes[nd->kid].op != OP_NOT;
        cc_buf_puts(out, paren ? "not (" : "not ");
        fmt_node(nodes, nd->kid, media, out);
        if (paren)
            cc_buf_putc(out, ')');
        return;
    }
    default:
        for (int32_t k = nd->kid; k >= 0; k = nodes[k].next) {
            if (k != nd->kid)
                cc_buf_puts(out, nd->op == OP_AND ? " and " : " or ");
            /* An or inside an and needs parentheses; an and inside an or gets them too,
             * so a reader need not remember which operator binds tighter. */
            bool paren = nodes[k].op == OP_OR || nodes[k].op == OP_AND;
            if (paren)
                cc_buf_putc(out, '(');
            fmt_node(nodes, k, media, out);
            if (paren)
                cc_buf_putc(out, ')');
        }
        return;
    }
}

static void fmt_rule(const rules_rule *r, const cc_media_table *media, cc_buf *out)
{
    int ids[CC_MEDIA_MAX];
    int n = 0;
    for (int i = 0; i < CC_MEDIA_MAX; i++)
        if (r->conds[i])
            ids[n++] = i;
    /* Normal form lists media by name, not by id, so it does not depend on the order in
     * which the daemon met them. At most 64 entries: insertion sort is enough. */
    for (int j = 1; j < n; j++) {
        int id = ids[j], k = j;
        for (; k > 0 && strcmp(cc_media_name(media, ids[k - 1]), cc_media_name(media, id)) > 0; k--)
            ids[k] = ids[k - 1];
        ids[k] = id;
    }
    cc_buf_printf(out, "rule \"%s\" {", r->name);
    for (int j = 0; j < n; j++) {
        const rules_cond *c = r->conds[ids[j]];
        cc_buf_printf(out, " %s = ", cc_media_name(media, ids[j]));
        fmt_node(c->nodes, c->root, media, out);
        cc_buf_putc(out, ';');
    }
    cc_buf_puts(out, " }\n");
}

void rules_format(const rules_set *set, const cc_media_table *media, cc_buf *out)
{
    for (size_t i = 0; i < set->nrules; i++)
        fmt_rule(set->rules[i], media, out);
    for (int kind = ASSIGN_AGENT; kind <= ASSIGN_TENANT; kind++) {
        for (size_t i = 0; i < set->nassigns; i++) {
            const rules_assign *a = set->assigns[i];
            if ((int)a->kind != kind || a->superseded)
                continue;
            cc_buf_printf(out, "assign %s \"%s\" ", assign_kind_name[kind], a->tenant);
            if (a->id)
                cc_buf_printf(out, "\"%s\" ", a->id);
            cc_buf_printf(out, "\"%s\";\n", a->rule_name);
        }
    }
    cc_buf_puts(out, "# built-in rule \"" BUILTIN_DEFAULT
                     "\": voice = any >= 1; every other media blocked\n");
    cc_buf_puts(out,
                "# built-in rule \"" BUILTIN_ONE "\": every media m the agent has: m = any >= 1\n");
}
