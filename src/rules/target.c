/* Routing targets: one small lexer shared by three recursive-descent parsers (skills lines,
 * targets, queue options) that stop at the first error with its column, and the compiled
 * form of a target. See docs/routing.md ("Target language").
 *
 * A step is parsed into a tree of n-ary nodes (nested groups of the same operator merged,
 * parentheses gone), which is printed once as the step's canonical text and compiled to
 * postfix code over binary operators. A term's operator and level become the set of agent
 * levels 0..10 that satisfy it, so evaluating a term is one lookup of the agent's level and
 * one bit test, and target_match needs nothing but a small array on the stack. */
#include "rules/target.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/map.h"

/* ---- dictionary ---- */

struct target_dict {
    cc_map by_name; /* name -> (void *)(id + 1) */
    char **names;   /* by id */
    size_t count, cap;
};

target_dict *target_dict_new(void)
{
    target_dict *d = xcalloc(1, sizeof *d);
    cc_map_init(&d->by_name);
    return d;
}

void target_dict_free(target_dict *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->count; i++)
        free(d->names[i]);
    free(d->names);
    cc_map_free(&d->by_name);
    free(d);
}

static int dict_get(const target_dict *d, const char *name, size_t len)
{
    void *v = cc_map_get(&d->by_name, name, len);
    return v ? (int)((uintptr_t)v - 1) : -1;
}

int target_dict_find(const target_dict *d, const char *name)
{
    return dict_get(d, name, strlen(name));
}

const char *target_dict_name(const target_dict *d, int id)
{
    if (id < 0 || (size_t)id >= d->count)
        return NULL;
    return d->names[id];
}

size_t target_dict_count(const target_dict *d)
{
    return d->count;
}

/* The id of name, added when new; -1 when the dictionary is full. */
static int dict_intern(target_dict *d, const char *name, size_t len)
{
    int id = dict_get(d, name, len);
    if (id >= 0)
        return id;
    if (d->count >= TARGET_DICT_MAX)
        return -1;
    if (d->count == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 16;
        d->names = xrealloc(d->names, d->cap * sizeof *d->names);
    }
    id = (int)d->count;
    d->names[d->count++] = xstrndup(name, len);
    cc_map_put(&d->by_name, name, len, (void *)(uintptr_t)(id + 1));
    return id;
}

/* Forgets the names added since the dictionary held count names, so that a refused text
 * leaves nothing behind. */
static void dict_truncate(target_dict *d, size_t count)
{
    while (d->count > count) {
        char *name = d->names[--d->count];
        cc_map_dels(&d->by_name, name);
        free(name);
    }
}

/* ---- skills ---- */

