/* Logging: one line per event, key=value pairs, to stderr. Callers pass the event's own
 * pairs; the line is prefixed with a timestamp, the level and the program name. Never
 * log a password or a token. Every value that a peer chose (identifiers, names, error
 * descriptions) goes through LOGQ, so that "agent=x level=error" inside an agent id
 * stays one quoted value instead of a second field. */
#ifndef CC_LOG_H
#define CC_LOG_H

#include <stddef.h>

enum cc_log_level { CC_LOG_DEBUG, CC_LOG_INFO, CC_LOG_WARN, CC_LOG_ERROR };

/** Sets the program name that prefixes every line, and the lowest level printed. */
void cc_log_init(const char *program, enum cc_log_level min_level);

/** Prints one line: "ts=... level=... prog=... " followed by the formatted pairs. */
void cc_log(enum cc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Room cc_log_quote needs for any identifier of the protocol (128 bytes, each byte
 * possibly escaped to four) with its quotes and NUL; longer values are cut to fit. */
#define CC_LOG_VALUE_MAX 560

/** Writes s into out (cap bytes, at least 8) as one log value that can never forge a field
 * or a line: as is when it is non-empty and only printable ASCII other than space, '=',
 * '"' and '\'; otherwise in double quotes, with '"' and '\' written \" and \\ and every
 * other byte outside printable ASCII (control characters, DEL, UTF-8) as \xNN. A value
 * that does not fit is cut between two input bytes and ends with "..." inside the quotes.
 * NULL is written as "-". Returns out. */
const char *cc_log_quote(char *out, size_t cap, const char *s);

/** Like cc_log_quote for the n bytes at s (which may hold NUL bytes: they are escaped). */
const char *cc_log_quote_n(char *out, size_t cap, const char *s, size_t n);

/** A peer-supplied (or otherwise free-form) string as a %s argument of LOG_*:
 * LOG_INFO("event=x agent=%s", LOGQ(id)). The buffer is a compound literal that lives
 * until the end of the enclosing block, so the call's arguments may use several. */
#define LOGQ(s) cc_log_quote((char[CC_LOG_VALUE_MAX]){0}, CC_LOG_VALUE_MAX, (s))

/** LOGQ for n bytes at s. */
#define LOGQN(s, n) cc_log_quote_n((char[CC_LOG_VALUE_MAX]){0}, CC_LOG_VALUE_MAX, (s), (n))

#define LOG_DEBUG(...) cc_log(CC_LOG_DEBUG, __VA_ARGS__)
#define LOG_INFO(...) cc_log(CC_LOG_INFO, __VA_ARGS__)
#define LOG_WARN(...) cc_log(CC_LOG_WARN, __VA_ARGS__)
#define LOG_ERROR(...) cc_log(CC_LOG_ERROR, __VA_ARGS__)

#endif
