/* The messages around statuses and agent states other than those two themselves (which
 * are proto/msg's): the tenant-filtered subscriptions (RequestSubscribeAgentStatus on the
 * statserver's port, RequestStartPlaceAgentStateReportingAll on an interaction server),
 * the ends of their snapshots, RequestAgentStatus, RequestServerList and the server list
 * in its EventAck, and RequestReportingMode (protocol sections 5 and 8). Encoders append to a
 * cc_buf and allocate nothing else; decoders borrow from the decoded message. No I/O. */
#ifndef PROTO_STATMSG_H
#define PROTO_STATMSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/msg.h"

/** RequestSubscribeAgentStatus or RequestStartPlaceAgentStateReportingAll: every status
 * (agent state) of the tenants listed, or of all. */
typedef struct proto_stat_subscribe {
    bool reporting; /* RequestStartPlaceAgentStateReportingAll (decoder: from the name) */
    bool all;       /* no "tenants": every tenant */
    const char *const *tenants; /* encoder: the tenants when not all */
    size_t ntenants;            /* their number (decoder: the number listed) */
    json_t *list;               /* decoder: the checked array, owned by the message */
    /* RequestStartPlaceAgentStateReportingAll only: "partition": {"index", "count"}, the
     * agents whose FNV-1a partition (common/partition.h) among count is index. Absent:
     * every agent of the tenants. */
    bool partitioned;
    uint32_t part_index; /* 0..part_count-1 */
    uint32_t part_count; /* 1..CC_PARTITION_COUNT_MAX */
} proto_stat_subscribe;

/** Appends the open request s->reporting names (without referenceId). */
void proto_stat_enc_subscribe(cc_buf *b, const proto_stat_subscribe *s);

/**
 * Decodes either request (reporting says which, from the message name): "tenants", when
 * present, must be an array of identifiers; "partition" (reporting only; ignored in the
 * other), when present, an object of exactly the integers "index" and "count" with
 * 1 <= count <= CC_PARTITION_COUNT_MAX and 0 <= index < count. Returns 0 or
 * CC_E_INVALID_ATTRIBUTE with msg->desc. tenants is set to NULL; proto_stat_tenant gives
 * the names.
 */
int proto_stat_decode_subscribe(proto_msg *msg, proto_stat_subscribe *out);

/** Tenant i (< ntenants) of a decoded subscription. */
const char *proto_stat_tenant(const proto_stat_subscribe *s, size_t i);

/** The end of a snapshot: EventPlaceAgentStateSnapshotDone (interaction server to
 * reporting engine) or EventAgentStatusSnapshotDone (statserver port). */
typedef struct proto_stat_snapshot_done {
    bool agent_state;        /* EventPlaceAgentStateSnapshotDone (decoder: from the name) */
    const char *server_name; /* agent_state: the sending server; NULL leaves it out */
    int64_t count;           /* events (statuses) the snapshot held, >= 0 */
} proto_stat_snapshot_done;

/** Appends the open event d->agent_state names. */
void proto_stat_enc_snapshot_done(cc_buf *b, const proto_stat_snapshot_done *d);

/**
 * Decodes either event: count (an integer >= 0) required, serverName (an identifier)
 * optional. Returns 0, CC_E_NOT_FOUND when the message is neither, or
 * CC_E_INVALID_ATTRIBUTE with msg->desc.
 */
int proto_stat_decode_snapshot_done(proto_msg *msg, proto_stat_snapshot_done *out);

/** RequestReportingMode: a reporting engine of a hot-standby pair tells an interaction
 * server whether it is the pair's primary, and under which epoch (docs/ha.md). */
typedef struct proto_stat_mode {
    bool primary;
    int64_t epoch; /* >= 0; the primary's lease revision, 0 without a lease */
} proto_stat_mode;

/** Appends an open RequestReportingMode (without referenceId). */
void proto_stat_enc_mode(cc_buf *b, const proto_stat_mode *m);

/**
 * Decodes a RequestReportingMode: primary (a flag) and epoch (an integer >= 0), both
 * required. Returns 0, CC_E_NOT_FOUND when the message is another one, or
 * CC_E_INVALID_ATTRIBUTE with msg->desc.
 */
int proto_stat_decode_mode(proto_msg *msg, proto_stat_mode *out);

