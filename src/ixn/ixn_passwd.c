#include "ixn/ixn_passwd.h"

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "proto/msg.h"

/* yescrypt is libcrypt's strongest method and its default on Debian. */
#define IXN_PASSWD_PREFIX "$y$"

bool ixn_passwd_is_hash(const char *s)
{
    /* A full hash is a setting followed by the digest; crypt_checksalt validates the
     * method and parameters, and a hash is always longer than a bare method prefix. */
    if (s[0] != '$' || strlen(s) < 13 || strlen(s) > CRYPT_OUTPUT_SIZE - 1)
        return false;
    int rc = crypt_checksalt(s);
    return rc == CRYPT_SALT_OK || rc == CRYPT_SALT_TOO_CHEAP;
}

char *ixn_passwd_hash(const char *password, unsigned long rounds)
{
    char *setting = crypt_gensalt_ra(IXN_PASSWD_PREFIX, rounds, NULL, 0);
    if (!setting) {
        fprintf(stderr, "ixnserver: cannot make a salt with %lu rounds\n", rounds);
        return NULL;
    }
    struct crypt_data *cd = xcalloc(1, sizeof *cd);
    char *out = crypt_rn(password, setting, cd, sizeof *cd);
    char *res = (out && out[0] != '*') ? xstrdup(out) : NULL;
    if (!res)
        fprintf(stderr, "ixnserver: libcrypt could not hash the password\n");
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    free(setting);
    return res;
}

bool ixn_passwd_verify(const char *password, const char *hash)
{
    struct crypt_data *cd = xcalloc(1, sizeof *cd);
    const char *out = crypt_rn(password, hash, cd, sizeof *cd);
    bool ok = false;
    if (out && out[0] != '*') {
        /* Compare every byte, so the time taken does not say where they differ. */
        size_t lo = strlen(out), lh = strlen(hash);
        unsigned char diff = (unsigned char)(lo != lh);
        for (size_t i = 0; i < lo && i < lh; i++)
            diff |= (unsigned char)(out[i] ^ hash[i]);
        ok = diff == 0;
    }
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return ok;
}

int ixn_passwd_cli(unsigned long rounds)
{
    char line[PROTO_TEXT_MAX + 2];
    if (!fgets(line, sizeof line, stdin)) {
        fprintf(stderr, "ixnserver: no password on stdin\n");
        return 1;
    }
    size_t n = strlen(line);
    if (n == sizeof line - 1 && line[n - 1] != '\n') {
        fprintf(stderr, "ixnserver: password longer than %d bytes\n", PROTO_TEXT_MAX);
        explicit_bzero(line, sizeof line);
        return 1;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    char *hash = ixn_passwd_hash(line, rounds);
    explicit_bzero(line, sizeof line);
    if (!hash)
        return 1;
    printf("%s\n", hash);
    free(hash);
    return fflush(stdout) == 0 ? 0 : 1;
}
