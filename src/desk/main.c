/* agentdesk: the terminal agent desktop. One client connection to an interaction server
 * as an AgentApplication; logs one agent in, takes commands (with line editing on a
 * terminal, line by line from a script otherwise) and prints every status, answer and
 * interaction event, keeping the list of interactions the agent holds (desk_ixn).
 * See docs/agentdesk.md. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <uv.h>

#include <editline/readline.h>

#include "cc_version.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/media.h"
#include "desk/desk_cmd.h"
#include "desk/desk_ixn.h"
#include "desk/desk_view.h"
#include "net/addr.h"
#include "net/client.h"
#include "net/tls.h"
#include "proto/agentreq.h"
#include "proto/ixnmsg.h"
#include "proto/msg.h"

/* Requests that may wait for their answers at once; more is a runaway paste. */
#define PENDING_MAX 256
/* How long a wait-status command waits for a status. */
#define WAIT_STATUS_MS 5000
/* How long a wait-invite command waits for an invite. */
#define WAIT_INVITE_MS 10000
/* At the end of a script: quiet time that ends the wait for late statuses, and its cap. */
#define DRAIN_QUIET_MS 300
#define DRAIN_MAX_MS 1000
/* How long the final logout may take before the desk exits anyway. */
#define LOGOUT_WAIT_MS 2000
/* In a script, how long the link may stay down (or not come up) before giving up. */
#define SCRIPT_DOWN_MAX_MS 10000

/* The prompt at the terminal. */
#define DESK_PROMPT "desk> "

/* What an answer awaited from the server belongs to. */
enum pending_kind { PENDING_LOGIN, PENDING_CMD, PENDING_FINAL_LOGOUT };

typedef struct pending {
    int64_t ref;
    enum pending_kind kind;
    enum desk_cmd_kind cmd;
    char ixn_id[PROTO_ID_MAX + 1];     /* the interaction a command acts on, or "" */
    char media[CC_MEDIA_NAME_MAX + 1]; /* the media a command acts on, or "" */
} pending;

/* Where a script stands (non-interactive mode only). */
enum script_state {
    SCRIPT_WAIT_LOGIN,  /* until the login (or re-login) is acknowledged */
    SCRIPT_IDLE,        /* about to take the next line */
    SCRIPT_WAIT_INPUT,  /* waiting for more bytes on stdin */
    SCRIPT_WAIT_ANSWER, /* a request is out */
    SCRIPT_SLEEPING,
    SCRIPT_WAIT_STATUS,
    SCRIPT_WAIT_INVITE,
    SCRIPT_DRAINING, /* at EOF, letting late statuses arrive */
    SCRIPT_LOGGING_OUT,
    SCRIPT_DONE,
};

typedef struct desk {
    uv_loop_t *loop;
    cc_net net;
    cc_client *client;

    /* Options. */
    const char *server;
    const char *token;
    const char *client_name; /* --client-name: a [clients] entry's name; NULL = agentdesk-ID */
    const char *tenant;
    const char *agent;
    const char *place;
    const char *password_file;
    bool tls;             /* --tls, or implied by --tls-ca */
    const char *tls_ca;   /* --tls-ca FILE */
    const char *tls_cert; /* --tls-cert FILE */
    const char *tls_key;  /* --tls-key FILE */
    tls_ctx *tls_ctx;     /* NULL without TLS */
    desk_media_list media_list;
    char password[PROTO_TEXT_MAX + 1];
    bool interactive;

    /* Link and login. */
    bool link_up;
    bool want_login;     /* log in on every (re)registration; false after logout */
    bool logged_in;      /* the login was acknowledged on the current link */
    bool ever_logged_in; /* a later login is a re-login: say "reconnected" */
    bool lost;           /* the link went down after it had been up */
    bool outage_told;    /* the current outage was reported once */
    int64_t awaited_ref; /* the script's request waiting for its answer */
    pending pending[PENDING_MAX];
    int npending;

    /* Statuses. */
    cc_media_table media;
    cc_buf last_status; /* the newest table, for `status` */
    cc_buf skills_line; /* the agent's skills from the login's EventAck, for `status` */
    unsigned statuses_since_mark;

    /* Interactions. */
    desk_ixn_table ixns;
    unsigned invites_unseen; /* invites since the previous wait-invite returned */
    uint64_t last_rx_us;

    /* Terminal. */
    uv_poll_t stdin_poll;
    bool rl_active;
    bool line_accepted; /* no key since the editor last accepted a line (or started) */

    /* Script. */
    enum script_state script;
    uv_pipe_t stdin_pipe;
    bool stdin_is_pipe;
    bool stdin_reading;
    bool stdin_eof;
    bool skipping_long_line;
    cc_buf inbuf;
    uint64_t drain_start_us;

    uv_timer_t script_timer; /* sleep, wait-status, drain, final logout */
    uv_timer_t down_timer;   /* scripts give up after a long outage */
    uv_timer_t exit_timer;   /* runs the teardown outside of any callback chain */
    uv_signal_t sigint, sigterm, sigwinch;
    bool quitting;
    bool finishing;
    int exit_code;
} desk;

static desk app;

static void next_command(void);
static void on_rl_line(char *line);
static void start_quit(void);
static void start_drain(void);
static void finish(int code);

/* ---- output ---- */

/* Prints b and empties it. While the prompt is shown, the prompt line is erased first
 * and drawn again after the text, with what was typed so far, so output never mixes
 * with typing. */
static void out_flush(cc_buf *b)
{
    if (b->len == 0)
        return;
    if (app.rl_active)
        fputs("\r\033[K", stdout);
    fwrite(b->data, 1, b->len, stdout);
    fflush(stdout);
    if (!app.rl_active) {
        cc_buf_reset(b);
        return;
    }
    if (app.line_accepted) {
        /* The editor keeps an accepted line in its buffer until the next key, so a
         * redraw would show it again: set the editor up afresh instead, which prints
         * an empty prompt. */
        rl_callback_handler_remove();
        rl_callback_handler_install(DESK_PROMPT, on_rl_line);
    } else {
        rl_forced_update_display();
    }
    cc_buf_reset(b);
}

