#include "common/metrics.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

/* The label value a named family counts unknown and surplus values under. */
#define OTHER "other"

/* One slot of a named family's table: the hash, length and row of a learnt value (row 0,
 * "other", marks an empty slot). */
typedef struct name_slot {
    uint32_t hash;
    uint16_t len;
    uint16_t row;
} name_slot;

/* One series: a label row of a family. */
typedef struct metric_row {
    uint64_t count;    /* counter increments; a histogram's observations */
    double value;      /* a gauge's value; a histogram's sum of observations */
    uint64_t *buckets; /* histogram: observations per bucket, nbounds + 1, not cumulative */
    const uint64_t **src;
    size_t nsrc;
} metric_row;

typedef struct refresh_hook {
    cc_metrics_refresh_fn *fn;
    void *user;
} refresh_hook;

struct cc_metric {
    char *name;
    char *help;
    enum cc_metric_type type;
    char **labels;
    size_t nlabels;
    char **values; /* nrows * nlabels label values */
    metric_row *rows;
    size_t nrows;
    double *bounds;
    size_t nbounds;
    /* A named family: rows are allocated for max_names + 1 ("other" is row 0), and an
     * open-addressing table at most half full gives a learnt value's row. */
    size_t max_names;
    name_slot *slots;
    size_t slot_mask;
    bool named;
    /* A collected family: the callback makes the samples. */
    cc_metrics_collect_fn *collect;
    void *collect_user;
    cc_metric *next;
};

struct cc_metrics {
    cc_metric *head, *tail;
    refresh_hook *hooks;
    size_t nhooks;
};

struct cc_metrics_emit {
    cc_buf *out;
    const cc_metric *m;
    size_t samples;
};

cc_metrics *cc_metrics_new(void)
{
    return xcalloc(1, sizeof(cc_metrics));
}

static void metric_free(cc_metric *m)
{
    for (size_t i = 0; i < m->nrows; i++) {
        free(m->rows[i].buckets);
        free(m->rows[i].src);
    }
    for (size_t i = 0; i < m->nrows * m->nlabels; i++)
        free(m->values[i]);
    for (size_t i = 0; i < m->nlabels; i++)
        free(m->labels[i]);
    free(m->slots);
    free(m->values);
    free(m->labels);
    free(m->rows);
    free(m->bounds);
    free(m->name);
    free(m->help);
    free(m);
}

void cc_metrics_free(cc_metrics *r)
{
    if (!r)
        return;
    for (cc_metric *m = r->head, *next; m; m = next) {
        next = m->next;
        metric_free(m);
    }
    free(r->hooks);
    free(r);
}

/* ---- names ---- */

static bool name_char(char c, bool first, bool colon)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return true;
    if (c == ':')
        return colon;
    return !first && c >= '0' && c <= '9';
}

