/*
 * Fuzz target: the parser of Slack's interaction requests (chatact.c): the
 * form body, its payload field's percent-decoding and the block_actions
 * JSON inside.  Beyond "no crash": a press that parses names a valid
 * environment name, one of previewd's three actions, a response_url and a
 * dedupe key without control characters, each within its buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chatact.h"
#include "valid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void printable(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == cap)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pv_chatact_press p;
	long long seconds;
	int verb;

	if (pv_chatact_slack_parse((const char *)data, size, &p) < 0)
		return 0;
	if (pv_valid_name(p.env, "env") < 0 || pv_chatact_action_parse(p.action, &verb, &seconds) < 0 || seconds != p.seconds ||
	    verb != p.verb)
		abort();
	if (!p.response_url[0] || !p.user_id[0])
		abort();
	printable(p.key, sizeof(p.key));
	printable(p.response_url, sizeof(p.response_url));
	printable(p.user_name, sizeof(p.user_name));
	printable(p.tag, sizeof(p.tag));
	return 0;
}
