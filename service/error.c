/*
 * error.c - thread-local error slot and the code -> HTTP status table.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local struct pv_error_info last_error;

static const struct {
	int code;
	int status;
	const char *slug;
	const char *title;
} error_table[] = {
	{ PV_OK, 200, "ok", "OK" },
	{ PV_ERROR, 500, "internal", "Internal error" },
	{ PV_EINVAL, 422, "invalid-field", "Invalid field" },
	{ PV_EBADREQ, 400, "bad-request", "Malformed request" },
	{ PV_ENOTFOUND, 404, "not-found", "Not found" },
	{ PV_ECONFLICT, 409, "conflict", "Conflict" },
	{ PV_ETOOBIG, 413, "too-large", "Request too large" },
	{ PV_EMEDIATYPE, 415, "unsupported-media-type", "Unsupported media type" },
	{ PV_EUNAVAIL, 503, "unavailable", "Service unavailable" },
	{ PV_EMETHOD, 405, "method-not-allowed", "Method not allowed" },
	{ PV_EBUSY, 503, "busy", "Busy, retry" },
	{ PV_EAUTH, 401, "unauthorized", "Unauthorized" },
	{ PV_EFORBIDDEN, 403, "forbidden", "Forbidden" },
	{ PV_EQUOTA, 429, "quota-exceeded", "Quota exceeded" },
	{ PV_ERATE, 429, "rate-limited", "Too many requests" },
};

static int error_index(int code)
{
	for (size_t i = 0; i < sizeof(error_table) / sizeof(error_table[0]); i++)
		if (error_table[i].code == code)
			return (int)i;
	return 1; /* PV_ERROR */
}

int pv_error_set(int code, const char *field, const char *fmt, ...)
{
	char message[sizeof(last_error.message)], f[sizeof(last_error.field)];
	va_list ap;

	/* format aside first: callers may pass the current message or field
	 * as an argument to re-tag an error */
	snprintf(f, sizeof(f), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	last_error.code = code;
	memcpy(last_error.field, f, sizeof(f));
	memcpy(last_error.message, message, sizeof(message));
	last_error.retry_after = 0;
	return code;
}

const struct pv_error_info *pv_error_last(void)
{
	return &last_error;
}

void pv_error_retry_after(long long seconds)
{
	last_error.retry_after = seconds;
}

void pv_error_clear(void)
{
	memset(&last_error, 0, sizeof(last_error));
}

int pv_error_http_status(int code)
{
	return error_table[error_index(code)].status;
}

const char *pv_error_slug(int code)
{
	return error_table[error_index(code)].slug;
}

const char *pv_error_title(int code)
{
	return error_table[error_index(code)].title;
}
