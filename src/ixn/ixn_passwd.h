/* Agent passwords: crypt(3) hashes from libcrypt (yescrypt by default), made by
 * `ixnserver --hash-password` and verified when an agent logs in. */
#ifndef IXN_PASSWD_H
#define IXN_PASSWD_H

#include <stdbool.h>

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

/** The --hash-password command: reads one line from stdin, prints its hash. Returns the
 * process exit status. */
int ixn_passwd_cli(unsigned long rounds);

#endif
