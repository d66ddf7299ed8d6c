/*
 * ratelimit.c - token buckets in a fixed table (see ratelimit.h).
 *
 * Levels are kept in integer units of 1/60000 of a token, so that a bucket
 * refills by exactly per_minute units a millisecond: no floating point, no
 * drift, and a level is exact at any clock reading.
 */
#include "ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UNIT 60000LL /* units of a token: ms in a minute */
#define NSETS (PV_RATELIMIT_SLOTS / PV_RATELIMIT_WAYS)

struct bucket {
	char key[PV_RATELIMIT_KEY_MAX + 1]; /* "" = free */
	int64_t level;                      /* units, as of at */
	int64_t at;                         /* ms: last refill, and last use */
};

struct pv_ratelimit {
	pthread_mutex_t lock;
	int64_t rate;      /* units a ms = tokens a minute; 0 = off */
	int64_t cap;       /* units: burst tokens */
	pv_ratelimit_clock clock;
	void *clock_ctx;
	size_t used;
	struct bucket slots[PV_RATELIMIT_SLOTS];
};

static int64_t monotonic_ms(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pv_ratelimit_new(struct pv_ratelimit **out, long long per_minute, long long burst, pv_ratelimit_clock clock,
	void *clock_ctx)
{
	struct pv_ratelimit *rl;

	*out = NULL;
	if (per_minute < 0 || (per_minute > 0 && (burst < 1 || burst > 1000000 || per_minute > 1000000000)))
		return pv_error_set(PV_EINVAL, NULL, "a rate needs 0 (off) or 1 to 1e9 a minute with a burst of 1 to 1e6");
	if (!(rl = calloc(1, sizeof(*rl))))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	if (pthread_mutex_init(&rl->lock, NULL) != 0) {
		free(rl);
		return pv_error_set(PV_ERROR, NULL, "cannot create a mutex");
	}
	rl->rate = per_minute;
	rl->cap = burst * UNIT;
	rl->clock = clock ? clock : monotonic_ms;
	rl->clock_ctx = clock_ctx;
	*out = rl;
	return 0;
}

void pv_ratelimit_free(struct pv_ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

/* FNV-1a over the key as stored (cut to PV_RATELIMIT_KEY_MAX). */
static size_t set_of(const char *key)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; key[i] && i < PV_RATELIMIT_KEY_MAX; i++) {
		h ^= (unsigned char)key[i];
		h *= 1099511628211ULL;
	}
	return (size_t)(h % NSETS);
}

/* The level of b at now, without storing it; a clock that went back (it
 * should not: monotonic) refills nothing. */
static int64_t level_at(const struct pv_ratelimit *rl, const struct bucket *b, int64_t now)
{
	int64_t elapsed = now - b->at;

	if (elapsed <= 0)
		return b->level;
	/* past the time a refill from empty takes, the bucket is full; this
	 * also keeps elapsed * rate from overflowing */
	if (elapsed >= rl->cap / rl->rate + 1)
		return rl->cap;
	return b->level + elapsed * rl->rate < rl->cap ? b->level + elapsed * rl->rate : rl->cap;
}

/* key's bucket in its set, else a slot for it: free, full or least recently used. */
static struct bucket *find(struct pv_ratelimit *rl, const char *key, int64_t now)
{
	struct bucket *set = &rl->slots[set_of(key) * PV_RATELIMIT_WAYS], *pick = NULL;
	int pick_rank = 3; /* 0 free, 1 full, 2 in use: lower is better */

	for (size_t i = 0; i < PV_RATELIMIT_WAYS; i++) {
		struct bucket *b = &set[i];
		int rank;

		if (b->key[0] && strncmp(b->key, key, PV_RATELIMIT_KEY_MAX) == 0)
			return b;
		rank = !b->key[0] ? 0 : level_at(rl, b, now) >= rl->cap ? 1 : 2;
		if (rank < pick_rank || (rank == 2 && pick_rank == 2 && b->at < pick->at)) {
			pick = b;
			pick_rank = rank;
		}
	}
	if (pick_rank == 0)
		rl->used++;
	snprintf(pick->key, sizeof(pick->key), "%s", key);
	pick->level = rl->cap;
	pick->at = now;
	return pick;
}

int pv_ratelimit_take(struct pv_ratelimit *rl, const char *key, long long *retry_after)
{
	struct bucket *b;
	int64_t now, wait_ms;
	int taken;

	if (retry_after)
		*retry_after = 0;
	if (!rl || rl->rate == 0)
		return 1;
	if (!key || !*key)
		key = "-";
	now = rl->clock(rl->clock_ctx);
	pthread_mutex_lock(&rl->lock);
	b = find(rl, key, now);
	b->level = level_at(rl, b, now);
	b->at = now;
	taken = b->level >= UNIT;
	if (taken) {
		b->level -= UNIT;
	} else if (retry_after) {
		wait_ms = (UNIT - b->level + rl->rate - 1) / rl->rate;
		*retry_after = (wait_ms + 999) / 1000;
		if (*retry_after < 1)
			*retry_after = 1;
	}
	pthread_mutex_unlock(&rl->lock);
	return taken;
}

size_t pv_ratelimit_size(struct pv_ratelimit *rl)
{
	size_t n;

	if (!rl)
		return 0;
	pthread_mutex_lock(&rl->lock);
	n = rl->used;
	pthread_mutex_unlock(&rl->lock);
	return n;
}
