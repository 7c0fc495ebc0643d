/* Addresses and listening sockets: TCP listeners with SO_REUSEADDR,
 * and the port file that tells tests and scripts which port port 0 became. */
#ifndef NET_ADDR_H
#define NET_ADDR_H

#include <sys/socket.h>
#include <uv.h>

#include "common/hostport.h" /* cc_parse_hostport: HOST:PORT into a socket address */

/**
 * Binds and listens on addr with a TCP handle initialised by the caller (libuv sets
 * SO_REUSEADDR on TCP binds). On success *port_out is the bound port (the chosen one
 * for port 0). Returns 0 or a negative libuv error.
 */
int cc_listen_tcp(uv_tcp_t *tcp, const char *addr, uv_connection_cb cb, int *port_out);

/**
 * Writes lines "key=value" to path atomically (temporary file, then rename).
 * keys and values are parallel arrays of n strings. Returns 0 or CC_E_IO.
 */
int cc_write_port_file(const char *path, const char *const *keys, const int *values, int n);

#endif
