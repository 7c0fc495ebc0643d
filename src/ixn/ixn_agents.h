/* The interaction server's core: its sessions (one ixn_client per registered connection),
 * the agents logged in here and the agent requests of protocol section 4, the status
 * intake of section 6, and agent versions. Reporting subscribers live in ixn_report. */
#ifndef IXN_AGENTS_H
#define IXN_AGENTS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "common/map.h"
#include "common/media.h"
#include "ixn/ixn_config.h"
#include "ixn/ixn_fence.h"
#include "ixn/ixn_throttle.h"
#include "net/session.h"
#include "rules/target.h"

typedef struct ixn_client ixn_client;
typedef struct ixn_login_work ixn_login_work;

/** A not-ready reason as the agent gave it. */
typedef struct ixn_reason {
    int64_t code;
    char *description; /* NULL when the agent gave none */
} ixn_reason;

struct ixn_ixn;
struct ixn_pool;
struct ixn_core;

/** One agent logged in on this server, with the interactions it holds (ixn_ixn) and its
 * places in the routing pools of its media. */
typedef struct ixn_agent {
    char *key; /* ixn_config_key(tenant, agentId), the key in ixn_server.agents */
    char *tenant;
    char *agent_id;
    char *place_id;
    int64_t version;
    uint64_t reported_us;  /* monotonic time this version was reported; 0 once its status came */
    int64_t login_time_ms; /* wall clock of the login here; a grace-period takeover keeps it */
    uint64_t login_seq;    /* idle order of a login: ixn_server.idle_seq when it logged in */
    bool dnd;
    cc_media_mask added;               /* media added */
    cc_media_mask ready;               /* of those, ready */
    ixn_reason *reasons[CC_MEDIA_MAX]; /* NULL = reason null */
    ixn_client *client;                /* the desktop; NULL during the grace period */
    /* grace period after the desktop closed: a FIFO ordered by deadline */
    uint64_t grace_deadline_us;
    struct ixn_agent *grace_prev, *grace_next;
    bool in_grace;
    /* The newest status from a reporting engine, kept for routing. Written by the status
     * intake (ixn_agents.c); status_from is cleared by ixn_resv when that engine goes. */
    bool has_status;
    struct ixn_client *status_from; /* the engine it came from: reservations go there */
    int64_t status_version;
    /* The last status forwarded to the desktop: its version and a digest of everything
     * in it but the members' own clocks (ixn_agents.c), so that a statserver pair's
     * promotion does not show the desktop the same status twice (docs/ha.md). */
    bool fwd_valid;
    int64_t fwd_version;
    uint64_t fwd_digest;
    cc_media_mask status_media;
    uint32_t available[CC_MEDIA_MAX];
    /* interactions held (Invited, Handling, AfterWork), in the order taken */
    struct ixn_ixn *held_head, *held_tail;
    uint32_t held_media[CC_MEDIA_MAX]; /* held per media, any state */
    uint32_t busy;                     /* held in Invited or Handling */
    /* Reservations (protocol 7a), owned by ixn_resv: the one outstanding, and the media
     * refused since the newest status (not asked again until another status arrives). */
    struct ixn_resv *resv;
    cc_media_mask refused;
    /* Idle order, owned by ixn_ixn: per media, ixn_server.idle_seq when it was last
     * offered that media here (0 = never: login_seq counts instead). */
    uint64_t offer_seq[CC_MEDIA_MAX];
    /* routing: per media added, the agent's place in the pool of (tenant, media), whose
     * list runs from the agent offered that media longest ago to the latest */
    struct ixn_pool *pool[CC_MEDIA_MAX];
    struct ixn_agent *pool_prev[CC_MEDIA_MAX], *pool_next[CC_MEDIA_MAX];
    /* Skills from the directory ([skills]), written by ixn_agents at login and by a
     * reload; read by routing. */
    target_skills skills;
    bool skills_changed; /* a reload changed them: reported once its queues are set up */
    /* Owned by ixn_route: per media pool, the queue steps the skills match (a bitset in
     * the pool's layout), the pool's eligible list, and the interaction the outstanding
     * reservation was asked for (NULL when none, or when it went away meanwhile). */
    uint64_t *match[CC_MEDIA_MAX];
    struct ixn_agent *e_prev[CC_MEDIA_MAX], *e_next[CC_MEDIA_MAX];
    cc_media_mask in_e;
    struct ixn_ixn *claim;
} ixn_agent;

/** Per registered connection. */
struct ixn_client {
    struct ixn_server *srv;
    cc_session *session;  /* NULL once closed while a password check still runs */
    ixn_agent *agent;     /* the agent logged in on this connection */
    ixn_login_work *work; /* a password check in flight */
    /* reporting */
    bool subscribed;                 /* receives every change */
    cc_map *tenants;                 /* the tenants reported; NULL = all */
    uint32_t part_index, part_count; /* the partition reported; count 0 or 1 = all agents */
    ixn_client *sub_prev, *sub_next; /* ixn_server.subs */
    struct ixn_ixnreport_sub *ixr;   /* interaction reporting (ixn_ixnreport); NULL: none */
    ixn_client *all_prev, *all_next; /* ixn_server.clients */
    /* reservations asked of this reporting engine and not answered yet, oldest first
     * (it answers in order); owned by ixn_resv */
    struct ixn_resv *resv_head, *resv_tail;
    /* in ixn_server.resv_engines since its first reservation (owned by ixn_resv), so
     * that the check for overdue answers walks the engines, not every desktop */
    struct ixn_client *resv_prev, *resv_next;
    bool resv_listed;
    /* a reporting engine's declared mode and whether it is taken (docs/ha.md) */
    ixn_fence_member fence;
};

