/* Messages of the wire protocol (docs/protocol.md): parsing of inbound lines into a
 * checked request, typed field access that produces the protocol's errors, and the
 * encoders of the events every program sends. No I/O. */
#ifndef PROTO_MSG_H
#define PROTO_MSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/ixnstate.h"
#include "common/media.h"

/** Longest tenant, agent, place, queue or client name accepted, in bytes. */
#define PROTO_ID_MAX 128
/** Longest free text accepted (reason descriptions, tokens, passwords), in bytes. */
#define PROTO_TEXT_MAX 1024
/** The protocol version this code speaks. */
#define PROTO_VERSION 1

/** One parsed inbound message. */
typedef struct proto_msg {
    json_t *root;     /* the object; owned */
    const char *name; /* its "message" */
    int64_t ref;      /* referenceId, 0 when absent or not a positive integer */
    bool ref_present; /* a "referenceId" field exists (valid or not) */
    char desc[192];   /* description of the last field error */
} proto_msg;

/**
 * Parses one line. Returns 0, or CC_E_INVALID_MESSAGE when it is not JSON, not an
 * object or has no string "message" (msg->desc says which; msg->ref is still set when
 * the object carried a valid referenceId).
 */
int proto_msg_parse(proto_msg *msg, const char *line, size_t len);
/** Frees a parsed message (safe on a zeroed or failed one). */
void proto_msg_free(proto_msg *msg);

/** True when the message's name starts with "Request". */
bool proto_msg_is_request(const proto_msg *msg);

/**
 * Checks that a request carries a positive integer referenceId: 0 or
 * CC_E_INVALID_ATTRIBUTE (desc names referenceId).
 */
int proto_msg_check_ref(proto_msg *msg);

/** A string field: 0 and *out (NUL-terminated, owned by msg), or CC_E_INVALID_ATTRIBUTE
 * when missing (and required), not a string, or over max bytes. An empty string is
 * accepted (a token may be empty); identifiers use proto_get_id. Optional and absent: 0
 * and *out NULL. */
int proto_get_str(proto_msg *msg, const char *field, bool required, size_t max, const char **out);
/** An identifier field (tenant, agentId, ...): a string of 1..PROTO_ID_MAX bytes
 * without control characters. */
int proto_get_id(proto_msg *msg, const char *field, bool required, const char **out);
/** An integer field in [min, max]; optional and absent leaves *out unchanged. */
int proto_get_int(proto_msg *msg, const char *field, bool required, int64_t min, int64_t max,
                  int64_t *out);
/** A 0/1 (or false/true) field; optional and absent leaves *out unchanged. */
int proto_get_flag(proto_msg *msg, const char *field, bool required, bool *out);
/** An object field; optional and absent gives *out NULL. */
int proto_get_object(proto_msg *msg, const char *field, bool required, json_t **out);
/** An array of identifier strings; optional and absent gives *out NULL. */
int proto_get_id_array(proto_msg *msg, const char *field, bool required, json_t **out);
/** A reason object {code int, description string}: both optional inside; absent reason
 * gives *present false. */
int proto_get_reason(proto_msg *msg, const char *field, bool *present, int64_t *code,
                     const char **description);

/** What a JSON value is, for showing fields whose shape no codec knows. */
enum proto_field_kind {
    PROTO_FIELD_STRING,
    PROTO_FIELD_INT,
    PROTO_FIELD_REAL,
    PROTO_FIELD_BOOL,
    PROTO_FIELD_NULL,
    PROTO_FIELD_OBJECT,
    PROTO_FIELD_ARRAY,
};

/** One field of a JSON object; the pointers are valid during the callback only. */
typedef struct proto_field {
    const char *key;
    enum proto_field_kind kind;
    const char *str;  /* PROTO_FIELD_STRING: the text (no NUL inside) */
    int64_t num;      /* PROTO_FIELD_INT */
    double real;      /* PROTO_FIELD_REAL */
    bool flag;        /* PROTO_FIELD_BOOL */
    const char *json; /* every kind but STRING: the value as compact JSON text */
} proto_field;

/** Called per field in order; returning false stops the walk. */
typedef bool proto_field_fn(void *ctx, const proto_field *f);

