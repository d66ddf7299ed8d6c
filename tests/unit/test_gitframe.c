/* Unit tests for gitframe.c: which writes libgit2 makes to a forward proxy
 * begin a request, so that gitstream.c opens a new proxy connection for
 * exactly those and never for body bytes that look like a request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "gitframe.h"

#define U "http://127.0.0.1:8080/git/gitops.git/"
#define UA "User-Agent: git/2.0 (libgit2 1.5.1)\r\nHost: 127.0.0.1:8080\r\n"
#define GET_REFS "GET " U "info/refs?service=git-receive-pack HTTP/1.1\r\n" UA "Accept: */*\r\n\r\n"
/* a body that is, byte for byte, a request */
#define LOOKALIKE "GET " U "info/refs HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"

static int feed(struct pv_gitframe *f, const char *s)
{
	return pv_gitframe_feed(f, s, strlen(s));
}

static void get_then_get(void **state)
{
	struct pv_gitframe f = PV_GITFRAME_INIT;

	(void)state;
	assert_int_equal(feed(&f, GET_REFS), 1);
	assert_int_equal(f.state, PV_GITFRAME_IDLE);
	/* the retry with credentials after a 401 */
	assert_int_equal(feed(&f, "GET " U "info/refs?service=git-receive-pack HTTP/1.1\r\n" UA
		"Authorization: Basic cDpx\r\n\r\n"), 1);
	assert_int_equal(feed(&f, "GET / HTTP/1.0\r\n\r\n"), 1); /* no header lines */
}

static void content_length_body_is_not_a_request(void **state)
{
	struct pv_gitframe f = PV_GITFRAME_INIT;
	const char body[] = LOOKALIKE "0000";
	char head[512];

	(void)state;
	snprintf(head, sizeof(head), "POST " U "git-upload-pack HTTP/1.1\r\n" UA
		"Content-Type: application/x-git-upload-pack-request\r\n"
		"content-length:  %zu \r\n\r\n", sizeof(body) - 1);
	assert_int_equal(feed(&f, head), 1);
	assert_int_equal(f.state, PV_GITFRAME_LENGTH);
	/* the body in two writes, the first of them a whole request */
	assert_int_equal(feed(&f, LOOKALIKE), 0);
	assert_int_equal(f.state, PV_GITFRAME_LENGTH);
	assert_int_equal(feed(&f, "0000"), 0);
	assert_int_equal(f.state, PV_GITFRAME_IDLE);
	assert_int_equal(feed(&f, GET_REFS), 1);
}

static void body_in_the_header_write(void **state)
{
	struct pv_gitframe f = PV_GITFRAME_INIT;

	(void)state;
	assert_int_equal(feed(&f, "POST " U "x HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123"), 1);
	assert_int_equal(f.remain, 6);
	assert_int_equal(feed(&f, "456789"), 0);
	assert_int_equal(feed(&f, GET_REFS), 1);
}

static void chunked_body_is_not_a_request(void **state)
{
	struct pv_gitframe f = PV_GITFRAME_INIT;
	char size[8];

	(void)state;
	assert_int_equal(feed(&f, "POST " U "git-receive-pack HTTP/1.1\r\n" UA
		"Content-Type: application/x-git-receive-pack-request\r\n"
		"Transfer-Encoding: chunked\r\n\r\n"), 1);
	/* libgit2's way: the size line, the data, the CRLF, each its own write */
	for (int i = 0; i < 3; i++) {
		snprintf(size, sizeof(size), "%zx\r\n", strlen(LOOKALIKE));
		assert_int_equal(feed(&f, size), 0);
		assert_int_equal(feed(&f, LOOKALIKE), 0);
		assert_int_equal(f.state, PV_GITFRAME_CHUNK_END);
		assert_int_equal(feed(&f, "\r\n"), 0);
	}
	/* a request right after a chunk is still body: the last chunk is due */
	assert_int_equal(feed(&f, "B;ext=1\r\n"), 0);
	assert_int_equal(feed(&f, "GET / HTTP/"), 0);
	assert_int_equal(feed(&f, "\r\n"), 0);
	assert_int_equal(f.state, PV_GITFRAME_CHUNK_SIZE);
	assert_int_equal(feed(&f, "0\r\n\r\n"), 0);
	assert_int_equal(f.state, PV_GITFRAME_IDLE);
	assert_int_equal(feed(&f, GET_REFS), 1);
}

static void chunked_in_one_write_with_a_trailer(void **state)
{
	struct pv_gitframe f = PV_GITFRAME_INIT;

	(void)state;
	assert_int_equal(feed(&f, "POST " U "x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
		"5\r\nGET /\r\n0\r\nX-T: 1\r\n\r\n"), 1);
	assert_int_equal(f.state, PV_GITFRAME_IDLE);
	assert_int_equal(feed(&f, GET_REFS), 1);
}

/* what the rule cannot frame loses the framing for good */
static void lost_for_good(void **state)
{
	const char *bad[] = {
		"GET " U "info/refs HTTP/1.1\r\nHost: h\r\n", /* header block cut */
		"POST " U "x HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
		"POST " U "x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"POST " U "x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
		"get " U " HTTP/1.1\r\n\r\n",
		"GET  HTTP/1.1\r\n\r\n",
		"GET " U " HTTP/2\r\n\r\n",
		"GET " U " HTTP/1.1\nHost: h\r\n\r\n",
		"0000",
		"GET " U " HTTP/1.1\r\n\r\nGET " U " HTTP/1.1\r\n\r\n", /* two in one write */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pv_gitframe f = PV_GITFRAME_INIT;
		int first = feed(&f, bad[i]);

		/* the last one starts a request, then loses the framing */
		assert_int_equal(first, i == sizeof(bad) / sizeof(bad[0]) - 1);
		assert_int_equal(f.state, PV_GITFRAME_LOST);
		assert_int_equal(feed(&f, GET_REFS), 0);
	}
	{
		struct pv_gitframe f = PV_GITFRAME_INIT;
		assert_int_equal(feed(&f, "POST " U "x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 1);
		assert_int_equal(feed(&f, "zz\r\n"), 0); /* no size digits */
		assert_int_equal(f.state, PV_GITFRAME_LOST);
		assert_int_equal(feed(&f, GET_REFS), 0);
	}
	{
		struct pv_gitframe f = PV_GITFRAME_INIT;
		assert_int_equal(feed(&f, "POST " U "x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 1);
		assert_int_equal(feed(&f, "1\r\nab"), 0); /* more data than the size */
		assert_int_equal(f.state, PV_GITFRAME_LOST);
	}
	{
		struct pv_gitframe f = PV_GITFRAME_INIT;
		assert_int_equal(feed(&f, "POST " U "x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 1);
		assert_int_equal(feed(&f, "1234567890abcdef0\r\n"), 0); /* a size past 60 bits */
		assert_int_equal(f.state, PV_GITFRAME_LOST);
	}
}

static void empty_write_changes_nothing(void **state)
{
	struct pv_gitframe f = PV_GITFRAME_INIT;

	(void)state;
	assert_int_equal(pv_gitframe_feed(&f, "", 0), 0);
	assert_int_equal(f.state, PV_GITFRAME_IDLE);
	assert_int_equal(feed(&f, GET_REFS), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(get_then_get),
		cmocka_unit_test(content_length_body_is_not_a_request),
		cmocka_unit_test(body_in_the_header_write),
		cmocka_unit_test(chunked_body_is_not_a_request),
		cmocka_unit_test(chunked_in_one_write_with_a_trailer),
		cmocka_unit_test(lost_for_good),
		cmocka_unit_test(empty_write_changes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
