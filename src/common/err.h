/* One error table for the whole project. Functions return 0 or a negative code from
 * this table; the codes 1..14 of the wire protocol are the negated values, so an error
 * travels from any layer to an EventError without translation. Internal codes start at
 * -9001, a band no errno value (a few hundred at most) and no libuv code (from -3000
 * up) reaches, so a system error passed through can never be mistaken for one of
 * ours; they reach the wire as Unavailable (14). */
#ifndef CC_ERR_H
#define CC_ERR_H

/* X(name, value, wire name) */
#define CC_ERR_MAP(X)                                                                              \
    X(INVALID_MESSAGE, -1, "InvalidMessage")                                                       \
    X(UNKNOWN_MESSAGE, -2, "UnknownMessage")                                                       \
    X(INVALID_ATTRIBUTE, -3, "InvalidAttribute")                                                   \
    X(NOT_REGISTERED, -4, "NotRegistered")                                                         \
    X(NOT_AUTHORIZED, -5, "NotAuthorized")                                                         \
    X(AGENT_NOT_LOGGED_IN, -6, "AgentNotLoggedIn")                                                 \
    X(AGENT_ALREADY_LOGGED_IN, -7, "AgentAlreadyLoggedIn")                                         \
    X(UNKNOWN_MEDIA, -8, "UnknownMedia")                                                           \
    X(UNKNOWN_INTERACTION, -9, "UnknownInteraction")                                               \
    X(INVALID_STATE, -10, "InvalidState")                                                          \
    X(MESSAGE_TOO_LARGE, -11, "MessageTooLarge")                                                   \
    X(LIMIT_EXCEEDED, -12, "LimitExceeded")                                                        \
    X(ALREADY_REGISTERED, -13, "AlreadyRegistered")                                                \
    X(UNAVAILABLE, -14, "Unavailable")                                                             \
    X(IO, -9001, "IoError")                                                                        \
    X(PARSE, -9002, "ParseError")                                                                  \
    X(CONFIG, -9003, "ConfigError")                                                                \
    X(NOT_FOUND, -9004, "NotFound")                                                                \
    X(CLOSED, -9005, "Closed")                                                                     \
    X(STALE_OWNER, -9006, "StaleOwner")                                                            \
    X(OWNED, -9007, "OwnedElsewhere")

enum cc_err {
#define CC_ERR_ENUM(name, value, wire) CC_E_##name = (value),
    CC_ERR_MAP(CC_ERR_ENUM)
#undef CC_ERR_ENUM
};

/** The name of an error code ("InvalidAttribute"); "Unknown" for codes not in the table. */
const char *cc_err_name(int err);

/** The protocol errorCode (1..14) for an error; internal errors map to 14. */
int cc_err_wire_code(int err);

/** The name the wire uses for an error: that of cc_err_wire_code(err). */
const char *cc_err_wire_name(int err);

#endif
