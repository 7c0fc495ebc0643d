/* Partitions of agents between reporting engines (docs/protocol.md, "Partitions"): an
 * agent belongs to partition FNV-1a-64(tenant NUL agentId) mod count. One definition, so
 * that the interaction server, the statserver and any tool agree on every owner. No I/O. */
#ifndef COMMON_PARTITION_H
#define COMMON_PARTITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The largest partition count accepted, in the protocol and in configuration files. */
#define CC_PARTITION_COUNT_MAX 4096

/** FNV-1a 64 of len bytes (offset basis 14695981039346656037, prime 1099511628211). */
uint64_t cc_partition_fnv1a64(const void *data, size_t len);

/** The agent's hash: FNV-1a 64 of the tenant's bytes, one NUL byte, the agentId's bytes. */
uint64_t cc_partition_hash(const char *tenant, const char *agent_id);

/** The partition (0..count-1) the agent belongs to among count (>= 1). */
uint32_t cc_partition_of(const char *tenant, const char *agent_id, uint32_t count);

/**
 * Parses "I/N" (decimal digits only, 0 <= I < N, 1 <= N <= CC_PARTITION_COUNT_MAX) into
 * *index and *count. Returns true when valid; the outputs are untouched otherwise.
 */
bool cc_partition_parse(const char *text, uint32_t *index, uint32_t *count);

#endif
