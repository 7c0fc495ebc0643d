#include "desk/desk_view.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

void desk_view_text(cc_buf *out, const char *s, size_t max)
{
    if (!s) {
        cc_buf_putc(out, '-');
        return;
    }
    size_t n = strlen(s);
    size_t take = n > max ? max : n;
    cc_buf_reserve(out, take + 3);
    for (size_t i = 0; i < take; i++) {
        unsigned char c = (unsigned char)s[i];
        cc_buf_putc(out, (c < 0x20 || c == 0x7f) ? '?' : (char)c);
    }
    if (take < n)
        cc_buf_puts(out, "...");
}

/* Sorts media ids by name (insertion sort: at most CC_MEDIA_MAX rows), so the table is
 * stable however the media were interned. */
static void sort_by_name(int *ids, int n, const cc_media_table *media)
{
    for (int i = 1; i < n; i++) {
        int id = ids[i];
        int j = i;
        while (j > 0 && strcmp(cc_media_name(media, ids[j - 1]), cc_media_name(media, id)) > 0) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = id;
    }
}

/* label, then the identifier text as desk_view_text shows it. */
static void labelled(cc_buf *out, const char *label, const char *text)
{
    cc_buf_puts(out, label);
    desk_view_text(out, text, PROTO_ID_MAX);
}

void desk_view_status(cc_buf *out, const proto_agent_status *st, const cc_media_table *media)
{
    labelled(out, "agent ", st->agent_id);
    labelled(out, " tenant ", st->tenant);
    labelled(out, " place ", st->place_id);
    labelled(out, " rule ", st->rule);
    cc_buf_printf(out, " dnd %s loggedIn %s\n", st->dnd ? "on" : "off",
                  st->logged_in ? "yes" : "no");

    int ids[CC_MEDIA_MAX];
    int n = 0;
    int width = 5; /* strlen("media") */
    for (int id = 0; id < CC_MEDIA_MAX && id < media->count; id++) {
        if (!(st->media & ((cc_media_mask)1 << id)))
            continue;
        ids[n++] = id;
        int len = (int)strlen(cc_media_name(media, id));
        if (len > width)
            width = len;
    }
    if (n == 0) {
        cc_buf_puts(out, "  (no media)\n");
        return;
    }
    sort_by_name(ids, n, media);
    cc_buf_printf(out, "  %-*s  %-5s  %7s  %7s  %9s\n", width, "media", "ready", "current", "max",
                  "available");
    for (int i = 0; i < n; i++) {
        int id = ids[i];
        cc_buf_printf(out, "  %-*s  %-5s  %7" PRIu32 "  %7" PRIu32 "  %9" PRIu32 "\n", width,
                      cc_media_name(media, id), st->ready[id] ? "yes" : "no", st->current[id],
                      st->max[id], st->available[id]);
    }
}

void desk_view_error(cc_buf *out, int64_t code, const char *name, const char *desc)
{
    cc_buf_puts(out, "error: ");
    if (!name || !*name)
        name = (code >= 1 && code <= 14) ? cc_err_name((int)-code) : "Unknown";
    desk_view_text(out, name, PROTO_ID_MAX);
    cc_buf_printf(out, " (%" PRId64 ")", code);
    if (desc && *desc) {
        cc_buf_puts(out, ": ");
        desk_view_text(out, desc, DESK_VIEW_TEXT_MAX);
    }
    cc_buf_putc(out, '\n');
}

void desk_view_error_msg(cc_buf *out, proto_msg *msg)
{
    json_t *code = json_object_get(msg->root, "errorCode");
    int64_t c = json_is_integer(code) ? json_integer_value(code) : 0;
    desk_view_error(out, c, json_string_value(json_object_get(msg->root, "errorName")),
                    json_string_value(json_object_get(msg->root, "errorDescription")));
}

void desk_view_local_error(cc_buf *out, const char *text)
{
    cc_buf_puts(out, "error: ");
    desk_view_text(out, text, DESK_VIEW_TEXT_MAX);
    cc_buf_putc(out, '\n');
}

void desk_view_ok(cc_buf *out)
{
    cc_buf_puts(out, "ok\n");
}

/* At most this many fields of one event are shown. */
#define EVENT_FIELDS_MAX 16

void desk_view_event(cc_buf *out, proto_msg *msg)
{
    cc_buf_puts(out, "event: ");
    desk_view_text(out, msg->name, PROTO_ID_MAX);
    const char *key;
    json_t *v;
    int shown = 0;
    json_object_foreach(msg->root, key, v)
    {
        if (strcmp(key, "message") == 0 || strcmp(key, "seq") == 0)
            continue;
        if (shown++ == EVENT_FIELDS_MAX) {
            cc_buf_puts(out, " ...");
            break;
        }
        cc_buf_putc(out, ' ');
        desk_view_text(out, key, PROTO_ID_MAX);
        cc_buf_putc(out, '=');
        if (json_is_string(v))
            desk_view_text(out, json_string_value(v), 200);
        else if (json_is_integer(v))
            cc_buf_printf(out, "%" PRId64, (int64_t)json_integer_value(v));
        else if (json_is_real(v))
            cc_buf_printf(out, "%g", json_real_value(v));
        else if (json_is_boolean(v))
            cc_buf_puts(out, json_is_true(v) ? "true" : "false");
        else if (json_is_object(v))
            cc_buf_puts(out, "{...}");
        else if (json_is_array(v))
            cc_buf_puts(out, "[...]");
        else
            cc_buf_puts(out, "null");
    }
    cc_buf_putc(out, '\n');
}

