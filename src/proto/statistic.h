/* Statistics on the StatClient port (the statistics contract, section 3;
 * docs/statistics.md "The statistics engine"): RequestOpenStatistic, its values
 * (EventStatisticValue) and RequestCloseStatistic. The decoder of RequestOpenStatistic
 * checks every field against the definitions table, so that a request it accepts names a
 * statistic that exists for its object. Encoders append open messages to a cc_buf and
 * allocate nothing else; decoders borrow their strings from the decoded message. No I/O. */
#ifndef PROTO_STATISTIC_H
#define PROTO_STATISTIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/msg.h"

/** The type of a statistic's object. */
enum proto_sts_object {
    PROTO_STS_QUEUE,  /* server, tenant, id */
    PROTO_STS_AGENT,  /* tenant, id */
    PROTO_STS_TENANT, /* tenant */
};

/* X(enum suffix, wire name, object type, needs media). Queue and Tenant both have a
 * Waiting and an OldestWait: the object type tells them apart. */
#define PROTO_STS_STAT_MAP(X)                                                                      \
    X(Q_WAITING, "Waiting", PROTO_STS_QUEUE, false)                                                \
    X(Q_OLDEST_WAIT, "OldestWait", PROTO_STS_QUEUE, false)                                         \
    X(Q_ENTERED, "Entered", PROTO_STS_QUEUE, false)                                                \
    X(Q_ANSWERED, "Answered", PROTO_STS_QUEUE, false)                                              \
    X(Q_ABANDONED, "Abandoned", PROTO_STS_QUEUE, false)                                            \
    X(Q_SERVICE_LEVEL, "ServiceLevel", PROTO_STS_QUEUE, false)                                     \
    X(Q_ASA, "AverageSpeedOfAnswer", PROTO_STS_QUEUE, false)                                       \
    X(Q_EWT, "EstimatedWaitTime", PROTO_STS_QUEUE, false)                                          \
    X(A_STATE, "State", PROTO_STS_AGENT, true)                                                     \
    X(A_LOGIN_TIME, "LoginTime", PROTO_STS_AGENT, false)                                           \
    X(A_READY_TIME, "ReadyTime", PROTO_STS_AGENT, true)                                            \
    X(A_NOT_READY_TIME, "NotReadyTime", PROTO_STS_AGENT, true)                                     \
    X(A_BUSY_TIME, "BusyTime", PROTO_STS_AGENT, false)                                             \
    X(A_OFFERED, "Offered", PROTO_STS_AGENT, false)                                                \
    X(A_ACCEPTED, "Accepted", PROTO_STS_AGENT, false)                                              \
    X(A_REJECTED, "Rejected", PROTO_STS_AGENT, false)                                              \
    X(A_TIMED_OUT, "TimedOut", PROTO_STS_AGENT, false)                                             \
    X(A_HANDLED, "Handled", PROTO_STS_AGENT, false)                                                \
    X(A_AHT, "AverageHandleTime", PROTO_STS_AGENT, false)                                          \
    X(T_LOGGED_IN, "LoggedIn", PROTO_STS_TENANT, true)                                             \
    X(T_READY, "Ready", PROTO_STS_TENANT, true)                                                    \
    X(T_AVAILABLE, "Available", PROTO_STS_TENANT, true)                                            \
    X(T_WAITING, "Waiting", PROTO_STS_TENANT, true)                                                \
    X(T_OLDEST_WAIT, "OldestWait", PROTO_STS_TENANT, true)

/** A statistic of the definitions table (statistics contract, section 2). */
enum proto_sts_stat {
#define PROTO_STS_STAT_ENUM(sym, wire, obj, media) PROTO_STS_##sym,
    PROTO_STS_STAT_MAP(PROTO_STS_STAT_ENUM)
#undef PROTO_STS_STAT_ENUM
        PROTO_STS_STAT_COUNT
};

/** The wire name of a statistic; NULL outside the enum. */
const char *proto_sts_stat_name(int stat);
/** The object type a statistic belongs to (-1 outside the enum). */
int proto_sts_stat_object(int stat);
/** True when the statistic is defined per media (it takes "media"). */
bool proto_sts_stat_per_media(int stat);

/** Shortest and longest sliding window, seconds. */
#define PROTO_STS_SLIDING_MIN 60
#define PROTO_STS_SLIDING_MAX 86400
/** Longest every:N period, seconds. */
#define PROTO_STS_EVERY_MAX 3600
/** Largest service level threshold, seconds. */
#define PROTO_STS_THRESHOLD_MAX 86400

