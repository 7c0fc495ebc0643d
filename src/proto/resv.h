/* The reservation messages of protocol section 7a, by which an interaction server asks
 * the reporting engine for one slot of an agent's capacity before it offers an
 * interaction: EventReserveAgent, EventAgentReserved, EventReservationReleased. All three
 * are events on the reporting connection and are never answered with EventAck. No I/O. */
#ifndef PROTO_RESV_H
#define PROTO_RESV_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/msg.h"

/** EventReserveAgent (interaction server → reporting engine). */
typedef struct proto_reserve {
    int64_t reservation_id; /* positive, unique per interaction server while it runs */
    const char *tenant;
    const char *agent_id;
    const char *media; /* a media name; the receiver looks it up */
    int64_t version;   /* the agent's current version on the sending server */
} proto_reserve;

/** Appends an open EventReserveAgent. */
void proto_enc_reserve(cc_buf *b, const proto_reserve *r);

/**
 * Decodes an EventReserveAgent. Returns 0, or CC_E_INVALID_ATTRIBUTE with msg->desc
 * naming the field. out->reservation_id is set whenever the message carries a readable
 * one, also on error, so that the receiver can refuse it (0 when it cannot be read).
 */
int proto_decode_reserve(proto_msg *msg, proto_reserve *out);

/** EventAgentReserved (reporting engine → interaction server): the answer. */
typedef struct proto_reserved {
    int64_t reservation_id;
    bool granted;
} proto_reserved;

/** Appends an open EventAgentReserved. */
void proto_enc_reserved(cc_buf *b, const proto_reserved *r);

/** Decodes an EventAgentReserved: 0 or CC_E_INVALID_ATTRIBUTE with msg->desc. */
int proto_decode_reserved(proto_msg *msg, proto_reserved *out);

/** Appends an open EventReservationReleased for reservation_id (a grant not used). */
void proto_enc_released(cc_buf *b, int64_t reservation_id);

/** Decodes an EventReservationReleased: 0 and *reservation_id, or
 * CC_E_INVALID_ATTRIBUTE with msg->desc. */
int proto_decode_released(proto_msg *msg, int64_t *reservation_id);

#endif
