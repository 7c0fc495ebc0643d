/* ccwatch: prints the agent statuses a statserver mirrors into NATS (docs/ha.md, "Status
 * stream on NATS"). It watches the status bucket (a JetStream KV bucket, cc_status by
 * default), all of it or one tenant's keys (`<tenant>.>`), and prints one line per agent:
 * first the snapshot of every agent's current status, then each change as it comes,
 * until it is killed. A line is the key's value as it is stored, an
 * EventCurrentAgentStatus as the statserver's StatClient port sends it; a deleted key (an
 * agent known nowhere any more) is printed as that agent's logged-out status. With
 * --once it prints the snapshot and exits.
 *
 * Exit status: 0; 1 when NATS or the bucket cannot be reached (within --timeout for the
 * snapshot); 2 for a usage error. */
#include <getopt.h>
#include <nats/nats.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/media.h"
#include "proto/msg.h"
#include "proto/statkey.h"

/* A line is at most this long: a status of every media, skills and reasons stays far
 * below it; a longer value (not one the statserver writes) is skipped. */
#define CW_VALUE_MAX (1u << 20)

static void usage(FILE *f)
{
    fprintf(f, "usage: ccwatch --nats URL [--bucket NAME] [--tenant T] [--once] [--timeout MS]\n"
               "Prints every agent's status from the NATS status bucket (default cc_status),\n"
               "one JSON line per agent, then every change until killed; --once prints the\n"
               "snapshot and exits. --tenant keeps one tenant's agents; --timeout bounds the\n"
               "connection and the snapshot (default 5000 ms).\n");
}

/* Prints the logged-out status of the agent of a deleted key. */
static void print_gone(const char *key, const cc_media_table *media, cc_buf *b)
{
    char tenant[PROTO_ID_MAX + 1], agent_id[PROTO_ID_MAX + 1];
    if (!proto_statkey_parse(key, strlen(key), tenant, sizeof tenant, agent_id, sizeof agent_id))
        return;
    proto_agent_status st;
    memset(&st, 0, sizeof st);
    st.tenant = tenant;
    st.agent_id = agent_id;
    cc_buf_reset(b);
    proto_enc_status(b, &st, media);
    cc_buf_puts(b, "}\n");
    fwrite(b->data, 1, b->len, stdout);
}

static void print_value(kvEntry *e)
{
    const void *v = kvEntry_Value(e);
    int n = kvEntry_ValueLen(e);
    if (!v || n <= 0 || (unsigned)n > CW_VALUE_MAX)
        return;
    fwrite(v, 1, (size_t)n, stdout);
    fputc('\n', stdout);
}

int main(int argc, char **argv)
{
    const char *url = NULL, *bucket = "cc_status", *tenant = NULL;
    bool once = false;
    long timeout_ms = 5000;
    static const struct option opts[] = {{"nats", required_argument, NULL, 'n'},
                                         {"bucket", required_argument, NULL, 'b'},
                                         {"tenant", required_argument, NULL, 't'},
                                         {"once", no_argument, NULL, 'o'},
                                         {"timeout", required_argument, NULL, 'T'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': url = optarg; break;
        case 'b': bucket = optarg; break;
        case 't': tenant = optarg; break;
        case 'o': once = true; break;
        case 'T': timeout_ms = strtol(optarg, NULL, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!url || optind != argc || timeout_ms < 1 || timeout_ms > 600000 ||
        (tenant && (!*tenant || strlen(tenant) > PROTO_ID_MAX))) {
        usage(stderr);
        return 2;
    }
    /* The watched keys: one tenant's are `<escaped tenant>.` and anything after. */
    char filter[PROTO_STATKEY_MAX + 2] = ">";
    if (tenant) {
        size_t n = proto_statkey_make(filter, sizeof filter, tenant, "x");
        if (!n) {
            usage(stderr);
            return 2;
        }
        filter[n - 1] = '>'; /* "<tenant>.x" -> "<tenant>.>" */
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    kvWatcher *w = NULL;
    natsOptions *no = NULL;
    natsStatus s = natsOptions_Create(&no);
    if (s == NATS_OK)
        s = natsOptions_SetURL(no, url);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(no, timeout_ms);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(no, -1);
    if (s == NATS_OK)
        s = natsConnection_Connect(&nc, no);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = timeout_ms;
    if (s == NATS_OK)
        s = natsConnection_JetStream(&js, nc, &jo);
    if (s == NATS_OK)
        s = js_KeyValue(&kv, js, bucket);
    kvWatchOptions wo;
    kvWatchOptions_Init(&wo);
    if (s == NATS_OK)
        s = kvStore_Watch(&w, kv, filter, &wo);
    int rc = 0;
    if (s != NATS_OK) {
        const char *err = nats_GetLastError(NULL);
        fprintf(stderr, "ccwatch: %s: bucket %s: %s\n", url, bucket,
                err && *err ? err : natsStatus_GetText(s));
        rc = 1;
    }
    cc_media_table media;
    cc_media_init(&media);
    cc_buf b;
    cc_buf_init(&b);
    bool snapshot = true;
    while (rc == 0) {
        kvEntry *e = NULL;
        s = kvWatcher_Next(&e, w, snapshot ? timeout_ms : 1000);
        if (s == NATS_TIMEOUT && !snapshot)
            continue;
        if (s != NATS_OK) {
            fprintf(stderr, "ccwatch: %s: %s\n", snapshot ? "no snapshot" : "watch ended",
                    natsStatus_GetText(s));
            rc = 1;
            break;
        }
        if (!e) {
            /* The initial values are in. */
            snapshot = false;
            if (once)
                break;
            continue;
        }
        if (kvEntry_Operation(e) == kvOp_Put)
            print_value(e);
        else if (!snapshot)
            print_gone(kvEntry_Key(e), &media, &b);
        kvEntry_Destroy(e);
    }
    cc_buf_free(&b);
    kvWatcher_Destroy(w);
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(no);
    nats_Close();
    return rc;
}
