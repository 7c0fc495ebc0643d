/* RequestExplainRouting (docs/routing.md, "Explain"): why an interaction is where it is,
 * which target step applies to it now, how many agents of its tenant match that step and,
 * for the first few of them that were not offered it, why not. */
#ifndef IXN_EXPLAIN_H
#define IXN_EXPLAIN_H

#include "ixn/ixn_agents.h"
#include "net/session.h"
#include "proto/msg.h"

/** Handler of RequestExplainRouting (MediaServer: any interaction of this server;
 * AgentApplication: one the agent holds). Checks in the protocol's order: fields (3),
 * client type (5), agent logged in (6), interaction known (9), an agent asking about an
 * interaction it does not hold (5). */
int ixn_explain_routing(cc_session *s, proto_msg *msg);

#endif
