#include "common/conf.h"

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
#include "common/hostport.h"

/* State of one cc_conf_parse: inih does not give handlers the line number, so the reader
 * counts lines in c->line and the handler reads it from there. */
typedef struct conf_reader {
    cc_conf *c;
    cc_conf_handler handler;
    FILE *f;
    char section[CC_CONF_LINE_MAX]; /* the section the reader last saw */
    char buf[CC_CONF_LINE_MAX + 2];
} conf_reader;

void cc_conf_init(cc_conf *c, const char *prog, const char *path, void *user)
{
    memset(c, 0, sizeof *c);
    c->prog = prog;
    c->path = path;
    c->user = user;
    cc_map_init(&c->seen);
}

void cc_conf_free(cc_conf *c)
{
    cc_map_free(&c->seen);
}

void cc_conf_error(cc_conf *c, const char *section, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: error: %s:%d: [%s] %s: ", c->prog, c->path, c->line, section, key);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    c->errors++;
}

void cc_conf_warn(cc_conf *c, const char *section, const char *key, const char *what)
{
    fprintf(stderr, "%s: warning: %s:%d: [%s] %s: %s\n", c->prog, c->path, c->line, section, key,
            what);
}

void cc_conf_file_error(cc_conf *c, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (line > 0)
        fprintf(stderr, "%s: error: %s:%d: ", c->prog, c->path, line);
    else
        fprintf(stderr, "%s: error: %s: ", c->prog, c->path);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    c->errors++;
}

void cc_conf_file_warn(cc_conf *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: warning: %s: ", c->prog, c->path);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

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
static void long_pair(conf_reader *r, char *line)
{
    cc_conf *c = r->c;
    char *s = trim(line);
    if (*s == ';' || *s == '#' || *s == '\0')
        return;
    if (*s == '[') {
        cc_conf_file_error(c, c->line, "section name too long");
        return;
    }
    char *eq = strpbrk(s, "=:");
    if (!eq) {
        cc_conf_file_error(c, c->line, "syntax error");
        return;
    }
    *eq = '\0';
    char *value = eq + 1;
    for (char *v = value; *v; v++) {
        if (*v == ';' && (v == value || isspace((unsigned char)v[-1]))) {
            *v = '\0';
            break;
        }
    }
    r->handler(c, r->section, trim(s), trim(value));
}

static bool raw_section(const cc_conf *c, const char *section)
{
    for (const char *const *s = c->raw_sections; s && *s; s++)
        if (strcmp(*s, section) == 0)
            return true;
    return false;
}

/* A key = value line of a raw section: split at the first '=', the value kept whole
 * (a " ;" inside it is part of it), with the column the value starts at. */
static void raw_pair(conf_reader *r, char *line)
{
    cc_conf *c = r->c;
    char *s = trim(line);
    if (*s == ';' || *s == '#' || *s == '\0')
        return;
    char *eq = strchr(s, '=');
    if (!eq) {
        cc_conf_file_error(c, c->line, "syntax error: expected KEY = VALUE");
        return;
    }
    *eq = '\0';
    char *value = eq + 1;
    while (*value == ' ' || *value == '\t')
        value++;
    c->value_column = (int)(value - line) + 1;
    r->handler(c, r->section, trim(s), trim(value));
    c->value_column = 0;
}

static char *count_reader(char *str, int num, void *stream)
{
    conf_reader *r = stream;
    cc_conf *c = r->c;
    if (!fgets(r->buf, sizeof r->buf, r->f))
        return NULL;
    c->line++;
    size_t n = strlen(r->buf);
    if (n == sizeof r->buf - 1 && r->buf[n - 1] != '\n') {
        cc_conf_file_error(c, c->line, "line longer than %d bytes", CC_CONF_LINE_MAX);
        int ch;
        while ((ch = fgetc(r->f)) != EOF && ch != '\n')
            ;
        snprintf(str, (size_t)num, "%s", "\n");
        return str;
    }
    char *t = r->buf;
    while (*t == ' ' || *t == '\t')
        t++;
    if (*t != '[' && raw_section(c, r->section)) {
        raw_pair(r, r->buf);
        snprintf(str, (size_t)num, "%s", "\n");
        return str;
    }
    if (n < (size_t)num) {
        char *end = *t == '[' ? strchr(t, ']') : NULL;
        if (end)
            snprintf(r->section, sizeof r->section, "%.*s", (int)(end - t - 1), t + 1);
        memcpy(str, r->buf, n + 1);
        return str;
    }
    long_pair(r, r->buf);
    snprintf(str, (size_t)num, "%s", "\n");
    return str;
}

static int on_pair(void *user, const char *section, const char *key, const char *value)
{
    conf_reader *r = user;
    r->handler(r->c, section, key, value);
    return 1;
}

int cc_conf_parse(cc_conf *c, cc_conf_handler handler)
{
    conf_reader *r = xcalloc(1, sizeof *r);
    r->c = c;
    r->handler = handler;
    r->f = fopen(c->path, "r");
    if (!r->f) {
        int saved = errno;
        free(r);
        errno = saved;
        return CC_E_IO;
    }
    /* The reader hands inih exactly one physical line per call, so inih's line number
     * of its first syntax error is the file's. */
    int rc = ini_parse_stream(count_reader, r, on_pair, r);
    fclose(r->f);
    free(r);
    return rc < 0 ? CC_E_PARSE : rc;
}

bool cc_conf_num(const char *v, uint64_t min, uint64_t max, uint64_t *out)
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

bool cc_conf_bool(const char *v, bool *out)
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

void cc_conf_set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = xstrdup(v);
}