static void out_line(const char *text)
{
    cc_buf b;
    cc_buf_init(&b);
    cc_buf_puts(&b, text);
    cc_buf_putc(&b, '\n');
    out_flush(&b);
    cc_buf_free(&b);
}

/* Like out_line, for text that holds what a peer sent (names, reasons): shown as
 * desk_view_text shows it (at most max bytes), so it cannot drive the terminal. */
static void out_shown_line(const char *text, size_t max)
{
    cc_buf b;
    cc_buf_init(&b);
    desk_view_text(&b, text, max);
    cc_buf_putc(&b, '\n');
    out_flush(&b);
    cc_buf_free(&b);
}

static void out_error(const char *text)
{
    cc_buf b;
    cc_buf_init(&b);
    desk_view_local_error(&b, text);
    out_flush(&b);
    cc_buf_free(&b);
}

/* ---- requests ---- */

/* Sends an open request and remembers what its answer belongs to; returns its
 * referenceId, or 0 when the link is down or too many answers are outstanding. */
static int64_t send_request(const cc_buf *open, enum pending_kind kind, enum desk_cmd_kind cmd,
                            const char *ixn_id, const char *media)
{
    if (app.npending == PENDING_MAX) {
        out_error("too many requests waiting for answers");
        return 0;
    }
    int64_t ref = cc_client_request(app.client, open);
    if (ref == 0)
        return 0;
    pending *p = &app.pending[app.npending++];
    *p = (pending){.ref = ref, .kind = kind, .cmd = cmd};
    snprintf(p->ixn_id, sizeof p->ixn_id, "%s", ixn_id ? ixn_id : "");
    snprintf(p->media, sizeof p->media, "%s", media ? media : "");
    /* wait-status counts the statuses that arrive after the newest request. */
    app.statuses_since_mark = 0;
    return ref;
}

static void send_login(void)
{
    desk_login login = {.tenant = app.tenant,
                        .agent_id = app.agent,
                        .place_id = app.place,
                        .password = app.password,
                        .media = &app.media_list};
    cc_buf b;
    cc_buf_init(&b);
    /* Room for the whole message at once (every byte escaped at worst), so no
     * reallocation leaves a copy of the password in freed memory. */
    cc_buf_reserve(&b, 512 +
                           6 * (strlen(app.tenant) + strlen(app.agent) + strlen(app.place) +
                                strlen(app.password)) +
                           (size_t)app.media_list.count * (CC_MEDIA_NAME_MAX + 8));
    desk_cmd_encode_login(&login, &b);
    int64_t ref = send_request(&b, PENDING_LOGIN, DESK_CMD_EMPTY, NULL, NULL);
    /* The buffer held the password. */
    explicit_bzero(b.data, b.cap);
    cc_buf_free(&b);
    if (ref)
        LOG_INFO("event=login_sent tenant=%s agent=%s place=%s media=%d", LOGQ(app.tenant),
                 LOGQ(app.agent), LOGQ(app.place), app.media_list.count);
}

static void on_logout_timeout(uv_timer_t *t)
{
    (void)t;
    out_error("no answer to the logout; exiting");
    finish((!app.interactive && app.lost) ? 1 : 0);
}

/* Logs out before exiting when logged in; otherwise exits at once. */
static void start_quit(void)
{
    if (app.quitting || app.finishing)
        return;
    app.quitting = true;
    int code = (!app.interactive && app.lost) ? 1 : 0;
    if (!app.link_up || !app.logged_in) {
        finish(code);
        return;
    }
    cc_buf b;
    cc_buf_init(&b);
    proto_areq_enc(&b, &(proto_areq){.kind = PROTO_AREQ_LOGOUT});
    int64_t ref = send_request(&b, PENDING_FINAL_LOGOUT, DESK_CMD_LOGOUT, NULL, NULL);
    cc_buf_free(&b);
    if (ref == 0) {
        finish(code);
        return;
    }
    app.script = SCRIPT_LOGGING_OUT;
    uv_timer_stop(&app.script_timer);
    uv_timer_start(&app.script_timer, on_logout_timeout, LOGOUT_WAIT_MS, 0);
}

/* ---- commands ---- */

/* Runs one parsed command. Returns true when the script must wait before its next line
 * (a request is out, a sleep or wait is running, or the desk is quitting). */
static bool run_command(const desk_cmd *cmd);

static void on_script_timer(uv_timer_t *t);

static void show_status(void)
{
    cc_buf b;
    cc_buf_init(&b);
    if (app.last_status.len == 0)
        cc_buf_puts(&b, "no status yet\n");
    else
        cc_buf_append(&b, app.last_status.data, app.last_status.len);
    /* The skills come with the login, not with the statuses. */
    if (app.skills_line.len > 0)
        cc_buf_append(&b, app.skills_line.data, app.skills_line.len);
    out_flush(&b);
    cc_buf_free(&b);
}

/* Keeps the skills of a login's EventAck as the line `status` shows. */
static void take_skills(proto_msg *ack)
{
    proto_skills skills;
    cc_buf_reset(&app.skills_line);
    if (proto_areq_decode_login_ack(ack, &skills) != 0) {
        char text[256];
        snprintf(text, sizeof text, "bad skills from the server: %s", ack->desc);
        out_error(text);
        cc_buf_puts(&app.skills_line, "  skills: unknown\n");
        return;
    }
    desk_view_skills(&app.skills_line, &skills);
}

/* Prints what `last` now names: the invite a wait-invite returned with. */
static void tell_last_invite(void)
{
    cc_buf b;
    cc_buf_init(&b);
    cc_buf_puts(&b, "last = ");
    desk_view_text(&b, app.ixns.last, PROTO_ID_MAX);
    cc_buf_putc(&b, '\n');
    out_flush(&b);
    cc_buf_free(&b);
}

