#include "common/partition.h"

#include <string.h>

#define FNV64_OFFSET 14695981039346656037ULL
#define FNV64_PRIME 1099511628211ULL

static uint64_t fnv_step(uint64_t h, const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV64_PRIME;
    }
    return h;
}

uint64_t cc_partition_fnv1a64(const void *data, size_t len)
{
    return fnv_step(FNV64_OFFSET, data, len);
}

uint64_t cc_partition_hash(const char *tenant, const char *agent_id)
{
    static const unsigned char nul = 0;
    uint64_t h = fnv_step(FNV64_OFFSET, (const unsigned char *)tenant, strlen(tenant));
    h = fnv_step(h, &nul, 1);
    return fnv_step(h, (const unsigned char *)agent_id, strlen(agent_id));
}

uint32_t cc_partition_of(const char *tenant, const char *agent_id, uint32_t count)
{
    return count <= 1 ? 0 : (uint32_t)(cc_partition_hash(tenant, agent_id) % count);
}

/* Reads a decimal number of at most 9 digits (no sign, no spaces) up to stop. */
static bool read_num(const char **p, char stop, uint32_t *out)
{
    uint32_t v = 0;
    int digits = 0;
    for (; **p >= '0' && **p <= '9'; (*p)++) {
        if (++digits > 9)
            return false;
        v = v * 10 + (uint32_t)(**p - '0');
    }
    if (digits == 0 || **p != stop)
        return false;
    *out = v;
    return true;
}

bool cc_partition_parse(const char *text, uint32_t *index, uint32_t *count)
{
    uint32_t i, n;
    const char *p = text;
    if (!read_num(&p, '/', &i))
        return false;
    p++;
    if (!read_num(&p, '\0', &n))
        return false;
    if (n < 1 || n > CC_PARTITION_COUNT_MAX || i >= n)
        return false;
    *index = i;
    *count = n;
    return true;
}