unsigned target_skills_level(const target_skills *s, int id)
{
    assert(s->count <= TARGET_AGENT_SKILLS_MAX);
    if (id < 0)
        return 0;
    unsigned lo = 0, hi = s->count;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (s->id[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->count && s->id[lo] == id ? s->level[lo] : 0;
}

/* ---- lexer ---- */

enum tok_kind {
    T_END,
    T_WORD, /* [A-Za-z][A-Za-z0-9_-]* */
    T_NUM,  /* [0-9]+ */
    T_GE,
    T_GT,
    T_EQ,
    T_LE,
    T_LT,
    T_LPAREN,
    T_RPAREN,
    T_SEMI,
    T_COMMA,
    T_COLON,
    T_OTHER, /* any other single byte */
};

/* Numbers are kept up to this; anything longer is "too big" for every range here. */
#define NUM_CAP 1000000000u

typedef struct tok {
    enum tok_kind kind;
    size_t pos, len;
    uint32_t num; /* T_NUM, saturated at NUM_CAP */
} tok;

/* One parse: the text, the current token and the first error. */
typedef struct parser {
    const char *text;
    size_t len;
    size_t pos; /* next byte after cur */
    tok cur;
    bool failed;
    target_error *err;
    target_dict *dict;
} parser;

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_word_char(char c)
{
    return is_alpha(c) || is_digit(c) || c == '_' || c == '-';
}

static void next(parser *p)
{
    while (p->pos < p->len && is_blank(p->text[p->pos]))
        p->pos++;
    tok t = {.kind = T_END, .pos = p->pos, .len = 0};
    if (p->pos >= p->len) {
        p->cur = t;
        return;
    }
    const char *s = p->text + p->pos;
    size_t left = p->len - p->pos;
    char c = s[0];
    t.len = 1;
    if (is_alpha(c)) {
        t.kind = T_WORD;
        while (t.len < left && is_word_char(s[t.len]))
            t.len++;
    } else if (is_digit(c)) {
        t.kind = T_NUM;
        uint32_t v = 0;
        for (t.len = 0; t.len < left && is_digit(s[t.len]); t.len++)
            v = v >= NUM_CAP / 10 ? NUM_CAP : v * 10 + (uint32_t)(s[t.len] - '0');
        t.num = v;
    } else if (c == '>' || c == '<') {
        bool eq = left > 1 && s[1] == '=';
        t.len = eq ? 2 : 1;
        t.kind = c == '>' ? (eq ? T_GE : T_GT) : (eq ? T_LE : T_LT);
    } else {
        switch (c) {
        case '=': t.kind = T_EQ; break;
        case '(': t.kind = T_LPAREN; break;
        case ')': t.kind = T_RPAREN; break;
        case ';': t.kind = T_SEMI; break;
        case ',': t.kind = T_COMMA; break;
        case ':': t.kind = T_COLON; break;
        default: t.kind = T_OTHER; break;
        }
    }
    p->pos += t.len;
    p->cur = t;
}

static void parser_init(parser *p, target_dict *d, const char *text, size_t len, target_error *err)
{
    *p = (parser){.text = text, .len = len, .err = err, .dict = d};
    if (err) {
        err->column = 0;
        err->message[0] = '\0';
    }
    next(p);
}

/* Whether the current token is the keyword kw, in any letter case. */
static bool is_kw(const parser *p, const char *kw)
{
    return p->cur.kind == T_WORD && p->cur.len == strlen(kw) &&
           strncasecmp(p->text + p->cur.pos, kw, p->cur.len) == 0;
}

/* Keywords of the target language: none of them can be a skill name. */
static const char *const reserved[] = {"and", "or", "not", "any", "for"};

static bool is_reserved(const parser *p)
{
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (is_kw(p, reserved[i]))
            return true;
    return false;
}

/* How a message shows the current token: quoted (long ones cut), a byte that is not
 * printable by its value, or "end of text". */
static void describe(const parser *p, char *out, size_t size)
{
    const tok *t = &p->cur;
    if (t->kind == T_END) {
        snprintf(out, size, "end of text");
        return;
    }
    unsigned char c = (unsigned char)p->text[t->pos];
    if (t->kind == T_OTHER && (c < 0x20 || c >= 0x7f)) {
        snprintf(out, size, "byte 0x%02x", c);
        return;
    }
    int n = t->len > 40 ? 40 : (int)t->len;
    snprintf(out, size, "'%.*s%s'", n, p->text + t->pos, t->len > 40 ? "..." : "");
}

static void fail_at(parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first error: 1-based column of byte pos and the message. */
static void fail_at(parser *p, size_t pos, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    if (!p->err)
        return;
    p->err->column = pos + 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->message, sizeof p->err->message, fmt, ap);
    va_end(ap);
}

/* "expected WHAT, found TOKEN" at the current token. */
static void expected(parser *p, const char *what)
{
    char found[64];
    describe(p, found, sizeof found);
    fail_at(p, p->cur.pos, "expected %s, found %s", what, found);
}

/* Checks that the current token is a skill name (what says what was expected there) and
 * interns it; returns its id, or -1 after an error. Does not advance. */
static int skill_name(parser *p, const char *what)
{
    const tok *t = &p->cur;
    if (t->kind != T_WORD) {
        expected(p, what);
        return -1;
    }
    const char *s = p->text + t->pos;
    if (is_reserved(p)) {
        fail_at(p, t->pos, "expected %s, found '%.*s', a reserved word", what, (int)t->len, s);
        return -1;
    }
    for (size_t i = 0; i < t->len; i++) {
        if ((s[i] >= 'A' && s[i] <= 'Z')) {
            char found[64];
            describe(p, found, sizeof found);
            fail_at(p, t->pos, "expected %s (lower case: a-z, 0-9, '_', '-'), found %s", what,
                    found);
            return -1;
        }
    }
    if (t->len > TARGET_SKILL_NAME_MAX) {
        char found[64];
        describe(p, found, sizeof found);
        fail_at(p, t->pos, "skill name %s is longer than %d bytes", found, TARGET_SKILL_NAME_MAX);
        return -1;
    }
    int id = dict_intern(p->dict, s, t->len);
    if (id < 0)
        fail_at(p, t->pos, "too many distinct skill names (at most %d in one configuration)",
                TARGET_DICT_MAX);
    return id;
}

/* A number in lo..hi at the current token (what names it), advancing past it; hi + 1 after
 * an error. */
static uint32_t number(parser *p, uint32_t lo, uint32_t hi, const char *what)
{
    if (p->cur.kind != T_NUM || p->cur.num < lo || p->cur.num > hi) {
        char want[96];
        snprintf(want, sizeof want, "%s %u..%u", what, lo, hi);
        expected(p, want);
        return hi + 1;
    }
    uint32_t v = p->cur.num;
    next(p);
    return v;
}

/* ---- skills lines ---- */

int target_parse_skills(target_dict *d, const char *text, target_skills *out, target_error *err)
{
    size_t dict_count = d->count;
    parser p;
    parser_init(&p, d, text, strlen(text), err);
    target_skills s = {0};
    while (p.cur.kind != T_END && !p.failed) {
        if (s.count > 0) {
            if (p.cur.kind != T_COMMA) {
                expected(&p, "',' or end of text");
                break;
            }
            next(&p);
        }
        size_t name_pos = p.cur.pos;
        if (s.count == TARGET_AGENT_SKILLS_MAX && p.cur.kind == T_WORD) {
            fail_at(&p, name_pos, "too many skills (at most %d per agent)",
                    TARGET_AGENT_SKILLS_MAX);
            break;
        }
        int id = skill_name(&p, "a skill name");
        if (id < 0)
            break;
        size_t name_len = p.cur.len;
        for (unsigned i = 0; i < s.count; i++) {
            if (s.id[i] == id) {
                fail_at(&p, name_pos, "skill '%.*s' is given twice", (int)name_len,
                        text + name_pos);
                break;
            }
        }
        if (p.failed)
            break;
        next(&p);
        if (p.cur.kind != T_COLON) {
            char want[96];
            snprintf(want, sizeof want, "':' and a level after '%.*s'", (int)name_len,
                     text + name_pos);
            expected(&p, want);
            break;
        }
        next(&p);
        uint32_t level = number(&p, 1, TARGET_LEVEL_MAX, "a level");
        if (p.failed)
            break;
        /* Insertion keeps the list sorted by id. */
        unsigned at = s.count;
        while (at > 0 && s.id[at - 1] > id) {
            s.id[at] = s.id[at - 1];
            s.level[at] = s.level[at - 1];
            at--;
        }
        s.id[at] = (uint16_t)id;
        s.level[at] = (uint8_t)level;
        s.count++;
    }
    if (p.failed) {
        dict_truncate(d, dict_count);
        out->count = 0;
        return CC_E_PARSE;
    }
    *out = s;
    return 0;
}

/* ---- targets: tree ---- */

enum node_kind { N_TERM, N_ANY, N_NOT, N_AND, N_OR };

/* The operators of a term, in the order of enum tok_kind's T_GE..T_LT. */
static const char *const op_text[] = {">=", ">", "=", "<=", "<"};

typedef struct node {
    uint8_t kind;
    uint8_t op;    /* N_TERM: index into op_text */
    uint8_t level; /* N_TERM */
    uint16_t skill;
    int32_t kid, next, last; /* children of N_NOT, N_AND, N_OR; siblings */
} node;

/* The parse of one step. */
typedef struct tree {
    node *nodes;
    size_t count, cap;
} tree;

static int32_t node_new(tree *t, enum node_kind kind)
{
    if (t->count == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 32;
        t->nodes = xrealloc(t->nodes, t->cap * sizeof *t->nodes);
    }
    t->nodes[t->count] = (node){.kind = (uint8_t)kind, .kid = -1, .next = -1, .last = -1};
    return (int32_t)t->count++;
}

/* Appends child to group g; a child that is a group of the same operator is merged into g,
 * since (a or b) or c is a or b or c. */
static void node_add(tree *t, int32_t g, int32_t child)
{
    node *n = &t->nodes[g];
    node *c = &t->nodes[child];
    int32_t first = child, last = child;
    if (c->kind == n->kind) {
        first = c->kid;
        last = c->last;
    }
    if (n->kid < 0)
        n->kid = first;
    else
        t->nodes[n->last].next = first;
    n->last = last;
}

/* ---- targets: parser ---- */

typedef struct tparser {
    parser p;
    tree t;
} tparser;

static int32_t parse_or(tparser *tp, unsigned depth);

/* A new nesting level opened at byte pos; false (with the error) beyond the limit. */
static bool deeper(tparser *tp, unsigned depth, size_t pos)
{
    if (depth < TARGET_DEPTH_MAX)
        return true;
    fail_at(&tp->p, pos, "nesting deeper than %d levels of parentheses and 'not'",
            TARGET_DEPTH_MAX);
    return false;
}

/* "( expr )" with the '(' current; depth already counts it. */
static int32_t parse_group(tparser *tp, unsigned depth)
{
    parser *p = &tp->p;
    next(p);
    int32_t e = parse_or(tp, depth);
    if (e < 0)
        return -1;
    if (p->cur.kind != T_RPAREN) {
        expected(p, "'and', 'or' or ')'");
        return -1;
    }
    next(p);
    return e;
}

/* factor = "not" factor | "(" expr ")" | "any" | SKILL OP LEVEL. A '(' right after a
 * `not` belongs to it and opens no level of its own, so that the canonical text, which
 * writes "not (...)", is never deeper than what was parsed. */
static int32_t parse_factor(tparser *tp, unsigned depth)
{
    parser *p = &tp->p;
    if (is_kw(p, "not")) {
        if (!deeper(tp, depth, p->cur.pos))
            return -1;
        next(p);
        int32_t e =
            p->cur.kind == T_LPAREN ? parse_group(tp, depth + 1) : parse_factor(tp, depth + 1);
        if (e < 0)
            return -1;
        int32_t n = node_new(&tp->t, N_NOT);
        tp->t.nodes[n].kid = tp->t.nodes[n].last = e;
        return n;
    }
    if (p->cur.kind == T_LPAREN) {
        if (!deeper(tp, depth, p->cur.pos))
            return -1;
        return parse_group(tp, depth + 1);
    }
    if (is_kw(p, "any")) {
        next(p);
        return node_new(&tp->t, N_ANY);
    }
    if (p->cur.kind != T_WORD || is_reserved(p)) {
        expected(p, "a skill name, 'any', 'not' or '('");
        return -1;
    }
    int skill = skill_name(p, "a skill name");
    if (skill < 0)
        return -1;
    size_t name_pos = p->cur.pos, name_len = p->cur.len;
    next(p);
    if (p->cur.kind < T_GE || p->cur.kind > T_LT) {
        char want[96];
        snprintf(want, sizeof want, "an operator (>=, >, =, <=, <) after '%.*s'", (int)name_len,
                 p->text + name_pos);
        expected(p, want);
        return -1;
    }
    uint8_t op = (uint8_t)(p->cur.kind - T_GE);
    next(p);
    uint32_t level = number(p, 0, TARGET_LEVEL_MAX, "a level");
    if (p->failed)
        return -1;
    int32_t n = node_new(&tp->t, N_TERM);
    tp->t.nodes[n].op = op;
    tp->t.nodes[n].level = (uint8_t)level;
    tp->t.nodes[n].skill = (uint16_t)skill;
    return n;
}

/* A chain of sub (the next tighter level) joined by keyword kw into a group of kind. */
static int32_t parse_chain(tparser *tp, unsigned depth, const char *kw, enum node_kind kind,
                           int32_t (*sub)(tparser *, unsigned))
{
    int32_t first = sub(tp, depth);
    if (first < 0 || !is_kw(&tp->p, kw))
        return first;
    int32_t g = node_new(&tp->t, kind);
    node_add(&tp->t, g, first);
    while (is_kw(&tp->p, kw)) {
        next(&tp->p);
        int32_t e = sub(tp, depth);
        if (e < 0)
            return -1;
        node_add(&tp->t, g, e);
    }
    return g;
}

static int32_t parse_and(tparser *tp, unsigned depth)
{
    return parse_chain(tp, depth, "and", N_AND, parse_factor);
}

static int32_t parse_or(tparser *tp, unsigned depth)
{
    return parse_chain(tp, depth, "or", N_OR, parse_and);
}

/* ---- targets: compiled form ---- */

enum code_op { C_TERM, C_ANY, C_NOT, C_AND, C_OR };

/* One postfix instruction. C_TERM pushes whether the agent's level of skill is in mask
 * (bit L for level L); C_AND and C_OR take two operands. */
typedef struct target_code {
    uint8_t op;
    uint16_t skill;
    uint16_t mask;
} target_code;

/* The evaluation stack. The parser's depth limit bounds it: every nested and/or group but
 * the outermost `or` sits in parentheses or after a `not`, and each such level adds at
 * most two entries. compile checks the bound for every step it accepts. */
#define TARGET_STACK_MAX (2 * TARGET_DEPTH_MAX + 8)

typedef struct target_step {
    uint32_t seconds;  /* its `for`, 0 on the last step */
    uint64_t begin_ms; /* waiting time at which it starts */
    uint32_t code_off, code_len;
    char *text; /* canonical expression */
} target_step;

struct target {
    size_t nsteps;
    target_step steps[TARGET_STEPS_MAX];
    target_code *code;
    size_t ncode, capcode;
    char *text; /* canonical whole target */
};

/* The levels 0..TARGET_LEVEL_MAX for which "level OP n" holds. */
static uint16_t level_mask(uint8_t op, uint8_t n)
{
    uint16_t m = 0;
    for (unsigned l = 0; l <= TARGET_LEVEL_MAX; l++) {
        bool in = false;
        switch (op) {
        case 0: in = l >= n; break;
        case 1: in = l > n; break;
        case 2: in = l == n; break;
        case 3: in = l <= n; break;
        default: in = l < n; break;
        }
        if (in)
            m |= (uint16_t)(1u << l);
    }
    return m;
}

static void emit(target *t, uint8_t op, uint16_t skill, uint16_t mask)
{
    if (t->ncode == t->capcode) {
        t->capcode = t->capcode ? 2 * t->capcode : 16;
        t->code = xrealloc(t->code, t->capcode * sizeof *t->code);
    }
    t->code[t->ncode++] = (target_code){.op = op, .skill = skill, .mask = mask};
}

/* Emits node i's postfix code; returns the stack depth its evaluation needs. */
static unsigned compile_node(target *t, const tree *tr, int32_t i)
{
    const node *n = &tr->nodes[i];
    switch (n->kind) {
    case N_TERM: emit(t, C_TERM, n->skill, level_mask(n->op, n->level)); return 1;
    case N_ANY: emit(t, C_ANY, 0, 0); return 1;
    case N_NOT: {
        unsigned need = compile_node(t, tr, n->kid);
        emit(t, C_NOT, 0, 0);
        return need;
    }
    default: {
        unsigned need = compile_node(t, tr, n->kid);
        for (int32_t k = tr->nodes[n->kid].next; k >= 0; k = tr->nodes[k].next) {
            unsigned more = 1 + compile_node(t, tr, k);
            if (more > need)
                need = more;
            emit(t, n->kind == N_AND ? C_AND : C_OR, 0, 0);
        }
        return need;
    }
    }
}

/* Appends node i's canonical text: single spaces, keywords in lower case, parentheses
 * only around an `or` group inside an `and` and after a `not` (except before `any` and
 * another `not`). */
static void print_node(cc_buf *b, const tree *tr, const target_dict *d, int32_t i)
{
    const node *n = &tr->nodes[i];
    switch (n->kind) {
    case N_TERM:
        cc_buf_printf(b, "%s %s %u", target_dict_name(d, n->skill), op_text[n->op],
                      (unsigned)n->level);
        break;
    case N_ANY: cc_buf_puts(b, "any"); break;
    case N_NOT: {
        uint8_t kk = tr->nodes[n->kid].kind;
        bool paren = kk != N_NOT && kk != N_ANY;
        cc_buf_puts(b, paren ? "not (" : "not ");
        print_node(b, tr, d, n->kid);
        if (paren)
            cc_buf_putc(b, ')');
        break;
    }
    default:
        for (int32_t k = n->kid; k >= 0; k = tr->nodes[k].next) {
            if (k != n->kid)
                cc_buf_puts(b, n->kind == N_AND ? " and " : " or ");
            bool paren = n->kind == N_AND && tr->nodes[k].kind == N_OR;
            if (paren)
                cc_buf_putc(b, '(');
            print_node(b, tr, d, k);
            if (paren)
                cc_buf_putc(b, ')');
        }
        break;
    }
}

void target_free(target *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nsteps; i++)
        free(t->steps[i].text);
    free(t->code);
    free(t->text);
    free(t);
}

/* Fills begin_ms of every step and the whole target's text from the steps. */
static void finish(target *t)
{
    cc_buf b;
    cc_buf_init(&b);
    uint64_t at = 0;
    for (size_t i = 0; i < t->nsteps; i++) {
        t->steps[i].begin_ms = at;
        at += (uint64_t)t->steps[i].seconds * 1000;
        if (i > 0)
            cc_buf_puts(&b, "; ");
        cc_buf_puts(&b, t->steps[i].text);
        if (i + 1 < t->nsteps)
            cc_buf_printf(&b, " for %u", t->steps[i].seconds);
    }
    t->text = xstrdup(b.data);
    cc_buf_free(&b);
}

int target_parse(target_dict *d, const char *text, target **out, target_error *err)
{
    *out = NULL;
    size_t dict_count = d->count;
    size_t len = strnlen(text, TARGET_TEXT_MAX + 1);
    tparser tp = {0};
    parser *p = &tp.p;
    if (len > TARGET_TEXT_MAX) {
        /* Nothing is read past the limit. */
        parser_init(p, d, "", 0, err);
        fail_at(p, TARGET_TEXT_MAX, "target longer than %d bytes", TARGET_TEXT_MAX);
        return CC_E_PARSE;
    }
    parser_init(p, d, text, len, err);
    target *t = xcalloc(1, sizeof *t);
    cc_buf b;
    cc_buf_init(&b);
    size_t canon_len = 0;
    for (;;) {
        if (t->nsteps == TARGET_STEPS_MAX) {
            fail_at(p, p->cur.pos, "too many steps (at most %d)", TARGET_STEPS_MAX);
            break;
        }
        if (t->nsteps > 0 && (p->cur.kind == T_END || p->cur.kind == T_SEMI)) {
            expected(p, "a step (a skill name, 'any', 'not' or '(') after ';'");
            break;
        }
        size_t step_pos = p->cur.pos;
        tp.t.count = 0;
        int32_t root = parse_or(&tp, 0);
        if (root < 0)
            break;
        target_step *s = &t->steps[t->nsteps];
        size_t for_pos = 0;
        bool has_for = is_kw(p, "for");
        if (has_for) {
            for_pos = p->cur.pos;
            next(p);
            s->seconds = number(p, 1, TARGET_SECONDS_MAX, "seconds");
            if (p->failed)
                break;
        }
        if (p->cur.kind == T_END) {
            if (has_for) {
                fail_at(p, for_pos, "the last step takes no 'for': it applies from then on");
                break;
            }
        } else if (p->cur.kind == T_SEMI) {
            if (!has_for) {
                fail_at(p, p->cur.pos,
                        "expected 'for SECONDS' before ';': every step but the last needs one");
                break;
            }
        } else {
            expected(p, has_for ? "';' or end of text" : "'and', 'or', 'for', ';' or end of text");
            break;
        }
        cc_buf_reset(&b);
        print_node(&b, &tp.t, d, root);
        /* The canonical text may be longer than what was written ("a>=1" is "a >= 1"); it
         * must fit the same limit, so that target_text always parses back. */
        canon_len += (t->nsteps ? 2 : 0) + b.len;
        if (has_for)
            canon_len += (size_t)snprintf(NULL, 0, " for %u", s->seconds);
        if (canon_len > TARGET_TEXT_MAX) {
            fail_at(p, step_pos,
                    "target too long: in canonical form (as explain shows it) it takes more "
                    "than %d bytes",
                    TARGET_TEXT_MAX);
            break;
        }
        s->code_off = (uint32_t)t->ncode;
        unsigned need = compile_node(t, &tp.t, root);
        s->code_len = (uint32_t)(t->ncode - s->code_off);
        /* The depth limit guarantees this (see TARGET_STACK_MAX). */
        assert(need <= TARGET_STACK_MAX);
        (void)need;
        s->text = xstrdup(b.data);
        t->nsteps++;
        if (p->cur.kind == T_END)
            break;
        next(p);
    }
    free(tp.t.nodes);
    cc_buf_free(&b);
    if (p->failed) {
        target_free(t);
        dict_truncate(d, dict_count);
        return CC_E_PARSE;
    }
    finish(t);
    *out = t;
    return 0;
}

target *target_any(void)
{
    target *t = xcalloc(1, sizeof *t);
    emit(t, C_ANY, 0, 0);
    t->steps[0] = (target_step){.code_off = 0, .code_len = 1, .text = xstrdup("any")};
    t->nsteps = 1;
    finish(t);
    return t;
}

size_t target_step_count(const target *t)
{
    return t->nsteps;
}

uint32_t target_step_seconds(const target *t, size_t i)
{
    assert(i < t->nsteps);
    return t->steps[i].seconds;
}

uint64_t target_step_begin_ms(const target *t, size_t i)
{
    assert(i < t->nsteps);
    return t->steps[i].begin_ms;
}

size_t target_step_at(const target *t, uint64_t waited_ms)
{
    size_t i = 0;
    while (i + 1 < t->nsteps && waited_ms >= t->steps[i + 1].begin_ms)
        i++;
    return i;
}

const char *target_step_text(const target *t, size_t i)
{
    assert(i < t->nsteps);
    return t->steps[i].text;
}

const char *target_text(const target *t)
{
    return t->text;
}

bool target_match(const target *t, size_t i, const target_skills *s)
{
    assert(i < t->nsteps);
    const target_code *c = t->code + t->steps[i].code_off;
    const target_code *end = c + t->steps[i].code_len;
    bool stack[TARGET_STACK_MAX];
    unsigned sp = 0;
    for (; c < end; c++) {
        switch (c->op) {
        case C_TERM: {
            unsigned level = target_skills_level(s, c->skill);
            if (level > TARGET_LEVEL_MAX)
                level = TARGET_LEVEL_MAX;
            stack[sp++] = (c->mask >> level) & 1;
            break;
        }
        case C_ANY: stack[sp++] = true; break;
        case C_NOT: stack[sp - 1] = !stack[sp - 1]; break;
        case C_AND:
            sp--;
            stack[sp - 1] = stack[sp - 1] && stack[sp];
            break;
        default:
            sp--;
            stack[sp - 1] = stack[sp - 1] || stack[sp];
            break;
        }
    }
    assert(sp == 1);
    return stack[0];
}

/* ---- queue options ---- */

int target_parse_queue_options(target_dict *d, const char *text, target_queue_options *out,
                               target_error *err)
{
    size_t dict_count = d->count;
    parser p;
    parser_init(&p, d, text, strlen(text), err);
    target_queue_options o = {.select_skill = -1};
    bool seen[3] = {false, false, false};
    static const char *const names[3] = {"priority", "aging", "select"};
    bool first = true;
    while (p.cur.kind != T_END && !p.failed) {
        if (!first) {
            if (p.cur.kind != T_COMMA) {
                expected(&p, "',' or end of text");
                break;
            }
            next(&p);
        }
        first = false;
        int which = -1;
        for (int k = 0; k < 3; k++)
            if (is_kw(&p, names[k]))
                which = k;
        if (which < 0) {
            expected(&p, "'priority', 'aging' or 'select'");
            break;
        }
        if (seen[which]) {
            fail_at(&p, p.cur.pos, "'%s' is given twice", names[which]);
            break;
        }
        seen[which] = true;
        next(&p);
        if (which == 0) {
            o.priority = number(&p, 0, TARGET_PRIORITY_MAX, "a priority");
            o.has_priority = true;
        } else if (which == 1) {
            o.aging_s = number(&p, 1, TARGET_SECONDS_MAX, "aging seconds");
        } else if (is_kw(&p, "idle")) {
            o.select_skill = -1;
            next(&p);
        } else {
            o.select_skill = skill_name(&p, "a skill name or 'idle' after 'select'");
            if (!p.failed)
                next(&p);
        }
    }
    if (p.failed) {
        dict_truncate(d, dict_count);
        *out = (target_queue_options){.select_skill = -1};
        return CC_E_PARSE;
    }
    *out = o;
    return 0;
}