static void show_list(void)
{
    cc_buf b;
    cc_buf_init(&b);
    desk_ixn_format_list(&b, &app.ixns, cc_mono_us());
    out_flush(&b);
    cc_buf_free(&b);
}

static bool run_command(const desk_cmd *cmd)
{
    switch (cmd->kind) {
    case DESK_CMD_LIST: show_list(); return false;
    case DESK_CMD_WAIT_INVITE:
        if (app.interactive) {
            out_error("wait-invite is a scripting aid; at the terminal invites show by themselves");
            return false;
        }
        if (app.invites_unseen > 0) {
            app.invites_unseen = 0;
            tell_last_invite();
            return false;
        }
        app.script = SCRIPT_WAIT_INVITE;
        uv_timer_start(&app.script_timer, on_script_timer, WAIT_INVITE_MS, 0);
        return true;
    case DESK_CMD_EMPTY: return false;
    case DESK_CMD_STATUS: show_status(); return false;
    case DESK_CMD_HELP: {
        cc_buf b;
        cc_buf_init(&b);
        cc_buf_puts(&b, desk_cmd_help());
        out_flush(&b);
        cc_buf_free(&b);
        return false;
    }
    case DESK_CMD_QUIT:
        /* A script's quit lets late statuses arrive first, as its end of input does. */
        if (app.interactive)
            start_quit();
        else
            start_drain();
        return true;
    case DESK_CMD_SLEEP:
        if (app.interactive) {
            out_error("sleep is a scripting aid; it does nothing at the terminal");
            return false;
        }
        app.script = SCRIPT_SLEEPING;
        uv_timer_start(&app.script_timer, on_script_timer, cmd->sleep_ms, 0);
        return true;
    case DESK_CMD_WAIT_STATUS:
        if (app.interactive) {
            out_error(
                "wait-status is a scripting aid; at the terminal statuses show by themselves");
            return false;
        }
        if (app.statuses_since_mark > 0) {
            app.statuses_since_mark = 0;
            return false;
        }
        app.script = SCRIPT_WAIT_STATUS;
        uv_timer_start(&app.script_timer, on_script_timer, WAIT_STATUS_MS, 0);
        return true;
    default: break;
    }
    assert(desk_cmd_is_request(cmd));
    if (!app.link_up) {
        out_error("not connected to the server (reconnecting)");
        return false;
    }
    desk_cmd resolved;
    if (desk_cmd_has_ixn(cmd)) {
        /* The short forms of an id are the desk's own: the server sees the full id. */
        char err[512];
        resolved = *cmd;
        if (desk_ixn_resolve(&app.ixns, cmd->ixn_arg, cc_client_server_name(app.client),
                             resolved.ixn_id, sizeof resolved.ixn_id, err, sizeof err) != 0) {
            out_error(err);
            return false;
        }
        cmd = &resolved;
    }
    cc_buf b;
    cc_buf_init(&b);
    desk_cmd_encode(cmd, &b);
    int64_t ref = send_request(&b, PENDING_CMD, cmd->kind, cmd->ixn_id, cmd->media);
    cc_buf_free(&b);
    if (ref == 0) {
        if (app.npending < PENDING_MAX)
            out_error("not connected to the server (reconnecting)");
        return false;
    }
    app.awaited_ref = ref;
    app.script = SCRIPT_WAIT_ANSWER;
    return true;
}

/* Parses and runs one line; returns run_command's answer (false for a bad line). */
static bool handle_line(const char *line, size_t len)
{
    desk_cmd cmd;
    char err[256];
    if (desk_cmd_parse(line, len, &cmd, err, sizeof err) != 0) {
        out_error(err);
        return false;
    }
    return run_command(&cmd);
}

/* ---- the terminal ---- */

static void on_rl_line(char *line)
{
    app.line_accepted = true;
    if (!line) {
        /* Ctrl-D at an empty prompt. */
        fputs("\n", stdout);
        start_quit();
    } else {
        if (line[0])
            add_history(line);
        handle_line(line, strlen(line));
        free(line);
    }
}

static void on_stdin_poll(uv_poll_t *h, int status, int events)
{
    (void)h;
    if (!app.rl_active)
        return;
    if (status < 0 || (events & UV_DISCONNECT)) {
        /* The terminal went away: reading again would only spin. */
        uv_poll_stop(&app.stdin_poll);
        start_quit();
        return;
    }
    app.line_accepted = false;
    rl_callback_read_char();
}

static void terminal_start(void)
{
    rl_catch_signals = 0;
    rl_callback_handler_install(DESK_PROMPT, on_rl_line);
    app.rl_active = true;
    app.line_accepted = true;
    uv_poll_init(app.loop, &app.stdin_poll, STDIN_FILENO);
    uv_poll_start(&app.stdin_poll, UV_READABLE | UV_DISCONNECT, on_stdin_poll);
}

static void terminal_stop(void)
{
    if (!app.rl_active)
        return;
    app.rl_active = false;
    uv_poll_stop(&app.stdin_poll);
    uv_close((uv_handle_t *)&app.stdin_poll, NULL);
    rl_callback_handler_remove();
    /* Erase the last prompt so the shell's starts on a clean line. */
    fputs("\r\033[K", stdout);
    fflush(stdout);
}

/* ---- the script ---- */

static void on_stdin_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char chunk[16384];
    buf->base = chunk;
    buf->len = sizeof chunk;
}

static void on_stdin_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)s;
    if (nread == 0)
        return;
    uv_read_stop((uv_stream_t *)&app.stdin_pipe);
    app.stdin_reading = false;
    if (nread < 0) {
        if (nread != UV_EOF)
            LOG_WARN("event=stdin_error error=%s", uv_strerror((int)nread));
        app.stdin_eof = true;
    } else {
        cc_buf_append(&app.inbuf, buf->base, (size_t)nread);
    }
    if (app.script == SCRIPT_WAIT_INPUT)
        next_command();
}

