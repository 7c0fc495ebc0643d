#include "ixn/ixn_config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/alloc.h"
#include "common/err.h"
#include "ixn/ixn_passwd.h"
#include "net/addr.h"
#include "net/web.h"
#include "proto/frame.h"
#include "proto/msg.h"

/* Longest configuration line accepted, in bytes. */
#define CFG_LINE_MAX 4096

/* Parser state: inih does not give handlers the line number, so a reader wrapper counts
 * lines and the handler reads the count. */
typedef struct cfg_parse {
    ixn_config *cfg;
    FILE *f;
    int line;
    int errors;
    char section[CFG_LINE_MAX]; /* the section the reader last saw */
    char buf[CFG_LINE_MAX + 2];
    /* keys of [server] seen, to report duplicates */
    cc_map seen;
    /* [queues] and [after-work] name media that [server] may list later in the file, so
     * their pairs are kept (with their lines) and resolved once the file is read. */
    struct cfg_pending {
        char *key;
        char *value;
        int line;
        bool after_work;
    } * pending;
    size_t pending_count, pending_cap;
} cfg_parse;

static int on_pair(void *user, const char *section, const char *key, const char *value);

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* inih splits lines longer than its compiled-in maximum (200 bytes) into pieces, and an
 * [agents] line with long identifiers is longer. The reader therefore hands inih whole
 * lines only when they fit, and parses a longer key = value line itself, with inih's
 * rules (first '=' or ':', " ;" starts a comment), giving inih an empty line instead. */
static void long_pair(cfg_parse *p, char *line)
{
    char *s = trim(line);
    if (*s == ';' || *s == '#' || *s == '\0')
        return;
    if (*s == '[') {
        fprintf(stderr, "ixnserver: error: %s:%d: section name too long\n", p->cfg->path, p->line);
        p->errors++;
        return;
    }
    char *eq = strpbrk(s, "=:");
    if (!eq) {
        fprintf(stderr, "ixnserver: error: %s:%d: syntax error\n", p->cfg->path, p->line);
        p->errors++;
        return;
    }
    *eq = '\0';
    char *value = eq + 1;
    for (char *c = value; *c; c++) {
        if (*c == ';' && (c == value || isspace((unsigned char)c[-1]))) {
            *c = '\0';
            break;
        }
    }
    on_pair(p, p->section, trim(s), trim(value));
}

static char *count_reader(char *str, int num, void *stream)
{
    cfg_parse *p = stream;
    if (!fgets(p->buf, sizeof p->buf, p->f))
        return NULL;
    p->line++;
    size_t n = strlen(p->buf);
    if (n == sizeof p->buf - 1 && p->buf[n - 1] != '\n') {
        fprintf(stderr, "ixnserver: error: %s:%d: line longer than %d bytes\n", p->cfg->path,
                p->line, CFG_LINE_MAX);
        p->errors++;
        int ch;
        while ((ch = fgetc(p->f)) != EOF && ch != '\n')
            ;
        snprintf(str, (size_t)num, "%s", "\n");
        return str;
    }
    if (n < (size_t)num) {
        char *t = p->buf;
        while (*t == ' ' || *t == '\t')
            t++;
        char *end = *t == '[' ? strchr(t, ']') : NULL;
        if (end)
            snprintf(p->section, sizeof p->section, "%.*s", (int)(end - t - 1), t + 1);
        memcpy(str, p->buf, n + 1);
        return str;
    }
    long_pair(p, p->buf);
    snprintf(str, (size_t)num, "%s", "\n");
    return str;
}

static void cfg_error(cfg_parse *p, const char *section, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void cfg_error(cfg_parse *p, const char *section, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ixnserver: error: %s:%d: [%s] %s: ", p->cfg->path, p->line, section, key);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    p->errors++;
}

static void cfg_warn(cfg_parse *p, const char *section, const char *key, const char *what)
{
    fprintf(stderr, "ixnserver: warning: %s:%d: [%s] %s: %s\n", p->cfg->path, p->line, section, key,
            what);
}

/* Parses a decimal number in [min, max]; the whole value must be digits. */
static bool parse_num(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!isdigit((unsigned char)v[0]))
        return false;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || n < min || n > max)
        return false;
    *out = n;
    return true;
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = xstrdup(v);
}

