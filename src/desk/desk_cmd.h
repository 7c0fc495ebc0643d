/* Command lines of the terminal desktop: parsing what the agent types (or a script
 * feeds) into a checked command, and encoding commands and the login into open protocol
 * requests. No I/O, so every rule here is unit-tested. */
#ifndef DESK_CMD_H
#define DESK_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/media.h"
#include "proto/msg.h"

/** Longest command line accepted, in bytes (a reason text of PROTO_TEXT_MAX bytes fits). */
#define DESK_CMD_LINE_MAX 2048
/** Longest pause of the `sleep` scripting command, in milliseconds. */
#define DESK_SLEEP_MAX_MS 60000

/** What a command line asks for. */
enum desk_cmd_kind {
    DESK_CMD_EMPTY,       /* blank line or a comment starting with '#' */
    DESK_CMD_READY,       /* ready MEDIA */
    DESK_CMD_NOTREADY,    /* notready MEDIA [CODE [TEXT]] */
    DESK_CMD_ADD,         /* add MEDIA */
    DESK_CMD_REMOVE,      /* remove MEDIA */
    DESK_CMD_DND_ON,      /* dnd on */
    DESK_CMD_DND_OFF,     /* dnd off */
    DESK_CMD_STATUS,      /* status */
    DESK_CMD_LOGOUT,      /* logout */
    DESK_CMD_HELP,        /* help */
    DESK_CMD_QUIT,        /* quit */
    DESK_CMD_SLEEP,       /* sleep MS (scripting aid) */
    DESK_CMD_WAIT_STATUS, /* wait-status (scripting aid) */
    DESK_CMD_ACCEPT,      /* accept ID */
    DESK_CMD_REJECT,      /* reject ID [REASON] */
    DESK_CMD_DONE,        /* done ID: RequestStopProcessing */
    DESK_CMD_COMPLETE,    /* complete ID: RequestCompleteAfterWork */
    DESK_CMD_TRANSFER,    /* transfer ID QUEUE: RequestPlaceInQueue */
    DESK_CMD_LIST,        /* list: the interactions this desk holds */
    DESK_CMD_QUEUES,      /* queues: RequestQueueStatus */
    DESK_CMD_WAIT_INVITE, /* wait-invite (scripting aid) */
    DESK_CMD_EXPLAIN,     /* explain ID: RequestExplainRouting */
};

/** One parsed command line. */
typedef struct desk_cmd {
    enum desk_cmd_kind kind;
    char media[CC_MEDIA_NAME_MAX + 1]; /* for the media commands */
    bool has_code;                     /* notready: a reason code was given */
    int64_t code;                      /* 0..2147483647 */
    bool has_text;                     /* notready, reject: a reason text was given */
    char text[PROTO_TEXT_MAX + 1];
    unsigned sleep_ms; /* sleep: 0..DESK_SLEEP_MAX_MS */
    /* The interaction commands: the ID argument as typed ("last", a number or a full id),
     * and the full id that is sent. Parsing sets both to what was typed; the desk then
     * resolves the short forms into ixn_id (desk_ixn_resolve). */
    char ixn_arg[PROTO_ID_MAX + 1];
    char ixn_id[PROTO_ID_MAX + 1];
    char queue[PROTO_ID_MAX + 1]; /* transfer: the target queue */
} desk_cmd;

/**
 * Parses one command line (len bytes, no line end needed; a trailing "\r" or "\n" is
 * ignored). Returns 0 and fills *out, or CC_E_UNKNOWN_MESSAGE for an unknown command
 * word or CC_E_INVALID_ATTRIBUTE for bad arguments; err (errlen bytes) then holds a
 * sentence for the user.
 */
int desk_cmd_parse(const char *line, size_t len, desk_cmd *out, char *err, size_t errlen);

/** True when the command names an interaction (accept, reject, done, complete,
 * transfer, explain), so its ID argument must be resolved before it is encoded. */
bool desk_cmd_has_ixn(const desk_cmd *cmd);

/** True when the command is sent to the server as a request (and gets an answer). */
bool desk_cmd_is_request(const desk_cmd *cmd);

/** The protocol message name a request command sends; NULL for local commands. */
const char *desk_cmd_message(const desk_cmd *cmd);

/**
 * Appends the open request for a request command (without referenceId: the client adds
 * it). The command must satisfy desk_cmd_is_request.
 */
void desk_cmd_encode(const desk_cmd *cmd, cc_buf *out);

/** The media list of a login: names in the order given, each with its readiness. */
typedef struct desk_media_list {
    int count;
    char names[CC_MEDIA_MAX][CC_MEDIA_NAME_MAX + 1];
    bool ready[CC_MEDIA_MAX];
} desk_media_list;

/**
 * Parses a comma-separated media list ("voice,chat"; spaces around names ignored, an
 * empty string gives an empty list). Every name must be a valid media name, given once,
 * at most CC_MEDIA_MAX of them; all start not ready. Returns 0 or
 * CC_E_INVALID_ATTRIBUTE with a sentence in err.
 */
int desk_media_list_parse(const char *csv, desk_media_list *out, char *err, size_t errlen);

/**
 * Records that media name (a valid media name) is added with the given readiness: the
 * entry is updated, or appended when the list has room. The desk keeps its login list
 * this way, so that a re-login after a lost connection restores what the agent had.
 */
void desk_media_list_set(desk_media_list *list, const char *name, bool ready);

/** Removes media name from the list (nothing when it is not there). */
void desk_media_list_remove(desk_media_list *list, const char *name);

/** The identity a desktop logs in with. Strings are the caller's. */
typedef struct desk_login {
    const char *tenant;
    const char *agent_id;
    const char *place_id;
    const char *password;
    const desk_media_list *media;
} desk_login;

/**
 * Appends the open RequestAgentLogin (without referenceId). The buffer then holds the
 * password: the caller wipes it after sending.
 */
void desk_cmd_encode_login(const desk_login *login, cc_buf *out);

/** True when s is 1..max bytes without control characters, so that it can be sent and
 * printed to the terminal as it is. */
bool desk_text_valid(const char *s, size_t max);

/** True when s is a valid identifier for the protocol: 1..PROTO_ID_MAX bytes, no
 * control characters. */
bool desk_id_valid(const char *s);

/** The help text listing every command, ending with a newline. */
const char *desk_cmd_help(void);

#endif