/* Reads more of stdin: at once from a file, through the loop from a pipe. Returns true
 * when bytes (or EOF) arrived, false when the loop will call next_command later. */
static bool read_more(void)
{
    if (app.stdin_is_pipe) {
        if (!app.stdin_reading) {
            app.stdin_reading = true;
            uv_read_start((uv_stream_t *)&app.stdin_pipe, on_stdin_alloc, on_stdin_read);
        }
        return false;
    }
    char chunk[16384];
    ssize_t n;
    do
        n = read(STDIN_FILENO, chunk, sizeof chunk);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        app.stdin_eof = true;
    else
        cc_buf_append(&app.inbuf, chunk, (size_t)n);
    return true;
}

/* Takes the next complete line out of inbuf into line (NUL-terminated, without its
 * end). Over-long lines are dropped with an error. Returns false when none is complete
 * yet (or, at EOF, when the input is exhausted). */
static bool take_line(cc_buf *line)
{
    for (;;) {
        char *nl = app.inbuf.len ? memchr(app.inbuf.data, '\n', app.inbuf.len) : NULL;
        if (app.skipping_long_line) {
            if (!nl) {
                cc_buf_reset(&app.inbuf);
                return false;
            }
            cc_buf_consume(&app.inbuf, (size_t)(nl - app.inbuf.data) + 1);
            app.skipping_long_line = false;
            continue;
        }
        size_t n;
        if (nl) {
            n = (size_t)(nl - app.inbuf.data);
        } else if (app.inbuf.len > DESK_CMD_LINE_MAX + 1) {
            char err[64];
            snprintf(err, sizeof err, "line is longer than %d bytes", DESK_CMD_LINE_MAX);
            out_error(err);
            app.skipping_long_line = true;
            continue;
        } else if (app.stdin_eof && app.inbuf.len > 0) {
            n = app.inbuf.len; /* a last line without its end */
        } else {
            return false;
        }
        cc_buf_reset(line);
        cc_buf_append(line, app.inbuf.data, n);
        cc_buf_consume(&app.inbuf, nl ? n + 1 : n);
        return true;
    }
}

static bool script_may_go_on(void)
{
    return app.link_up && (app.logged_in || !app.want_login);
}

static void drain_check(uv_timer_t *t);

static void start_drain(void)
{
    app.script = SCRIPT_DRAINING;
    app.drain_start_us = cc_mono_us();
    uv_timer_start(&app.script_timer, drain_check, 50, 50);
}

static void drain_check(uv_timer_t *t)
{
    (void)t;
    uint64_t now = cc_mono_us();
    if (now - app.last_rx_us < DRAIN_QUIET_MS * 1000u &&
        now - app.drain_start_us < DRAIN_MAX_MS * 1000u)
        return;
    uv_timer_stop(&app.script_timer);
    start_quit();
}

/* Runs script lines until one must wait. */
static void next_command(void)
{
    cc_buf line;
    cc_buf_init(&line);
    for (;;) {
        if (app.finishing || app.quitting)
            break;
        if (!script_may_go_on()) {
            app.script = SCRIPT_WAIT_LOGIN;
            break;
        }
        app.script = SCRIPT_IDLE;
        if (!take_line(&line)) {
            if (app.stdin_eof && app.inbuf.len == 0) {
                start_drain();
                break;
            }
            if (read_more())
                continue;
            app.script = SCRIPT_WAIT_INPUT;
            break;
        }
        if (handle_line(line.data, line.len))
            break;
    }
    cc_buf_free(&line);
}

static void on_script_timer(uv_timer_t *t)
{
    (void)t;
    if (app.script == SCRIPT_WAIT_STATUS)
        out_error("no status arrived within 5 s");
    if (app.script == SCRIPT_WAIT_INVITE)
        out_error("no invite arrived within 10 s");
    if (app.script == SCRIPT_SLEEPING || app.script == SCRIPT_WAIT_STATUS ||
        app.script == SCRIPT_WAIT_INVITE)
        next_command();
}

static void script_start(void)
{
    cc_buf_init(&app.inbuf);
    uv_handle_type type = uv_guess_handle(STDIN_FILENO);
    if (type == UV_NAMED_PIPE || type == UV_TCP) {
        uv_pipe_init(app.loop, &app.stdin_pipe, 0);
        if (uv_pipe_open(&app.stdin_pipe, STDIN_FILENO) == 0)
            app.stdin_is_pipe = true;
        else
            uv_close((uv_handle_t *)&app.stdin_pipe, NULL);
    }
    app.script = SCRIPT_WAIT_LOGIN;
}

/* ---- the link ---- */

static void on_down_timer(uv_timer_t *t)
{
    (void)t;
    out_error("no connection to the server for 10 s; giving up");
    finish(1);
}

static void logged_in_now(void)
{
    app.logged_in = true;
    app.outage_told = false;
    uv_timer_stop(&app.down_timer);
    char text[PROTO_ID_MAX * 3 + 64];
    if (app.ever_logged_in)
        snprintf(text, sizeof text, "reconnected");
    else
        snprintf(text, sizeof text, "logged in: agent %s place %s on %s", app.agent, app.place,
                 cc_client_server_name(app.client));
    out_shown_line(text, sizeof text);
    app.ever_logged_in = true;
    if (!app.interactive && app.script == SCRIPT_WAIT_LOGIN)
        next_command();
}

static void on_registered(cc_client *c, proto_msg *ack)
{
    (void)c;
    (void)ack;
    app.link_up = true;
    LOG_INFO("event=registered server=%s", LOGQ(cc_client_server_name(app.client)));
    if (app.want_login) {
        send_login();
        return;
    }
    /* Logged out on purpose before the link dropped: nothing to log in again. */
    out_line("reconnected");
    app.outage_told = false;
    uv_timer_stop(&app.down_timer);
    if (!app.interactive && app.script == SCRIPT_WAIT_LOGIN)
        next_command();
}