int desk_view_decode_ixn(proto_msg *msg, desk_view_ixn_event *ev)
{
    static const struct {
        const char *name;
        enum desk_view_ixn_kind kind;
    } names[] = {
        {"EventInvite", DESK_VIEW_INVITE},
        {"EventRevoked", DESK_VIEW_REVOKED},
        {"EventPartyRemoved", DESK_VIEW_PARTY_REMOVED},
        {"EventInteractionEnded", DESK_VIEW_ENDED},
    };
    size_t i = 0;
    while (i < sizeof names / sizeof names[0] && strcmp(msg->name, names[i].name) != 0)
        i++;
    if (i == sizeof names / sizeof names[0])
        return CC_E_NOT_FOUND;
    memset(ev, 0, sizeof *ev);
    ev->kind = names[i].kind;
    ev->timeout_sec = -1;
    int rc = proto_get_id(msg, "interactionId", true, &ev->id);
    if (rc)
        return rc;
    if (ev->kind != DESK_VIEW_INVITE)
        return proto_get_str(msg, "reason", false, PROTO_TEXT_MAX, &ev->reason);
    if ((rc = proto_get_id(msg, "tenant", false, &ev->tenant)) != 0 ||
        (rc = proto_get_id(msg, "media", true, &ev->media)) != 0 ||
        (rc = proto_get_id(msg, "queue", true, &ev->queue)) != 0 ||
        (rc = proto_get_object(msg, "userData", false, &ev->user_data)) != 0 ||
        (rc = proto_get_int(msg, "timeoutSec", false, 0, INT32_MAX, &ev->timeout_sec)) != 0)
        return rc;
    if (!cc_media_name_valid(ev->media, strlen(ev->media))) {
        snprintf(msg->desc, sizeof msg->desc, "media is not a valid media name");
        return CC_E_INVALID_ATTRIBUTE;
    }
    return 0;
}

/* Appends one user data value: a string as it is, anything else as compact JSON. */
static void user_data_value(cc_buf *out, json_t *v)
{
    if (json_is_string(v)) {
        desk_view_text(out, json_string_value(v), 200);
        return;
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    desk_view_text(out, text ? text : "?", 200);
    free(text);
}

/* Appends ": WORDS" for a reason the protocol names, ": REASON" for any other. */
static void reason_words(cc_buf *out, const char *reason)
{
    static const struct {
        const char *reason;
        const char *words;
    } known[] = {
        {"Timeout", "no answer in time, back to its queue"},
        {"Stopped", "the customer left"},
        {"AfterWorkEnded", "after-work time is over"},
    };
    if (!reason || !*reason)
        return;
    cc_buf_puts(out, ": ");
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(reason, known[i].reason) == 0) {
            cc_buf_puts(out, known[i].words);
            return;
        }
    desk_view_text(out, reason, 200);
}

void desk_view_ixn(cc_buf *out, const desk_view_ixn_event *ev)
{
    static const char *const verbs[] = {
        [DESK_VIEW_INVITE] = "invite",
        [DESK_VIEW_REVOKED] = "revoked",
        [DESK_VIEW_PARTY_REMOVED] = "removed",
        [DESK_VIEW_ENDED] = "ended",
    };
    cc_buf_puts(out, verbs[ev->kind]);
    cc_buf_putc(out, ' ');
    desk_view_text(out, ev->id, PROTO_ID_MAX);
    if (ev->kind != DESK_VIEW_INVITE) {
        reason_words(out, ev->reason);
        cc_buf_putc(out, '\n');
        return;
    }
    cc_buf_puts(out, ": ");
    desk_view_text(out, ev->media, CC_MEDIA_NAME_MAX);
    cc_buf_puts(out, " from queue ");
    desk_view_text(out, ev->queue, PROTO_ID_MAX);
    if (ev->tenant) {
        cc_buf_puts(out, " of ");
        desk_view_text(out, ev->tenant, PROTO_ID_MAX);
    }
    if (ev->timeout_sec >= 0)
        cc_buf_printf(out, ", accept within %" PRId64 " s", ev->timeout_sec);
    cc_buf_putc(out, '\n');
    if (!ev->user_data)
        return;
    const char *key;
    json_t *v;
    size_t shown = 0;
    json_object_foreach(ev->user_data, key, v)
    {
        if (shown++ == DESK_VIEW_USER_DATA_MAX) {
            cc_buf_printf(out, "  ... %zu more\n", json_object_size(ev->user_data) - (shown - 1));
            break;
        }
        cc_buf_puts(out, "  ");
        desk_view_text(out, key, PROTO_ID_MAX);
        cc_buf_puts(out, " = ");
        user_data_value(out, v);
        cc_buf_putc(out, '\n');
    }
}