void cc_conf_set_text(cc_conf *c, const char *section, const char *key, const char *v, size_t min,
                      size_t max, char **dst)
{
    size_t n = strlen(v);
    if (n >= min && n <= max)
        cc_conf_set_str(dst, v);
    else if (min == 1 && max == SIZE_MAX)
        cc_conf_error(c, section, key, "%s", "must not be empty");
    else if (min == 0)
        cc_conf_error(c, section, key, "longer than %zu bytes", max);
    else
        cc_conf_error(c, section, key, "must be %zu..%zu bytes", min, max);
}

bool cc_conf_hostport_ok(const char *v)
{
    struct sockaddr_storage ss;
    return cc_parse_hostport(v, &ss) == 0;
}

void cc_conf_set_hostport_list(cc_conf *c, const char *section, const char *key, const char *v,
                               char **dst)
{
    if (cc_hostport_list_check(v) < 0)
        cc_conf_error(c, section, key,
                      "\"%s\" is not HOST:PORT or a list HOST:PORT,HOST:PORT (at most %d)", v,
                      CC_HOSTPORT_LIST_MAX);
    else
        cc_conf_set_str(dst, v);
}

void cc_conf_set_hostport(cc_conf *c, const char *section, const char *key, const char *v,
                          char **dst)
{
    if (!cc_conf_hostport_ok(v))
        cc_conf_error(c, section, key, "\"%s\" is not HOST:PORT", v);
    else
        cc_conf_set_str(dst, v);
}

/* The map key of a (section, key) pair: section names cannot hold a NUL byte, so
 * "section\0key" is unambiguous. The result is xmalloc'd; *len gets its length. */
static char *seen_key(const char *section, const char *key, size_t *len)
{
    size_t slen = strlen(section), klen = strlen(key);
    char *k = xmalloc(slen + 1 + klen);
    memcpy(k, section, slen + 1);
    memcpy(k + slen + 1, key, klen);
    *len = slen + 1 + klen;
    return k;
}

bool cc_conf_twice(cc_conf *c, const char *section, const char *key)
{
    size_t len;
    char *k = seen_key(section, key, &len);
    bool seen = cc_map_get(&c->seen, k, len) != NULL;
    free(k);
    if (seen)
        cc_conf_error(c, section, key, "%s", "given twice");
    return seen;
}

void cc_conf_mark(cc_conf *c, const char *section, const char *key)
{
    size_t len;
    char *k = seen_key(section, key, &len);
    cc_map_put(&c->seen, k, len, (void *)1);
    free(k);
}
