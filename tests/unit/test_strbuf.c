/* Unit tests for the small utilities every module shares: strbuf.c (the
 * capped buffer), array.c (checked growth), timefmt.c (RFC 3339) and hex.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "array.h"
#include "hex.h"
#include "strbuf.h"
#include "timefmt.h"

/* ---- strbuf ---------------------------------------------------------- */

static void strbuf_add_and_printf_grow(void **state)
{
	struct pv_strbuf b = PV_STRBUF_INIT;
	char *want = malloc(200001);

	(void)state;
	assert_non_null(want);
	assert_null(b.buf);
	for (int i = 0; i < 20000; i++) {
		/* 10 bytes each: far past the first allocation */
		assert_int_equal(pv_strbuf_printf(&b, "%09d\n", i), 0);
		snprintf(want + 10 * i, 11, "%09d\n", i);
	}
	assert_int_equal(b.len, 200000);
	assert_true(b.cap > b.len);
	assert_int_equal(b.buf[b.len], '\0');
	assert_string_equal(b.buf, want);
	assert_int_equal(pv_strbuf_add(&b, "tail", 4), 0);
	assert_int_equal(b.len, 200004);
	assert_string_equal(b.buf + 200000, "tail");
	pv_strbuf_dispose(&b);
	assert_null(b.buf);
	assert_int_equal(b.len, 0);
	free(want);
}

static void strbuf_binary_and_empty(void **state)
{
	struct pv_strbuf b = PV_STRBUF_INIT;

	(void)state;
	/* an empty append still makes it a NUL-terminated string */
	assert_int_equal(pv_strbuf_add(&b, "", 0), 0);
	assert_non_null(b.buf);
	assert_string_equal(b.buf, "");
	assert_int_equal(pv_strbuf_add(&b, "a\0b", 3), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.buf, "a\0b", 4);
	assert_int_equal(pv_strbuf_printf(&b, "%s", ""), 0);
	assert_int_equal(b.len, 3);
	pv_strbuf_dispose(&b);
}

static void strbuf_cap_enforced(void **state)
{
	struct pv_strbuf b = PV_STRBUF_INIT_MAX(10);

	(void)state;
	assert_int_equal(pv_strbuf_add(&b, "12345678", 8), 0);
	/* over the cap: refused, the buffer as it was */
	assert_int_equal(pv_strbuf_add(&b, "abc", 3), PV_ETOOBIG);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.buf, "12345678");
	assert_int_equal(pv_strbuf_printf(&b, "%d", 123), PV_ETOOBIG);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.buf, "12345678");
	assert_non_null(strstr(pv_error_last()->message, "more than 10 bytes"));
	/* exactly at the cap is fine, and the memory never passes cap + NUL */
	assert_int_equal(pv_strbuf_printf(&b, "%s", "90"), 0);
	assert_string_equal(b.buf, "1234567890");
	assert_true(b.cap <= 11);
	assert_int_equal(pv_strbuf_add(&b, "x", 1), PV_ETOOBIG);
	assert_int_equal(pv_strbuf_add(&b, "", 0), 0);
	assert_string_equal(b.buf, "1234567890");
	/* reset empties it and keeps the cap */
	pv_strbuf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.buf, "");
	assert_int_equal(pv_strbuf_add(&b, "0123456789x", 11), PV_ETOOBIG);
	assert_int_equal(b.len, 0);
	assert_int_equal(pv_strbuf_add(&b, "0123456789", 10), 0);
	/* dispose keeps the cap too */
	pv_strbuf_dispose(&b);
	assert_int_equal(b.max, 10);
	assert_int_equal(pv_strbuf_add(&b, "0123456789x", 11), PV_ETOOBIG);
	assert_null(b.buf);
	pv_strbuf_dispose(&b);
}