/**
 * Calls fn for each field of the JSON object obj in the order they came (nothing when
 * obj is NULL or not an object). For what a program shows but does not interpret: the
 * fields of an unknown event (proto_msg_fields) or an interaction's user data.
 */
void proto_fields(const json_t *obj, proto_field_fn *fn, void *ctx);

/** proto_fields over the top level of a message, "message" and "seq" included. */
void proto_msg_fields(const proto_msg *msg, proto_field_fn *fn, void *ctx);

/**
 * Appends to out the open form (without its closing brace) of a message to forward:
 * the line as received (line, len: the parsed msg's own bytes, trailing white space
 * allowed) when it has no field drop, else the message encoded again without that field.
 * Returns 0, or CC_E_INVALID_MESSAGE when the line does not end with '}'.
 */
int proto_msg_forward_open(const proto_msg *msg, const char *line, size_t len, const char *drop,
                           cc_buf *out);

/** Appends an open EventAck: {"message":"EventAck","referenceId":ref. */
void proto_enc_ack(cc_buf *b, int64_t ref);
/** Appends an open EventError; ref 0 leaves referenceId out. err is a CC_E_ code. */
void proto_enc_error(cc_buf *b, int64_t ref, int err, const char *description);

/** The fields of an EventError as received. */
typedef struct proto_error {
    int64_t code;            /* errorCode as on the wire (1..14); 0 when absent */
    const char *name;        /* errorName; NULL when absent */
    const char *description; /* errorDescription; NULL when absent */
} proto_error;

/**
 * Decodes an EventError (the counterpart of proto_enc_error): every field is optional;
 * errorCode must be an integer in 0..INT32_MAX and the texts strings of at most
 * PROTO_TEXT_MAX bytes. Returns 0, or CC_E_INVALID_ATTRIBUTE with msg->desc; the fields
 * read before the bad one are kept, so that a desktop can still show them.
 */
int proto_decode_error(proto_msg *msg, proto_error *out);

/** A not-ready reason as the wire carries it ({"code":N,"description":"…"} or null). */
typedef struct proto_reason {
    bool present;            /* false: the reason is null */
    int64_t code;            /* 0 when absent */
    const char *description; /* NULL when absent or null */
} proto_reason;

/** Most skills one agent has (the configuration's limit, routing.md section 1). */
#define PROTO_SKILLS_MAX 64
/** Longest skill name, in bytes: names have the form of media names. */
#define PROTO_SKILL_NAME_MAX 32
/** Highest skill level; the lowest an agent can have is 1. */
#define PROTO_SKILL_LEVEL_MAX 10

/** The cause of an EventPlaceAgentState re-reported because a reload changed the agent's
 * skills. */
#define PROTO_CAUSE_SKILLS_CHANGED "SkillsChanged"

/** One skill of an agent. */
typedef struct proto_skill {
    const char *name; /* [a-z][a-z0-9_-]{0,31} */
    int level;        /* 1..PROTO_SKILL_LEVEL_MAX */
} proto_skill;

/** An agent's skills, as the wire carries them: {"name":level, ...}. */
typedef struct proto_skills {
    size_t count; /* 0..PROTO_SKILLS_MAX */
    proto_skill items[PROTO_SKILLS_MAX];
} proto_skills;

/**
 * Appends ,"skills":{...} with the skills in the order given (`{}` when there are none).
 * Names and levels are written as they are: the sender checked them when it read its
 * configuration.
 */
void proto_enc_skills(cc_buf *b, const proto_skills *skills);

/**
 * Decodes the "skills" field of a message: an object of skill names to levels 1..10, at
 * most PROTO_SKILLS_MAX of them, in the order they came. Absent or null gives no skills.
 * Returns 0 or CC_E_INVALID_ATTRIBUTE with msg->desc naming skills (out then holds no
 * skills).
 */
int proto_decode_skills(proto_msg *msg, proto_skills *out);

/** One interaction an agent holds, as EventPlaceAgentState lists it. */
typedef struct proto_held_ixn {
    const char *interaction_id;
    int media;               /* id in the daemon's media table */
    enum cc_ixn_state state; /* CC_IXN_INVITED, CC_IXN_HANDLING or CC_IXN_AFTER_WORK */
} proto_held_ixn;

