#include "proto/jw.h"

#include <inttypes.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

void jw_strn(cc_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    cc_buf_reserve(b, n + 2);
    cc_buf_putc(b, '"');
    size_t run = 0; /* start of bytes that need no escaping */
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        size_t ulen = c >= 0x80 ? utf8_len(p + i, n - i) : 0;
        if (ulen > 0) {
            i += ulen;
            continue;
        }
        cc_buf_append(b, s + run, i - run);
        switch (c) {
        case '"': cc_buf_append(b, "\\\"", 2); break;
        case '\\': cc_buf_append(b, "\\\\", 2); break;
        case '\n': cc_buf_append(b, "\\n", 2); break;
        case '\r': cc_buf_append(b, "\\r", 2); break;
        case '\t': cc_buf_append(b, "\\t", 2); break;
        default:
            if (c < 0x20) {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                cc_buf_append(b, esc, 6);
            } else {
                cc_buf_append(b, "\xef\xbf\xbd", 3);
            }
        }
        i++;
        run = i;
    }
    cc_buf_append(b, s + run, n - run);
    cc_buf_putc(b, '"');
}

void jw_str(cc_buf *b, const char *s)
{
    jw_strn(b, s, strlen(s));
}

void jw_key(cc_buf *b, const char *key)
{
    if (b->len > 0 && b->data[b->len - 1] != '{' && b->data[b->len - 1] != '[')
        cc_buf_putc(b, ',');
    cc_buf_putc(b, '"');
    cc_buf_puts(b, key);
    cc_buf_append(b, "\":", 2);
}

void jw_kv_str(cc_buf *b, const char *key, const char *value)
{
    jw_key(b, key);
    jw_str(b, value);
}

void jw_kv_int(cc_buf *b, const char *key, int64_t value)
{
    jw_key(b, key);
    cc_buf_printf(b, "%" PRId64, value);
}

void jw_kv_bool(cc_buf *b, const char *key, bool value)
{
    jw_key(b, key);
    cc_buf_puts(b, value ? "true" : "false");
}

void jw_open_message(cc_buf *b, const char *name)
{
    cc_buf_puts(b, "{\"message\":");
    jw_str(b, name);
}

void jw_kv_str_array(cc_buf *b, const char *key, const char *const *items, size_t n)
{
    jw_key(b, key);
    cc_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            cc_buf_putc(b, ',');
        jw_str(b, items[i]);
    }
    cc_buf_putc(b, ']');
}
