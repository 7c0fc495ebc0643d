/* Links to interaction servers: one reconnecting ReportingEngine client per [ixn:NAME]
 * section, which asks for every agent's state and feeds the events to the merged agents
 * (protocol.md section 5). */
#ifndef STAT_LINKS_H
#define STAT_LINKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/media.h"
#include "net/conn.h"
#include "stat/stat_agents.h"
#include "stat/stat_config.h"
#include "stat/stat_stats.h"
#include "store/hist.h"

typedef struct stat_links stat_links;

/** Creates one client per configured interaction server (not yet connecting). media is
 * the daemon's table; agents receives the events. Returns NULL (logged) when the TLS files
 * of a link do not make a context. */
stat_links *stat_links_new(cc_net *net, const stat_config *cfg, cc_media_table *media,
                           stat_agents *agents);
/** Asks every link, after its agent states, for its interaction steps too, and feeds
 * them to stats (before stat_links_start). */
void stat_links_set_stats(stat_links *ls, stat_stats *stats);
/** Records every input the links give the statistics engine in h too (NULL = none). */
void stat_links_set_hist(stat_links *ls, hist *h);
/** Starts connecting every link. */
void stat_links_start(stat_links *ls);
/** Closes every link and frees them (no agent updates are sent). */
void stat_links_free(stat_links *ls);

/** Reads the TLS files of every link again (SIGHUP): later connections use them. */
void stat_links_reload_tls(stat_links *ls);

/** The number of links (configured interaction servers). */
int stat_links_count(const stat_links *ls);
/** The configured name of link i (its section name). */
const char *stat_links_name(const stat_links *ls, int i);
/** The configured address of link i. */
const char *stat_links_address(const stat_links *ls, int i);
/** True while link i is registered. */
bool stat_links_connected(const stat_links *ls, int i);

/**
 * The member's role in a hot-standby pair (docs/ha.md). pair true: every link, now and at
 * each registration, first gets RequestReportingMode {primary, epoch}; without a pair
 * nothing is sent and the links behave as a lone statserver's. While not primary, statuses
 * are not sent (counted instead); reservation answers still are.
 */
void stat_links_set_mode(stat_links *ls, bool pair, bool primary, int64_t epoch);

/**
 * A promoted member sends every known agent's status to every server it is logged in to
 * (docs/ha.md), in slices of a few hundred agents per link: the next slice goes once the
 * server has answered a RequestPing sent after the one before last, so that a grant or a
 * fresh status never waits behind more than two slices. Each link logs event=resend_done
 * when its last slice is sent. Returns how many agents are resent.
 */
size_t stat_links_resend(stat_links *ls);

/** Statuses not sent because this member is standby. */
uint64_t stat_links_withheld(const stat_links *ls);

/** Sends a status body to link i with ,"version":version (a stat_sink link_send). */
void stat_links_send(stat_links *ls, int i, cc_sbuf *body, int64_t version);

/** Sends EventAgentReserved to link i (a stat_sink reserved). */
void stat_links_send_reserved(stat_links *ls, int i, int64_t reservation_id, bool granted);

#endif
