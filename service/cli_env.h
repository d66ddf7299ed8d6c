/*
 * cli_env.h - `previewd env create|list|get|extend|delete|events`: the
 * developer's client of a previewd's public API, for onboarding docs and
 * scripts.
 *
 * It talks HTTP only (libcurl), to PREVIEWD_URL (default
 * http://127.0.0.1:8080) with the token of PREVIEWD_TOKEN or
 * PREVIEWD_TOKEN_FILE; it reads no server configuration, opens no database
 * and may run on any machine.  The token goes only into the Authorization
 * header: it is never printed, not even in an error.
 *
 * Output: a table for people by default, `-o json` the API's JSON as
 * answered.  Exit status, for scripts:
 *
 *   0  done
 *   1  the request was taken but the outcome is not the one asked for
 *      (--wait ran out, the environment failed or was deleted meanwhile,
 *      an answer that is not JSON)
 *   2  usage (unknown flag, missing argument, unreadable token or values file)
 *   3  refused: previewd answered with a problem; its title and detail go
 *      to stderr
 *   4  unreachable: no HTTP answer at all (refused connection, timeout, TLS)
 *
 * Threads: main, before any other starts; nothing of the server's runs.
 */
#ifndef PV_CLI_ENV_H
#define PV_CLI_ENV_H

#include <jansson.h>

#include "error.h"

enum pv_cli_exit {
	PV_CLI_OK = 0,
	PV_CLI_FAILED = 1,
	PV_CLI_USAGE = 2,
	PV_CLI_REFUSED = 3,
	PV_CLI_UNREACHABLE = 4
};

/* 1 when argv names `previewd env`. */
int pv_cli_env_is(int argc, char **argv);

/* Run `previewd env ...` (argv[1] is "env"); returns the exit status above. */
int pv_cli_env(int argc, char **argv);

/*
 * Apply one `--set key=value` to the object values: the key is dotted
 * (`image.tag`; missing levels are made, a non-object in the way is
 * replaced, as Helm's --set does), the value is read as Helm reads --set
 * values: `true`/`false`, `null` and integers as such, anything else a
 * string.  Returns 0, or PV_EINVAL (no `=`, an empty key or key part).
 */
int pv_cli_env_set(json_t *values, const char *assignment) PV_WARN_UNUSED;

/* Seconds left as a table shows them: "2d3h", "1d", "3h59m", "4h", "12m", "40s"
 * (rounded down). */
void pv_cli_env_format_left(char *buf, size_t len, long long secs);

#endif
