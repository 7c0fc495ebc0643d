/* Live configuration (routing.md section 5, docs/routing.md "Reloading"): on SIGHUP the
 * interaction server reads its configuration file again and applies the directory,
 * skills, queues, targets, queue options, reasons and after-work times without dropping a
 * connection. A file with any error changes nothing. */
#ifndef IXN_RELOAD_H
#define IXN_RELOAD_H

#include "ixn/ixn_agents.h"

/**
 * Reads srv->cfg->path again and applies it. Refused (nothing changes, the reason is
 * logged) when the file has errors, names another server, lists other media, or moves a
 * queue to another media. [server] and [tokens] keep their running values: a key that
 * differs is logged as needing a restart. Returns 0 or a negative code.
 */
int ixn_reload(ixn_server *srv);

#endif
