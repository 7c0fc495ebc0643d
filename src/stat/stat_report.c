#include "stat/stat_report.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/media.h"
#include "proto/statistic.h"
#include "stat/stat_stats.h"
#include "store/hist.h"

/* History rows replayed per call at most. */
#define ROWS_PER_CALL 4096
/* Report rows made per call at most. */
#define OBJECTS_PER_CALL 256
/* How far before the report's start the history is replayed, so that interactions
 * waiting and agents logged in at the start are known as the live engine knew them:
 * the engine's own memory (a day). */
#define WARMUP_MS ((int64_t)PROTO_STS_SLIDING_MAX * 1000)
/* The longest query parameter value. */
#define VALUE_MAX 64

static const enum proto_sts_stat QUEUE_STATS[] = {PROTO_STS_Q_ENTERED, PROTO_STS_Q_ANSWERED,
                                                  PROTO_STS_Q_ABANDONED, PROTO_STS_Q_SERVICE_LEVEL,
                                                  PROTO_STS_Q_ASA};
static const enum proto_sts_stat AGENT_STATS[] = {
    PROTO_STS_A_LOGIN_TIME, PROTO_STS_A_READY_TIME, PROTO_STS_A_NOT_READY_TIME,
    PROTO_STS_A_BUSY_TIME,  PROTO_STS_A_OFFERED,    PROTO_STS_A_ACCEPTED,
    PROTO_STS_A_REJECTED,   PROTO_STS_A_TIMED_OUT,  PROTO_STS_A_HANDLED,
    PROTO_STS_A_AHT};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

int stat_report_kind_of(const char *path, enum stat_report_kind *kind)
{
    if (strcmp(path, "/reports/queues.csv") == 0)
        *kind = STAT_REPORT_QUEUES;
    else if (strcmp(path, "/reports/agents.csv") == 0)
        *kind = STAT_REPORT_AGENTS;
    else
        return CC_E_NOT_FOUND;
    return 0;
}

/* Reads exactly n digits at *p into *v. */
static bool digits(const char **p, const char *end, int n, int *v)
{
    int x = 0;
    for (int k = 0; k < n; k++) {
        if (*p >= end || **p < '0' || **p > '9')
            return false;
        x = x * 10 + (**p - '0');
        (*p)++;
    }
    *v = x;
    return true;
}

static bool expect(const char **p, const char *end, char c)
{
    if (*p >= end || **p != c)
        return false;
    (*p)++;
    return true;
}

