#include "common/hostport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

int cc_parse_hostport(const char *addr, struct sockaddr_storage *ss)
{
    const char *colon = strrchr(addr, ':');
    /* strtol would also take leading blanks and a sign; a port is digits only. */
    if (!colon || colon == addr || colon[1] < '0' || colon[1] > '9')
        return -EINVAL;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        return -EINVAL;
    char host[64];
    size_t hlen = (size_t)(colon - addr);
    memset(ss, 0, sizeof *ss);
    if (addr[0] == '[') {
        if (hlen < 3 || addr[hlen - 1] != ']' || hlen - 2 >= sizeof host)
            return -EINVAL;
        memcpy(host, addr + 1, hlen - 2);
        host[hlen - 2] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            return -EINVAL;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    if (hlen >= sizeof host)
        return -EINVAL;
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return -EINVAL;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    return 0;
}

int cc_hostport_list_split(char *list, char *out[CC_HOSTPORT_LIST_MAX])
{
    int n = 0;
    for (char *p = list;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        struct sockaddr_storage ss;
        if (n == CC_HOSTPORT_LIST_MAX || cc_parse_hostport(p, &ss) != 0)
            return -EINVAL;
        out[n++] = p;
        if (!comma)
            return n;
        p = comma + 1;
    }
}

int cc_hostport_list_check(const char *list)
{
    char *copy = xstrdup(list);
    char *addrs[CC_HOSTPORT_LIST_MAX];
    int n = cc_hostport_list_split(copy, addrs);
    free(copy);
    return n;
}