/* Prints the EventAck of a command in words and applies it to what the desk tracks. */
static void acknowledged(const pending *p, proto_msg *msg, cc_buf *b)
{
    switch (p->cmd) {
    /* The login list follows the media as the server acknowledged them, so that a
     * re-login after a lost connection restores them. */
    case DESK_CMD_READY:
    case DESK_CMD_ADD:
    case DESK_CMD_NOTREADY:
        desk_view_ok(b);
        desk_media_list_set(&app.media_list, p->media, p->cmd == DESK_CMD_READY);
        return;
    case DESK_CMD_REMOVE:
        desk_view_ok(b);
        desk_media_list_remove(&app.media_list, p->media);
        return;
    case DESK_CMD_LOGOUT:
        desk_view_ok(b);
        app.logged_in = false;
        app.want_login = false;
        /* The server refuses a logout while interactions are invited or handled; those
         * in after-work end with it. */
        desk_ixn_clear(&app.ixns);
        return;
    case DESK_CMD_ACCEPT:
        desk_view_ok(b);
        desk_ixn_set_state(&app.ixns, p->ixn_id, CC_IXN_HANDLING);
        return;
    case DESK_CMD_DONE: {
        desk_view_done(b, msg);
        /* A malformed afterWorkSec reads as 0: the interaction ended. */
        int64_t aw;
        (void)proto_ixn_decode_stopped(msg, &aw);
        if (aw > 0)
            desk_ixn_set_state(&app.ixns, p->ixn_id, CC_IXN_AFTER_WORK);
        else
            desk_ixn_remove(&app.ixns, p->ixn_id);
        return;
    }
    case DESK_CMD_REJECT:
    case DESK_CMD_COMPLETE:
    case DESK_CMD_TRANSFER:
        desk_view_ok(b);
        desk_ixn_remove(&app.ixns, p->ixn_id);
        return;
    case DESK_CMD_QUEUES:
        if (desk_view_queues(b, msg) != 0) {
            char text[256];
            snprintf(text, sizeof text, "bad queue status from the server: %s", msg->desc);
            desk_view_local_error(b, text);
        }
        return;
    case DESK_CMD_EXPLAIN:
        if (desk_view_explain(b, msg) != 0) {
            char text[256];
            snprintf(text, sizeof text, "bad explanation from the server: %s", msg->desc);
            desk_view_local_error(b, text);
        }
        return;
    default: desk_view_ok(b); return;
    }
}

static void handle_answer(proto_msg *msg, bool ok)
{
    int i = 0;
    while (i < app.npending && app.pending[i].ref != msg->ref)
        i++;
    if (i == app.npending) {
        /* Not ours to match, but an error still tells the agent something. */
        LOG_WARN("event=unexpected_answer ref=%" PRId64, msg->ref);
        if (!ok) {
            cc_buf b;
            cc_buf_init(&b);
            desk_view_error_msg(&b, msg);
            out_flush(&b);
            cc_buf_free(&b);
        }
        return;
    }
    pending p = app.pending[i];
    /* Answers come in request order, so anything older has been answered or lost. */
    memmove(app.pending, app.pending + i + 1, (size_t)(app.npending - i - 1) * sizeof p);
    app.npending -= i + 1;

    cc_buf b;
    cc_buf_init(&b);
    if (!ok)
        desk_view_error_msg(&b, msg);
    switch (p.kind) {
    case PENDING_LOGIN:
        out_flush(&b);
        cc_buf_free(&b);
        if (ok) {
            take_skills(msg);
            logged_in_now();
        } else {
            out_error("login failed");
            finish(1);
        }
        return;
    case PENDING_FINAL_LOGOUT:
        if (ok)
            cc_buf_puts(&b, "logged out\n");
        out_flush(&b);
        cc_buf_free(&b);
        app.logged_in = false;
        finish((!app.interactive && app.lost) ? 1 : 0);
        return;
    case PENDING_CMD:
        if (ok)
            acknowledged(&p, msg, &b);
        out_flush(&b);
        cc_buf_free(&b);
        if (!app.interactive && app.script == SCRIPT_WAIT_ANSWER && p.ref == app.awaited_ref)
            next_command();
        return;
    }
}

static void handle_status(proto_msg *msg)
{
    proto_agent_status st;
    cc_buf b;
    cc_buf_init(&b);
    if (proto_decode_status(msg, &app.media, true, &st) != 0) {
        char text[256];
        snprintf(text, sizeof text, "bad status from the server: %s", msg->desc);
        desk_view_local_error(&b, text);
        out_flush(&b);
        cc_buf_free(&b);
        return;
    }
    desk_view_status(&b, &st, &app.media);
    cc_buf_reset(&app.last_status);
    cc_buf_append(&app.last_status, b.data, b.len);
    out_flush(&b);
    cc_buf_free(&b);
    app.statuses_since_mark++;
    if (!app.interactive && app.script == SCRIPT_WAIT_STATUS) {
        app.statuses_since_mark = 0;
        uv_timer_stop(&app.script_timer);
        next_command();
    }
}

/* An interaction event: shown in words and applied to the list. Returns false when msg
 * is not one. */
static bool handle_ixn_event(proto_msg *msg)
{
    desk_view_ixn_event ev;
    int rc = desk_view_decode_ixn(msg, &ev);
    if (rc == CC_E_NOT_FOUND)
        return false;
    cc_buf b;
    cc_buf_init(&b);
    if (rc != 0) {
        char text[320];
        snprintf(text, sizeof text, "bad %s from the server: %s", msg->name, msg->desc);
        desk_view_local_error(&b, text);
        desk_view_event(&b, msg);
        out_flush(&b);
        cc_buf_free(&b);
        return true;
    }
    desk_view_ixn(&b, &ev);
    out_flush(&b);
    cc_buf_free(&b);
    if (ev.kind != DESK_VIEW_INVITE) {
        desk_ixn_remove(&app.ixns, ev.id);
        return true;
    }
    if (desk_ixn_invited(&app.ixns, ev.id, ev.media, ev.queue, cc_mono_us()) != 0)
        LOG_WARN("event=invite_untracked reason=list_full");
    LOG_INFO("event=invite interaction=%s media=%s", LOGQ(ev.id), LOGQ(ev.media));
    app.invites_unseen++;
    if (!app.interactive && app.script == SCRIPT_WAIT_INVITE) {
        app.invites_unseen = 0;
        uv_timer_stop(&app.script_timer);
        tell_last_invite();
        next_command();
    }
    return true;
}

