#include "desk/desk_cmd.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "proto/agentreq.h"
#include "proto/ixnmsg.h"

/* A view of part of the command line. */
typedef struct span {
    const char *p;
    size_t n;
} span;

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Takes the next whitespace-separated word from *rest; an empty span at the end. */
static span next_word(span *rest)
{
    while (rest->n > 0 && is_blank(*rest->p)) {
        rest->p++;
        rest->n--;
    }
    span w = {rest->p, 0};
    while (w.n < rest->n && !is_blank(w.p[w.n]))
        w.n++;
    rest->p += w.n;
    rest->n -= w.n;
    return w;
}

/* The rest of the line without surrounding blanks. */
static span trimmed(span s)
{
    while (s.n > 0 && is_blank(*s.p)) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && is_blank(s.p[s.n - 1]))
        s.n--;
    return s;
}

static bool word_is(span w, const char *s)
{
    return w.n == strlen(s) && memcmp(w.p, s, w.n) == 0;
}

static int usage(char *err, size_t errlen, const char *text)
{
    snprintf(err, errlen, "usage: %s", text);
    return CC_E_INVALID_ATTRIBUTE;
}

/* Reads a MEDIA argument into out->media. */
static int take_media(span *rest, desk_cmd *out, const char *use, char *err, size_t errlen)
{
    span w = next_word(rest);
    if (w.n == 0)
        return usage(err, errlen, use);
    if (!cc_media_name_valid(w.p, w.n)) {
        snprintf(err, errlen,
                 "invalid media name \"%.*s\": a lowercase letter, then up to 31 of a-z 0-9 _ -",
                 w.n > 40 ? 40 : (int)w.n, w.p);
        return CC_E_INVALID_ATTRIBUTE;
    }
    memcpy(out->media, w.p, w.n);
    out->media[w.n] = '\0';
    return 0;
}

