#include "common/ticker.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/alloc.h"

struct cc_ticker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC: a wall clock set back does not stall it */
    unsigned period_ms;
    int nice;
    void (*fn)(void *arg);
    void *arg;
    /* guarded by mu */
    bool kicked;
    bool stop;
};

struct timespec cc_deadline_after(clockid_t clock, uint64_t ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void *ticker_main(void *p)
{
    cc_ticker *t = p;
    if (t->nice)
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), t->nice);
    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        if (!t->kicked) {
            struct timespec until = cc_deadline_after(CLOCK_MONOTONIC, t->period_ms);
            pthread_cond_timedwait(&t->cond, &t->mu, &until);
            if (t->stop)
                break;
        }
        t->kicked = false;
        pthread_mutex_unlock(&t->mu);
        t->fn(t->arg);
        pthread_mutex_lock(&t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

cc_ticker *cc_ticker_start(unsigned period_ms, int nice, void (*fn)(void *arg), void *arg)
{
    cc_ticker *t = xcalloc(1, sizeof *t);
    t->period_ms = period_ms;
    t->nice = nice;
    t->fn = fn;
    t->arg = arg;
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&t->thread, NULL, ticker_main, t) != 0) {
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->mu);
        free(t);
        return NULL;
    }
    return t;
}

void cc_ticker_kick(cc_ticker *t)
{
    pthread_mutex_lock(&t->mu);
    if (!t->kicked) {
        t->kicked = true;
        pthread_cond_signal(&t->cond);
    }
    pthread_mutex_unlock(&t->mu);
}

void cc_ticker_stop(cc_ticker *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->mu);
    free(t);
}