/* A supervisor acted on this desktop's agent: shown in words; after a forced logout the
 * desktop stays logged out (it does not log in again by itself on a reconnect). */
static void handle_supervisor(cc_buf *b, proto_msg *msg)
{
    proto_sup_event e;
    if (proto_sup_decode_event(msg, &e) != 0) {
        char text[320];
        snprintf(text, sizeof text, "bad %s from the server: %s", msg->name, msg->desc);
        desk_view_local_error(b, text);
        desk_view_event(b, msg);
        return;
    }
    desk_view_supervisor(b, &e);
    LOG_INFO("event=supervisor_action action=%s supervisor=%s",
             proto_sup_action_name((int)e.action), LOGQ(e.supervisor));
    if (e.action == PROTO_SUP_FORCE_LOGOUT) {
        app.logged_in = false;
        app.want_login = false;
        desk_ixn_clear(&app.ixns);
    }
}

static void on_message(cc_client *c, proto_msg *msg, const char *line, size_t len)
{
    (void)c;
    (void)line;
    (void)len;
    app.last_rx_us = cc_mono_us();
    if (app.finishing)
        return;
    bool is_ack = strcmp(msg->name, "EventAck") == 0;
    bool is_error = strcmp(msg->name, "EventError") == 0;
    if ((is_ack || is_error) && msg->ref > 0) {
        handle_answer(msg, is_ack);
        return;
    }
    cc_buf b;
    cc_buf_init(&b);
    if (is_error)
        desk_view_error_msg(&b, msg);
    else if (strcmp(msg->name, "EventCurrentAgentStatus") == 0) {
        cc_buf_free(&b);
        handle_status(msg);
        return;
    } else if (handle_ixn_event(msg)) {
        cc_buf_free(&b);
        return;
    } else if (strcmp(msg->name, "EventSupervisorAction") == 0) {
        handle_supervisor(&b, msg);
    } else
        desk_view_event(&b, msg);
    out_flush(&b);
    cc_buf_free(&b);
}

static void on_down(cc_client *c, const char *why)
{
    (void)c;
    if (app.finishing)
        return;
    bool was_up = app.link_up;
    app.link_up = false;
    app.logged_in = false;
    char text[512];
    if (strncmp(why, "registration refused", 20) == 0) {
        /* A wrong token does not get better by retrying. */
        snprintf(text, sizeof text, "%s", why);
        out_error(text);
        finish(1);
        return;
    }
    int unanswered = app.npending;
    bool final_logout = false;
    for (int i = 0; i < app.npending; i++)
        if (app.pending[i].kind == PENDING_FINAL_LOGOUT)
            final_logout = true;
    app.npending = 0;
    if (was_up)
        app.lost = true;
    if (app.ixns.count > 0) {
        /* Without a grace period the server takes them back at once, and it tells a new
         * connection nothing about them, so what the desk knew is no longer reliable. */
        desk_ixn_clear(&app.ixns);
        out_line("the list of interactions was cleared: the server takes them back when "
                 "a desk is gone");
    }
    if (final_logout || app.quitting) {
        out_error("connection lost while logging out");
        finish(app.interactive ? 0 : 1);
        return;
    }
    if (!app.outage_told) {
        app.outage_told = true;
        if (was_up)
            snprintf(text, sizeof text, "connection to %s lost (%s); reconnecting", app.server,
                     why);
        else
            snprintf(text, sizeof text, "cannot connect to %s (%s); retrying", app.server, why);
        out_shown_line(text, sizeof text);
    }
    if (unanswered > 0 && app.interactive) {
        snprintf(text, sizeof text, "%d request%s got no answer", unanswered,
                 unanswered == 1 ? "" : "s");
        out_error(text);
    }
    if (!app.interactive) {
        if (app.script == SCRIPT_WAIT_ANSWER) {
            out_error("no answer: connection lost");
            app.script = SCRIPT_WAIT_LOGIN;
        } else if (app.script == SCRIPT_DRAINING) {
            uv_timer_stop(&app.script_timer);
            finish(1);
            return;
        }
        if (!uv_is_active((uv_handle_t *)&app.down_timer))
            uv_timer_start(&app.down_timer, on_down_timer, SCRIPT_DOWN_MAX_MS, 0);
    }
}

static const cc_client_ops client_ops = {
    .on_registered = on_registered,
    .on_message = on_message,
    .on_down = on_down,
};

/* ---- start and end ---- */

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    if (signum == SIGWINCH) {
        if (app.rl_active)
            rl_resize_terminal();
        return;
    }
    if (app.quitting)
        finish(app.exit_code ? app.exit_code : 1);
    else
        start_quit();
}

