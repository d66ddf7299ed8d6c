/*
 * error.h - the one error convention of previewd.
 *
 * Every fallible function returns 0 on success or a negative pv_error code.
 * The human-readable message (and, for validation errors, the offending
 * field) sits in a thread-local slot, set by pv_error_set() at the place the
 * error is detected and read by whoever turns it into a response or a log
 * line.  Callers propagate codes unchanged; they never mask them.
 *
 * The mapping from codes to HTTP statuses lives in one table, in error.c.
 */
#ifndef PV_ERROR_H
#define PV_ERROR_H

#include <stddef.h>

typedef enum {
	PV_OK = 0,
	PV_ERROR = -1,       /* internal failure                        -> 500 */
	PV_EINVAL = -2,      /* a field fails validation                -> 422 */
	PV_EBADREQ = -3,     /* malformed request (bad JSON, bad query) -> 400 */
	PV_ENOTFOUND = -4,   /* no such resource                        -> 404 */
	PV_ECONFLICT = -5,   /* state conflict (exists, foreign folder) -> 409 */
	PV_ETOOBIG = -6,     /* body or document over a limit           -> 413 */
	PV_EMEDIATYPE = -7,  /* unsupported Content-Type                -> 415 */
	PV_EUNAVAIL = -8,    /* dependency unavailable (DB, Git)        -> 503 */
	PV_EMETHOD = -9,     /* method not allowed on the route         -> 405 */
	PV_EBUSY = -10,      /* transient contention, retry            -> 503 */
	PV_EAUTH = -11,      /* missing or wrong credentials            -> 401 */
	PV_EFORBIDDEN = -12, /* authenticated, role too small           -> 403 */
	PV_EQUOTA = -13,     /* a quota is exhausted                    -> 429 */
	PV_ERATE = -14       /* too many requests, retry later          -> 429 */
} pv_error;

#define PV_WARN_UNUSED __attribute__((warn_unused_result))
#define PV_PRINTF(f, a) __attribute__((format(printf, f, a)))

struct pv_error_info {
	int code;            /* a pv_error value */
	char field[64];      /* offending field for PV_EINVAL, else "" */
	char message[512];
	long long retry_after; /* seconds a retry should wait (Retry-After), 0 = unsaid */
};

/* Record an error in this thread's slot; returns code, so that callers can
 * write `return pv_error_set(PV_EINVAL, "name", "...")`.  field may be NULL. */
int pv_error_set(int code, const char *field, const char *fmt, ...) PV_PRINTF(3, 4);

/* This thread's last error; never NULL.  Valid until the next set/clear. */
const struct pv_error_info *pv_error_last(void);

/* Attach a Retry-After (seconds) to the error just set; pv_error_set
 * clears it. */
void pv_error_retry_after(long long seconds);

void pv_error_clear(void);

/* HTTP status for a code, and a short stable slug used in problem types. */
int pv_error_http_status(int code);
const char *pv_error_slug(int code);
const char *pv_error_title(int code);

#endif
