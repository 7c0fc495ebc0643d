/* Unit tests of the [clients] entries (src/net/creds.c): TYPE, TENANTS, HASH split at the
 * first and last comma; "*" and '|'-separated tenant lists with blanks around names;
 * every malformed entry refused with a reason; types a daemon does not serve; names
 * given twice; and the secret checked against a crypt(3) hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include "net/creds.h"

#define ALL_IXN (CC_CLIENT_AGENT | CC_CLIENT_MEDIA | CC_CLIENT_REPORTING | CC_CLIENT_SUPERVISOR)

/* A cheap hash of secret, made once per test: the parser wants a real one. */
static char *hash_of(const char *secret)
{
    char *setting = crypt_gensalt_ra("$y$", 1, NULL, 0);
    assert_non_null(setting);
    struct crypt_data *cd = calloc(1, sizeof *cd);
    char *out = crypt_rn(secret, setting, cd, sizeof *cd);
    assert_non_null(out);
    char *res = strdup(out);
    free(cd);
    free(setting);
    return res;
}

static bool add(cc_creds *cs, const char *name, const char *value, char *why)
{
    return cc_creds_add(cs, name, value, ALL_IXN, why, 256);
}

static void test_entries(void **state)
{
    (void)state;
    char *h = hash_of("s3cret");
    char v[512], why[256];
    cc_creds cs = {0};

    snprintf(v, sizeof v, "MediaServer, acme|globex, %s", h);
    assert_true(add(&cs, "ms-1", v, why));
    snprintf(v, sizeof v, "  Supervisor ,  *  ,%s  ", h);
    assert_true(add(&cs, "sup", v, why));
    /* Blanks around names are dropped; a name may hold blanks and commas inside. */
    snprintf(v, sizeof v, "ReportingEngine, big corp | a,b |acme|acme, %s", h);
    assert_true(add(&cs, "re", v, why));

    const cc_cred *c = cc_creds_find(&cs, "ms-1");
    assert_non_null(c);
    assert_int_equal(c->type, CC_CLIENT_MEDIA);
    assert_false(c->tenants.all);
    assert_int_equal(c->tenants.count, 2);
    assert_true(cc_tenant_set_has(&c->tenants, "acme"));
    assert_true(cc_tenant_set_has(&c->tenants, "globex"));
    assert_false(cc_tenant_set_has(&c->tenants, "initech"));
    assert_false(cc_tenant_set_has(&c->tenants, "acm"));
    assert_string_equal(c->hash, h);

    c = cc_creds_find(&cs, "sup");
    assert_non_null(c);
    assert_int_equal(c->type, CC_CLIENT_SUPERVISOR);
    assert_true(c->tenants.all);
    assert_true(cc_tenant_set_has(&c->tenants, "anything"));
    assert_string_equal(c->hash, h);

    c = cc_creds_find(&cs, "re");
    assert_non_null(c);
    assert_int_equal(c->tenants.count, 3); /* acme once */
    assert_true(cc_tenant_set_has(&c->tenants, "big corp"));
    assert_true(cc_tenant_set_has(&c->tenants, "a,b"));
    assert_true(cc_tenant_set_has(&c->tenants, "acme"));

    assert_null(cc_creds_find(&cs, "nobody"));
    assert_null(cc_creds_find(NULL, "ms-1"));
    assert_true(cc_tenant_set_has(NULL, "x"));

    assert_true(cc_creds_verify("s3cret", cs.v[0].hash));
    assert_false(cc_creds_verify("s3cret ", cs.v[0].hash));
    assert_false(cc_creds_verify("", cs.v[0].hash));

    cc_creds_free(&cs);
    assert_int_equal(cs.count, 0);
    free(h);
}

static void test_refused(void **state)
{
    (void)state;
    char *h = hash_of("s3cret");
    char v[512], why[256];
    cc_creds cs = {0};
    snprintf(v, sizeof v, "MediaServer, acme, %s", h);
    assert_true(add(&cs, "ms", v, why));

    /* Each value is before, the hash (unless no_hash), then after. */
    struct {
        const char *name, *before, *after, *why;
        bool no_hash;
    } bad[] = {
        {"ms", "MediaServer, acme, ", "", "twice", false},
        {"", "MediaServer, acme, ", "", "name", false},
        {"x", "MediaServer acme ", "", "TYPE, TENANTS, HASH", false},
        {"x", "MediaServer, ", "", "TYPE, TENANTS, HASH", false},
        {"x", "Mediaserver, acme, ", "", "TYPE", false},
        {"x", "StatClient, acme, ", "", "TYPE", false},
        {"x", "MediaServer, , ", "", "empty", false},
        {"x", "MediaServer, acme|, ", "", "tenant", false},
        {"x", "MediaServer, |acme, ", "", "tenant", false},
        {"x", "MediaServer, acme|*, ", "", "alone", false},
        {"x", "MediaServer, acme, not-a-hash", "", "HASH", false},
        {"x", "MediaServer, acme, s3cret", "", "HASH", true},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(v, sizeof v, "%s%s%s", bad[i].before, bad[i].no_hash ? "" : h, bad[i].after);
        why[0] = '\0';
        assert_false(add(&cs, bad[i].name, v, why));
        assert_non_null(strstr(why, bad[i].why));
    }
    /* A tenant over the identifier limit. */
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    snprintf(v, sizeof v, "MediaServer, %s, %s", longname, h);
    assert_false(add(&cs, "x", v, why));
    /* The statserver serves StatClients only. */
    snprintf(v, sizeof v, "MediaServer, acme, %s", h);
    assert_false(cc_creds_add(&cs, "y", v, CC_CLIENT_STAT, why, sizeof why));
    snprintf(v, sizeof v, "StatClient, acme, %s", h);
    assert_true(cc_creds_add(&cs, "y", v, CC_CLIENT_STAT, why, sizeof why));
    assert_int_equal(cs.count, 2);
    cc_creds_free(&cs);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entries),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
