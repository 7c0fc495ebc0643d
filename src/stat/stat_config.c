#include "stat/stat_config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/alloc.h"
#include "common/err.h"
#include "net/addr.h"
#include "net/web.h"
#include "proto/msg.h"

#define IXN_PREFIX "ixn:"

/* inih does not tell a handler the line it is on, so the reader below counts lines and
 * the handler reads the count for its messages. */
typedef struct cfg_state {
    stat_config *cfg;
    FILE *f;
    int line;
    bool at_line_start;
    int errors;
    char *rules_raw; /* the rules value as written, resolved after parsing */
} cfg_state;

static char *line_reader(char *str, int num, void *stream)
{
    cfg_state *st = stream;
    char *r = fgets(str, num, st->f);
    if (!r)
        return NULL;
    if (st->at_line_start)
        st->line++;
    st->at_line_start = strchr(r, '\n') != NULL;
    return r;
}

static void cfg_error(cfg_state *st, const char *section, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void cfg_error(cfg_state *st, const char *section, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "statserver: error: %s:%d: [%s] %s: ", st->cfg->path, st->line, section, key);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    st->errors++;
}

static void cfg_warn(cfg_state *st, const char *section, const char *key, const char *what)
{
    fprintf(stderr, "statserver: warning: %s:%d: [%s] %s: %s\n", st->cfg->path, st->line, section,
            key, what);
}

/* A decimal number in [min, max]; the whole value must be digits. */
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

static bool parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = xstrdup(v);
}

static bool address_ok(const char *v)
{
    struct sockaddr_storage ss;
    return cc_parse_hostport(v, &ss) == 0;
}

static void server_key(cfg_state *st, const char *key, const char *v)
{
    stat_config *cfg = st->cfg;
    uint64_t n;
    if (strcmp(key, "name") == 0) {
        if (!*v || strlen(v) > PROTO_ID_MAX)
            cfg_error(st, "server", key, "must be 1..%d bytes", PROTO_ID_MAX);
        else
            set_str(&cfg->name, v);
    } else if (strcmp(key, "listen") == 0) {
        if (!address_ok(v))
            cfg_error(st, "server", key, "\"%s\" is not HOST:PORT", v);
        else
            set_str(&cfg->listen, v);
    } else if (strcmp(key, "http") == 0) {
        if (!address_ok(v))
            cfg_error(st, "server", key, "\"%s\" is not HOST:PORT", v);
        else
            set_str(&cfg->http, v);
    } else if (strcmp(key, "allowed-origins") == 0) {
        char err[200];
        if (cc_web_check_origins(v, err, sizeof err) != 0)
            cfg_error(st, "server", key, "%s", err);
        else
            set_str(&cfg->allowed_origins, v);
    } else if (strcmp(key, "port-file") == 0) {
        if (!*v)
            cfg_error(st, "server", key, "must not be empty");
        else
            set_str(&cfg->port_file, v);
    } else if (strcmp(key, "token") == 0) {
        if (strlen(v) > PROTO_TEXT_MAX)
            cfg_error(st, "server", key, "longer than %d bytes", PROTO_TEXT_MAX);
        else
            set_str(&cfg->token, v);
    } else if (strcmp(key, "rules") == 0) {
        if (!*v)
            cfg_error(st, "server", key, "must not be empty");
        else
            set_str(&st->rules_raw, v);
    } else if (strcmp(key, "count-after-work") == 0) {
        if (!parse_bool(v, &cfg->count_after_work))
            cfg_error(st, "server", key, "\"%s\" is not yes or no", v);
    } else if (strcmp(key, "idle-timeout") == 0) {
        if (!parse_num(v, 0, 86400, &n))
            cfg_error(st, "server", key, "\"%s\" is not a number of seconds 0..86400", v);
        else
            cfg->idle_timeout_s = (unsigned)n;
    } else if (strcmp(key, "max-line") == 0) {
        if (!parse_num(v, 1024, 16u << 20, &n))
            cfg_error(st, "server", key, "\"%s\" is not a number 1024..16777216", v);
        else
            cfg->max_line = (size_t)n;
    } else if (strcmp(key, "out-limit") == 0 || strcmp(key, "link-out-limit") == 0) {
        if (!parse_num(v, 65536, (uint64_t)4 << 30, &n))
            cfg_error(st, "server", key, "\"%s\" is not a number of bytes 65536..4294967296", v);
        else if (key[0] == 'o')
            cfg->out_limit = (size_t)n;
        else
            cfg->link_out_limit = (size_t)n;
    } else if (strcmp(key, "max-agents") == 0) {
        if (!parse_num(v, 1, 100000000, &n))
            cfg_error(st, "server", key, "\"%s\" is not a number 1..100000000", v);
        else
            cfg->max_agents = (size_t)n;
    } else {
        cfg_warn(st, "server", key, "unknown key ignored");
    }
}

