/*
 * Fuzz target: the pull-request and comment payloads of the three forges
 * (pullreq.c) and the name template (prrules.c).  The input's first byte
 * picks the forge and whether it is a comment event, the rest is the body.
 * Beyond "no crash": every string parsed is printable (newlines and tabs
 * only in the comment), and the environment name made from what was parsed
 * is always a valid name of at most 53 characters.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "prrules.h"
#include "pullreq.h"
#include "valid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void printable(const char *s, int lines)
{
	for (; *s; s++)
		assert(((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f) || (lines && (*s == '\n' || *s == '\t')));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const forges[] = { "github", "gitlab", "gitea" };
	struct pv_pr_event ev;
	char name[PV_NAME_MAX + 1], repo[256];
	const char *forge;
	int comment;

	if (size < 1)
		return 0;
	forge = forges[data[0] % 3];
	comment = (data[0] >> 2) & 1;
	pv_pullreq_repo(repo, sizeof(repo), forge, (const char *)data + 1, size - 1);
	printable(repo, 0);
	if (pv_pullreq_parse(&ev, forge, comment, (const char *)data + 1, size - 1) != 0)
		return 0;
	printable(ev.repo, 0);
	printable(ev.head_sha, 0);
	printable(ev.head_branch, 0);
	printable(ev.author, 0);
	printable(ev.sender, 0);
	printable(ev.comment, 1);
	assert(ev.nlabels <= PV_PR_MAX_LABELS);
	{
		struct pv_prvars vars = { ev.repo, ev.number, ev.head_branch, ev.head_sha, ev.author };
		if (pv_prrules_name(name, "{repo}-{branch}-{author}-{number}", &vars) == 0) {
			assert(strlen(name) <= PV_NAME_MAX);
			assert(pv_valid_name(name, "name") == 0);
		}
	}
	return 0;
}
