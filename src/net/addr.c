#include "net/addr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"

int cc_parse_hostport(const char *addr, struct sockaddr_storage *ss)
{
    const char *colon = strrchr(addr, ':');
    /* strtol would also take leading blanks and a sign; a port is digits only. */
    if (!colon || colon == addr || colon[1] < '0' || colon[1] > '9')
        return UV_EINVAL;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        return UV_EINVAL;
    char host[64];
    size_t hlen = (size_t)(colon - addr);
    if (addr[0] == '[') {
        if (hlen < 3 || addr[hlen - 1] != ']' || hlen - 2 >= sizeof host)
            return UV_EINVAL;
        memcpy(host, addr + 1, hlen - 2);
        host[hlen - 2] = '\0';
        return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss);
    }
    if (hlen >= sizeof host)
        return UV_EINVAL;
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss);
}

int cc_listen_tcp(uv_tcp_t *tcp, const char *addr, uv_connection_cb cb, int *port_out)
{
    struct sockaddr_storage ss;
    int rc = cc_parse_hostport(addr, &ss);
    if (rc < 0)
        return rc;
    rc = uv_tcp_bind(tcp, (const struct sockaddr *)&ss, 0);
    if (rc < 0)
        return rc;
    rc = uv_listen((uv_stream_t *)tcp, 1024, cb);
    if (rc < 0)
        return rc;
    struct sockaddr_storage bound;
    int len = sizeof bound;
    rc = uv_tcp_getsockname(tcp, (struct sockaddr *)&bound, &len);
    if (rc < 0)
        return rc;
    if (bound.ss_family == AF_INET)
        *port_out = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    else
        *port_out = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    return 0;
}

int cc_write_port_file(const char *path, const char *const *keys, const int *values, int n)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return CC_E_IO;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return CC_E_IO;
    for (int i = 0; i < n; i++)
        fprintf(f, "%s=%d\n", keys[i], values[i]);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return CC_E_IO;
    }
    return 0;
}
