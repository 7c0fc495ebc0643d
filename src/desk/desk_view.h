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

#endif
