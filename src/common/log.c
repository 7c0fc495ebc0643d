#include "common/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *log_program = "cc";
static enum cc_log_level log_min = CC_LOG_INFO;

void cc_log_init(const char *program, enum cc_log_level min_level)
{
    log_program = program;
    log_min = min_level;
}

/* A value needs quotes when a reader splitting the line at spaces and each pair at its
 * first '=' could misread it, or when it holds bytes that are not printable ASCII. */
static bool plain_byte(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '=' && c != '"' && c != '\\';
}

/* The escaped form of byte c into esc (5 bytes); returns its length. */
static size_t escape_byte(unsigned char c, char *esc)
{
    if (c == '"' || c == '\\') {
        esc[0] = '\\';
        esc[1] = (char)c;
        return 2;
    }
    if (c < 0x20 || c >= 0x7f) {
        snprintf(esc, 5, "\\x%02x", c);
        return 4;
    }
    esc[0] = (char)c;
    return 1;
}

const char *cc_log_quote_n(char *out, size_t cap, const char *s, size_t n)
{
    if (!s) {
        snprintf(out, cap, "%s", "-");
        return out;
    }
    bool plain = n > 0 && n < cap;
    for (size_t i = 0; plain && i < n; i++)
        plain = plain_byte((unsigned char)s[i]);
    if (plain) {
        memcpy(out, s, n);
        out[n] = '\0';
        return out;
    }
    char esc[5];
    size_t need = 2;
    for (size_t i = 0; i < n; i++)
        need += escape_byte((unsigned char)s[i], esc);
    /* Without the room for the value and its NUL, keep room for "...", the closing quote
     * and the NUL after the part that is written. */
    bool cut = need >= cap;
    size_t stop = cut ? cap - 5 : cap - 2;
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        size_t len = escape_byte((unsigned char)s[i], esc);
        if (o + len > stop)
            break;
        memcpy(out + o, esc, len);
        o += len;
    }
    if (cut) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

const char *cc_log_quote(char *out, size_t cap, const char *s)
{
    return cc_log_quote_n(out, cap, s, s ? strlen(s) : 0);
}

void cc_log(enum cc_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (level < log_min)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[2048];
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s prog=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, names[level], log_program);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    /* A value that reached the line without LOGQ must still not start a line of its own. */
    for (size_t i = (size_t)n; i < len; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}