static void strbuf_default_cap(void **state)
{
	struct pv_strbuf b = PV_STRBUF_INIT;

	(void)state;
	assert_int_equal(pv_strbuf_add(&b, "abc", 3), 0);
	/* a length that would overflow is refused before anything is read */
	assert_int_equal(pv_strbuf_add(&b, "x", SIZE_MAX), PV_ETOOBIG);
	assert_int_equal(pv_strbuf_add(&b, "x", SIZE_MAX - 2), PV_ETOOBIG);
	assert_int_equal(pv_strbuf_add(&b, "x", PV_STRBUF_DEFAULT_MAX), PV_ETOOBIG);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.buf, "abc");
	pv_strbuf_dispose(&b);
}

static void strbuf_take(void **state)
{
	struct pv_strbuf b = PV_STRBUF_INIT_MAX(64);
	size_t len = 99;
	char *s;

	(void)state;
	/* nothing added: "" */
	s = pv_strbuf_take(&b, &len);
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);

	assert_int_equal(pv_strbuf_printf(&b, "%s=%d", "answer", 42), 0);
	s = pv_strbuf_take(&b, &len);
	assert_string_equal(s, "answer=42");
	assert_int_equal(len, 9);
	/* the buffer is empty, owns nothing, and keeps its cap */
	assert_null(b.buf);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 64);
	assert_int_equal(pv_strbuf_add(&b, "again", 5), 0);
	assert_string_equal(b.buf, "again");
	assert_string_equal(s, "answer=42");
	free(s);
	s = pv_strbuf_take(&b, NULL);
	assert_string_equal(s, "again");
	free(s);
	pv_strbuf_dispose(&b);
}

static int vwrap(struct pv_strbuf *b, const char *fmt, ...) PV_PRINTF(2, 3);
static int vwrap(struct pv_strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int error;

	va_start(ap, fmt);
	error = pv_strbuf_vprintf(b, fmt, ap);
	va_end(ap);
	return error;
}

static void strbuf_vprintf(void **state)
{
	struct pv_strbuf b = PV_STRBUF_INIT;
	char big[5000];

	(void)state;
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(vwrap(&b, "[%s|%5.2f|%c]", "a", 3.14159, 'z'), 0);
	assert_string_equal(b.buf, "[a| 3.14|z]");
	/* one printf larger than the current allocation */
	assert_int_equal(vwrap(&b, "%s", big), 0);
	assert_int_equal(b.len, 11 + 4999);
	assert_int_equal(b.buf[b.len - 1], 'y');
	assert_int_equal(b.buf[b.len], '\0');
	pv_strbuf_dispose(&b);
}

/* ---- array ----------------------------------------------------------- */

struct item {
	int a;
	double b;
};

static void array_grows_and_keeps(void **state)
{
	struct item *v = NULL;
	size_t cap = 0, n;

	(void)state;
	for (n = 0; n < 1000; n++) {
		assert_int_equal(pv_array_reserve(&v, &cap, n + 1, sizeof(*v)), 0);
		assert_true(cap >= n + 1);
		v[n].a = (int)n;
		v[n].b = (double)n / 2;
	}
	for (n = 0; n < 1000; n++) {
		assert_int_equal(v[n].a, (int)n);
		assert_true(v[n].b == (double)n / 2);
	}
	/* capacity doubles: few reallocations, not one per element */
	assert_true(cap >= 1000 && cap < 4000);
	free(v);
}

static void array_no_op_when_room(void **state)
{
	char **v = NULL, **before;
	size_t cap = 0, cap_before;

	(void)state;
	assert_int_equal(pv_array_reserve(&v, &cap, 3, sizeof(*v)), 0);
	before = v;
	cap_before = cap;
	assert_int_equal(pv_array_reserve(&v, &cap, cap_before, sizeof(*v)), 0);
	assert_int_equal(pv_array_reserve(&v, &cap, 0, sizeof(*v)), 0);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, cap_before);
	free(v);
}

