/* Logging: one line per event, key=value pairs, to stderr. Callers pass the event's own
 * pairs; the line is prefixed with a timestamp, the level and the program name. Never
 * log a password or a token. */
#ifndef CC_LOG_H
#define CC_LOG_H

enum cc_log_level { CC_LOG_DEBUG, CC_LOG_INFO, CC_LOG_WARN, CC_LOG_ERROR };

/** Sets the program name that prefixes every line, and the lowest level printed. */
void cc_log_init(const char *program, enum cc_log_level min_level);

/** Prints one line: "ts=... level=... prog=... " followed by the formatted pairs. */
void cc_log(enum cc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_DEBUG(...) cc_log(CC_LOG_DEBUG, __VA_ARGS__)
#define LOG_INFO(...) cc_log(CC_LOG_INFO, __VA_ARGS__)
#define LOG_WARN(...) cc_log(CC_LOG_WARN, __VA_ARGS__)
#define LOG_ERROR(...) cc_log(CC_LOG_ERROR, __VA_ARGS__)

#endif