static void close_if_open(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_exit_timer(uv_timer_t *t)
{
    (void)t;
    terminal_stop();
    if (app.stdin_is_pipe)
        close_if_open((uv_handle_t *)&app.stdin_pipe);
    close_if_open((uv_handle_t *)&app.script_timer);
    close_if_open((uv_handle_t *)&app.down_timer);
    close_if_open((uv_handle_t *)&app.exit_timer);
    close_if_open((uv_handle_t *)&app.sigint);
    close_if_open((uv_handle_t *)&app.sigterm);
    close_if_open((uv_handle_t *)&app.sigwinch);
    cc_client_free(app.client);
    app.client = NULL;
}

/* Ends the program with code once the current callback has returned. */
static void finish(int code)
{
    if (app.finishing)
        return;
    app.finishing = true;
    app.exit_code = code;
    app.script = SCRIPT_DONE;
    uv_timer_stop(&app.script_timer);
    uv_timer_stop(&app.down_timer);
    uv_timer_start(&app.exit_timer, on_exit_timer, 0, 0);
}

static void usage(FILE *f)
{
    fputs("usage: agentdesk --server HOST:PORT --tenant T --agent ID --place P\n"
          "                 [--token T] [--client-name NAME] [--password-file FILE]\n"
          "                 [--media voice,chat,...]\n"
          "\n"
          "  --server HOST:PORT   the interaction server; a list HOST:PORT,HOST:PORT names\n"
          "                       an owner and its standbys, tried in turn\n"
          "  --token T            the server's AgentApplication token, or the secret of\n"
          "                       --client-name (default: none)\n"
          "  --client-name NAME   register as NAME, an AgentApplication entry of the\n"
          "                       server's [clients] (default: agentdesk-ID)\n"
          "  --tenant T           the agent's tenant\n"
          "  --agent ID           the agent id\n"
          "  --place P            the place (desk) to log in at\n"
          "  --password-file FILE read the password from the first line of FILE;\n"
          "                       without it the password is asked for on the terminal\n"
          "                       (required when stdin is not a terminal)\n"
          "  --media LIST         media to log in with, comma-separated, all not ready\n"
          "                       (default: none)\n"
          "  --tls                connect with TLS, verifying the server with the system's CAs\n"
          "  --tls-ca FILE        connect with TLS, verifying the server with the CA in FILE\n"
          "  --tls-cert FILE, --tls-key FILE\n"
          "                       the client certificate to present (servers with tls-ca)\n"
          "  -h, --help           this text\n"
          "  --version            the version and the git revision\n"
          "\n"
          "With stdin a terminal, commands are typed at the prompt (type help).\n"
          "Otherwise they are read line by line, each waiting for its answer;\n"
          "exit status 0, or 1 when the login failed or the connection was lost,\n"
          "2 for bad arguments. See docs/agentdesk.md.\n",
          f);
}

/* Takes the first n bytes of buf (size bytes) as app.password, then wipes buf. path names
 * the file the password came from, NULL for the terminal. Returns 0 or -1 with a message. */
static int take_password(char *buf, size_t size, size_t n, const char *path)
{
    int rc = 0;
    if (n > PROTO_TEXT_MAX) {
        if (path)
            fprintf(stderr, "agentdesk: the password in %s is longer than %d bytes\n", path,
                    PROTO_TEXT_MAX);
        else
            fprintf(stderr, "agentdesk: the password is longer than %d bytes\n", PROTO_TEXT_MAX);
        rc = -1;
    } else {
        memcpy(app.password, buf, n);
        app.password[n] = '\0';
    }
    explicit_bzero(buf, size);
    return rc;
}

/* Reads the first line of path into app.password. Returns 0 or -1 with a message. */
static int read_password_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "agentdesk: cannot open password file %s: %s\n", path, strerror(errno));
        return -1;
    }
    char buf[PROTO_TEXT_MAX + 2];
    size_t n = 0;
    while (n < sizeof buf) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (memchr(buf, '\n', n))
            break;
    }
    close(fd);
    char *nl = memchr(buf, '\n', n);
    size_t len = nl ? (size_t)(nl - buf) : n;
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    return take_password(buf, sizeof buf, len, path);
}

/* Set by Ctrl-C (or SIGTERM) while the password is asked for. */
static volatile sig_atomic_t password_interrupted;

/* Reads the password with echo off; ask_password wraps it. Returns 0 or -1. */
static int ask_password_quietly(void)
{
    struct termios old, quiet;
    if (tcgetattr(STDIN_FILENO, &old) != 0) {
        fprintf(stderr, "agentdesk: cannot read the terminal settings: %s\n", strerror(errno));
        return -1;
    }
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ICANON;
    fputs("password: ", stdout);
    fflush(stdout);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    char buf[PROTO_TEXT_MAX + 2];
    size_t n = 0;
    bool eof = false;
    /* Byte by byte, so nothing typed after the line is taken from the line editor. */
    for (;;) {
        char ch;
        ssize_t r = read(STDIN_FILENO, &ch, 1);
        if (r < 0 && errno == EINTR && !password_interrupted)
            continue;
        if (r <= 0) {
            eof = true;
            break;
        }
        if (ch == '\n')
            break;
        if (n < sizeof buf)
            buf[n++] = ch;
    }
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputs("\n", stdout);
    fflush(stdout);
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    const char *why = password_interrupted ? "interrupted"
                      : eof && n == 0      ? "no password given"
                                           : NULL;
    if (why) {
        fprintf(stderr, "agentdesk: %s\n", why);
        explicit_bzero(buf, sizeof buf);
        return -1;
    }
    return take_password(buf, sizeof buf, n, NULL);
}

static void on_password_signal(int signum)
{
    (void)signum;
    password_interrupted = 1;
}

/* Asks for the password on the terminal with echo off. Returns 0 or -1. */
static int ask_password(void)
{
    /* Without SA_RESTART a signal ends the read, so the echo is always turned back on. */
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_password_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int rc = ask_password_quietly();
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}