/* Parses a decimal number of digits only, at most max. */
static bool parse_uint(span w, int64_t max, int64_t *out)
{
    if (w.n == 0 || w.n > 12)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < w.n; i++) {
        if (w.p[i] < '0' || w.p[i] > '9')
            return false;
        v = v * 10 + (w.p[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

static int no_more(span rest, const char *use, char *err, size_t errlen)
{
    if (trimmed(rest).n != 0)
        return usage(err, errlen, use);
    return 0;
}

/* The rest of the line, trimmed, as the reason text (none when it is empty). */
static int take_reason_text(span rest, desk_cmd *out, char *err, size_t errlen)
{
    span text = trimmed(rest);
    if (text.n == 0)
        return 0;
    if (text.n > PROTO_TEXT_MAX) {
        snprintf(err, errlen, "reason text is longer than %d bytes", PROTO_TEXT_MAX);
        return CC_E_INVALID_ATTRIBUTE;
    }
    memcpy(out->text, text.p, text.n);
    out->text[text.n] = '\0';
    out->has_text = true;
    return 0;
}

static int parse_notready(span rest, desk_cmd *out, char *err, size_t errlen)
{
    static const char use[] = "notready MEDIA [CODE [TEXT]]";
    int rc = take_media(&rest, out, use, err, errlen);
    if (rc)
        return rc;
    span w = next_word(&rest);
    if (w.n == 0)
        return 0;
    if (!parse_uint(w, 2147483647, &out->code)) {
        snprintf(err, errlen, "reason code must be a whole number 0..2147483647");
        return CC_E_INVALID_ATTRIBUTE;
    }
    out->has_code = true;
    return take_reason_text(rest, out, err, errlen);
}

/* Reads a word of 1..PROTO_ID_MAX bytes (an interaction id or a queue) into dst. */
static int take_id(span *rest, char *dst, const char *what, const char *use, char *err,
                   size_t errlen)
{
    span w = next_word(rest);
    if (w.n == 0)
        return usage(err, errlen, use);
    if (w.n > PROTO_ID_MAX) {
        snprintf(err, errlen, "%s is longer than %d bytes", what, PROTO_ID_MAX);
        return CC_E_INVALID_ATTRIBUTE;
    }
    memcpy(dst, w.p, w.n);
    dst[w.n] = '\0';
    return 0;
}

/* accept, done, complete, explain: ID; reject: ID [REASON]; transfer: ID QUEUE. */
static int parse_ixn_cmd(span rest, desk_cmd *out, const char *use, char *err, size_t errlen)
{
    int rc = take_id(&rest, out->ixn_arg, "an interaction id", use, err, errlen);
    if (rc)
        return rc;
    memcpy(out->ixn_id, out->ixn_arg, sizeof out->ixn_id);
    if (out->kind == DESK_CMD_TRANSFER) {
        rc = take_id(&rest, out->queue, "a queue name", use, err, errlen);
        return rc ? rc : no_more(rest, use, err, errlen);
    }
    if (out->kind != DESK_CMD_REJECT)
        return no_more(rest, use, err, errlen);
    return take_reason_text(rest, out, err, errlen);
}

int desk_cmd_parse(const char *line, size_t len, desk_cmd *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (errlen > 0)
        err[0] = '\0';
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (len > DESK_CMD_LINE_MAX) {
        snprintf(err, errlen, "line is longer than %d bytes", DESK_CMD_LINE_MAX);
        return CC_E_INVALID_ATTRIBUTE;
    }
    /* Control characters would travel into reason texts or confuse the terminal. */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            snprintf(err, errlen, "line contains control characters");
            return CC_E_INVALID_ATTRIBUTE;
        }
    }
    span rest = {line, len};
    span word = next_word(&rest);
    if (word.n == 0 || word.p[0] == '#') {
        out->kind = DESK_CMD_EMPTY;
        return 0;
    }
    if (word_is(word, "ready")) {
        out->kind = DESK_CMD_READY;
        int rc = take_media(&rest, out, "ready MEDIA", err, errlen);
        return rc ? rc : no_more(rest, "ready MEDIA", err, errlen);
    }
    if (word_is(word, "notready")) {
        out->kind = DESK_CMD_NOTREADY;
        return parse_notready(rest, out, err, errlen);
    }
    if (word_is(word, "add")) {
        out->kind = DESK_CMD_ADD;
        int rc = take_media(&rest, out, "add MEDIA", err, errlen);
        return rc ? rc : no_more(rest, "add MEDIA", err, errlen);
    }
    if (word_is(word, "remove")) {
        out->kind = DESK_CMD_REMOVE;
        int rc = take_media(&rest, out, "remove MEDIA", err, errlen);
        return rc ? rc : no_more(rest, "remove MEDIA", err, errlen);
    }
    if (word_is(word, "dnd")) {
        span w = next_word(&rest);
        if (word_is(w, "on"))
            out->kind = DESK_CMD_DND_ON;
        else if (word_is(w, "off"))
            out->kind = DESK_CMD_DND_OFF;
        else
            return usage(err, errlen, "dnd on|off");
        return no_more(rest, "dnd on|off", err, errlen);
    }
    if (word_is(word, "sleep")) {
        out->kind = DESK_CMD_SLEEP;
        int64_t ms;
        if (!parse_uint(next_word(&rest), DESK_SLEEP_MAX_MS, &ms))
            return usage(err, errlen, "sleep MS (0..60000)");
        out->sleep_ms = (unsigned)ms;
        return no_more(rest, "sleep MS (0..60000)", err, errlen);
    }
    static const struct {
        const char *word;
        enum desk_cmd_kind kind;
        const char *use;
    } with_ixn[] = {
        {"accept", DESK_CMD_ACCEPT, "accept ID"},
        {"reject", DESK_CMD_REJECT, "reject ID [REASON]"},
        {"done", DESK_CMD_DONE, "done ID"},
        {"complete", DESK_CMD_COMPLETE, "complete ID"},
        {"transfer", DESK_CMD_TRANSFER, "transfer ID QUEUE"},
        {"explain", DESK_CMD_EXPLAIN, "explain ID"},
    };
    for (size_t i = 0; i < sizeof with_ixn / sizeof with_ixn[0]; i++)
        if (word_is(word, with_ixn[i].word)) {
            out->kind = with_ixn[i].kind;
            return parse_ixn_cmd(rest, out, with_ixn[i].use, err, errlen);
        }
    static const struct {
        const char *word;
        enum desk_cmd_kind kind;
    } bare[] = {
        {"status", DESK_CMD_STATUS}, {"logout", DESK_CMD_LOGOUT},           {"help", DESK_CMD_HELP},
        {"quit", DESK_CMD_QUIT},     {"wait-status", DESK_CMD_WAIT_STATUS}, {"list", DESK_CMD_LIST},
        {"queues", DESK_CMD_QUEUES}, {"wait-invite", DESK_CMD_WAIT_INVITE},
    };
    for (size_t i = 0; i < sizeof bare / sizeof bare[0]; i++)
        if (word_is(word, bare[i].word)) {
            out->kind = bare[i].kind;
            return no_more(rest, bare[i].word, err, errlen);
        }
    snprintf(err, errlen, "unknown command \"%.*s\"; type help for the list",
             word.n > 40 ? 40 : (int)word.n, word.p);
    return CC_E_UNKNOWN_MESSAGE;
}

const char *desk_cmd_message(const desk_cmd *cmd)
{
    switch (cmd->kind) {
    case DESK_CMD_READY: return "RequestCancelNotReadyForMedia";
    case DESK_CMD_NOTREADY: return "RequestNotReadyForMedia";
    case DESK_CMD_ADD: return "RequestAddMedia";
    case DESK_CMD_REMOVE: return "RequestRemoveMedia";
    case DESK_CMD_DND_ON: return "RequestDoNotDisturbOn";
    case DESK_CMD_DND_OFF: return "RequestDoNotDisturbOff";
    case DESK_CMD_LOGOUT: return "RequestAgentLogout";
    case DESK_CMD_ACCEPT: return "RequestAccept";
    case DESK_CMD_REJECT: return "RequestReject";
    case DESK_CMD_DONE: return "RequestStopProcessing";
    case DESK_CMD_COMPLETE: return "RequestCompleteAfterWork";
    case DESK_CMD_TRANSFER: return "RequestPlaceInQueue";
    case DESK_CMD_QUEUES: return "RequestQueueStatus";
    case DESK_CMD_EXPLAIN: return "RequestExplainRouting";
    default: return NULL;
    }
}

bool desk_cmd_has_ixn(const desk_cmd *cmd)
{
    switch (cmd->kind) {
    case DESK_CMD_ACCEPT:
    case DESK_CMD_REJECT:
    case DESK_CMD_DONE:
    case DESK_CMD_COMPLETE:
    case DESK_CMD_TRANSFER:
    case DESK_CMD_EXPLAIN: return true;
    default: return false;
    }
}

bool desk_cmd_is_request(const desk_cmd *cmd)
{
    return desk_cmd_message(cmd) != NULL;
}

void desk_cmd_encode(const desk_cmd *cmd, cc_buf *out)
{
    assert(desk_cmd_is_request(cmd));
    proto_ixn_req ir = {.interaction_id = cmd->ixn_id};
    proto_areq ar = {.media = cmd->media};
    switch (cmd->kind) {
    case DESK_CMD_ACCEPT: ir.kind = PROTO_IXN_REQ_ACCEPT; break;
    case DESK_CMD_DONE: ir.kind = PROTO_IXN_REQ_STOP; break;
    case DESK_CMD_COMPLETE: ir.kind = PROTO_IXN_REQ_COMPLETE; break;
    case DESK_CMD_REJECT:
        ir.kind = PROTO_IXN_REQ_REJECT;
        ir.reason = cmd->has_text ? cmd->text : NULL;
        break;
    case DESK_CMD_TRANSFER:
        ir.kind = PROTO_IXN_REQ_PLACE;
        ir.queue = cmd->queue;
        break;
    case DESK_CMD_QUEUES: proto_ixn_enc_queue_status(out); return;
    case DESK_CMD_EXPLAIN:
        proto_ixn_enc_explain_req(out, &(proto_ixn_explain_req){cmd->ixn_id});
        return;
    case DESK_CMD_ADD: ar.kind = PROTO_AREQ_ADD_MEDIA; break;
    case DESK_CMD_REMOVE: ar.kind = PROTO_AREQ_REMOVE_MEDIA; break;
    case DESK_CMD_READY: ar.kind = PROTO_AREQ_READY; break;
    case DESK_CMD_NOTREADY:
        ar.kind = PROTO_AREQ_NOT_READY;
        ar.reason = (proto_reason){.present = cmd->has_code,
                                   .code = cmd->code,
                                   .description = cmd->has_text ? cmd->text : NULL};
        break;
    case DESK_CMD_DND_ON: ar.kind = PROTO_AREQ_DND_ON; break;
    case DESK_CMD_DND_OFF: ar.kind = PROTO_AREQ_DND_OFF; break;
    case DESK_CMD_LOGOUT: ar.kind = PROTO_AREQ_LOGOUT; break;
    default: return;
    }
    if (desk_cmd_has_ixn(cmd))
        proto_ixn_enc_req(out, &ir);
    else
        proto_areq_enc(out, &ar);
}

int desk_media_list_parse(const char *csv, desk_media_list *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    span rest = {csv, strlen(csv)};
    if (trimmed(rest).n == 0)
        return 0;
    for (;;) {
        const char *comma = memchr(rest.p, ',', rest.n);
        span item = {rest.p, comma ? (size_t)(comma - rest.p) : rest.n};
        item = trimmed(item);
        if (!cc_media_name_valid(item.p, item.n)) {
            snprintf(err, errlen,
                     "invalid media name \"%.*s\": a lowercase letter, then up to 31 of "
                     "a-z 0-9 _ -",
                     item.n > 40 ? 40 : (int)item.n, item.p);
            return CC_E_INVALID_ATTRIBUTE;
        }
        for (int i = 0; i < out->count; i++)
            if (strlen(out->names[i]) == item.n && memcmp(out->names[i], item.p, item.n) == 0) {
                snprintf(err, errlen, "media \"%s\" is listed twice", out->names[i]);
                return CC_E_INVALID_ATTRIBUTE;
            }
        if (out->count == CC_MEDIA_MAX) {
            snprintf(err, errlen, "more than %d media", CC_MEDIA_MAX);
            return CC_E_INVALID_ATTRIBUTE;
        }
        memcpy(out->names[out->count], item.p, item.n);
        out->names[out->count][item.n] = '\0';
        out->ready[out->count] = false;
        out->count++;
        if (!comma)
            return 0;
        rest.n -= (size_t)(comma + 1 - rest.p);
        rest.p = comma + 1;
    }
}

void desk_cmd_encode_login(const desk_login *login, cc_buf *out)
{
    proto_areq_login l = {.tenant = login->tenant,
                          .agent_id = login->agent_id,
                          .place_id = login->place_id,
                          .password = login->password,
                          .nmedia = login->media->count};
    for (int i = 0; i < login->media->count; i++)
        l.media[i] = (proto_areq_media){login->media->names[i], login->media->ready[i]};
    proto_areq_enc_login(out, &l);
}

bool desk_text_valid(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

bool desk_id_valid(const char *s)
{
    return desk_text_valid(s, PROTO_ID_MAX);
}

const char *desk_cmd_help(void)
{
    return "commands:\n"
           "  ready MEDIA                  be ready for MEDIA\n"
           "  notready MEDIA [CODE [TEXT]] not ready for MEDIA, with an optional reason\n"
           "  add MEDIA                    add MEDIA (not ready)\n"
           "  remove MEDIA                 remove MEDIA\n"
           "  dnd on|off                   do not disturb on or off\n"
           "  status                       show the newest status again\n"
           "  logout                       log out (the desk stays connected)\n"
           "  help                         this list\n"
           "  quit                         log out and exit\n"
           "  sleep MS                     scripting aid: pause MS milliseconds (max 60000)\n"
           "  wait-status                  scripting aid: wait up to 5 s for the next status\n"
           "  accept ID                    accept the invitation ID\n"
           "  reject ID [REASON]           turn the invitation ID down (back to its queue)\n"
           "  done ID                      done with ID: after-work, or the end\n"
           "  complete ID                  end the after-work of ID now\n"
           "  transfer ID QUEUE            put ID back into QUEUE\n"
           "  list                         the interactions this desk holds\n"
           "  queues                       the server's queues as a table\n"
           "  explain ID                   why ID is routed as it is: its step, who matches\n"
           "  wait-invite                  scripting aid: wait up to 10 s for the next invite\n"
           "ID: the full interaction id, its number (17 for ixn-a:000000017), or last\n"
           "(the newest invite)\n";
}

void desk_media_list_set(desk_media_list *list, const char *name, bool ready)
{
    for (int i = 0; i < list->count; i++) {
        if (strcmp(list->names[i], name) == 0) {
            list->ready[i] = ready;
            return;
        }
    }
    if (list->count == CC_MEDIA_MAX || strlen(name) > CC_MEDIA_NAME_MAX)
        return;
    snprintf(list->names[list->count], sizeof list->names[list->count], "%s", name);
    list->ready[list->count] = ready;
    list->count++;
}

void desk_media_list_remove(desk_media_list *list, const char *name)
{
    for (int i = 0; i < list->count; i++) {
        if (strcmp(list->names[i], name) != 0)
            continue;
        for (int j = i + 1; j < list->count; j++) {
            memcpy(list->names[j - 1], list->names[j], sizeof list->names[j]);
            list->ready[j - 1] = list->ready[j];
        }
        list->count--;
        return;
    }
}
