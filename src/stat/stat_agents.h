/* Merged agents: each agent's state on every interaction server it is logged in to, the
 * status computed from their sum and its capacity rule, and the decision of who gets the
 * status (protocol.md section 6). No I/O here: statuses leave through the sink. */
#ifndef STAT_AGENTS_H
#define STAT_AGENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/media.h"
#include "proto/msg.h"
#include "proto/resv.h"
#include "rules/rules.h"
#include "store/hist.h"

typedef struct stat_agents stat_agents;

/** One agent's merged state over every server, as the statistics engine takes it
 * (stat_stats): what the status says plus the not-ready reasons and the media it holds
 * interactions of. Strings are borrowed for the call. It is the history's agent record
 * (store/hist.h), so that a state is written and replayed without a copy. */
typedef hist_agent_state stat_agents_view;

/** Where statuses go. The body is an open EventCurrentAgentStatus without "version",
 * shared by every recipient; a callee that keeps it takes its own reference. */
typedef struct stat_sink {
    /** Sends body to interaction server link with ,"version":version added. */
    void (*link_send)(void *user, int link, cc_sbuf *body, int64_t version);
    /** Sends a status whose vector changed to the StatClient subscribers of tenant. */
    void (*publish)(void *user, const char *tenant, cc_sbuf *body);
    /** Sends EventAgentReserved for reservation_id to interaction server link. */
    void (*reserved)(void *user, int link, int64_t reservation_id, bool granted);
    /** Optional (NULL = none): the agent's merged state after every update of it, changed
     * or not; the callee keeps what changed. */
    void (*agent)(void *user, const stat_agents_view *view);
    /** Optional (NULL = the wall clock): the time in Unix ms, for the since of each media
     * in the statuses. */
    int64_t (*now_ms)(void *user);
    /** Optional (NULL = none): the agent's status changed for the subscribers (called
     * with publish, before it, with the same body), known false when the agent is known
     * nowhere any more; for the status stream on NATS. */
    void (*changed)(void *user, const char *tenant, const char *agent_id, bool known,
                    cc_sbuf *body);
    void *user;
} stat_sink;

/**
 * A new, empty store for nlinks interaction servers (0..STAT_LINKS_MAX); an agent keeps
 * state only for the servers it is logged in to. media is the daemon's one table (media
 * met in events are interned there); rules must outlive the store or be replaced with
 * stat_agents_set_rules. With count_after_work, interactions in AfterWork
 * count towards the capacity vector. Logins of agents beyond max_agents are ignored and
 * logged.
 */
stat_agents *stat_agents_new(cc_media_table *media, const rules_set *rules, bool count_after_work,
                             int nlinks, size_t max_agents, const stat_sink *sink);
/** Frees the store and every agent (nothing is sent). */
void stat_agents_free(stat_agents *st);

/** The link's registration succeeded and its snapshot is starting: its events are held
 * back until stat_agents_snapshot_done. */
void stat_agents_link_up(stat_agents *st, int link);
/** The link is lost: its agents count as logged out there, and the agents' other servers
 * and the subscribers get the statuses that changed. Harmless when already down. */
void stat_agents_link_down(stat_agents *st, int link);
/** Applies one EventPlaceAgentState from link and sends what section 6 requires. The
 * state's skills are kept for that server; an agent's status carries the skills of the
 * server of its earliest login (the one that gives its placeId), and a change of them is a
 * change of the status. */
void stat_agents_apply(stat_agents *st, int link, const proto_agent_state *state);
/** The link's snapshot is complete: every agent of it gets its status there (one each),
 * and on its other servers when its vector changed. Returns how many agents it held. */
size_t stat_agents_snapshot_done(stat_agents *st, int link);
/**
 * Starts a resend of every known agent's status to every open link it is logged in on (a
 * promoted member of a pair, docs/ha.md), replacing one that runs. Nothing is sent here:
 * stat_agents_resend_step sends each link's share in slices, agents whose last status
 * offers capacity first. An agent sent to a link by anything else meanwhile (a new state,
 * a grant) is not sent again there; a link lost meanwhile drops its share (its next
 * snapshot sends every agent anyway). Returns how many agents are to be sent.
 */
size_t stat_agents_resend_start(stat_agents *st);
/** Sends up to max agents of link's running resend, each the current status with that
 * server's newest version. Returns how many are left to send there (0: done). */