static void parse_media(cfg_parse *p, const char *v)
{
    ixn_config *cfg = p->cfg;
    cc_media_init(&cfg->media);
    const char *s = v;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        if (!*s)
            break;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        size_t n = (size_t)(e - s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (!cc_media_name_valid(s, n)) {
            cfg_error(p, "server", "media", "\"%.*s\" is not a media name ([a-z][a-z0-9_-]{0,31})",
                      (int)(n > 64 ? 64 : n), s);
        } else if (cc_media_find(&cfg->media, s, n) >= 0) {
            cfg_error(p, "server", "media", "%.*s is listed twice", (int)n, s);
        } else if (cc_media_intern(&cfg->media, s, n) < 0) {
            cfg_error(p, "server", "media", "more than %d media", CC_MEDIA_MAX);
            return;
        }
        s = e;
    }
}

static void server_key(cfg_parse *p, const char *key, const char *v)
{
    ixn_config *cfg = p->cfg;
    uint64_t n;
    if (cc_map_gets(&p->seen, key)) {
        cfg_error(p, "server", key, "%s", "given twice");
        return;
    }
    bool known = true;
    if (strcmp(key, "name") == 0) {
        if (!*v || strlen(v) > PROTO_ID_MAX)
            cfg_error(p, "server", key, "must be 1..%d bytes", PROTO_ID_MAX);
        else
            set_str(&cfg->name, v);
    } else if (strcmp(key, "listen") == 0) {
        struct sockaddr_storage ss;
        if (cc_parse_hostport(v, &ss) != 0)
            cfg_error(p, "server", key, "\"%s\" is not HOST:PORT", v);
        else
            set_str(&cfg->listen, v);
    } else if (strcmp(key, "http") == 0) {
        struct sockaddr_storage ss;
        if (cc_parse_hostport(v, &ss) != 0)
            cfg_error(p, "server", key, "\"%s\" is not HOST:PORT", v);
        else
            set_str(&cfg->http, v);
    } else if (strcmp(key, "allowed-origins") == 0) {
        char err[200];
        if (cc_web_check_origins(v, err, sizeof err) != 0)
            cfg_error(p, "server", key, "%s", err);
        else
            set_str(&cfg->allowed_origins, v);
    } else if (strcmp(key, "port-file") == 0) {
        if (!*v)
            cfg_error(p, "server", key, "%s", "must not be empty");
        else
            set_str(&cfg->port_file, v);
    } else if (strcmp(key, "media") == 0) {
        parse_media(p, v);
    } else if (strcmp(key, "idle-timeout") == 0) {
        if (!parse_num(v, 0, 86400, &n))
            cfg_error(p, "server", key, "\"%s\" is not a number of seconds in 0..86400", v);
        else
            cfg->idle_timeout_s = (unsigned)n;
    } else if (strcmp(key, "max-line") == 0) {
        if (!parse_num(v, 1024, 64u << 20, &n))
            cfg_error(p, "server", key, "\"%s\" is not a number of bytes in 1024..67108864", v);
        else
            cfg->max_line = (size_t)n;
    } else if (strcmp(key, "grace-period") == 0) {
        if (!parse_num(v, 0, 86400, &n))
            cfg_error(p, "server", key, "\"%s\" is not a number of seconds in 0..86400", v);
        else
            cfg->grace_period_s = (unsigned)n;
    } else if (strcmp(key, "max-connections") == 0) {
        if (!parse_num(v, 0, 10000000, &n))
            cfg_error(p, "server", key, "\"%s\" is not a number in 0..10000000", v);
        else
            cfg->max_connections = (unsigned)n;
    } else if (strcmp(key, "max-agents") == 0) {
        if (!parse_num(v, 0, 10000000, &n))
            cfg_error(p, "server", key, "\"%s\" is not a number in 0..10000000", v);
        else
            cfg->max_agents = (unsigned)n;
    } else if (strcmp(key, "out-limit") == 0 || strcmp(key, "out-limit-reporting") == 0) {
        if (!parse_num(v, 65536, (uint64_t)4 << 30, &n))
            cfg_error(p, "server", key, "\"%s\" is not a number of bytes in 65536..4294967296", v);
        else if (key[9] == '\0')
            cfg->out_limit = (size_t)n;
        else
            cfg->out_limit_reporting = (size_t)n;
    } else if (strcmp(key, "data-dir") == 0) {
        if (!*v || strlen(v) > 4000)
            cfg_error(p, "server", key, "%s", "must be a path of 1..4000 bytes");
        else
            set_str(&cfg->data_dir, v);
    } else if (strcmp(key, "invite-timeout") == 0) {
        if (!parse_num(v, 1, 86400, &n))
            cfg_error(p, "server", key, "\"%s\" is not a number of seconds in 1..86400", v);
        else
            cfg->invite_timeout_s = (unsigned)n;
    } else if (strcmp(key, "keep-ended") == 0) {
        if (!parse_num(v, 0, 365u * 86400u, &n))
            cfg_error(p, "server", key, "\"%s\" is not a number of seconds in 0..31536000", v);
        else
            cfg->keep_ended_s = (unsigned)n;
    } else if (strcmp(key, "max-user-data") == 0) {
        if (!parse_num(v, 2, 1024 * 1024, &n))
            cfg_error(p, "server", key, "\"%s\" is not a number of bytes in 2..1048576", v);
        else
            cfg->max_user_data = (size_t)n;
    } else if (strcmp(key, "max-queue") == 0) {
        if (!parse_num(v, 1, 10000000, &n))
            cfg_error(p, "server", key, "\"%s\" is not a number in 1..10000000", v);
        else
            cfg->max_queue = (size_t)n;
    } else {
        known = false;
        cfg_warn(p, "server", key, "unknown key, ignored");
    }
    if (known)
        cc_map_puts(&p->seen, key, (void *)1);
}

