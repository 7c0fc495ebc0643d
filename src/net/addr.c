#include "net/addr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"

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
