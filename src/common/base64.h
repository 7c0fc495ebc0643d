/* Base64 with the standard alphabet and padding (RFC 4648 section 4), for the WebSocket
 * handshake's Sec-WebSocket-Key and Sec-WebSocket-Accept. */
#ifndef CC_BASE64_H
#define CC_BASE64_H

#include <stddef.h>
#include <stdint.h>

/** The encoded length of n bytes, without a terminating NUL. */
#define CC_BASE64_LEN(n) ((((n) + 2u) / 3u) * 4u)

/** Encodes n bytes into out, which must hold CC_BASE64_LEN(n) + 1 bytes; NUL-terminates
 * and returns the encoded length. */
size_t cc_base64_encode(const uint8_t *in, size_t n, char *out);

/**
 * Decodes len characters of padded base64 into out (at most cap bytes). Rejects anything
 * not in canonical form: a length not a multiple of 4, characters outside the alphabet,
 * misplaced padding, and non-zero bits after the last byte. Returns the number of bytes
 * decoded, or -1.
 */
long cc_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
