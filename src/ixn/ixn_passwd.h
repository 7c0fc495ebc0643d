/* Agent passwords: crypt(3) hashes from libcrypt (yescrypt by default), made by
 * `ixnserver --hash-password` and verified when an agent logs in. */
#ifndef IXN_PASSWD_H
#define IXN_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

/** True when s looks like a crypt(3) hash of a method this libcrypt supports. */
bool ixn_passwd_is_hash(const char *s);

/**
 * Hashes password with a fresh random salt; rounds 0 = the method's default cost.
 * Returns a new string (free it), or NULL when libcrypt refuses (message on stderr).
 */
char *ixn_passwd_hash(const char *password, unsigned long rounds);

/**
 * True when password matches hash. Blocking (it is the slow part of a login): run it on
 * the thread pool. Safe to call from several threads at once.
 */
bool ixn_passwd_verify(const char *password, const char *hash);

/**
 * True when hash is of a method whose cost this server can read (yescrypt, gost-yescrypt,
 * scrypt, bcrypt, sha256crypt, sha512crypt) and that cost is below the one libcrypt
 * gives the method by default (what --hash-password makes without --rounds): such a hash
 * is faster to guess than it should be. why gets both costs, e.g. "yescrypt N=1024 r=8
 * p=1, below the default N=4096 r=32 p=1".
 */
bool ixn_passwd_too_cheap(const char *hash, char *why, size_t why_len);

/** The --hash-password command: reads one line from stdin, prints its hash. Returns the
 * process exit status. */
int ixn_passwd_cli(unsigned long rounds);

#endif
