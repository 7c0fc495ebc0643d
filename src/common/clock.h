/* Clocks. Monotonic time for timeouts and latencies, wall time for versions and logs. */
#ifndef CC_CLOCK_H
#define CC_CLOCK_H

#include <stdint.h>

/** Monotonic time in microseconds. */
uint64_t cc_mono_us(void);
/** Wall-clock time in microseconds since the epoch. */
uint64_t cc_wall_us(void);

#endif
