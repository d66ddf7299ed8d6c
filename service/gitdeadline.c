/*
 * gitdeadline.c - the deadline of one whole fetch or push (see
 * gitdeadline.h).
 */
#include "gitdeadline.h"

#include <git2.h>
#include <time.h>

static _Thread_local long long deadline_ms; /* monotonic; 0: none */
static _Thread_local long long budget_ms;
static _Thread_local const char *deadline_what;
static _Thread_local int hit;

static long long mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void pv_gitdeadline_set(const char *what, long long ms)
{
	deadline_what = what;
	budget_ms = ms;
	deadline_ms = ms > 0 ? mono_ms() + ms : 0;
	hit = 0;
}

void pv_gitdeadline_clear(void)
{
	deadline_ms = 0;
}

int pv_gitdeadline_passed(void)
{
	if (deadline_ms == 0 || mono_ms() < deadline_ms)
		return 0;
	hit = 1;
	git_error_set(GIT_ERROR_NET, "the %s took longer than PREVIEWD_GIT_TIMEOUT (%lld s): the Git server is too slow or stuck",
		deadline_what ? deadline_what : "Git operation", budget_ms / 1000);
	return 1;
}

int pv_gitdeadline_hit(void)
{
	return hit;
}
