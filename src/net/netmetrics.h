/* The metrics every daemon shares (docs/operations.md, "Metrics and health"): sessions
 * by client type, messages received and sent by name, errors sent by code, request
 * durations, connections closed per limit, accounted memory, the loop's busy ratio and
 * the process's memory and CPU time. The daemon registers them once with cc_netm_init;
 * the session, connection and client code report through the one-line calls below,
 * which do nothing in a process that never called it (agentdesk, the tools, the unit
 * tests). */
#ifndef NET_NETMETRICS_H
#define NET_NETMETRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/metrics.h"
#include "net/conn.h"
#include "net/session.h"

/**
 * Adds the shared families to r and starts reporting into them. srv (may be NULL) is the
 * daemon's protocol server, whose max-connections refusals are counted. The loop of net
 * starts measuring its idle time. Call once, before the loop runs; r and net must
 * outlive every later call.
 */
void cc_netm_init(cc_metrics *r, cc_net *net, cc_server *srv);

/** Adds src to the connections refused for max-connections (a daemon that counts them
 * itself). */
void cc_netm_bind_refused(const uint64_t *src);

/** A protocol session started (over TCP or WebSocket): it counts as type None until it
 * registers. */
void cc_netm_session_opened(void);
/** A session registered as type t. */
void cc_netm_session_registered(enum cc_client_type t);
/** A session of type t (None when it never registered) ended. */
void cc_netm_session_closed(enum cc_client_type t);

/** A message was received; name NULL when it was not one the daemon knows (invalid,
 * unknown, or from a peer not registered yet): it counts as "other". */
void cc_netm_received(const char *name);

/** A message is queued to a peer: its name is read from the start of the open message
 * body ({"message":"NAME"...). */
void cc_netm_sent(const char *body, size_t len);

/** An EventError with the protocol code of err (a CC_E_ code) is sent. */
void cc_netm_error(int err);

/** Why a registration by a [clients] name was refused. */
enum cc_netm_reg_failure {
    CC_NETM_REG_SECRET, /* the secret does not match */
    CC_NETM_REG_TYPE,   /* the name registers as another clientType */
    CC_NETM_REG_BUSY,   /* max-secret-checks checks were running */
    CC_NETM_REG_FAILURES
};

/** A registration by a [clients] name was refused for why. */
void cc_netm_register_failed(enum cc_netm_reg_failure why);

/** A request that arrived at started_us (cc_mono_us) was answered now. */
void cc_netm_answered(uint64_t started_us);

#endif
