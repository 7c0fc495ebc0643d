#include "desk/desk_view.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "proto/ixnmsg.h"

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
    /* A malformed field is shown as absent: the fields read before it are still shown. */
    proto_error e;
    (void)proto_decode_error(msg, &e);
    desk_view_error(out, e.code, e.name, e.description);
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

/* What desk_view_event's field walk carries. */
typedef struct event_walk {
    cc_buf *out;
    int shown;
} event_walk;

static bool event_field(void *ctx, const proto_field *f)
{
    event_walk *w = ctx;
    if (strcmp(f->key, "message") == 0 || strcmp(f->key, "seq") == 0)
        return true;
    if (w->shown++ == EVENT_FIELDS_MAX) {
        cc_buf_puts(w->out, " ...");
        return false;
    }
    cc_buf *out = w->out;
    cc_buf_putc(out, ' ');
    desk_view_text(out, f->key, PROTO_ID_MAX);
    cc_buf_putc(out, '=');
    switch (f->kind) {
    case PROTO_FIELD_STRING: desk_view_text(out, f->str, 200); break;
    case PROTO_FIELD_INT: cc_buf_printf(out, "%" PRId64, f->num); break;
    case PROTO_FIELD_REAL: cc_buf_printf(out, "%g", f->real); break;
    case PROTO_FIELD_BOOL: cc_buf_puts(out, f->flag ? "true" : "false"); break;
    case PROTO_FIELD_OBJECT: cc_buf_puts(out, "{...}"); break;
    case PROTO_FIELD_ARRAY: cc_buf_puts(out, "[...]"); break;
    case PROTO_FIELD_NULL: cc_buf_puts(out, "null"); break;
    }
    return true;
}

void desk_view_event(cc_buf *out, proto_msg *msg)
{
    cc_buf_puts(out, "event: ");
    desk_view_text(out, msg->name, PROTO_ID_MAX);
    event_walk w = {out, 0};
    proto_msg_fields(msg, event_field, &w);
    cc_buf_putc(out, '\n');
}

int desk_view_decode_ixn(proto_msg *msg, desk_view_ixn_event *ev)
{
    static const enum desk_view_ixn_kind kinds[] = {
        [PROTO_IXN_REVOKED] = DESK_VIEW_REVOKED,
        [PROTO_IXN_PARTY_REMOVED] = DESK_VIEW_PARTY_REMOVED,
        [PROTO_IXN_ENDED] = DESK_VIEW_ENDED,
    };
    memset(ev, 0, sizeof *ev);
    ev->timeout_sec = -1;
    if (strcmp(msg->name, "EventInvite") == 0) {
        proto_ixn_invite inv;
        int rc = proto_ixn_decode_invite(msg, &inv);
        if (rc)
            return rc;
        *ev = (desk_view_ixn_event){.kind = DESK_VIEW_INVITE,
                                    .id = inv.interaction_id,
                                    .tenant = inv.tenant,
                                    .media = inv.media,
                                    .queue = inv.queue,
                                    .user_data = inv.user_data_obj,
                                    .timeout_sec = inv.timeout_sec};
        return 0;
    }
    proto_ixn_event e;
    int rc = proto_ixn_decode_event(msg, &e);
    if (rc)
        return rc;
    ev->kind = kinds[e.kind];
    ev->id = e.interaction_id;
    ev->reason = e.reason;
    return 0;
}

/* What the walk over an invite's user data carries. */
typedef struct user_data_walk {
    cc_buf *out;
    size_t count;
} user_data_walk;

/* One user data field on its own line, a string as it is and anything else as compact
 * JSON; past DESK_VIEW_USER_DATA_MAX fields they are only counted. */
static bool user_data_field(void *ctx, const proto_field *f)
{
    user_data_walk *w = ctx;
    if (w->count++ >= DESK_VIEW_USER_DATA_MAX)
        return true;
    cc_buf_puts(w->out, "  ");
    desk_view_text(w->out, f->key, PROTO_ID_MAX);
    cc_buf_puts(w->out, " = ");
    if (f->kind == PROTO_FIELD_STRING)
        desk_view_text(w->out, f->str, 200);
    else
        desk_view_text(w->out, f->json ? f->json : "?", 200);
    cc_buf_putc(w->out, '\n');
    return true;
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
        {"Supervisor", "taken by a supervisor"},
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
    user_data_walk w = {out, 0};
    proto_fields(ev->user_data, user_data_field, &w);
    if (w.count > DESK_VIEW_USER_DATA_MAX)
        cc_buf_printf(out, "  ... %zu more\n", w.count - DESK_VIEW_USER_DATA_MAX);
}

void desk_view_done(cc_buf *out, proto_msg *ack)
{
    /* A malformed afterWorkSec reads as 0, as if the interaction had ended. */
    int64_t aw;
    (void)proto_ixn_decode_stopped(ack, &aw);
    if (aw > 0)
        cc_buf_printf(out, "ok: after-work %" PRId64 " s\n", aw);
    else
        desk_view_ok(out);
}

