/*
 * dbhealth.c - the database's "refuses writes" state (see dbhealth.h).
 *
 * Every committed write passes through pv_dbhealth_wrote, so its fast path
 * is one relaxed atomic load; the lock is taken only on a change.
 */
#include "dbhealth.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "log.h"

/* a volume on the brink (a write that fits, the next that does not) may
 * change the state many times a second: each change is logged, but not
 * more than once in this long */
#define CHANGE_LOG_EVERY_MS 30000

static atomic_int refusing;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;  /* guards the rest */
static char reason[256];
static int64_t since;

int pv_dbhealth_is_refusal(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
		return 1;
	default:
		return 0;
	}
}

void pv_dbhealth_refused(const char *what, const char *message)
{
	int first;

	pthread_mutex_lock(&lock);
	first = !atomic_load(&refusing);
	if (first)
		since = (int64_t)time(NULL);
	/* the latest failure says best what an operator should look at */
	snprintf(reason, sizeof(reason), "%s (while %s)", message, what);
	atomic_store(&refusing, 1);
	pthread_mutex_unlock(&lock);
	if (first)
		log_error_every(CHANGE_LOG_EVERY_MS, "store: the database refuses writes: %s (while %s); writes answer 503 until it takes "
			  "them again (is the volume of PREVIEWD_DATA_DIR full or read-only?)", message, what);
}

void pv_dbhealth_wrote(void)
{
	int64_t was;

	if (!atomic_load_explicit(&refusing, memory_order_relaxed))
		return;
	pthread_mutex_lock(&lock);
	was = atomic_load(&refusing) ? since : 0;
	atomic_store(&refusing, 0);
	reason[0] = '\0';
	pthread_mutex_unlock(&lock);
	if (was)
		pv_log_every(PV_LOG_INFO, CHANGE_LOG_EVERY_MS, "store: the database takes writes again, after %lld s", (long long)((int64_t)time(NULL) - was));
}

int pv_dbhealth_refusing(char *why, size_t why_len, int64_t *when)
{
	int r;

	if (!atomic_load(&refusing))
		return 0;
	pthread_mutex_lock(&lock);
	r = atomic_load(&refusing);
	if (r && why)
		snprintf(why, why_len, "%s", reason);
	if (r && when)
		*when = since;
	pthread_mutex_unlock(&lock);
	return r;
}
