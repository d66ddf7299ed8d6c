/*
 * ratelimit.h - token buckets keyed by who asks: the create rate.
 *
 * Each key (a token's name, or a client address in open mode) has a bucket
 * holding up to `burst` tokens, refilled at `per_minute` tokens a minute; a
 * request takes one token or is refused with the seconds until one is back.
 *
 * Memory is bounded: the buckets sit in a fixed table (PV_RATELIMIT_SLOTS
 * slots, in sets of PV_RATELIMIT_WAYS).  A new key takes an empty slot of its
 * set, else one whose bucket has refilled to full (forgetting it loses
 * nothing: a new bucket starts full), else the set's least recently used.
 * Only the last case forgets a debt; it needs PV_RATELIMIT_WAYS other keys
 * busy in the same set at once, and costs that key a burst, never more.
 *
 * The clock is injected so that the logic is a pure function of time in
 * unit tests; NULL means CLOCK_MONOTONIC.
 *
 * Threads: any; one mutex guards the table (takes are a few dozen
 * instructions, next to a create's transaction and commit).
 */
#ifndef PV_RATELIMIT_H
#define PV_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define PV_RATELIMIT_SLOTS 4096
#define PV_RATELIMIT_WAYS 8
#define PV_RATELIMIT_KEY_MAX 96   /* longer keys are cut: their prefixes share a bucket */

/* Milliseconds on a monotonic clock. */
typedef int64_t (*pv_ratelimit_clock)(void *ctx);

struct pv_ratelimit;

/* per_minute 0 turns the limit off (every take succeeds); otherwise burst
 * must be at least 1.  clock may be NULL (CLOCK_MONOTONIC). */
int pv_ratelimit_new(struct pv_ratelimit **out, long long per_minute, long long burst, pv_ratelimit_clock clock,
	void *clock_ctx) PV_WARN_UNUSED;
void pv_ratelimit_free(struct pv_ratelimit *rl);

/* Take one token from key's bucket: 1 when taken, 0 when the bucket is
 * empty, with *retry_after (may be NULL) the whole seconds, rounded up and
 * at least 1, until a token is back.  rl NULL or off: always 1. */
int pv_ratelimit_take(struct pv_ratelimit *rl, const char *key, long long *retry_after);

/* Buckets in use (for tests and /metrics). */
size_t pv_ratelimit_size(struct pv_ratelimit *rl);

#endif
