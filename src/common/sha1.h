/* SHA-1 (FIPS 180-4), only for the WebSocket handshake (RFC 6455 section 4.2.2), where
 * the protocol fixes the algorithm. Not for anything that needs collision resistance. */
#ifndef CC_SHA1_H
#define CC_SHA1_H

#include <stddef.h>
#include <stdint.h>

/** The length of a SHA-1 digest in bytes. */
#define CC_SHA1_LEN 20

/** Incremental SHA-1 state. */
typedef struct cc_sha1 {
    uint32_t h[5];
    uint64_t total; /* bytes fed so far */
    uint8_t block[64];
    size_t fill; /* bytes waiting in block */
} cc_sha1;

/** Starts a new digest. */
void cc_sha1_init(cc_sha1 *s);
/** Feeds n bytes. */
void cc_sha1_update(cc_sha1 *s, const void *data, size_t n);
/** Finishes the digest into out; s must be initialised again before reuse. */
void cc_sha1_final(cc_sha1 *s, uint8_t out[CC_SHA1_LEN]);
/** The digest of n bytes in one call. */
void cc_sha1_digest(const void *data, size_t n, uint8_t out[CC_SHA1_LEN]);

#endif