static stat_ixn_config *find_ixn(stat_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->ixn_count; i++)
        if (strcmp(cfg->ixns[i].name, name) == 0)
            return &cfg->ixns[i];
    return NULL;
}

static void ixn_key(cfg_state *st, const char *section, const char *name, const char *key,
                    const char *v)
{
    stat_config *cfg = st->cfg;
    stat_ixn_config *ix = find_ixn(cfg, name);
    if (!ix) {
        if (!*name || strlen(name) > PROTO_ID_MAX) {
            cfg_error(st, section, key, "the server name must be 1..%d bytes", PROTO_ID_MAX);
            return;
        }
        if (cfg->ixn_count >= STAT_LINKS_MAX) {
            cfg_error(st, section, key, "more than %d [ixn:*] sections", STAT_LINKS_MAX);
            return;
        }
        ix = &cfg->ixns[cfg->ixn_count++];
        ix->name = xstrdup(name);
        ix->token = xstrdup("");
    }
    if (strcmp(key, "address") == 0) {
        if (!address_ok(v))
            cfg_error(st, section, key, "\"%s\" is not HOST:PORT", v);
        else
            set_str(&ix->address, v);
    } else if (strcmp(key, "token") == 0) {
        if (strlen(v) > PROTO_TEXT_MAX)
            cfg_error(st, section, key, "longer than %d bytes", PROTO_TEXT_MAX);
        else
            set_str(&ix->token, v);
    } else {
        cfg_warn(st, section, key, "unknown key ignored");
    }
}

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
    cfg_state *st = user;
    if (strcmp(section, "server") == 0)
        server_key(st, key, value);
    else if (strncmp(section, IXN_PREFIX, strlen(IXN_PREFIX)) == 0)
        ixn_key(st, section, section + strlen(IXN_PREFIX), key, value);
    else
        cfg_warn(st, section, key, "unknown section ignored");
    return 1;
}

/* The rules file is named relative to the configuration file's directory, so a config
 * and its rules can move together. */
static char *resolve_relative(const char *config_path, const char *file)
{
    if (file[0] == '/')
        return xstrdup(file);
    const char *slash = strrchr(config_path, '/');
    if (!slash)
        return xstrdup(file);
    size_t dlen = (size_t)(slash - config_path) + 1;
    size_t flen = strlen(file);
    char *out = xmalloc(dlen + flen + 1);
    memcpy(out, config_path, dlen);
    memcpy(out + dlen, file, flen + 1);
    return out;
}

static void set_defaults(stat_config *cfg, const char *path)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->path = xstrdup(path);
    cfg->name = xstrdup("stat");
    cfg->listen = xstrdup("127.0.0.1:7100");
    cfg->token = xstrdup("");
    cfg->idle_timeout_s = 30;
    cfg->max_line = 65536;
    cfg->out_limit = (size_t)16 << 20;
    cfg->link_out_limit = (size_t)64 << 20;
    cfg->max_agents = 1000000;
}

int stat_config_load(const char *path, stat_config *cfg)
{
    set_defaults(cfg, path);
    cfg_state st = {.cfg = cfg, .at_line_start = true};
    st.f = fopen(path, "r");
    if (!st.f) {
        fprintf(stderr, "statserver: error: cannot open %s: %s\n", path, strerror(errno));
        return CC_E_IO;
    }
    int rc = ini_parse_stream(line_reader, &st, on_entry, &st);
    fclose(st.f);
    if (rc > 0) {
        fprintf(stderr, "statserver: error: %s:%d: syntax error\n", path, rc);
        st.errors++;
    } else if (rc < 0) {
        fprintf(stderr, "statserver: error: %s: cannot be read\n", path);
        st.errors++;
    }
    if (st.rules_raw)
        cfg->rules_path = resolve_relative(path, st.rules_raw);
    free(st.rules_raw);
    for (int i = 0; i < cfg->ixn_count; i++) {
        if (!cfg->ixns[i].address) {
            fprintf(stderr, "statserver: error: %s: [ixn:%s] address: missing\n", path,
                    cfg->ixns[i].name);
            st.errors++;
        }
    }
    if (cfg->ixn_count == 0)
        fprintf(stderr,
                "statserver: warning: %s: no [ixn:NAME] section: no agents will be "
                "reported\n",
                path);
    return st.errors ? CC_E_CONFIG : 0;
}

void stat_config_free(stat_config *cfg)
{
    free(cfg->path);
    free(cfg->name);
    free(cfg->listen);
    free(cfg->port_file);
    free(cfg->http);
    free(cfg->allowed_origins);
    free(cfg->token);
    free(cfg->rules_path);
    for (int i = 0; i < cfg->ixn_count; i++) {
        free(cfg->ixns[i].name);
        free(cfg->ixns[i].address);
        free(cfg->ixns[i].token);
    }
    memset(cfg, 0, sizeof *cfg);
}
