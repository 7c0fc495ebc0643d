/* Metrics in the Prometheus text exposition format (version 0.0.4): counters, gauges and
 * histograms kept in a registry and written out on demand, for a daemon's GET /metrics
 * (docs/operations.md, "Metrics and health").
 *
 * Every family has a closed set of label rows fixed when it is registered (client types,
 * error codes, close reasons), so a peer can never make the output grow. Three kinds of
 * family cover the rest: a named family learns its label values (message names) as they
 * come, up to a cap, and counts the rest as "other"; a series may be bound to a counter
 * another module already keeps, read only when the registry is written; and a collected
 * family (queues by tenant and name) asks a callback for its samples at that moment. An
 * update on a NULL family does nothing, so code shared with programs and tests that keep
 * no metrics calls the same one-liners. No I/O and no clock: the caller measures. */
#ifndef CC_METRICS_H
#define CC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/** A registry: the families of one process, in the order they were added. */
typedef struct cc_metrics cc_metrics;
/** One family: a name, its help text, its type and its series. */
typedef struct cc_metric cc_metric;

/** The type of a family, as its "# TYPE" line names it. */
enum cc_metric_type {
    CC_METRIC_COUNTER,
    CC_METRIC_GAUGE,
    CC_METRIC_HISTOGRAM,
};

/** The most labels a family may have. */
#define CC_METRICS_LABELS_MAX 4u
/** The most buckets a histogram may have (+Inf not counted). */
#define CC_METRICS_BUCKETS_MAX 32u
/** The longest label value a named family learns; longer ones count as "other". */
#define CC_METRICS_NAME_MAX 64u
/** The most samples one collected family writes; the rest are left out. */
#define CC_METRICS_COLLECT_MAX 65536u

/** What a family is, given when it is added. Every string is copied. */
typedef struct cc_metric_def {
    const char *name;          /* [a-zA-Z_:][a-zA-Z0-9_:]*; a counter's ends in _total */
    const char *help;          /* one line of text (escaped when written) */
    enum cc_metric_type type;  /* counter, gauge or histogram */
    const char *const *labels; /* nlabels label names ("le" is taken by histograms) */
    size_t nlabels;
    const char *const *rows; /* nrows * nlabels label values, row by row; with nlabels 0
                                the family has one series and rows is ignored */
    size_t nrows;
    const double *bounds; /* histogram: the buckets' upper bounds, ascending, +Inf implied */
    size_t nbounds;
} cc_metric_def;

/** A new empty registry. */
cc_metrics *cc_metrics_new(void);
/** Frees a registry and every family in it (NULL is ignored). */
void cc_metrics_free(cc_metrics *r);

/**
 * Adds a family with the label rows of def (one series when def->nlabels is 0) and
 * returns it; it lives as long as the registry. A name given twice, or an invalid name,
 * label or bucket list, is a programming error (assert).
 */
cc_metric *cc_metrics_add(cc_metrics *r, const cc_metric_def *def);

/**
 * Adds a counter family with one label whose values are learnt by cc_metric_inc_name:
 * the first max distinct values made of letters, digits and '_' (at most
 * CC_METRICS_NAME_MAX bytes) get a series each, every other value counts in the series
 * "other".
 */
cc_metric *cc_metrics_add_named(cc_metrics *r, const char *name, const char *help,
                                const char *label, size_t max);

/** Receives the samples of a collected family while the registry is written. */
typedef struct cc_metrics_emit cc_metrics_emit;

/** Writes the samples of a collected family through cc_metrics_emit_sample. */
typedef void cc_metrics_collect_fn(void *user, cc_metrics_emit *e);

/**
 * Adds a counter or gauge family (def->rows unused) whose samples fn makes each time the
 * registry is written. Label values may be any text: they are escaped, and bytes that
 * are not UTF-8 become U+FFFD. A family without samples writes nothing, not even its
 * "# HELP" line.
 */
cc_metric *cc_metrics_add_collected(cc_metrics *r, const cc_metric_def *def,
                                    cc_metrics_collect_fn *fn, void *user);

/** One sample of a collected family: values holds one label value per label name. The
 * family's label sets must differ between samples (the caller's data is keyed so). */
void cc_metrics_emit_sample(cc_metrics_emit *e, const char *const *values, double v);

/** Called at the start of every cc_metrics_encode, to set gauges that are read rather
 * than kept (a process's resident memory, an agent count). */
typedef void cc_metrics_refresh_fn(void *user);

/** Adds fn to the functions run before the registry is written, in the order added. */
void cc_metrics_on_refresh(cc_metrics *r, cc_metrics_refresh_fn *fn, void *user);

/** Adds n to a counter's (or gauge's) series row. */
void cc_metric_add(cc_metric *m, size_t row, uint64_t n);
/** Adds 1 to series row. */
void cc_metric_inc_row(cc_metric *m, size_t row);
/** Adds 1 to the first (for a family without labels: the only) series. */
void cc_metric_inc(cc_metric *m);
/** Adds 1 to the series of value in a named family (len bytes; "other" when it is not
 * learnt and cannot be). */
void cc_metric_inc_name(cc_metric *m, const char *value, size_t len);
/** Sets a gauge's series row to v. */
void cc_metric_set(cc_metric *m, size_t row, double v);
/** Adds delta (which may be negative) to a gauge's series row. */
void cc_metric_gauge_add(cc_metric *m, size_t row, double delta);
/** Counts one observation of v in a histogram's series row. */
void cc_metric_observe(cc_metric *m, size_t row, double v);

/**
 * Binds a counter's or gauge's series row to a counter another module keeps: its value
 * is added to the series each time the registry is written. Binding one row to several
 * sources sums them. src must outlive the registry.
 */
void cc_metric_bind(cc_metric *m, size_t row, const uint64_t *src);

/** The current value of a counter's or gauge's series row (bound sources included). */
double cc_metric_value(const cc_metric *m, size_t row);
/** The value of a named family's series for value ("other" included), 0 when unseen. */
uint64_t cc_metric_name_value(const cc_metric *m, const char *value);
/** The number of observations of a histogram's series row. */
uint64_t cc_metric_count(const cc_metric *m, size_t row);

/** Appends the whole registry to out in the text exposition format (Content-Type
 * CC_METRICS_CONTENT_TYPE), after running the refresh functions. */
void cc_metrics_encode(cc_metrics *r, cc_buf *out);

/** The Content-Type of cc_metrics_encode's output. */
#define CC_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
