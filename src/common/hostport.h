/* HOST:PORT addresses as the configuration files and command lines write them. No I/O
 * and no event loop: config checks in src/common use it, and src/net listens and
 * connects with what it returns. */
#ifndef COMMON_HOSTPORT_H
#define COMMON_HOSTPORT_H

#include <sys/socket.h>

/**
 * Parses "HOST:PORT" (an IPv4 literal, an "[IPv6]" literal, or "localhost", which means
 * 127.0.0.1; the port 0..65535 in digits only) into ss. Returns 0 or -EINVAL (which is
 * libuv's UV_EINVAL, so callers may pass it to uv_strerror).
 */
int cc_parse_hostport(const char *addr, struct sockaddr_storage *ss);

/** Most addresses in one list (cc_hostport_list_split). */
#define CC_HOSTPORT_LIST_MAX 8

/**
 * Splits "HOST:PORT[,HOST:PORT...]" (no blanks; at most CC_HOSTPORT_LIST_MAX entries,
 * each valid for cc_parse_hostport) in place of a copy the caller owns: the commas of
 * list become NULs and out[i] points at each address. Returns how many, or -EINVAL
 * (an empty entry, a bad address, too many).
 */
int cc_hostport_list_split(char *list, char *out[CC_HOSTPORT_LIST_MAX]);

/** Checks an address list as cc_hostport_list_split would: its count, or -EINVAL. */
int cc_hostport_list_check(const char *list);

#endif