/* Parses the command line into app; returns 0, or the exit status to end with. */
static int parse_args(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, 's'},
        {"token", required_argument, NULL, 'k'},
        {"client-name", required_argument, NULL, 'n'},
        {"tenant", required_argument, NULL, 't'},
        {"agent", required_argument, NULL, 'a'},
        {"place", required_argument, NULL, 'p'},
        {"password-file", required_argument, NULL, 'f'},
        {"media", required_argument, NULL, 'm'},
        {"tls", no_argument, NULL, 'T'},
        {"tls-ca", required_argument, NULL, 'C'},
        {"tls-cert", required_argument, NULL, 'E'},
        {"tls-key", required_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'}, /* long only: "h" has no V */
        {NULL, 0, NULL, 0},
    };
    const char *media = "";
    int opt;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 's': app.server = optarg; break;
        case 'k': app.token = optarg; break;
        case 'n': app.client_name = optarg; break;
        case 't': app.tenant = optarg; break;
        case 'a': app.agent = optarg; break;
        case 'p': app.place = optarg; break;
        case 'f': app.password_file = optarg; break;
        case 'm': media = optarg; break;
        case 'T': app.tls = true; break;
        case 'C':
            app.tls = true;
            app.tls_ca = optarg;
            break;
        case 'E': app.tls_cert = optarg; break;
        case 'K': app.tls_key = optarg; break;
        case 'h': usage(stdout); return -1;
        case 'V':
            printf("agentdesk %s (git %s, protocol %d)\n", CC_VERSION, CC_GIT_REVISION,
                   PROTO_VERSION);
            return -1;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "agentdesk: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    if (app.client_name && (!*app.client_name || strlen(app.client_name) > PROTO_ID_MAX)) {
        fprintf(stderr, "agentdesk: --client-name must be 1..%d bytes\n", PROTO_ID_MAX);
        return 2;
    }
    if (!app.server || !app.tenant || !app.agent || !app.place) {
        fprintf(stderr, "agentdesk: --server, --tenant, --agent and --place are required\n");
        usage(stderr);
        return 2;
    }
    if (cc_hostport_list_check(app.server) < 0) {
        fprintf(stderr,
                "agentdesk: --server must be HOST:PORT or a list HOST:PORT,HOST:PORT (at most "
                "%d), not \"%s\"\n",
                CC_HOSTPORT_LIST_MAX, app.server);
        return 2;
    }
    const char *ids[][2] = {
        {"--tenant", app.tenant}, {"--agent", app.agent}, {"--place", app.place}};
    for (size_t i = 0; i < 3; i++)
        if (!desk_id_valid(ids[i][1])) {
            fprintf(stderr, "agentdesk: %s must be 1..%d bytes without control characters\n",
                    ids[i][0], PROTO_ID_MAX);
            return 2;
        }
    if (!app.token)
        app.token = "";
    if (strlen(app.token) > PROTO_TEXT_MAX) {
        fprintf(stderr, "agentdesk: --token is longer than %d bytes\n", PROTO_TEXT_MAX);
        return 2;
    }
    char err[512];
    if (desk_media_list_parse(media, &app.media_list, err, sizeof err) != 0) {
        fprintf(stderr, "agentdesk: --media: %s\n", err);
        return 2;
    }
    if ((app.tls_cert || app.tls_key) && !app.tls) {
        fprintf(stderr, "agentdesk: --tls-cert and --tls-key need --tls or --tls-ca\n");
        return 2;
    }
    tls_files f = {app.tls_cert, app.tls_key, app.tls_ca};
    if (app.tls && tls_ctx_new(&app.tls_ctx, TLS_CLIENT, &f, "agentdesk", err, sizeof err) != 0) {
        fprintf(stderr, "agentdesk: TLS: %s\n", err);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int rc = parse_args(argc, argv);
    if (rc == -1)
        return 0;
    if (rc)
        return rc;
    app.interactive = isatty(STDIN_FILENO);
    /* Log lines would tear the prompt apart; at the terminal only warnings show. */
    cc_log_init("agentdesk", app.interactive ? CC_LOG_WARN : CC_LOG_INFO);
    if (app.password_file) {
        if (read_password_file(app.password_file) != 0)
            return 2;
    } else if (!app.interactive) {
        fprintf(stderr, "agentdesk: --password-file is required when stdin is not a terminal\n");
        return 2;
    } else if (ask_password() != 0) {
        return 2;
    }
    if (!app.interactive)
        setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);

    app.loop = uv_default_loop();
    cc_net_init(&app.net, app.loop);
    cc_media_init(&app.media);
    cc_buf_init(&app.last_status);
    cc_buf_init(&app.skills_line);
    desk_ixn_init(&app.ixns);
    app.want_login = true;
    app.last_rx_us = cc_mono_us();
    uv_timer_init(app.loop, &app.script_timer);
    uv_timer_init(app.loop, &app.down_timer);
    uv_timer_init(app.loop, &app.exit_timer);
    uv_signal_init(app.loop, &app.sigint);
    uv_signal_init(app.loop, &app.sigterm);
    uv_signal_init(app.loop, &app.sigwinch);
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    uv_signal_start(&app.sigwinch, on_signal, SIGWINCH);
    uv_unref((uv_handle_t *)&app.sigwinch);

    char client_name[PROTO_ID_MAX + 1];
    if (app.client_name)
        snprintf(client_name, sizeof client_name, "%s", app.client_name);
    else if (strlen(app.agent) + sizeof "agentdesk-" <= sizeof client_name)
        snprintf(client_name, sizeof client_name, "agentdesk-%s", app.agent);
    else
        snprintf(client_name, sizeof client_name, "agentdesk");
    cc_client_config cfg = {
        .address = app.server,
        .client_type = "AgentApplication",
        .client_name = client_name,
        .token = app.token,
        .tls = app.tls_ctx,
        .reconnect = true,
    };
    app.client = cc_client_new(&app.net, &cfg, &client_ops, NULL);

    if (app.interactive) {
        char text[300];
        snprintf(text, sizeof text, "connecting to %s (type help for the commands)", app.server);
        out_line(text);
        terminal_start();
    } else {
        script_start();
        uv_timer_start(&app.down_timer, on_down_timer, SCRIPT_DOWN_MAX_MS, 0);
    }
    cc_client_start(app.client);
    uv_run(app.loop, UV_RUN_DEFAULT);

    cc_net_close(&app.net);
    uv_run(app.loop, UV_RUN_DEFAULT);
    uv_loop_close(app.loop);
    tls_ctx_free(app.tls_ctx);
    explicit_bzero(app.password, sizeof app.password);
    cc_buf_free(&app.last_status);
    cc_buf_free(&app.skills_line);
    cc_buf_free(&app.inbuf);
    fflush(stdout);
    return app.exit_code;
}