int stat_report_parse_time(const char *s, size_t len, int64_t *out)
{
    const char *p = s, *end = s + len;
    if (len == 0 || len > VALUE_MAX)
        return CC_E_INVALID_ATTRIBUTE;
    bool all_digits = true;
    for (size_t k = 0; k < len; k++)
        if (s[k] < '0' || s[k] > '9')
            all_digits = false;
    if (all_digits) {
        if (len > 15) /* beyond year 33,000: not a time */
            return CC_E_INVALID_ATTRIBUTE;
        int64_t v = 0;
        for (size_t k = 0; k < len; k++)
            v = v * 10 + (s[k] - '0');
        *out = v - v % 1000;
        return 0;
    }
    int Y, M, D, h, m, sec = 0;
    if (!digits(&p, end, 4, &Y) || !expect(&p, end, '-') || !digits(&p, end, 2, &M) ||
        !expect(&p, end, '-') || !digits(&p, end, 2, &D) || !expect(&p, end, 'T') ||
        !digits(&p, end, 2, &h) || !expect(&p, end, ':') || !digits(&p, end, 2, &m))
        return CC_E_INVALID_ATTRIBUTE;
    if (p < end && *p == ':') {
        p++;
        if (!digits(&p, end, 2, &sec))
            return CC_E_INVALID_ATTRIBUTE;
        if (p < end && (*p == '.' || *p == ',')) {
            p++;
            const char *f = p;
            while (p < end && *p >= '0' && *p <= '9')
                p++;
            if (p == f || p - f > 9)
                return CC_E_INVALID_ATTRIBUTE;
        }
    }
    int offset_min = 0;
    if (p < end && *p == 'Z') {
        p++;
    } else if (p < end && (*p == '+' || *p == '-')) {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (!digits(&p, end, 2, &oh))
            return CC_E_INVALID_ATTRIBUTE;
        if (p < end && *p == ':')
            p++;
        if (!digits(&p, end, 2, &om) || oh > 23 || om > 59)
            return CC_E_INVALID_ATTRIBUTE;
        offset_min = sign * (oh * 60 + om);
    }
    if (p != end || Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 59)
        return CC_E_INVALID_ATTRIBUTE;
    struct tm tm = {.tm_year = Y - 1900,
                    .tm_mon = M - 1,
                    .tm_mday = D,
                    .tm_hour = h,
                    .tm_min = m,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    /* timegm normalises 31 February into March: such a date is not one. */
    struct tm back;
    gmtime_r(&t, &back);
    if (back.tm_mday != D || back.tm_mon != M - 1)
        return CC_E_INVALID_ATTRIBUTE;
    int64_t v = ((int64_t)t - (int64_t)offset_min * 60) * 1000;
    if (v < 0)
        return CC_E_INVALID_ATTRIBUTE;
    *out = v;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %XX escapes of a query value into out (VALUE_MAX + 1 bytes). '+' stays '+':
 * the values are times, whose offsets are written with it. */
static bool unescape(const char *s, size_t n, char *out, size_t *outlen)
{
    size_t o = 0;
    for (size_t k = 0; k < n; k++) {
        char c = s[k];
        if (c == '%') {
            if (k + 2 >= n)
                return false;
            int a = hexval(s[k + 1]), b = hexval(s[k + 2]);
            if (a < 0 || b < 0)
                return false;
            c = (char)(a * 16 + b);
            k += 2;
        }
        if (o >= VALUE_MAX)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    *outlen = o;
    return true;
}

int stat_report_parse_query(const char *query, stat_report_req *req, const char **why)
{
    bool have_from = false, have_to = false, have_interval = false;
    const char *p = query;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (!eq) {
            *why = "a query parameter without a value";
            return CC_E_INVALID_ATTRIBUTE;
        }
        size_t klen = (size_t)(eq - p);
        char v[VALUE_MAX + 1];
        size_t vlen = 0;
        bool ok = unescape(eq + 1, n - klen - 1, v, &vlen);
        if (klen == 4 && memcmp(p, "from", 4) == 0) {
            if (have_from || !ok || stat_report_parse_time(v, vlen, &req->from) != 0) {
                *why = "from is not one time (ISO 8601 or Unix milliseconds)";
                return CC_E_INVALID_ATTRIBUTE;
            }
            have_from = true;
        } else if (klen == 2 && memcmp(p, "to", 2) == 0) {
            if (have_to || !ok || stat_report_parse_time(v, vlen, &req->to) != 0) {
                *why = "to is not one time (ISO 8601 or Unix milliseconds)";
                return CC_E_INVALID_ATTRIBUTE;
            }
            have_to = true;
        } else if (klen == 8 && memcmp(p, "interval", 8) == 0) {
            int64_t s = 0;
            bool num = ok && vlen > 0 && vlen <= 6;
            for (size_t k = 0; num && k < vlen; k++) {
                if (v[k] < '0' || v[k] > '9')
                    num = false;
                else
                    s = s * 10 + (v[k] - '0');
            }
            if (have_interval || !num || s < STAT_REPORT_STEP_S || s % STAT_REPORT_STEP_S ||
                s > STAT_REPORT_INTERVAL_MAX_S) {
                *why = "interval is not a multiple of 300 seconds up to 86400";
                return CC_E_INVALID_ATTRIBUTE;
            }
            req->interval_s = s;
            have_interval = true;
        } else {
            *why = "unknown query parameter (from, to and interval are)";
            return CC_E_INVALID_ATTRIBUTE;
        }
        p += n;
        if (*p == '&')
            p++;
    }
    if (!have_from || !have_to || !have_interval) {
        *why = !have_from ? "from is missing" : !have_to ? "to is missing" : "interval is missing";
        return CC_E_INVALID_ATTRIBUTE;
    }
    if (req->to <= req->from || req->to - req->from > (int64_t)STAT_REPORT_SPAN_MAX_S * 1000) {
        *why = "to must be after from, by a year and a day at most";
        return CC_E_INVALID_ATTRIBUTE;
    }
    return 0;
}

/* ---- the report ---- */

/* One row's object, copied from the engine when its interval ends. */
typedef struct robj {
    char *server, *tenant, *id;
    cc_media_mask media;
} robj;

enum phase { PH_HEADER, PH_FEED, PH_ROWS, PH_DONE };

struct stat_report {
    char *dir;
    stat_report_req req;
    int64_t threshold_s;
    int64_t now;
    cc_media_table media;
    stat_stats *eng;
    hist_cursor *cur;
    enum phase phase;
    int64_t start, end; /* the interval being made; end cut at to and at now */
    robj *objs;
    size_t nobjs, capobjs, pos;
    int media_next; /* agents: the next media of objs[pos] */
    bool worked;    /* the last step replayed or made rows */
};

static void r_ixn(void *user, int64_t now, int link, const char *server, const proto_ixr_event *e)
{
    stat_report *r = user;
    stat_stats_ixn(r->eng, link, server, e, now);
}

static void r_agent(void *user, int64_t now, const stat_agents_view *v)
{
    stat_report *r = user;
    stat_stats_agent(r->eng, v, now);
}

static void r_link(void *user, int64_t now, enum hist_link_kind kind, int link, const char *server)
{
    (void)server;
    stat_report *r = user;
    if (kind == HIST_LINK_UP)
        stat_stats_link_up(r->eng, link);
    else if (kind == HIST_SNAPSHOT_DONE)
        stat_stats_snapshot_done(r->eng, link, now);
    else
        stat_stats_link_down(r->eng, link, now);
}

stat_report *stat_report_new(const char *data_dir, const stat_report_req *req, int64_t threshold_s,
                             int64_t now)
{
    stat_report *r = xcalloc(1, sizeof *r);
    r->dir = data_dir ? xstrdup(data_dir) : NULL;
    r->req = *req;
    r->threshold_s = threshold_s;
    r->now = now - now % 1000;
    cc_media_init(&r->media);
    /* Each row opens a window as long as the interval at its end: its records are kept. */
    r->eng = stat_stats_new(&(stat_stats_config){
        .media = &r->media, .threshold_s = threshold_s, .sliding_keep_s = req->interval_s});
    r->phase = PH_HEADER;
    return r;
}

static void free_objs(stat_report *r)
{
    for (size_t k = 0; k < r->nobjs; k++) {
        free(r->objs[k].server);
        free(r->objs[k].tenant);
        free(r->objs[k].id);
    }
    r->nobjs = r->pos = 0;
    r->media_next = 0;
}

void stat_report_free(stat_report *r)
{
    if (!r)
        return;
    hist_cursor_close(r->cur);
    free_objs(r);
    free(r->objs);
    stat_stats_free(r->eng);
    free(r->dir);
    free(r);
}

/* Opens the one cursor of the report; a missing history reads as empty. */
static int open_cursor(stat_report *r, int64_t from, int64_t to)
{
    if (!r->dir || from >= to)
        return 0;
    int rc = hist_cursor_open(r->dir, &r->media, from, to, &r->cur, NULL);
    return rc == CC_E_NOT_FOUND ? 0 : rc;
}

/* Replays a bounded number of the rows before the interval's end. Returns how many (0:
 * the interval is complete), or an error. */
static int feed(stat_report *r)
{
    if (!r->cur)
        return 0;
    hist_sink sink = {r_ixn, r_agent, r_link, r};
    return hist_cursor_next(r->cur, &sink, ROWS_PER_CALL, r->end);
}

/* Starts the interval beginning at start: its end is cut at to and at now. Returns false
 * when no interval starts there. */
static bool begin_interval(stat_report *r, int64_t start)
{
    if (start >= r->req.to || start >= r->now)
        return false;
    r->start = start;
    r->end = start + r->req.interval_s * 1000;
    if (r->end > r->req.to)
        r->end = r->req.to;
    if (r->end > r->now)
        r->end = r->now;
    return true;
}

static void keep_obj(void *user, const stat_stats_object *o)
{
    stat_report *r = user;
    /* A client limited to some tenants gets their rows only; the others are still
     * replayed, since a tenant's numbers do not depend on them. */
    if (!cc_tenant_set_has(r->req.tenants, o->tenant))
        return;
    if (r->nobjs == r->capobjs) {
        r->capobjs = r->capobjs ? r->capobjs * 2 : 64;
        r->objs = xrealloc(r->objs, r->capobjs * sizeof *r->objs);
    }
    robj *x = &r->objs[r->nobjs++];
    x->server = o->server ? xstrdup(o->server) : NULL;
    x->tenant = xstrdup(o->tenant);
    x->id = xstrdup(o->id);
    x->media = o->media;
}

static int cmp_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

/* Rows come sorted by object, so that two reports of the same history are the same text. */
static int cmp_obj(const void *pa, const void *pb)
{
    const robj *a = pa, *b = pb;
    int c = cmp_str(a->server, b->server);
    if (!c)
        c = strcmp(a->tenant, b->tenant);
    if (!c)
        c = strcmp(a->id, b->id);
    return c;
}

/* A CSV field: quoted when it holds a comma, a quote or a line end (RFC 4180). */
static void csv_field(cc_buf *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        cc_buf_puts(out, s);
        return;
    }
    cc_buf_putc(out, '"');
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            cc_buf_putc(out, '"');
        cc_buf_putc(out, *p);
    }
    cc_buf_putc(out, '"');
}

