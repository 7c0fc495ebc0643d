/* overcap: whether an invite put an agent above its capacity rule, judged the way the
 * agent's desktop can judge it: from what the agent holds on all its servers and the newest
 * EventCurrentAgentStatus received from the server that invited it (capacity-rules.md
 * sections 2 and 3, protocol.md sections 6, 7 and 7a). Pure functions without I/O, so that
 * the judgement is unit-tested (tests/unit/test_overcap.c); agentsim keeps the state and
 * calls them.
 *
 * Only the desktop's own counts are used, never the status's `current` plus one: a status
 * that the statserver sent when it granted the reservation for this very invite already
 * counts the invite (section 7a), and one sent before the grant does not, so adding the
 * invite to `current` would count it twice in the first case. The max of a media m is
 * computed with every other count held and c[m] varied, so it is the same with or without
 * the invite of m counted; for a rule without `not`, m may be routed exactly while
 * c[m] < max, so an invite is within the rule exactly when the count with it is at most
 * the max that the statserver computed when it granted the invite's reservation. (With
 * `not` a media can be free again above its max, as in rule Odd of capacity-rules.md;
 * only an agent already above its max gets there, and its invite counts too.)
 *
 * That max is not always the newest one the desktop has. The max of m falls when a count
 * of another media rises: two servers that route on the same status may ask at once, one
 * for a chat and one for an email, and the statserver grants both in turn, each within
 * the rule with the other counted (rule Blended: the third chat while no email is held,
 * then the email while chat counts 3, which blocks email only from the second one). Its
 * statuses after the second grant show chat 3 above max 2, as capacity-rules.md section 3
 * allows, and since an interaction server holds its invites until its store commits and
 * forwards statuses at once, they can reach the desktop before the chat invite. So an
 * invite is judged by the largest max among the statuses of the window, those that its
 * server forwarded after the last of its earlier invites to the agent that came before a
 * status (overcap_window_add), and among the ones after it (overcap_confirms). The status
 * sent at the grant, which shows the max the grant was given by, is among them: the
 * server reads it after the grant, since the statserver answers first, so it forwards it
 * after the invites of every earlier loop turn, which their commits sent; the invite
 * leaves with the commit of the turn that read the grant, before or after that status;
 * and invites with no status between them share a window. */
#ifndef CC_OVERCAP_H
#define CC_OVERCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether the statserver counts AfterWork interactions (its count-after-work option), as
 * far as the statuses received so far show. */
typedef enum overcap_aw {
    OVERCAP_AW_UNKNOWN, /* no status has shown it yet: after-work is not counted */
    OVERCAP_AW_NO,
    OVERCAP_AW_YES,
} overcap_aw;

/* One media of a status, as the desktop received it. */
typedef struct overcap_media {
    bool listed; /* the status lists the media */
    bool ready;
    uint32_t current, max, available;
} overcap_media;

/* What the agent holds of one media over all its servers, counting only the interactions
 * whose state on the server the desktop is sure of (no request about them in flight). */
typedef struct overcap_held {
    uint32_t active;     /* Invited or Handling */
    uint32_t after_work; /* AfterWork */
} overcap_held;

/* Statuses that showed after-work counted (yes) or not counted (no). */
typedef struct overcap_votes {
    uint32_t yes, no;
} overcap_votes;

/* The verdict on one invite. */
typedef enum overcap_verdict {
    OVERCAP_OK,
    OVERCAP_ABOVE_MAX,      /* the agent holds more of the media than its max */
    OVERCAP_NONE_AVAILABLE, /* offered while the status said available 0 and was up to date */
} overcap_verdict;

/* The statserver's count c[m] of what h holds, after-work included only when aw is
 * OVERCAP_AW_YES. */
uint32_t overcap_count(const overcap_held *h, overcap_aw aw);

/* What one status shows about count-after-work: held[i] is what the agent held of media i
 * when the status arrived (n media, every one that the status lists or the agent holds).
 * OVERCAP_AW_YES when the agent held after-work of some media and every listed media's
 * current equals its count with after-work, OVERCAP_AW_NO when it equals the count without,
 * and OVERCAP_AW_UNKNOWN when the status shows neither (nothing in after-work, or counts
 * that differ anyway: a change or a reservation grant in flight). */
overcap_aw overcap_aw_evidence(const overcap_media *st, const overcap_held *held, size_t n);

/* Adds one status's evidence to the tally. */
void overcap_vote(overcap_votes *v, overcap_aw evidence);

/* What the tally says: NO as soon as more statuses said no than yes; otherwise UNKNOWN,
 * never YES. A status that counts a reservation granted for an invite still on its way to
 * the desktop has current = held + 1, the same as after-work counted when the agent holds
 * one interaction of the media in after-work, and servers route to an agent most often
 * just when an interaction of it went to after-work and freed its capacity: such statuses
 * come in runs, however long the agent's interactions stayed as they are, so no number of
 * them proves anything. Counting after-work on such evidence would judge correct offers
 * above the rule; leaving it out can only miss an invite above the rule. A desktop that
 * knows the statserver's count-after-work option says so instead (agentsim
 * --count-after-work). */
overcap_aw overcap_aw_mode(const overcap_votes *v);

/* True when the status's current of every listed media equals what the agent held of it
 * (held as in overcap_aw_evidence, counted as aw says), and the agent holds nothing of a
 * media the status does not list. With aw UNKNOWN and after-work held, false. */
bool overcap_reflects(const overcap_media *st, const overcap_held *held, size_t n, overcap_aw aw);

/* Adds media m of a status st received from one server to w, the window of that media
 * for the server's next invite: w lists the media when some status of the window did, with
 * the largest max among them. An empty window is all zero. */
void overcap_window_add(overcap_media *w, const overcap_media *st);

/* What an invite of a media is judged by: that media in the newest status st received
 * from the inviting server, with the largest max of st and of the window w when w lists
 * the media. */
overcap_media overcap_window_view(const overcap_media *st, const overcap_media *w);

/* The verdict on an invite of one media, from that media as overcap_window_view gives it
 * for the inviting server. held: the agent's count of the media with this invite.
 * reflecting: st reflected exactly what the agent held when it arrived, and nothing the
 * agent holds changed since. An unlisted media gives OVERCAP_OK (nothing to judge by). */
overcap_verdict overcap_judge(const overcap_media *st, uint32_t held, bool reflecting);

/* Whether a status that arrived from the inviting server soon after the invite still
 * shows it above the rule: held (as in overcap_judge) above that status's max. A server
 * may route on a status before it forwards it to the desktop, so the status that allowed
 * an invite can arrive just after it. */
bool overcap_confirms(const overcap_media *st, uint32_t held);

/* The last word on an invite once the wait for later statuses is over. held_then: the
 * count when the invite arrived, the invite included; held_now: the invite plus those of
 * the interactions held then that are still held with no request in flight (one that
 * ended meanwhile may have ended on the server before the invite was sent, so it no
 * longer counts); max_seen: the largest max of the media among the statuses that judged
 * the invite. */
bool overcap_final(overcap_verdict v, uint32_t held_then, uint32_t held_now, uint32_t max_seen);

#endif