/* A metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or, without colons, a label name. */
static bool name_valid(const char *s, bool colon)
{
    if (!s || !*s)
        return false;
    for (size_t i = 0; s[i]; i++)
        if (!name_char(s[i], i == 0, colon))
            return false;
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* ---- registration ---- */

static bool name_taken(const cc_metrics *r, const char *name)
{
    for (const cc_metric *m = r->head; m; m = m->next)
        if (strcmp(m->name, name) == 0)
            return true;
    return false;
}

static void init_row(cc_metric *m, metric_row *row)
{
    memset(row, 0, sizeof *row);
    if (m->type == CC_METRIC_HISTOGRAM)
        row->buckets = xcalloc(m->nbounds + 1, sizeof *row->buckets);
}

/* The family without its rows: name, help, type, labels and bounds checked and copied. */
static cc_metric *family_new(cc_metrics *r, const cc_metric_def *def)
{
    assert(name_valid(def->name, true) && !name_taken(r, def->name));
    assert(def->help && !strchr(def->help, '\n'));
    assert(def->nlabels <= CC_METRICS_LABELS_MAX);
    assert((def->type == CC_METRIC_COUNTER) == ends_with(def->name, "_total"));
    cc_metric *m = xcalloc(1, sizeof *m);
    m->name = xstrdup(def->name);
    m->help = xstrdup(def->help);
    m->type = def->type;
    m->nlabels = def->nlabels;
    m->labels = xcalloc(def->nlabels ? def->nlabels : 1, sizeof *m->labels);
    for (size_t i = 0; i < def->nlabels; i++) {
        const char *l = def->labels[i];
        assert(name_valid(l, false) && strncmp(l, "__", 2) != 0);
        assert(def->type != CC_METRIC_HISTOGRAM || strcmp(l, "le") != 0);
        m->labels[i] = xstrdup(l);
    }
    if (def->type == CC_METRIC_HISTOGRAM) {
        assert(def->nbounds >= 1 && def->nbounds <= CC_METRICS_BUCKETS_MAX);
        m->bounds = xmalloc(def->nbounds * sizeof *m->bounds);
        for (size_t i = 0; i < def->nbounds; i++) {
            assert(isfinite(def->bounds[i]) && (i == 0 || def->bounds[i] > def->bounds[i - 1]));
            m->bounds[i] = def->bounds[i];
        }
        m->nbounds = def->nbounds;
    }
    if (r->tail)
        r->tail->next = m;
    else
        r->head = m;
    r->tail = m;
    return m;
}

cc_metric *cc_metrics_add(cc_metrics *r, const cc_metric_def *def)
{
    cc_metric *m = family_new(r, def);
    m->nrows = def->nlabels ? def->nrows : 1;
    m->rows = xcalloc(m->nrows ? m->nrows : 1, sizeof *m->rows);
    m->values = xcalloc(m->nrows * m->nlabels + 1, sizeof *m->values);
    for (size_t i = 0; i < m->nrows; i++)
        init_row(m, &m->rows[i]);
    for (size_t i = 0; i < m->nrows * m->nlabels; i++)
        m->values[i] = xstrdup(def->rows[i]);
    return m;
}

cc_metric *cc_metrics_add_named(cc_metrics *r, const char *name, const char *help,
                                const char *label, size_t max)
{
    const char *labels[] = {label};
    cc_metric *m = family_new(
        r,
        &(cc_metric_def){
            .name = name, .help = help, .type = CC_METRIC_COUNTER, .labels = labels, .nlabels = 1});
    assert(max < UINT16_MAX);
    m->named = true;
    m->max_names = max;
    size_t nslots = 16;
    while (nslots < 2 * (max + 1))
        nslots *= 2;
    m->slots = xcalloc(nslots, sizeof *m->slots);
    m->slot_mask = nslots - 1;
    m->rows = xcalloc(max + 1, sizeof *m->rows);
    m->values = xcalloc(max + 1, sizeof *m->values);
    m->values[0] = xstrdup(OTHER);
    m->nrows = 1;
    return m;
}

cc_metric *cc_metrics_add_collected(cc_metrics *r, const cc_metric_def *def,
                                    cc_metrics_collect_fn *fn, void *user)
{
    assert(def->type != CC_METRIC_HISTOGRAM && fn);
    cc_metric *m = family_new(r, def);
    m->collect = fn;
    m->collect_user = user;
    return m;
}

void cc_metrics_on_refresh(cc_metrics *r, cc_metrics_refresh_fn *fn, void *user)
{
    r->hooks = xrealloc(r->hooks, (r->nhooks + 1) * sizeof *r->hooks);
    r->hooks[r->nhooks++] = (refresh_hook){fn, user};
}

/* ---- updates ---- */

static metric_row *row_at(cc_metric *m, size_t row)
{
    assert(row < m->nrows);
    return &m->rows[row];
}

void cc_metric_add(cc_metric *m, size_t row, uint64_t n)
{
    if (m)
        row_at(m, row)->count += n;
}

void cc_metric_inc_row(cc_metric *m, size_t row)
{
    if (m)
        row_at(m, row)->count++;
}

void cc_metric_inc(cc_metric *m)
{
    if (m)
        row_at(m, 0)->count++;
}

/* A value a named family may learn: letters, digits and '_' only. */
static bool learnable(const char *s, size_t len)
{
    if (len == 0 || len > CC_METRICS_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!name_char(s[i], false, false))
            return false;
    return true;
}

/* A hash of a short name from its length and its first and last 8 bytes: a lookup costs
 * the same for every name, which matters as every message sent and received is counted.
 * Names that share those bytes only share a chain; memcmp tells them apart. */
static uint32_t name_hash(const char *s, size_t len)
{
    uint64_t head = 0, tail = 0;
    memcpy(&head, s, len < 8 ? len : 8);
    if (len > 8)
        memcpy(&tail, s + len - 8, 8);
    uint64_t h = head * 0x9e3779b97f4a7c15ull ^ (tail + len) * 0xc2b2ae3d27d4eb4full;
    return (uint32_t)(h ^ (h >> 29));
}

/* The slot of value in m's table: the one holding it, or the empty one where it would go. */
static name_slot *find_slot(const cc_metric *m, const char *value, size_t len, uint32_t hash)
{
    for (size_t i = hash & m->slot_mask;; i = (i + 1) & m->slot_mask) {
        name_slot *sl = &m->slots[i];
        if (sl->row == 0 ||
            (sl->hash == hash && sl->len == len && memcmp(m->values[sl->row], value, len) == 0))
            return sl;
    }
}

static metric_row *named_row(cc_metric *m, const char *value, size_t len)
{
    if (!value || len == 0 || len > CC_METRICS_NAME_MAX)
        return &m->rows[0];
    uint32_t hash = name_hash(value, len);
    name_slot *sl = find_slot(m, value, len, hash);
    if (sl->row)
        return &m->rows[sl->row];
    if (m->nrows > m->max_names || !learnable(value, len))
        return &m->rows[0];
    char *copy = xmalloc(len + 1);
    memcpy(copy, value, len);
    copy[len] = '\0';
    m->values[m->nrows] = copy;
    *sl = (name_slot){hash, (uint16_t)len, (uint16_t)m->nrows};
    return &m->rows[m->nrows++];
}

void cc_metric_inc_name(cc_metric *m, const char *value, size_t len)
{
    if (m && m->named)
        named_row(m, value, len)->count++;
}

void cc_metric_set(cc_metric *m, size_t row, double v)
{
    if (m)
        row_at(m, row)->value = v;
}

void cc_metric_gauge_add(cc_metric *m, size_t row, double delta)
{
    if (m)
        row_at(m, row)->value += delta;
}

void cc_metric_observe(cc_metric *m, size_t row, double v)
{
    if (!m)
        return;
    assert(m->type == CC_METRIC_HISTOGRAM);
    metric_row *r = row_at(m, row);
    size_t b = 0;
    while (b < m->nbounds && !(v <= m->bounds[b]))
        b++;
    r->buckets[b]++;
    r->count++;
    r->value += v;
}

void cc_metric_bind(cc_metric *m, size_t row, const uint64_t *src)
{
    if (!m)
        return;
    assert(m->type != CC_METRIC_HISTOGRAM && src);
    metric_row *r = row_at(m, row);
    r->src = xrealloc(r->src, (r->nsrc + 1) * sizeof *r->src);
    r->src[r->nsrc++] = src;
}

static uint64_t row_integer(const metric_row *r)
{
    uint64_t n = r->count;
    for (size_t i = 0; i < r->nsrc; i++)
        n += *r->src[i];
    return n;
}

double cc_metric_value(const cc_metric *m, size_t row)
{
    assert(row < m->nrows);
    const metric_row *r = &m->rows[row];
    return r->value + (double)row_integer(r);
}

uint64_t cc_metric_name_value(const cc_metric *m, const char *value)
{
    if (strcmp(value, OTHER) == 0)
        return m->rows[0].count;
    size_t len = strlen(value);
    if (len == 0 || len > CC_METRICS_NAME_MAX)
        return 0;
    const name_slot *sl = find_slot(m, value, len, name_hash(value, len));
    return sl->row ? m->rows[sl->row].count : 0;
}

uint64_t cc_metric_count(const cc_metric *m, size_t row)
{
    assert(m->type == CC_METRIC_HISTOGRAM && row < m->nrows);
    return m->rows[row].count;
}

/* ---- the text format ---- */

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0 when there is
 * none: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* A label value between its quotes: backslash, quote and line feed escaped, and every
 * byte that does not start a valid UTF-8 sequence written as U+FFFD. */
static void put_label_value(cc_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c == '\\') {
            cc_buf_puts(b, "\\\\");
        } else if (c == '"') {
            cc_buf_puts(b, "\\\"");
        } else if (c == '\n') {
            cc_buf_puts(b, "\\n");
        } else if (c < 0x80) {
            cc_buf_putc(b, (char)c);
        } else {
            size_t k = utf8_seq(p + i, n - i);
            if (k) {
                cc_buf_append(b, p + i, k);
                i += k;
                continue;
            }
            cc_buf_puts(b, "\xef\xbf\xbd");
        }
        i++;
    }
}

