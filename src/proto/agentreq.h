/* The agent requests of protocol section 4, sent by desktops (clientType
 * AgentApplication): RequestAgentLogin with its media list (and the skills its EventAck
 * carries), RequestAgentLogout, the media requests (add, remove, not ready, ready,
 * reason) and do-not-disturb. Encoders append to a cc_buf and allocate nothing else;
 * decoders borrow their strings from the decoded message and check fields only (who may
 * send what is the receiver's business). No I/O. */
#ifndef PROTO_AGENTREQ_H
#define PROTO_AGENTREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/media.h"
#include "proto/msg.h"

/** One media of a login's mediaList. */
typedef struct proto_areq_media {
    const char *name; /* a media name */
    bool ready;       /* sent as 1 (ready) or 0 */
} proto_areq_media;

/** RequestAgentLogin. */
typedef struct proto_areq_login {
    const char *tenant;
    const char *agent_id;
    const char *place_id;
    const char *password;
    int nmedia;                           /* 0..CC_MEDIA_MAX */
    proto_areq_media media[CC_MEDIA_MAX]; /* in the order given */
} proto_areq_login;

/**
 * Appends the open RequestAgentLogin (without referenceId). The buffer then holds the
 * password: reserve room for the whole message first and wipe the buffer after sending,
 * so that no copy of it is left in freed memory.
 */
void proto_areq_enc_login(cc_buf *b, const proto_areq_login *l);

/**
 * Decodes a RequestAgentLogin: tenant, agentId, placeId (identifiers), password (text)
 * and mediaList (an object of media names to 0/1 or false/true, at most CC_MEDIA_MAX of
 * them) are required. Returns 0 or CC_E_INVALID_ATTRIBUTE with msg->desc naming the
 * field.
 */
int proto_areq_decode_login(proto_msg *msg, proto_areq_login *out);

/**
 * Appends the fields of a successful login's EventAck to an open EventAck: "skills", the
 * agent's skills as the directory gives them (`{}` when none; routing.md section 1).
 */
void proto_areq_enc_login_ack(cc_buf *ack, const proto_skills *skills);

/**
 * Decodes those fields of a login's EventAck: skills as proto_decode_skills (absent: none,
 * from a server older than the skills). Returns 0 or CC_E_INVALID_ATTRIBUTE with
 * msg->desc.
 */
int proto_areq_decode_login_ack(proto_msg *msg, proto_skills *skills);

/* X(enum suffix, message name, has media): the other agent requests. */
#define PROTO_AREQ_MAP(X)                                                                          \
    X(LOGOUT, "RequestAgentLogout", false)                                                         \
    X(ADD_MEDIA, "RequestAddMedia", true)                                                          \
    X(REMOVE_MEDIA, "RequestRemoveMedia", true)                                                    \
    X(NOT_READY, "RequestNotReadyForMedia", true)                                                  \
    X(READY, "RequestCancelNotReadyForMedia", true)                                                \
    X(CHANGE_REASON, "RequestChangeMediaStateReason", true)                                        \
    X(DND_ON, "RequestDoNotDisturbOn", false)                                                      \
    X(DND_OFF, "RequestDoNotDisturbOff", false)

/** Which agent request. */
enum proto_areq_kind {
#define PROTO_AREQ_ENUM(sym, name, media) PROTO_AREQ_##sym,
    PROTO_AREQ_MAP(PROTO_AREQ_ENUM)
#undef PROTO_AREQ_ENUM
};

/** An agent request other than the login. */
typedef struct proto_areq {
    enum proto_areq_kind kind;
    const char *media;   /* the media requests: a media name */
    bool ready;          /* add: ready at once (sent as 0/1) */
    proto_reason reason; /* not ready (optional) and change reason (required) */
    /* The agent acted for and its tenant: optional, and when given they must be the
     * agent logged in on the connection. NULL leaves them out (decoder: absent). */
    const char *agent_id;
    const char *tenant;
} proto_areq;

/** The kind of a request name, or -1 when the name is not one of these requests. */
int proto_areq_kind(const char *name);

/** The message name of a kind ("RequestAddMedia"). */
const char *proto_areq_name(enum proto_areq_kind kind);

/**
 * Appends the open request (without referenceId): media for the media requests, ready
 * for add, the reason for not ready and change reason when present ({"code":N} with
 * "description" when it is not NULL).
 */
void proto_areq_enc(cc_buf *b, const proto_areq *r);

/**
 * Decodes a request of the given kind (the receiver knows it from the message name):
 * media (a valid media name) for the media requests, ready (0/1, default 0) for add,
 * reason for not ready (optional) and change reason (required), agentId and tenant
 * (optional identifiers). Returns 0 or CC_E_INVALID_ATTRIBUTE with msg->desc.
 */
int proto_areq_decode(proto_msg *msg, enum proto_areq_kind kind, proto_areq *out);

#endif