/** RequestOpenStatistic. */
typedef struct proto_sts_open {
    int64_t statistic_id; /* >= 1, chosen by the client, unique on its connection */
    enum proto_sts_object type;
    const char *server; /* Queue: the interaction server's name; else NULL */
    const char *tenant;
    const char *id; /* Queue, Agent: the queue or agent; Tenant: NULL */
    enum proto_sts_stat statistic;
    int64_t sliding_s;   /* profile "sliding:N": N; 0 for "day" */
    int64_t every_s;     /* notify "every:N": N; 0 for "changes" */
    int64_t threshold_s; /* threshold, seconds; -1 when absent */
    const char *media;   /* a media name; NULL when absent */
    bool has_reason;     /* "reason" given (NotReadyTime's reason code filter) */
    int64_t reason;
} proto_sts_open;

/** Appends an open RequestOpenStatistic (without referenceId). */
void proto_sts_enc_open(cc_buf *b, const proto_sts_open *o);

/**
 * Decodes a RequestOpenStatistic: statisticId (an integer >= 1); object {type Queue,
 * Agent or Tenant, server (Queue), tenant, id (Queue, Agent): identifiers}; statistic (a
 * name of the table defined for that type); profile ("day" or "sliding:N", N 60..86400);
 * notify ("changes" or "every:N", N 1..3600); threshold (0..86400, optional); media (a
 * media name, required by the statistics defined per media); reason (an integer code,
 * optional). Returns 0 or CC_E_INVALID_ATTRIBUTE with msg->desc naming the field.
 */
int proto_sts_decode_open(proto_msg *msg, proto_sts_open *out);

/** Appends an open RequestCloseStatistic (without referenceId). */
void proto_sts_enc_close(cc_buf *b, int64_t statistic_id);

/** Decodes a RequestCloseStatistic: statisticId (an integer >= 1). Returns 0 or
 * CC_E_INVALID_ATTRIBUTE with msg->desc. */
int proto_sts_decode_close(proto_msg *msg, int64_t *statistic_id);

/** The kinds of a statistic's value. */
enum proto_sts_vtype {
    PROTO_STS_NULL,  /* null: nothing to divide by, or nothing known */
    PROTO_STS_INT,   /* a count */
    PROTO_STS_MILLI, /* seconds or a percentage, in thousandths (written with a point) */
    PROTO_STS_STATE, /* an agent's State object */
};

/* X(enum suffix, wire name): the values of an agent's State, in the order of the
 * definition (the first that holds). */
#define PROTO_STS_STATE_MAP(X)                                                                     \
    X(LOGGED_OUT, "LoggedOut")                                                                     \
    X(DND, "DND")                                                                                  \
    X(NOT_READY, "NotReady")                                                                       \
    X(FULL, "Full")                                                                                \
    X(BUSY, "Busy")                                                                                \
    X(READY, "Ready")

/** An agent's State for one media. */
enum proto_sts_state {
#define PROTO_STS_STATE_ENUM(sym, wire) PROTO_STS_##sym,
    PROTO_STS_STATE_MAP(PROTO_STS_STATE_ENUM)
#undef PROTO_STS_STATE_ENUM
};

/** The wire name of a State; NULL outside the enum. */
const char *proto_sts_state_name(int state);

/** A statistic's value. */
typedef struct proto_sts_value {
    enum proto_sts_vtype type;
    int64_t v;                  /* INT: the count; MILLI: thousandths */
    enum proto_sts_state state; /* STATE */
    int64_t since;              /* STATE: Unix ms when it began; 0 = unknown (null) */
    bool has_reason;            /* STATE NotReady with a reason */
    int64_t reason_code;        /* 0 when the reason has none */
    const char *reason_desc;    /* NULL when the reason has none */
} proto_sts_value;

/** True when two values are the same on the wire. */
bool proto_sts_value_equal(const proto_sts_value *a, const proto_sts_value *b);

/** Appends ,"value":V for v (no statisticId: the sender adds its subscriber's). */
void proto_sts_enc_value_field(cc_buf *b, const proto_sts_value *v);

/** EventStatisticValue. */
typedef struct proto_sts_event {
    int64_t statistic_id; /* 0 leaves it out: a shared body gets it per subscriber */
    proto_sts_value value;
    int64_t at; /* Unix ms of the value */
} proto_sts_event;

/** Room for the text proto_sts_id_field writes, NUL included. */
#define PROTO_STS_ID_FIELD_MAX 40

/** Writes ,"statisticId":N into buf (PROTO_STS_ID_FIELD_MAX bytes): the field a shared
 * EventStatisticValue body gets per subscriber. */
void proto_sts_id_field(char buf[PROTO_STS_ID_FIELD_MAX], int64_t statistic_id);

/** Appends an open EventStatisticValue. */
void proto_sts_enc_event(cc_buf *b, const proto_sts_event *e);

/**
 * Decodes an EventStatisticValue: statisticId (>= 1), value (null, an integer, a number,
 * or a State object {state, since (integer or null), reason {code, description}
 * optional}) and at (an integer >= 0). Returns 0, CC_E_NOT_FOUND when the message is
 * another, or CC_E_INVALID_ATTRIBUTE with msg->desc.
 */
int proto_sts_decode_event(proto_msg *msg, proto_sts_event *out);

#endif