static void token_key(cfg_parse *p, const char *key, const char *v)
{
    ixn_config *cfg = p->cfg;
    char **dst = NULL;
    if (strcmp(key, "AgentApplication") == 0)
        dst = &cfg->token_agent;
    else if (strcmp(key, "ReportingEngine") == 0)
        dst = &cfg->token_reporting;
    else if (strcmp(key, "MediaServer") == 0)
        dst = &cfg->token_media;
    if (!dst) {
        cfg_warn(p, "tokens", key, "not a client type of this server, ignored");
        return;
    }
    if (*dst) {
        cfg_error(p, "tokens", key, "%s", "given twice");
        return;
    }
    if (strlen(v) > PROTO_TEXT_MAX) {
        cfg_error(p, "tokens", key, "longer than %d bytes", PROTO_TEXT_MAX);
        return;
    }
    *dst = xstrdup(v);
}

static bool id_valid(const char *s, size_t n)
{
    if (n == 0 || n > PROTO_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static void agent_key(cfg_parse *p, const char *key, const char *v)
{
    ixn_config *cfg = p->cfg;
    /* Tenants cannot contain '/', so the first one separates the tenant from the agent id
     * and "tenant/agentId" is an unambiguous map key. */
    const char *slash = strchr(key, '/');
    if (!slash || !id_valid(key, (size_t)(slash - key)) ||
        !id_valid(slash + 1, strlen(slash + 1))) {
        cfg_error(p, "agents", key, "%s", "the key must be TENANT/AGENTID (1..128 bytes each)");
        return;
    }
    if (!ixn_passwd_is_hash(v)) {
        cfg_error(p, "agents", key, "%s",
                  "the value is not a crypt(3) hash (make one with ixnserver --hash-password)");
        return;
    }
    if (cc_map_gets(&cfg->agents, key)) {
        cfg_error(p, "agents", key, "%s", "given twice");
        return;
    }
    cc_map_puts(&cfg->agents, key, xstrdup(v));
    cfg->agent_count++;
}

static void pending_add(cfg_parse *p, const char *key, const char *value, bool after_work)
{
    if (p->pending_count == p->pending_cap) {
        p->pending_cap = p->pending_cap ? 2 * p->pending_cap : 16;
        p->pending = xrealloc(p->pending, p->pending_cap * sizeof *p->pending);
    }
    struct cfg_pending *e = &p->pending[p->pending_count++];
    e->key = xstrdup(key);
    e->value = xstrdup(value);
    e->line = p->line;
    e->after_work = after_work;
}

/* A [queues] pair: TENANT/QUEUE = MEDIA, checked against [server] media. */
static void queue_resolve(cfg_parse *p, const struct cfg_pending *e)
{
    ixn_config *cfg = p->cfg;
    const char *slash = strchr(e->key, '/');
    if (!slash || !id_valid(e->key, (size_t)(slash - e->key)) ||
        !id_valid(slash + 1, strlen(slash + 1))) {
        cfg_error(p, "queues", e->key, "%s", "the key must be TENANT/QUEUE (1..128 bytes each)");
        return;
    }
    int media = cc_media_find(&cfg->media, e->value, strlen(e->value));
    if (media < 0) {
        cfg_error(p, "queues", e->key, "media \"%.64s\" is not in [server] media", e->value);
        return;
    }
    size_t tlen = (size_t)(slash - e->key);
    for (size_t i = 0; i < cfg->queue_count; i++) {
        const ixn_config_queue *q = &cfg->queues[i];
        if (strlen(q->tenant) == tlen && memcmp(q->tenant, e->key, tlen) == 0 &&
            strcmp(q->name, slash + 1) == 0) {
            cfg_error(p, "queues", e->key, "%s", "given twice");
            return;
        }
    }
    cfg->queues = xrealloc(cfg->queues, (cfg->queue_count + 1) * sizeof *cfg->queues);
    ixn_config_queue *q = &cfg->queues[cfg->queue_count++];
    q->tenant = xstrndup(e->key, tlen);
    q->name = xstrdup(slash + 1);
    q->media = media;
}

/* An [after-work] pair: MEDIA = SECONDS. */
static void after_work_resolve(cfg_parse *p, const struct cfg_pending *e, cc_media_mask *seen)
{
    ixn_config *cfg = p->cfg;
    int media = cc_media_find(&cfg->media, e->key, strlen(e->key));
    uint64_t n;
    if (media < 0)
        cfg_error(p, "after-work", e->key, "%s", "not a media of [server] media");
    else if (*seen & ((cc_media_mask)1 << media))
        cfg_error(p, "after-work", e->key, "%s", "given twice");
    else if (!parse_num(e->value, 0, 86400, &n))
        cfg_error(p, "after-work", e->key, "\"%s\" is not a number of seconds in 0..86400",
                  e->value);
    else {
        *seen |= (cc_media_mask)1 << media;
        cfg->after_work_s[media] = (unsigned)n;
    }
}

static void pending_resolve(cfg_parse *p)
{
    cc_media_mask seen = 0;
    for (size_t i = 0; i < p->pending_count; i++) {
        struct cfg_pending *e = &p->pending[i];
        p->line = e->line;
        if (e->after_work)
            after_work_resolve(p, e, &seen);
        else
            queue_resolve(p, e);
        free(e->key);
        free(e->value);
    }
    free(p->pending);
    p->pending = NULL;
    p->pending_count = p->pending_cap = 0;
}

/* [reasons] CODE = Description: the not-ready reasons the web desktop offers. */
static void reason_key(cfg_parse *p, const char *key, const char *v)
{
    ixn_config *cfg = p->cfg;
    uint64_t code;
    if (!parse_num(key, 0, INT32_MAX, &code)) {
        cfg_error(p, "reasons", key, "%s", "the key must be a reason code in 0..2147483647");
        return;
    }
    for (size_t i = 0; i < cfg->reason_count; i++) {
        if (cfg->reasons[i].code == (int64_t)code) {
            cfg_error(p, "reasons", key, "%s", "given twice");
            return;
        }
    }
    if (!*v || strlen(v) > PROTO_TEXT_MAX) {
        cfg_error(p, "reasons", key, "the description must be 1..%d bytes", PROTO_TEXT_MAX);
        return;
    }
    if (cfg->reason_count == IXN_REASONS_MAX) {
        cfg_error(p, "reasons", key, "more than %d reasons", IXN_REASONS_MAX);
        return;
    }
    cfg->reasons[cfg->reason_count].code = (int64_t)code;
    cfg->reasons[cfg->reason_count].description = xstrdup(v);
    cfg->reason_count++;
}

static int on_pair(void *user, const char *section, const char *key, const char *value)
{
    cfg_parse *p = user;
    if (strcmp(section, "server") == 0)
        server_key(p, key, value);
    else if (strcmp(section, "tokens") == 0)
        token_key(p, key, value);
    else if (strcmp(section, "agents") == 0)
        agent_key(p, key, value);
    else if (strcmp(section, "queues") == 0)
        pending_add(p, key, value, false);
    else if (strcmp(section, "after-work") == 0)
        pending_add(p, key, value, true);
    else if (strcmp(section, "reasons") == 0)
        reason_key(p, key, value);
    else
        cfg_warn(p, section, key, "unknown section, ignored");
    return 1;
}

int ixn_config_load(const char *path, ixn_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->path = xstrdup(path);
    cc_media_init(&cfg->media);
    cc_map_init(&cfg->agents);
    cfg->idle_timeout_s = 30;
    cfg->max_line = PROTO_LINE_MAX_DEFAULT;
    cfg->max_connections = 100000;
    cfg->max_agents = 100000;
    cfg->out_limit = (size_t)8 << 20;
    cfg->out_limit_reporting = (size_t)256 << 20;
    cfg->invite_timeout_s = 15;
    cfg->keep_ended_s = 86400;
    cfg->max_user_data = 16384;
    cfg->max_queue = 100000;

    cfg_parse *p = xcalloc(1, sizeof *p);
    p->cfg = cfg;
    p->f = fopen(path, "r");
    if (!p->f) {
        fprintf(stderr, "ixnserver: error: %s: cannot open: %s\n", path, strerror(errno));
        free(p);
        return CC_E_IO;
    }
    cc_map_init(&p->seen);
    /* The reader hands inih exactly one physical line per call, so inih's line number
     * of its first syntax error is the file's. */
    int rc = ini_parse_stream(count_reader, p, on_pair, p);
    fclose(p->f);
    cc_map_free(&p->seen);
    pending_resolve(p);
    if (rc > 0) {
        fprintf(stderr, "ixnserver: error: %s:%d: syntax error\n", path, rc);
        p->errors++;
    } else if (rc < 0) {
        fprintf(stderr, "ixnserver: error: %s: cannot read\n", path);
        p->errors++;
    }
    if (!cfg->name) {
        fprintf(stderr, "ixnserver: error: %s: [server] name: missing\n", path);
        p->errors++;
    }
    if (!cfg->listen) {
        fprintf(stderr, "ixnserver: error: %s: [server] listen: missing\n", path);
        p->errors++;
    }
    if (cfg->out_limit_reporting < cfg->out_limit)
        cfg->out_limit_reporting = cfg->out_limit;
    if (cfg->queue_count && !cfg->data_dir)
        fprintf(stderr,
                "ixnserver: warning: %s: [queues] without [server] data-dir: interactions are "
                "kept in memory only and lost at a restart\n",
                path);
    if (!cfg->token_agent && !cfg->token_reporting && !cfg->token_media)
        fprintf(stderr, "ixnserver: warning: %s: [tokens] is empty: no client can register\n",
                path);
    int errors = p->errors;
    free(p);
    return errors ? CC_E_CONFIG : 0;
}

void ixn_config_free(ixn_config *cfg)
{
    size_t pos = 0;
    cc_map_slot *sl;
    while ((sl = cc_map_next(&cfg->agents, &pos)))
        free(sl->value);
    cc_map_free(&cfg->agents);
    free(cfg->path);
    free(cfg->name);
    free(cfg->listen);
    free(cfg->port_file);
    free(cfg->http);
    free(cfg->allowed_origins);
    for (size_t i = 0; i < cfg->reason_count; i++)
        free(cfg->reasons[i].description);
    free(cfg->token_agent);
    free(cfg->token_media);
    free(cfg->token_reporting);
    free(cfg->data_dir);
    for (size_t i = 0; i < cfg->queue_count; i++) {
        free(cfg->queues[i].tenant);
        free(cfg->queues[i].name);
    }
    free(cfg->queues);
    memset(cfg, 0, sizeof *cfg);
}