static void array_overflow_refused(void **state)
{
	struct item *v = NULL, *before;
	size_t cap = 0, cap_before;

	(void)state;
	assert_int_equal(pv_array_reserve(&v, &cap, 4, sizeof(*v)), 0);
	v[3].a = 7;
	before = v;
	cap_before = cap;
	/* count times size would wrap around: refused, the array untouched */
	assert_int_equal(pv_array_reserve(&v, &cap, SIZE_MAX / sizeof(*v) + 1, sizeof(*v)), PV_ERROR);
	assert_non_null(strstr(pv_error_last()->message, "too large"));
	assert_int_equal(pv_array_reserve(&v, &cap, SIZE_MAX, sizeof(*v)), PV_ERROR);
	assert_int_equal(pv_array_reserve(&v, &cap, SIZE_MAX / 2 + 1, 2), PV_ERROR);
	/* an element size of 0 is no array */
	assert_int_equal(pv_array_reserve(&v, &cap, cap + 1, 0), PV_ERROR);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, cap_before);
	assert_int_equal(v[3].a, 7);
	free(v);
}

/* ---- timefmt --------------------------------------------------------- */

static void time_format_known(void **state)
{
	char buf[PV_TIME_LEN];

	(void)state;
	pv_time_format(buf, sizeof(buf), 0);
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	pv_time_format(buf, sizeof(buf), 1796161049);
	assert_string_equal(buf, "2026-12-01T21:37:29Z");
	pv_time_format(buf, sizeof(buf), 951825600);
	assert_string_equal(buf, "2000-02-29T12:00:00Z");
	pv_time_format(buf, sizeof(buf), 946684799);
	assert_string_equal(buf, "1999-12-31T23:59:59Z");
	pv_time_format(buf, sizeof(buf), 4102444800LL);
	assert_string_equal(buf, "2100-01-01T00:00:00Z");
	assert_int_equal(strlen(buf), PV_TIME_LEN - 1);
}

static void time_round_trip(void **state)
{
	static const int64_t times[] = { 0, 1, 59, 86399, 86400, 951825600, 946684799, 1796161049,
		4102444800LL, 253402300799LL /* 9999-12-31T23:59:59Z */ };
	char buf[PV_TIME_LEN];
	int64_t back;

	(void)state;
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		pv_time_format(buf, sizeof(buf), times[i]);
		back = -1;
		assert_int_equal(pv_time_parse(buf, &back), 0);
		assert_int_equal(back, times[i]);
	}
	/* every hour of a leap year */
	for (int64_t t = 1704067200; t < 1735689600; t += 3600) {
		pv_time_format(buf, sizeof(buf), t);
		assert_int_equal(pv_time_parse(buf, &back), 0);
		assert_int_equal(back, t);
	}
}

static void time_parse_offsets_and_fractions(void **state)
{
	static const struct {
		const char *s;
		int64_t want;
	} cases[] = {
		{ "2026-12-01T21:37:29Z", 1796161049 },
		{ "2026-12-01t21:37:29z", 1796161049 },
		{ "2026-12-01T22:37:29+01:00", 1796161049 },
		{ "2026-12-01T16:07:29-05:30", 1796161049 },
		{ "2026-12-02T05:37:29+08:00", 1796161049 }, /* across midnight */
		{ "2026-12-01T21:37:29+00:00", 1796161049 },
		{ "2026-12-01T21:37:29-00:00", 1796161049 },
		{ "2026-12-01T21:37:29.5Z", 1796161049 },
		{ "2026-12-01T21:37:29.999999999Z", 1796161049 },
		{ "2026-12-01T22:37:29.123+01:00", 1796161049 },
		{ "2024-02-29T00:00:00Z", 1709164800 },
		{ "1970-01-01T00:00:00Z", 0 },
	};
	int64_t t;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t = -1;
		if (pv_time_parse(cases[i].s, &t) != 0)
			fail_msg("%s: %s", cases[i].s, pv_error_last()->message);
		if (t != cases[i].want)
			fail_msg("%s: %lld, want %lld", cases[i].s, (long long)t, (long long)cases[i].want);
	}
}