void desk_view_done(cc_buf *out, proto_msg *ack)
{
    json_t *v = json_object_get(ack->root, "afterWorkSec");
    if (json_is_integer(v) && json_integer_value(v) > 0)
        cc_buf_printf(out, "ok: after-work %" PRId64 " s\n", (int64_t)json_integer_value(v));
    else
        desk_view_ok(out);
}

/* One row of the queue table, checked. */
typedef struct queue_row {
    const char *tenant, *queue, *media;
    int64_t waiting, invited, handling, oldest_ms; /* oldest_ms -1: absent */
} queue_row;

static bool count_field(json_t *o, const char *key, bool required, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        *out = -1;
        return !required;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = json_integer_value(v);
    return true;
}

static bool name_field(json_t *o, const char *key, const char **out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return false;
    *out = json_string_value(v);
    return true;
}

static int row_cmp(const void *a, const void *b)
{
    const queue_row *x = a, *y = b;
    int c = strcmp(x->tenant, y->tenant);
    return c ? c : strcmp(x->queue, y->queue);
}

/* Width of a column: the longest of its header and its cells, each cut as printed. */
static int name_width(int w, const char *s)
{
    size_t n = strlen(s);
    if (n > PROTO_ID_MAX)
        n = PROTO_ID_MAX + 3;
    return (int)n > w ? (int)n : w;
}

/* Appends s padded with blanks to width w (s is printed cut and cleaned). */
static void padded(cc_buf *out, const char *s, int w)
{
    size_t before = out->len;
    desk_view_text(out, s, PROTO_ID_MAX);
    for (int n = (int)(out->len - before); n < w; n++)
        cc_buf_putc(out, ' ');
}

/* One column of a queue row: the two spaces that separate it, then s padded to w. */
static void cell(cc_buf *out, const char *s, int w)
{
    cc_buf_puts(out, "  ");
    padded(out, s, w);
}

int desk_view_queues(cc_buf *out, proto_msg *ack)
{
    json_t *arr = json_object_get(ack->root, "queues");
    if (!json_is_array(arr)) {
        snprintf(ack->desc, sizeof ack->desc, "queues is not an array");
        return CC_E_INVALID_ATTRIBUTE;
    }
    size_t total = json_array_size(arr);
    size_t cap = total > DESK_VIEW_QUEUES_MAX ? DESK_VIEW_QUEUES_MAX : total;
    queue_row *rows = xcalloc(cap ? cap : 1, sizeof *rows);
    size_t n = 0, bad = 0;
    for (size_t i = 0; i < total; i++) {
        json_t *o = json_array_get(arr, i);
        queue_row r;
        if (!json_is_object(o) || !name_field(o, "tenant", &r.tenant) ||
            !name_field(o, "queue", &r.queue) || !name_field(o, "media", &r.media) ||
            !count_field(o, "waiting", true, &r.waiting) ||
            !count_field(o, "invited", true, &r.invited) ||
            !count_field(o, "handling", true, &r.handling) ||
            !count_field(o, "oldestWaitMs", false, &r.oldest_ms)) {
            bad++;
            continue;
        }
        if (n < cap)
            rows[n++] = r;
    }
    if (n == 0 && bad == 0) {
        cc_buf_puts(out, "no queues\n");
        free(rows);
        return 0;
    }
    qsort(rows, n, sizeof *rows, row_cmp);
    int wt = 6, wq = 5, wm = 5; /* "tenant", "queue", "media" */
    for (size_t i = 0; i < n; i++) {
        wt = name_width(wt, rows[i].tenant);
        wq = name_width(wq, rows[i].queue);
        wm = name_width(wm, rows[i].media);
    }
    cc_buf_printf(out, "  %-*s  %-*s  %-*s  %7s  %7s  %8s  %8s\n", wt, "tenant", wq, "queue", wm,
                  "media", "waiting", "invited", "handling", "oldest");
    for (size_t i = 0; i < n; i++) {
        const queue_row *r = &rows[i];
        cell(out, r->tenant, wt);
        cell(out, r->queue, wq);
        cell(out, r->media, wm);
        cc_buf_printf(out, "  %7" PRId64 "  %7" PRId64 "  %8" PRId64, r->waiting, r->invited,
                      r->handling);
        if (r->oldest_ms < 0)
            cc_buf_printf(out, "  %8s\n", "-");
        else
            cc_buf_printf(out, "  %4" PRId64 ".%" PRId64 " s\n", r->oldest_ms / 1000,
                          r->oldest_ms % 1000 / 100);
    }
    size_t more = total - n - bad;
    if (more > 0)
        cc_buf_printf(out, "  ... %zu more queues\n", more);
    if (bad > 0)
        cc_buf_printf(out, "  (%zu rows not understood)\n", bad);
    free(rows);
    return 0;
}
