#include "desk/desk_view.h"

#include <inttypes.h>
#include <string.h>

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

void desk_view_status(cc_buf *out, const proto_agent_status *st, const cc_media_table *media)
{
    cc_buf_puts(out, "agent ");
    desk_view_text(out, st->agent_id, PROTO_ID_MAX);
    cc_buf_puts(out, " tenant ");
    desk_view_text(out, st->tenant, PROTO_ID_MAX);
    cc_buf_puts(out, " place ");
    desk_view_text(out, st->place_id, PROTO_ID_MAX);
    cc_buf_puts(out, " rule ");
    desk_view_text(out, st->rule, PROTO_ID_MAX);
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