static void iso_time(cc_buf *out, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char b[40];
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
    cc_buf_puts(out, b);
    if (ms % 1000)
        cc_buf_printf(out, ".%03d", (int)(ms % 1000));
    cc_buf_putc(out, 'Z');
}

/* A value as the wire writes it (a count, or seconds/percent with up to three decimals
 * and a point); null is an empty field. */
static void csv_value(cc_buf *out, const proto_sts_value *v)
{
    if (v->type == PROTO_STS_INT) {
        cc_buf_printf(out, "%" PRId64, v->v);
    } else if (v->type == PROTO_STS_MILLI) {
        int64_t a = v->v < 0 ? -v->v : v->v;
        char frac[8];
        int n = snprintf(frac, sizeof frac, "%03" PRId64, a % 1000);
        while (n > 1 && frac[n - 1] == '0')
            frac[--n] = '\0';
        cc_buf_printf(out, "%s%" PRId64 ".%s", v->v < 0 ? "-" : "", a / 1000, frac);
    }
}

/* The value of one statistic of one object over the interval: a sliding window as long
 * as the interval, read at its end. Counts take records at > now - N, so they are read
 * 1 ms before the end ([start, end)); times in states are measured over [now - N, now]. */
static void value_of(stat_report *r, const robj *o, enum proto_sts_stat st, int media, cc_buf *out)
{
    proto_sts_open def = {
        .statistic_id = 1,
        .type = o->server ? PROTO_STS_QUEUE : PROTO_STS_AGENT,
        .server = o->server,
        .tenant = o->tenant,
        .id = o->id,
        .statistic = st,
        .sliding_s = (r->end - r->start) / 1000,
        .threshold_s = -1,
        .media = media >= 0 ? cc_media_name(&r->media, media) : NULL,
    };
    bool timed = st == PROTO_STS_A_LOGIN_TIME || st == PROTO_STS_A_READY_TIME ||
                 st == PROTO_STS_A_NOT_READY_TIME || st == PROTO_STS_A_BUSY_TIME;
    int64_t at = timed ? r->end : r->end - 1;
    stat_stats_inst *i = stat_stats_open(r->eng, &def, media, at);
    if (!i)
        return;
    proto_sts_value v = stat_stats_value(r->eng, i, at);
    csv_value(out, &v);
    stat_stats_close(r->eng, i);
}