static void put_help(cc_buf *b, const cc_metric *m)
{
    cc_buf_printf(b, "# HELP %s ", m->name);
    for (const char *p = m->help; *p; p++) {
        if (*p == '\\')
            cc_buf_puts(b, "\\\\");
        else
            cc_buf_putc(b, *p);
    }
    static const char *const types[] = {"counter", "gauge", "histogram"};
    cc_buf_printf(b, "\n# TYPE %s %s\n", m->name, types[m->type]);
}

static void put_double(cc_buf *b, double v)
{
    if (isnan(v))
        cc_buf_puts(b, "NaN");
    else if (isinf(v))
        cc_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    else
        cc_buf_printf(b, "%.15g", v);
}

/* "{a="x",b="y"" without the closing brace (le may follow); nothing without labels. */
static void put_labels_open(cc_buf *b, const cc_metric *m, const char *const *values)
{
    for (size_t i = 0; i < m->nlabels; i++) {
        cc_buf_putc(b, i ? ',' : '{');
        cc_buf_puts(b, m->labels[i]);
        cc_buf_puts(b, "=\"");
        put_label_value(b, values[i]);
        cc_buf_putc(b, '"');
    }
}

static void put_series_name(cc_buf *b, const cc_metric *m, const char *suffix,
                            const char *const *values)
{
    cc_buf_puts(b, m->name);
    cc_buf_puts(b, suffix);
    put_labels_open(b, m, values);
    if (m->nlabels)
        cc_buf_putc(b, '}');
    cc_buf_putc(b, ' ');
}

