/* What the terminal desktop prints: status tables, answers in words, other events in
 * one line. Pure formatting into a cc_buf (no I/O), so it is unit-tested. Text from the
 * server is printed with control characters replaced, so a peer cannot send escape
 * sequences to the agent's terminal. */
#ifndef DESK_VIEW_H
#define DESK_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/media.h"
#include "proto/msg.h"
#include "proto/supmsg.h"

/** Longest piece of server text printed for one field, in bytes. */
#define DESK_VIEW_TEXT_MAX 1024

/** Appends s with every control character replaced by '?', cut after max bytes ("..."
 * then marks the cut). NULL appends "-". */
void desk_view_text(cc_buf *out, const char *s, size_t max);

/**
 * Appends the table of a status: a header line (agent, tenant, place, rule, dnd,
 * loggedIn) and one row per media, sorted by name, with columns media, ready, current,
 * max, available. Media names come from media, the table the status was decoded with.
 */
void desk_view_status(cc_buf *out, const proto_agent_status *st, const cc_media_table *media);

/**
 * Appends an error in words: "error: NAME (CODE): DESCRIPTION\n". name NULL or empty
 * takes the name of the protocol code; desc NULL or empty drops ": DESCRIPTION".
 */
void desk_view_error(cc_buf *out, int64_t code, const char *name, const char *desc);

/** Appends an EventError message in words, as desk_view_error. */
void desk_view_error_msg(cc_buf *out, proto_msg *msg);

/** Appends a local failure (a bad command, no link): "error: TEXT\n". */
void desk_view_local_error(cc_buf *out, const char *text);

/** Appends the answer to an acknowledged request: "ok\n". */
void desk_view_ok(cc_buf *out);

/**
 * Appends any other event on one line: "event: NAME key=value ..." with the message's
 * top-level string, number and boolean fields (not message and seq) in the order they
 * came; objects and arrays are shown as "{...}" and "[...]".
 */
void desk_view_event(cc_buf *out, proto_msg *msg);

/** Which interaction event a message is. */
enum desk_view_ixn_kind {
    DESK_VIEW_INVITE,        /* EventInvite */
    DESK_VIEW_REVOKED,       /* EventRevoked */
    DESK_VIEW_PARTY_REMOVED, /* EventPartyRemoved */
    DESK_VIEW_ENDED,         /* EventInteractionEnded */
};

/** The fields of an interaction event the desk uses; strings are owned by the message. */
typedef struct desk_view_ixn_event {
    enum desk_view_ixn_kind kind;
    const char *id;
    const char *tenant;  /* invite; may be NULL */
    const char *media;   /* invite */
    const char *queue;   /* invite */
    json_t *user_data;   /* invite; may be NULL */
    int64_t timeout_sec; /* invite; -1 when absent */
    const char *reason;  /* the others; may be NULL */
} desk_view_ixn_event;

/**
 * Decodes an interaction event (EventInvite, EventRevoked, EventPartyRemoved,
 * EventInteractionEnded). Returns 0, CC_E_NOT_FOUND for any other message, or
 * CC_E_INVALID_ATTRIBUTE with msg->desc when a field is missing or malformed.
 */
int desk_view_decode_ixn(proto_msg *msg, desk_view_ixn_event *ev);

/**
 * Appends an interaction event in words, e.g.
 * "invite ixn-a:000000017: chat from queue chat-sales of Resources, accept within 15 s"
 * followed by one "  KEY = VALUE" line per user data field (string values as they are,
 * others as JSON; at most DESK_VIEW_USER_DATA_MAX fields, each value cut at 200 bytes),
 * or "revoked ID: no answer in time, back to its queue" and the like.
 */
void desk_view_ixn(cc_buf *out, const desk_view_ixn_event *ev);

/**
 * Appends a supervisor's action on this desktop's agent in words, e.g.
 * "supervisor sup-1 made you not ready for chat: 7 Coaching",
 * "supervisor sup-1 logged you out: Shift over",
 * "supervisor sup-1 took ixn-a:000000017 back to its queue",
 * "supervisor sup-1 reassigned ixn-a:000000017".
 */
void desk_view_supervisor(cc_buf *out, const proto_sup_event *e);

/** Most user data fields shown for one invite. */
#define DESK_VIEW_USER_DATA_MAX 32

/** Appends the answer to `done`: "ok: after-work N s\n" when the ack carries
 * afterWorkSec > 0, else "ok\n". */
void desk_view_done(cc_buf *out, proto_msg *ack);

/** Most queue rows shown by `queues`. */
#define DESK_VIEW_QUEUES_MAX 1000

/**
 * Appends the answer to RequestQueueStatus as a table sorted by tenant and queue:
 * tenant, queue, media, waiting, invited, handling, oldest (oldestWaitMs in seconds with
 * one decimal; "-" when absent). Returns 0, or CC_E_INVALID_ATTRIBUTE with nothing
 * appended when "queues" is not an array; malformed rows are skipped and counted in a
 * last line.
 */
int desk_view_queues(cc_buf *out, proto_msg *ack);

/**
 * Appends the agent's skills on one line, sorted by name: "  skills: billing 9, sales 7\n",
 * or "  skills: none\n" when it has none.
 */
void desk_view_skills(cc_buf *out, const proto_skills *skills);

/**
 * Appends the answer to RequestExplainRouting in words: the interaction (media, queue,
 * tenant, state, seconds waited, who holds it), its priority and effective priority, the
 * current step of the steps with its expression and the seconds until the next step,
 * how many agents match it, then one line per listed agent with the reason it was not
 * offered the interaction. Returns 0, or CC_E_INVALID_ATTRIBUTE with msg->desc and
 * nothing appended when the answer does not decode.
 */
int desk_view_explain(cc_buf *out, proto_msg *ack);

#endif
