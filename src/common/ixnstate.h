/* The states of an interaction, one enum for every layer: the store keeps the numbers,
 * the wire carries the names (protocol section 5), and the programs switch on them. */
#ifndef CC_IXNSTATE_H
#define CC_IXNSTATE_H

/* X(enum suffix, number kept in the store, wire name). Never renumber: stores keep them. */
#define CC_IXN_STATE_MAP(X)                                                                        \
    X(QUEUED, 0, "Queued")                                                                         \
    X(INVITED, 1, "Invited")                                                                       \
    X(HANDLING, 2, "Handling")                                                                     \
    X(AFTER_WORK, 3, "AfterWork")                                                                  \
    X(ENDED, 4, "Ended")

/** Where an interaction is. */
enum cc_ixn_state {
#define CC_IXN_STATE_ENUM(name, value, wire) CC_IXN_##name = (value),
    CC_IXN_STATE_MAP(CC_IXN_STATE_ENUM)
#undef CC_IXN_STATE_ENUM
};

/** The number of states: arrays indexed by state have this many entries. */
#define CC_IXN_STATE_COUNT 5

/** The wire name of a state ("Invited"); "Unknown" for a value outside the enum. */
const char *cc_ixn_state_name(int state);

/** The state of a wire name, or -1 when the name is not one. */
int cc_ixn_state_parse(const char *name);

#endif