/** An agent's whole state on one interaction server (EventPlaceAgentState). The same
 * struct is the encoder's input and the decoder's output, so that both are round-tripped
 * by the fuzzer. Strings are borrowed (from the caller, or from the decoded message). */
typedef struct proto_agent_state {
    const char *server_name;
    const char *cause;
    const char *tenant;
    const char *agent_id;
    const char *place_id;
    int64_t version;
    int64_t login_time_ms;  /* loginTime, Unix ms; 0 when absent */
    int64_t reservation_id; /* reservationId (cause Invited under a grant); 0 when absent */
    bool logged_in;
    bool dnd;
    cc_media_mask added;                /* media present in "media" */
    cc_media_mask ready;                /* of those, ready:true */
    proto_reason reasons[CC_MEDIA_MAX]; /* per added media */
    const proto_held_ixn *held;         /* encoder: the interactions to list */
    size_t nheld;                       /* their number (decoder: the number listed) */
    uint32_t counts[CC_IXN_STATE_COUNT][CC_MEDIA_MAX]; /* decoder: [state][media] held */
    proto_skills skills; /* the agent's skills (routing.md section 1) */
} proto_agent_state;

/**
 * Appends an open EventPlaceAgentState: every field of st; media in id order of the
 * table, with their reasons; the held interactions in the order given; the skills, always
 * (`{}` when none). A logged-out state (logged_in false) is written with dnd false, no
 * media, no interactions and no skills.
 */
void proto_enc_agent_state(cc_buf *b, const proto_agent_state *st, const cc_media_table *media);

/**
 * Decodes an EventPlaceAgentState. Media names are interned into media (a name that
 * cannot be interned is an error). counts always receives the held interactions per
 * state and media; held (when cap > 0) receives the first cap of them, and out->nheld is
 * the number listed. skills as proto_decode_skills (absent: none, for a sender older than
 * the skills). Returns 0 or CC_E_INVALID_ATTRIBUTE with msg->desc.
 */
int proto_decode_agent_state(proto_msg *msg, cc_media_table *media, proto_agent_state *out,
                             proto_held_ixn *held, size_t cap);

/** An agent's status (EventCurrentAgentStatus). */
typedef struct proto_agent_status {
    const char *tenant;
    const char *agent_id;
    const char *place_id; /* may be NULL */
    const char *rule;     /* may be NULL */
    int64_t version;      /* 0 when absent */
    bool logged_in;
    bool dnd;
    cc_media_mask media; /* media listed */
    bool ready[CC_MEDIA_MAX];
    uint32_t current[CC_MEDIA_MAX];
    uint32_t max[CC_MEDIA_MAX];
    uint32_t available[CC_MEDIA_MAX];
    proto_skills skills; /* the agent's skills (routing.md section 1); last on the wire */
    /* Per media listed, after its counts: the not-ready reason (present only when the
     * media is not ready and a server gave one) and since, the Unix ms at which the
     * media's state (statistics.md section 2, `State`) began; 0 leaves it out. Both are
     * absent from a statserver older than them. */
    proto_reason reasons[CC_MEDIA_MAX];
    int64_t since[CC_MEDIA_MAX];
} proto_agent_status;

/**
 * Appends an open EventCurrentAgentStatus without "version" (the sender adds it per
 * target). Media are written in id order, each as {ready, current, max, available} then
 * its reason (when present) and since (when > 0); the skills follow them, always (`{}`
 * when none), in the order given.
 */
void proto_enc_status(cc_buf *b, const proto_agent_status *st, const cc_media_table *media);

/**
 * Decodes an EventCurrentAgentStatus. With intern, unknown media names are added to
 * media; without, they are skipped. skills as proto_decode_skills (absent: none, for a
 * statserver older than the skills). A media entry's reason (an object of an integer code
 * and a description of at most PROTO_TEXT_MAX bytes, or null) and since (an integer >= 0)
 * are optional. Returns 0 or CC_E_INVALID_ATTRIBUTE with msg->desc.
 */
int proto_decode_status(proto_msg *msg, cc_media_table *media, bool intern,
                        proto_agent_status *out);

#endif