static void header(stat_report *r, cc_buf *out)
{
    bool queues = r->req.kind == STAT_REPORT_QUEUES;
    cc_buf_puts(out, queues ? "intervalStart,intervalEnd,server,tenant,id"
                            : "intervalStart,intervalEnd,tenant,id,media");
    const enum proto_sts_stat *list = queues ? QUEUE_STATS : AGENT_STATS;
    size_t n = queues ? NELEM(QUEUE_STATS) : NELEM(AGENT_STATS);
    for (size_t k = 0; k < n; k++)
        cc_buf_printf(out, ",%s", proto_sts_stat_name((int)list[k]));
    cc_buf_puts(out, "\r\n");
}

static void row_start(stat_report *r, cc_buf *out)
{
    iso_time(out, r->start);
    cc_buf_putc(out, ',');
    iso_time(out, r->end);
}

/* Makes up to OBJECTS_PER_CALL rows of the interval. Returns true when it has no more. */
static bool rows(stat_report *r, cc_buf *out)
{
    int made = 0;
    while (r->pos < r->nobjs && made < OBJECTS_PER_CALL) {
        const robj *o = &r->objs[r->pos];
        if (r->req.kind == STAT_REPORT_QUEUES) {
            row_start(r, out);
            cc_buf_putc(out, ',');
            csv_field(out, o->server);
            cc_buf_putc(out, ',');
            csv_field(out, o->tenant);
            cc_buf_putc(out, ',');
            csv_field(out, o->id);
            for (size_t k = 0; k < NELEM(QUEUE_STATS); k++) {
                cc_buf_putc(out, ',');
                value_of(r, o, QUEUE_STATS[k], -1, out);
            }
            cc_buf_puts(out, "\r\n");
            made++;
            r->pos++;
            continue;
        }
        int m = r->media_next;
        while (m < CC_MEDIA_MAX && !(o->media & ((cc_media_mask)1 << m)))
            m++;
        if (m >= CC_MEDIA_MAX) {
            r->pos++;
            r->media_next = 0;
            continue;
        }
        r->media_next = m + 1;
        row_start(r, out);
        cc_buf_putc(out, ',');
        csv_field(out, o->tenant);
        cc_buf_putc(out, ',');
        csv_field(out, o->id);
        cc_buf_putc(out, ',');
        csv_field(out, cc_media_name(&r->media, m));
        for (size_t k = 0; k < NELEM(AGENT_STATS); k++) {
            cc_buf_putc(out, ',');
            value_of(r, o, AGENT_STATS[k], proto_sts_stat_per_media((int)AGENT_STATS[k]) ? m : -1,
                     out);
        }
        cc_buf_puts(out, "\r\n");
        made++;
    }
    /* Statistics opened and closed here leave nothing for anyone to pop. */
    while (stat_stats_next_dirty(r->eng))
        ;
    return r->pos >= r->nobjs;
}