size_t stat_agents_resend_step(stat_agents *st, int link, size_t max);
/** How many agents link's running resend has still to send. */
size_t stat_agents_resend_left(const stat_agents *st, int link);
/** Ends every running resend (the member is no longer primary). */
void stat_agents_resend_cancel(stat_agents *st);
/** The number of agents logged in on link. */
size_t stat_agents_link_count(const stat_agents *st, int link);
/** Called for each known agent by stat_agents_each: return false to skip the agent. */
typedef bool (*stat_agents_filter_fn)(void *ctx, const char *tenant);

/** The number of agents logged in on link that filter selects: a walk of every agent,
 * for a client that may see only some tenants. */
size_t stat_agents_link_count_of(const stat_agents *st, int link, stat_agents_filter_fn filter,
                                 void *ctx);
/** The number of known agents (logged in on at least one connected server). */
size_t stat_agents_count(const stat_agents *st);

/** Counters since start, for logs. */
typedef struct stat_agents_stats {
    uint64_t events;        /* EventPlaceAgentState applied */
    uint64_t encoded;       /* statuses encoded for links and subscribers */
    uint64_t link_sends;    /* statuses queued to interaction servers */
    uint64_t published;     /* changed statuses handed to the subscriptions */
    uint64_t reserve_asked; /* EventReserveAgent answered */
    uint64_t reserve_granted;
    uint64_t reserve_refused;
    uint64_t reserve_released; /* grants ended by EventReservationReleased */
    uint64_t reserve_expired;  /* grants ended by reservation-timeout */
} stat_agents_stats;

/** The store's counters. */
stat_agents_stats stat_agents_get_stats(const stat_agents *st);

/** Replaces the rules, recomputes every agent and sends the statuses that changed. The
 * old set may be freed once this returns. */
void stat_agents_set_rules(stat_agents *st, const rules_set *rules);

/** The current status of one agent as an open message without version (loggedIn:false
 * and no media when the agent is not known). The caller owns the returned reference. */
cc_sbuf *stat_agents_status(stat_agents *st, const char *tenant, const char *agent_id);

/** Called with each selected agent's current status (borrowed reference). */
typedef void (*stat_agents_visit_fn)(void *ctx, cc_sbuf *body);
/** Visits the current status of every known agent that filter (NULL = all) selects, and
 * returns how many were visited. */
size_t stat_agents_each(stat_agents *st, stat_agents_filter_fn filter, stat_agents_visit_fn visit,
                        void *ctx);

/** Called with each known agent by stat_agents_each_key. */
typedef void (*stat_agents_key_fn)(void *ctx, const char *tenant, const char *agent_id);
/** Visits every known agent (what stat_agents_each visits) without encoding its status;
 * returns how many were visited. */
size_t stat_agents_each_key(stat_agents *st, stat_agents_key_fn fn, void *ctx);

/** True when the agent is known: logged in on at least one connected server (the agents
 * stat_agents_each visits). */
bool stat_agents_known(const stat_agents *st, const char *tenant, const char *agent_id);

/**
 * Link has settled since start: its first snapshot is in, or it failed. Reservations are
 * refused until every link has settled (or stat_agents_open_gate), so that a restarted
 * statserver never grants on one server while another's holdings are still unknown.
 * Snapshot completion and link loss settle a link by themselves.
 */
void stat_agents_link_settled(stat_agents *st, int link);

/** Allows reservations even though some link has not settled (the start-up wait is
 * over: such a server's agents count as logged out there, as for a lost link). */
void stat_agents_open_gate(stat_agents *st);

/** True once reservations may be granted (see stat_agents_link_settled). */
bool stat_agents_granting(const stat_agents *st);

/** Sets how long a grant that is neither used nor released is kept (default 5 s). */
void stat_agents_set_reservation_timeout(stat_agents *st, uint64_t timeout_us);

/**
 * Answers an EventReserveAgent from link at monotonic time now_us (protocol 7a), through
 * sink.reserved and before any status it causes. valid false (a field missing or wrongly
 * typed, r->reservation_id still readable and > 0) refuses. A grant counts as an Invited
 * interaction of the media on link until used, released or expired, and the statuses it
 * changes are sent to every server of the agent. Returns true when granted.
 */
bool stat_agents_reserve(stat_agents *st, int link, const proto_reserve *r, bool valid,
                         uint64_t now_us);

/** Ends link's grant reservation_id (EventReservationReleased); unknown ids are ignored. */
void stat_agents_release(stat_agents *st, int link, int64_t reservation_id);

/** Ends every grant whose time is up at now_us and sends the statuses that change.
 * Returns the next deadline, or 0 when no grant is outstanding. */
uint64_t stat_agents_expire(stat_agents *st, uint64_t now_us);

/** The deadline of the oldest outstanding grant, or 0 when none. */
uint64_t stat_agents_next_expiry(const stat_agents *st);

#endif