/** RequestAgentStatus: one agent's status, now. */
typedef struct proto_stat_agent_req {
    const char *tenant;
    const char *agent_id;
} proto_stat_agent_req;

/** Appends an open RequestAgentStatus (without referenceId). */
void proto_stat_enc_agent_req(cc_buf *b, const proto_stat_agent_req *r);

/** Decodes a RequestAgentStatus: tenant and agentId (identifiers) required. Returns 0 or
 * CC_E_INVALID_ATTRIBUTE with msg->desc. */
int proto_stat_decode_agent_req(proto_msg *msg, proto_stat_agent_req *out);

/** Appends an open RequestServerList (it has no fields). */
void proto_stat_enc_server_list(cc_buf *b);

/** One interaction server in the answer to RequestServerList. */
typedef struct proto_stat_server {
    const char *name;
    const char *address; /* HOST:PORT as configured */
    bool connected;
    int64_t agents; /* agents known on that server, >= 0 */
} proto_stat_server;

/** Appends the start of the "servers" array to an open EventAck. */
void proto_stat_enc_servers_begin(cc_buf *ack);
/** Appends one row to the "servers" array. */
void proto_stat_enc_server_row(cc_buf *ack, const proto_stat_server *row);
/** Appends the end of the "servers" array. */
void proto_stat_enc_servers_end(cc_buf *ack);

/** Checks the "servers" of an EventAck: 0 and *count rows, or CC_E_INVALID_ATTRIBUTE
 * with msg->desc when it is missing or not an array. */
int proto_stat_decode_servers(proto_msg *msg, size_t *count);

/**
 * Decodes row i (< the count) of a checked "servers": name (text of at most PROTO_ID_MAX
 * bytes), address (at most PROTO_TEXT_MAX), connected (a flag) and agents (an integer
 * >= 0), all required.
 * Returns 0 or CC_E_INVALID_ATTRIBUTE with msg->desc; a bad row does not spoil the others.
 */
int proto_stat_decode_server_row(proto_msg *msg, size_t i, proto_stat_server *out);

/** Appends an open RequestQueueList (it has no fields). */
void proto_stat_enc_queue_list(cc_buf *b);

/** One queue in the answer to RequestQueueList. */
typedef struct proto_stat_queue {
    const char *server; /* the interaction server's name */
    const char *tenant;
    const char *id;
    const char *media; /* NULL until an interaction of the queue was seen */
} proto_stat_queue;

/** Appends the start of the "queues" array to an open EventAck. */
void proto_stat_enc_queues_begin(cc_buf *ack);
/** Appends one row, {"server":…,"tenant":…,"id":…,"media":…} (media left out when NULL),
 * to the "queues" array. */
void proto_stat_enc_queue_row(cc_buf *ack, const proto_stat_queue *row);
/** Appends the end of the "queues" array. */
void proto_stat_enc_queues_end(cc_buf *ack);

/** Checks the "queues" of an EventAck: 0 and *count rows, or CC_E_INVALID_ATTRIBUTE
 * with msg->desc when it is missing or not an array. */
int proto_stat_decode_queues(proto_msg *msg, size_t *count);

/**
 * Decodes row i (< the count) of a checked "queues": server (text of at most PROTO_ID_MAX
 * bytes), tenant and id (identifiers) required, media (an identifier) optional.
 * Returns 0 or CC_E_INVALID_ATTRIBUTE with msg->desc; a bad row does not spoil the others.
 */
int proto_stat_decode_queue_row(proto_msg *msg, size_t i, proto_stat_queue *out);

/** The statserver's /wallboard-config.json: what the web wallboard needs before it
 * connects (docs/web-wallboard.md). It names no queue and no tenant: the page is open to
 * everyone, and a wallboard learns its tenants' queues with RequestQueueList. */
typedef struct proto_stat_wb_config {
    const char *server_name;
    const char *const *servers; /* the interaction servers' names, as configured */
    size_t nservers;
    unsigned sl_target;    /* service-level-target, percent */
    unsigned sl_threshold; /* service-level-threshold, seconds */
} proto_stat_wb_config;

/** Appends the document:
 * {"serverName":…,"servers":[…],"serviceLevelTarget":N,"serviceLevelThreshold":N} */
void proto_stat_enc_wb_config(cc_buf *b, const proto_stat_wb_config *c);

#endif