/** Counters, logged at exit. */
typedef struct ixn_stats {
    uint64_t logins;
    uint64_t logouts;
    uint64_t login_failures;
    uint64_t login_delayed; /* logins that waited for the throttle before their check */
    uint64_t login_locked;  /* logins refused with 12 by a lockout */
    uint64_t takeovers;
    uint64_t events_published;
    uint64_t status_forwarded;
    uint64_t status_dropped;
    uint64_t status_fenced;   /* from a reporting engine that is not the highest primary */
    uint64_t status_repeated; /* not forwarded: a new primary's copy of the last one */
    uint64_t resv_asked;
    uint64_t resv_overdue; /* engines cut for leaving a reservation unanswered too long */
    uint64_t resv_granted;
    uint64_t resv_refused;
    uint64_t resv_released;
    uint64_t resv_dropped; /* answers that matched no reservation, or could not be read */
    uint64_t resv_fenced;  /* answers from a fenced reporting engine */
    uint64_t conns_refused;
} ixn_stats;

/** The interaction server: all state of the process, owned by the loop thread. */
typedef struct ixn_server {
    ixn_config *cfg;
    cc_server *cs;
    uv_loop_t *loop;
    cc_map agents; /* "tenant/agentId" -> ixn_agent */
    size_t agent_count;
    int64_t vclock;    /* above every version used so far */
    uint64_t idle_seq; /* orders logins and offers for "idle longest" (protocol 7) */
    int64_t resv_next; /* the last reservationId used: ids are never reused while running */
    struct proto_held_ixn *held_scratch; /* the encoder's list of held interactions */
    size_t held_cap;
    ixn_client *clients;
    ixn_client *subs;
    ixn_fence fence; /* the reporting sessions' modes: whose statuses are taken */
    /* Interaction reporting (ixn_ixnreport): the subscribers that receive every step, and
     * those whose snapshot waits for the end of the uncommitted batch. */
    struct ixn_ixnreport_sub *ixr_subs, *ixr_pending;
    ixn_agent *grace_head, *grace_tail;
    uv_timer_t grace_timer;
    uv_timer_t resv_timer;    /* owned by ixn_resv: looks for engines late with an answer */
    ixn_client *resv_engines; /* owned by ixn_resv: engines that were asked reservations */
    char *dummy_hash;         /* verified for unknown agents, so timing hides who exists */
    /* failed logins per agent (tenant, agentId) and per peer address */
    ixn_throttle throttle_agents;
    ixn_throttle throttle_addrs;
    cc_buf scratch; /* encoder buffer, reused */
    size_t conns;   /* open connections, registered or not */
    bool shutting_down;
    ixn_stats stats;
    struct ixn_core *core;   /* interactions, queues and routing (ixn_ixn.c) */
    struct ixn_super *super; /* supervisor actions and the audit log (ixn_super.c) */
} ixn_server;

/**
 * Initialises the server state and plugs its handlers and hooks into cs (which must
 * already have net, name, tokens and limits set). cs->user becomes srv.
 */
void ixn_server_init(ixn_server *srv, ixn_config *cfg, uv_loop_t *loop, cc_server *cs);

/** Closes every registered session and the server's timers; the loop then ends once the
 * connections are gone. Agents are dropped without events. */
void ixn_server_shutdown(ixn_server *srv);

/** Frees what is left after the loop ended. */
void ixn_server_free(ixn_server *srv);

/** Gives agent a version above every one used so far, for a new login. */
void ixn_agent_version_login(ixn_server *srv, ixn_agent *a);

/** Advances agent's version by one for a change. */
void ixn_agent_version_bump(ixn_server *srv, ixn_agent *a);

/** Advances the agent's version and reports its whole state with cause. */
void ixn_agent_changed(ixn_server *srv, ixn_agent *a, const char *cause);

/** As ixn_agent_changed, for an offer made under reservation resv_id (cause Invited): the
 * event carries the reservationId (protocol 7a). */
void ixn_agent_changed_resv(ixn_server *srv, ixn_agent *a, const char *cause, int64_t resv_id);

/**
 * A reload replaced the directory and skills in srv->cfg (old holds the previous ones):
 * agents no longer in [agents] are logged out and their desktops' connections closed,
 * every agent gets its new skills, the queues and routing follow (ixn_core_reconfigure),
 * then agents whose skills changed are reported with cause SkillsChanged.
 */
void ixn_agents_reload(ixn_server *srv, const ixn_config *old);

/**
 * The checks every agent request starts with, in the protocol's order: the optional
 * agentId and tenant fields (3), client type AgentApplication (5), an agent logged in on
 * this connection (6), and agentId/tenant naming that agent (5). Returns 0 and *out.
 */
int ixn_agent_require(cc_session *s, proto_msg *msg, ixn_agent **out);

/** A supervisor makes a not ready for media (which a has added) with that reason
 * (present false: none); reported with cause NotReadyForMedia when anything changed. */
void ixn_agent_force_not_ready(ixn_server *srv, ixn_agent *a, int media, bool present, int64_t code,
                               const char *desc);

/** A supervisor logs a out, whatever it holds: what it holds goes back to the queues
 * (after-work ends), as when its desktop goes away; its desktop stays connected without
 * an agent. a is freed. */
void ixn_agent_force_logout(ixn_server *srv, ixn_agent *a);

#endif