static void put_histogram_row(cc_buf *b, const cc_metric *m, const char *const *values,
                              const metric_row *r)
{
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= m->nbounds; i++) {
        cumulative += r->buckets[i];
        cc_buf_puts(b, m->name);
        cc_buf_puts(b, "_bucket");
        put_labels_open(b, m, values);
        cc_buf_puts(b, m->nlabels ? ",le=\"" : "{le=\"");
        if (i < m->nbounds)
            put_double(b, m->bounds[i]);
        else
            cc_buf_puts(b, "+Inf");
        cc_buf_printf(b, "\"} %" PRIu64 "\n", cumulative);
    }
    put_series_name(b, m, "_sum", values);
    put_double(b, r->value);
    cc_buf_putc(b, '\n');
    put_series_name(b, m, "_count", values);
    cc_buf_printf(b, "%" PRIu64 "\n", r->count);
}

static void put_value(cc_buf *b, const metric_row *r)
{
    /* Integers stay exact however large they grow; a gauge set to a fraction is a double. */
    if (r->value == 0.0)
        cc_buf_printf(b, "%" PRIu64, row_integer(r));
    else
        put_double(b, r->value + (double)row_integer(r));
    cc_buf_putc(b, '\n');
}

void cc_metrics_emit_sample(cc_metrics_emit *e, const char *const *values, double v)
{
    if (e->samples >= CC_METRICS_COLLECT_MAX)
        return;
    if (e->samples++ == 0)
        put_help(e->out, e->m);
    put_series_name(e->out, e->m, "", values);
    put_double(e->out, v);
    cc_buf_putc(e->out, '\n');
}

static void encode_family(cc_buf *out, const cc_metric *m)
{
    if (m->collect) {
        cc_metrics_emit e = {out, m, 0};
        m->collect(m->collect_user, &e);
        return;
    }
    put_help(out, m);
    for (size_t i = 0; i < m->nrows; i++) {
        const char *const *values = (const char *const *)m->values + i * m->nlabels;
        if (m->type == CC_METRIC_HISTOGRAM) {
            put_histogram_row(out, m, values, &m->rows[i]);
        } else {
            put_series_name(out, m, "", values);
            put_value(out, &m->rows[i]);
        }
    }
}

void cc_metrics_encode(cc_metrics *r, cc_buf *out)
{
    for (size_t i = 0; i < r->nhooks; i++)
        r->hooks[i].fn(r->hooks[i].user);
    for (const cc_metric *m = r->head; m; m = m->next)
        encode_family(out, m);
}