static int row_cmp(const void *a, const void *b)
{
    const proto_ixn_queue_row *x = a, *y = b;
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
    size_t total;
    int rc = proto_ixn_decode_queues(ack, &total);
    if (rc)
        return rc;
    size_t cap = total > DESK_VIEW_QUEUES_MAX ? DESK_VIEW_QUEUES_MAX : total;
    proto_ixn_queue_row *rows = xcalloc(cap ? cap : 1, sizeof *rows);
    size_t n = 0, bad = 0;
    for (size_t i = 0; i < total; i++) {
        proto_ixn_queue_row r;
        if (proto_ixn_decode_queue_row(ack, i, &r) != 0) {
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
        const proto_ixn_queue_row *r = &rows[i];
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

/* Sorts skills by name (insertion sort: at most PROTO_SKILLS_MAX). */
static void sort_skills(const proto_skill **v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        const proto_skill *x = v[i];
        size_t j = i;
        while (j > 0 && strcmp(v[j - 1]->name, x->name) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

void desk_view_skills(cc_buf *out, const proto_skills *skills)
{
    cc_buf_puts(out, "  skills: ");
    size_t n = skills->count < PROTO_SKILLS_MAX ? skills->count : PROTO_SKILLS_MAX;
    if (n == 0) {
        cc_buf_puts(out, "none\n");
        return;
    }
    const proto_skill *sorted[PROTO_SKILLS_MAX];
    for (size_t i = 0; i < n; i++)
        sorted[i] = &skills->items[i];
    sort_skills(sorted, n);
    for (size_t i = 0; i < n; i++) {
        if (i)
            cc_buf_puts(out, ", ");
        desk_view_text(out, sorted[i]->name, PROTO_SKILL_NAME_MAX);
        cc_buf_printf(out, " %d", sorted[i]->level);
    }
    cc_buf_putc(out, '\n');
}

/* What each reason of an explanation means, for the agent. */
static const char *why_words(enum proto_explain_why why)
{
    switch (why) {
    case PROTO_EXPLAIN_NOT_LOGGED_IN: return "not logged in";
    case PROTO_EXPLAIN_MEDIA_NOT_ADDED: return "has not added the media";
    case PROTO_EXPLAIN_NOT_READY: return "not ready for the media";
    case PROTO_EXPLAIN_DND: return "do not disturb";
    case PROTO_EXPLAIN_NO_STATUS: return "no status from the reporting engine yet";
    case PROTO_EXPLAIN_NO_CAPACITY: return "no capacity left under its rule";
    case PROTO_EXPLAIN_VERSION_IN_FLIGHT:
        return "its newest state is not reflected in a status yet";
    case PROTO_EXPLAIN_RESERVATION_PENDING: return "a reservation is being asked for";
    case PROTO_EXPLAIN_RESERVATION_REFUSED: return "the reporting engine refused a reservation";
    case PROTO_EXPLAIN_BUSY: return "eligible, but taken by an interaction ahead in order";
    case PROTO_EXPLAIN_ELIGIBLE: return "eligible";
    }
    return "?";
}

int desk_view_explain(cc_buf *out, proto_msg *ack)
{
    proto_ixn_explain e;
    int rc = proto_ixn_decode_explain(ack, &e);
    if (rc)
        return rc;
    cc_buf_puts(out, "explain ");
    desk_view_text(out, e.interaction_id, PROTO_ID_MAX);
    cc_buf_puts(out, ": ");
    desk_view_text(out, e.media, CC_MEDIA_NAME_MAX);
    cc_buf_puts(out, " in queue ");
    desk_view_text(out, e.queue, PROTO_ID_MAX);
    cc_buf_puts(out, " of ");
    desk_view_text(out, e.tenant, PROTO_ID_MAX);
    cc_buf_printf(out, ", %s, waited %" PRId64 " s", cc_ixn_state_name(e.state), e.waited_sec);
    if (e.agent_id) {
        cc_buf_puts(out, ", held by ");
        desk_view_text(out, e.agent_id, PROTO_ID_MAX);
    }
    cc_buf_printf(out, "\n  priority %" PRId64 " (effective %" PRId64 ")\n", e.priority,
                  e.effective_priority);
    cc_buf_printf(out, "  step %" PRId64 " of %" PRId64 ": ", e.step, e.steps);
    desk_view_text(out, e.expression, DESK_VIEW_TEXT_MAX);
    if (e.next_step_sec >= 0)
        cc_buf_printf(out, " (next step in %" PRId64 " s)\n", e.next_step_sec);
    else
        cc_buf_puts(out, " (the last step)\n");
    cc_buf_printf(out, "  matching: %" PRId64 " agent%s\n", e.matching, e.matching == 1 ? "" : "s");
    for (size_t i = 0; i < e.nagents; i++) {
        cc_buf_puts(out, "  agent ");
        desk_view_text(out, e.agents[i].agent_id, PROTO_ID_MAX);
        cc_buf_printf(out, ": %s (%s)\n", proto_explain_why_name(e.agents[i].why),
                      why_words(e.agents[i].why));
    }
    return 0;
}

void desk_view_supervisor(cc_buf *out, const proto_sup_event *e)
{
    cc_buf_puts(out, "supervisor ");
    desk_view_text(out, e->supervisor, PROTO_ID_MAX);
    switch (e->action) {
    case PROTO_SUP_FORCE_NOT_READY:
        cc_buf_puts(out, " made you not ready for ");
        desk_view_text(out, e->media, PROTO_ID_MAX);
        break;
    case PROTO_SUP_FORCE_LOGOUT: cc_buf_puts(out, " logged you out"); break;
    case PROTO_SUP_REVOKE:
        cc_buf_puts(out, " took ");
        desk_view_text(out, e->interaction_id, PROTO_ID_MAX);
        cc_buf_puts(out, " back to its queue");
        break;
    case PROTO_SUP_REASSIGN:
        cc_buf_puts(out, " reassigned ");
        desk_view_text(out, e->interaction_id, PROTO_ID_MAX);
        break;
    case PROTO_SUP_ACTION_COUNT: break;
    }
    if (e->reason.present) {
        cc_buf_puts(out, ":");
        if (e->action == PROTO_SUP_FORCE_NOT_READY)
            cc_buf_printf(out, " %" PRId64, e->reason.code);
        if (e->reason.text) {
            cc_buf_putc(out, ' ');
            desk_view_text(out, e->reason.text, 200);
        }
    }
    cc_buf_putc(out, '\n');
}