static void time_parse_refuses(void **state)
{
	static const char *const bad[] = {
		"2026-02-30T00:00:00Z",   /* no such day */
		"2023-02-29T00:00:00Z",   /* not a leap year */
		"2100-02-29T00:00:00Z",   /* nor is 2100 */
		"2026-04-31T00:00:00Z",
		"2026-13-01T00:00:00Z",
		"2026-00-01T00:00:00Z",
		"2026-12-00T00:00:00Z",
		"2026-12-01T24:00:00Z",
		"2026-12-01T21:60:00Z",
		"2026-12-01T21:37:61Z",
		"2026-12-01 21:37:29Z",   /* a space for the T */
		"2026-12-01T21:37:29",    /* no zone */
		"2026-12-01T21:37:29Z ",  /* trailing bytes */
		"2026-12-01T21:37:29ZZ",
		"2026-12-01T21:37:29.Z",  /* an empty fraction */
		"2026-12-01T21:37:29,5Z",
		"2026-12-01T21:37:29+0100",
		"2026-12-01T21:37:29+01:0",
		"2026-12-01T21:37:29+1:00",
		"2026-12-01T21:37:29+24:00",
		"2026-12-01T21:37:29+01:60",
		"2026-12-01T21:37:29+",   /* a sign and nothing after it */
		"2026-12-01T21:37:29.5-",
		"2026-12-01T21:37:29+01",
		"2026-1-01T21:37:29Z",
		"26-12-01T21:37:29Z",
		"2026/12/01T21:37:29Z",
		"+026-12-01T21:37:29Z",
		"2026-12-01T21:37:29EST",
		"1796161049",
		"",
		"Z",
	};
	int64_t t;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pv_error_clear();
		if (pv_time_parse(bad[i], &t) != PV_EINVAL)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_non_null(strstr(pv_error_last()->message, "not an RFC 3339 time"));
	}
}

/* a short offset at the very end of a heap block: nothing past its NUL is
 * read (ASan would see it) */
static void time_parse_reads_no_further(void **state)
{
	static const char *const cut[] = { "2026-12-01T21:37:29+", "2026-12-01T21:37:29+0",
		"2026-12-01T21:37:29+01", "2026-12-01T21:37:29+01:", "2026-12-01T21:37:29.", "2026-12-01T21:37:2" };
	int64_t t;

	(void)state;
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		char *s = strdup(cut[i]);
		assert_non_null(s);
		assert_int_equal(pv_time_parse(s, &t), PV_EINVAL);
		free(s);
	}
}

/* ---- hex ------------------------------------------------------------- */

static void hex_known_bytes(void **state)
{
	static const unsigned char bytes[] = { 0x00, 0x01, 0x0f, 0x10, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff };
	char out[2 * sizeof(bytes) + 2];

	(void)state;
	memset(out, '#', sizeof(out));
	pv_hex_encode(out, bytes, sizeof(bytes));
	assert_string_equal(out, "00010f107f80abcdefff");
	assert_int_equal(out[2 * sizeof(bytes) + 1], '#'); /* nothing written past the NUL */
	pv_hex_encode(out, bytes, 0);
	assert_string_equal(out, "");
}

static void hex_of_a_digest(void **state)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char out[2 * EVP_MAX_MD_SIZE + 1];

	(void)state;
	/* FIPS 180-2's SHA-256 example */
	assert_int_equal(EVP_Digest("abc", 3, md, &n, EVP_sha256(), NULL), 1);
	pv_hex_encode(out, md, n);
	assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(strbuf_add_and_printf_grow),
		cmocka_unit_test(strbuf_binary_and_empty),
		cmocka_unit_test(strbuf_cap_enforced),
		cmocka_unit_test(strbuf_default_cap),
		cmocka_unit_test(strbuf_take),
		cmocka_unit_test(strbuf_vprintf),
		cmocka_unit_test(array_grows_and_keeps),
		cmocka_unit_test(array_no_op_when_room),
		cmocka_unit_test(array_overflow_refused),
		cmocka_unit_test(time_format_known),
		cmocka_unit_test(time_round_trip),
		cmocka_unit_test(time_parse_offsets_and_fractions),
		cmocka_unit_test(time_parse_refuses),
		cmocka_unit_test(time_parse_reads_no_further),
		cmocka_unit_test(hex_known_bytes),
		cmocka_unit_test(hex_of_a_digest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
