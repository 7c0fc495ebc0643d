/* Reporting (protocol section 5): subscribers, snapshots, and agent-state events encoded
 * once and shared by every subscriber. */
#ifndef IXN_REPORT_H
#define IXN_REPORT_H

#include <stdbool.h>

#include "common/buf.h"
#include "ixn/ixn_agents.h"
#include "proto/msg.h"

/** The agent's skills with their names, as the wire carries them. */
void ixn_report_skills(const ixn_server *srv, const ixn_agent *a, proto_skills *out);

/** Appends an open EventPlaceAgentState with the agent's whole state; logged_in false
 * writes the state of a logout (no media, no interactions). resv_id > 0 adds the
 * reservationId of an offer made under a grant. */
void ixn_report_encode(cc_buf *b, ixn_server *srv, const ixn_agent *a, const char *cause,
                       bool logged_in, int64_t resv_id);

/** Sends the agent's current state with cause (and resv_id when > 0) to every subscriber
 * of its tenant. */
void ixn_report_publish(ixn_server *srv, const ixn_agent *a, const char *cause, bool logged_in,
                        int64_t resv_id);

/** True when reporting client c reports agent a: its tenant is in c's filter and the agent
 * is in c's partition (docs/protocol.md). Only such a client's statuses and answers about
 * a are taken. */
bool ixn_report_wants(const ixn_client *c, const ixn_agent *a);

/** Handler of RequestStartPlaceAgentStateReportingAll. */
int ixn_report_start(cc_session *s, proto_msg *msg);

/** Handler of RequestStopPlaceAgentStateReportingAll. */
int ixn_report_stop(cc_session *s, proto_msg *msg);

/** Handler of RequestReportingMode: the engine's declared mode (docs/ha.md). An engine
 * fenced by it loses its outstanding reservations and the statuses it sent. */
int ixn_report_mode(cc_session *s, proto_msg *msg);

/** Removes a closing client from the subscriber lists. */
void ixn_report_drop(ixn_client *c);

#endif