/* One step of the report; sets r->worked when it replayed or made rows. */
static int step(stat_report *r, cc_buf *out)
{
    int rc;
    switch (r->phase) {
    case PH_HEADER:
        header(r, out);
        r->worked = true;
        if (!begin_interval(r, r->req.from)) {
            r->phase = PH_DONE;
            return 0;
        }
        rc = open_cursor(r, r->req.from - WARMUP_MS, r->req.to < r->now ? r->req.to : r->now);
        if (rc)
            return rc;
        r->phase = PH_FEED;
        return 1;
    case PH_FEED:
        rc = feed(r);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            r->worked = true;
            return 1;
        }
        free_objs(r);
        stat_stats_each(r->eng,
                        r->req.kind == STAT_REPORT_QUEUES ? PROTO_STS_QUEUE : PROTO_STS_AGENT,
                        keep_obj, r);
        /* objs is NULL when there is nothing to report, which qsort may not be given. */
        if (r->nobjs > 1)
            qsort(r->objs, r->nobjs, sizeof *r->objs, cmp_obj);
        r->phase = PH_ROWS;
        return 1;
    case PH_ROWS:
        if (r->nobjs)
            r->worked = true;
        if (!rows(r, out))
            return 1;
        if (!begin_interval(r, r->start + r->req.interval_s * 1000)) {
            r->phase = PH_DONE;
            return 0;
        }
        r->phase = PH_FEED;
        return 1;
    case PH_DONE: return 0;
    }
    return 0;
}

int stat_report_next(stat_report *r, cc_buf *out)
{
    /* Steps that did nothing (an interval without objects or rows) do not end the call,
     * so that a long quiet span does not cost a loop turn per interval. */
    int rc;
    int steps = 0;
    do {
        r->worked = false;
        rc = step(r, out);
    } while (rc == 1 && !r->worked && ++steps < 4096);
    return rc;
}
