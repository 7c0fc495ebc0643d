/* The statserver's own port (protocol.md section 8): StatClients register with the
 * configured token and ask for one agent's status, subscribe to statuses, list the
 * interaction servers, or open statistics (statistics.md section 3), whose values go out
 * on change (coalesced, once per 100 ms at most) or every N seconds. */
#ifndef STAT_PORT_H
#define STAT_PORT_H

#include "common/buf.h"
#include "net/conn.h"
#include "net/session.h"
#include "stat/stat_agents.h"
#include "stat/stat_config.h"
#include "stat/stat_links.h"
#include "stat/stat_stats.h"

typedef struct stat_port stat_port;

/** A port serving agents, links and the statistics of stats with the settings of cfg
 * (not yet listening). media is the daemon's table (media of requests are interned). */
stat_port *stat_port_new(cc_net *net, const stat_config *cfg, stat_agents *agents,
                         stat_links *links, stat_stats *stats, cc_media_table *media);
/** Listens on cfg->listen. Returns 0 and the bound port, or a negative libuv error. */
int stat_port_listen(stat_port *p, int *port_out);
/** Sends a changed status to every subscriber of tenant (a stat_sink publish). */
void stat_port_publish(stat_port *p, const char *tenant, cc_sbuf *body);
/** The session server of the port, which the HTTP listener's /ws shares. */
cc_server *stat_port_server(stat_port *p);
/** Stops listening and closes every session. The port stays allocated (sessions still
 * closing refer to it) until the process exits. */
void stat_port_close(stat_port *p);

#endif
