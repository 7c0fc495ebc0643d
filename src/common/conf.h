/* Reading a daemon's configuration file (inih format): a line-counting reader that also
 * takes lines longer than inih's own limit, messages of the form
 * "PROG: error: FILE:LINE: [section] key: message", and the value checks that every
 * daemon's keys share (numbers in a range, booleans, HOST:PORT, keys given twice). What
 * the keys mean stays with each daemon's handler. */
#ifndef CC_CONF_H
#define CC_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/map.h"

/** Longest configuration line accepted, in bytes; a longer line is an error. */
#define CC_CONF_LINE_MAX 4096

/** The state of reading one configuration file, shared by the reader and the handler. */
typedef struct cc_conf {
    const char *prog; /* the program name every message starts with */
    const char *path; /* the file, as named in messages */
    int line;         /* line of the pair being handled; 0 before the first line */
    int errors;       /* errors reported so far (by cc_conf itself and by the handler) */
    void *user;       /* the daemon's context for its handler */
    cc_map seen;      /* keys marked by cc_conf_mark, as "section\0key" */
    /* Sections whose values keep " ;" (NULL-terminated; set by the caller before parsing):
     * their lines are split at the first '=' only, and only a whole line starting with ';'
     * or '#' is a comment. [targets] needs it: ';' separates its steps. */
    const char *const *raw_sections;
    int value_column; /* 1-based column of the value in its line, for raw sections; else 0 */
} cc_conf;

/**
 * Called for every key = value pair, in file order, with c->line set to the pair's line.
 * section is "" before the first section header.
 */
typedef void (*cc_conf_handler)(cc_conf *c, const char *section, const char *key,
                                const char *value);

/**
 * Prepares c for reading path on behalf of prog. prog and path are borrowed and must
 * outlive c; user is handed to the handler through c->user.
 */
void cc_conf_init(cc_conf *c, const char *prog, const char *path, void *user);

/** Frees what c holds (not prog, path or user). */
void cc_conf_free(cc_conf *c);

/**
 * Reads c->path with inih, one physical line at a time so that line numbers are the
 * file's, and calls handler for every pair. A key = value line longer than inih's limit
 * is split by this reader with inih's rules; a line longer than CC_CONF_LINE_MAX and a
 * section header longer than inih's limit are reported as errors. Returns 0 when the file
 * was read, the line (> 0) of inih's first syntax error, which the caller reports with
 * cc_conf_file_error once its own checks are done, CC_E_IO when the file cannot be opened
 * (errno says why; nothing is printed), or CC_E_PARSE when inih itself fails.
 */
int cc_conf_parse(cc_conf *c, cc_conf_handler handler);

/**
 * Prints "PROG: error: FILE:LINE: [section] key: message" for the current line to stderr
 * and counts the error.
 */
void cc_conf_error(cc_conf *c, const char *section, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Prints "PROG: warning: FILE:LINE: [section] key: what" for the current line to stderr. */
void cc_conf_warn(cc_conf *c, const char *section, const char *key, const char *what);

/**
 * Prints "PROG: error: FILE:LINE: message" to stderr, or "PROG: error: FILE: message" when
 * line is 0 (for what concerns the whole file), and counts the error.
 */
void cc_conf_file_error(cc_conf *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Prints "PROG: warning: FILE: message" to stderr: a remark on the whole file. */
void cc_conf_file_warn(cc_conf *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Parses a decimal number in [min, max] into *out. The whole value must be digits: no
 * sign, blank or suffix. Returns false (leaving *out alone) otherwise.
 */
bool cc_conf_num(const char *v, uint64_t min, uint64_t max, uint64_t *out);

/**
 * Parses yes/true/on/1 or no/false/off/0, in any case, into *out. Returns false (leaving
 * *out alone) for anything else.
 */
bool cc_conf_bool(const char *v, bool *out);

/** Replaces the string *dst (freed; may be NULL) with a copy of v. */
void cc_conf_set_str(char **dst, const char *v);

/**
 * Checks that v is min..max bytes long and stores a copy in *dst (the old string freed);
 * otherwise reports for [section] key "must not be empty" (min 1, max SIZE_MAX),
 * "longer than MAX bytes" (min 0) or "must be MIN..MAX bytes", and leaves *dst alone.
 */
void cc_conf_set_text(cc_conf *c, const char *section, const char *key, const char *v, size_t min,
                      size_t max, char **dst);

/** Whether v is a HOST:PORT the daemons can listen on or connect to (cc_parse_hostport). */
bool cc_conf_hostport_ok(const char *v);

/**
 * Checks that v is HOST:PORT and stores a copy in *dst; otherwise reports
 * "\"V\" is not HOST:PORT" for [section] key and leaves *dst alone.
 */
void cc_conf_set_hostport(cc_conf *c, const char *section, const char *key, const char *v,
                          char **dst);
/**
 * Like cc_conf_set_hostport, but v may also be a list "HOST:PORT,HOST:PORT" of at most
 * CC_HOSTPORT_LIST_MAX addresses, tried in turn (an owner and its standbys).
 */
void cc_conf_set_hostport_list(cc_conf *c, const char *section, const char *key, const char *v,
                               char **dst);

/**
 * For keys that may be given only once: when key of section was marked by cc_conf_mark,
 * reports "given twice" and returns true; otherwise returns false.
 */
bool cc_conf_twice(cc_conf *c, const char *section, const char *key);

/** Marks key of section as given, for cc_conf_twice. */
void cc_conf_mark(cc_conf *c, const char *section, const char *key);

#endif
