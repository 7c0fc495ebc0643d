/* A small JSON writer for outbound messages: appends to a cc_buf without building a
 * tree. Outbound messages are written "open" (an object without its closing brace) so
 * that the connection can append the per-connection "seq" and close it. */
#ifndef PROTO_JW_H
#define PROTO_JW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/** Appends s (n bytes) as a quoted JSON string, escaping as RFC 8259 requires. Bytes
 * that are not valid UTF-8 are replaced by U+FFFD so the output is always valid. */
void jw_strn(cc_buf *b, const char *s, size_t n);
/** Appends a NUL-terminated string as a quoted JSON string. */
void jw_str(cc_buf *b, const char *s);
/** Appends ,"key": (or "key": right after an opening brace). key needs no escaping. */
void jw_key(cc_buf *b, const char *key);
/** Appends ,"key":"value". */
void jw_kv_str(cc_buf *b, const char *key, const char *value);
/** Appends ,"key":N. */
void jw_kv_int(cc_buf *b, const char *key, int64_t value);
/** Appends ,"key":true or false. */
void jw_kv_bool(cc_buf *b, const char *key, bool value);
/** Appends ,"key":["s0","s1",...] with the n strings of items. */
void jw_kv_str_array(cc_buf *b, const char *key, const char *const *items, size_t n);
/** Starts an open message: {"message":"NAME". */
void jw_open_message(cc_buf *b, const char *name);

#endif
