/* Unit tests for url.c: redacting credentials from URLs and texts, and
 * telling whether two URLs name the same server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "url.h"

static void redacted(const char *in, const char *want)
{
	char out[512];

	pv_url_redact(out, sizeof(out), in);
	assert_string_equal(out, want);
}

/* ---- pv_url_redact ------------------------------------------------------ */

static void redact_userinfo(void **state)
{
	(void)state;
	redacted("https://user:PASS@host/x.git", "https://***@host/x.git");
	redacted("http://user:PASS@127.0.0.1:8080/git/gitops.git", "http://***@127.0.0.1:8080/git/gitops.git");
	/* a token alone as the user name is a credential too */
	redacted("https://ghp_TOKEN@github.com/org/repo", "https://***@github.com/org/repo");
	redacted("ssh://git@host:22/repo.git", "ssh://***@host:22/repo.git");
	/* an '@' in the password: the userinfo ends at the last one */
	redacted("https://u:p@ss@host/r", "https://***@host/r");
	redacted("HTTPS://u:p@[::1]:8443/r", "HTTPS://***@[::1]:8443/r");
	redacted("https://u:p@host", "https://***@host");
	redacted("https://u:p@host?q=1", "https://***@host?q=1");
}

static void redact_leaves_the_rest(void **state)
{
	(void)state;
	redacted("https://host/x.git", "https://host/x.git");
	redacted("file:///var/lib/previewd/gitops.git", "file:///var/lib/previewd/gitops.git");
	/* an '@' in the path is not userinfo */
	redacted("https://host/@scope/pkg", "https://host/@scope/pkg");
	redacted("git@github.com:org/repo.git", "git@github.com:org/repo.git");
	redacted("no URL here: a@b", "no URL here: a@b");
	redacted("", "");
	redacted("://u:p@host", "://u:p@host");
}

static void redact_every_url_in_a_text(void **state)
{
	(void)state;
	redacted("push to http://u:PASS@h:1/r.git failed: cannot reach 'https://x:PASS@other/r'",
		"push to http://***@h:1/r.git failed: cannot reach 'https://***@other/r'");
	/* a comma-separated list, as PREVIEWD_ARGOCD_WEBHOOK_URL is */
	redacted("http://a:1@h1/api/webhook,http://b:2@h2/api/webhook", "http://***@h1/api/webhook,http://***@h2/api/webhook");
	redacted("\"url\":\"https://u:p@h/r\"", "\"url\":\"https://***@h/r\"");
}

static void redact_truncates_and_grows(void **state)
{
	char small[12], big[64];

	(void)state;
	pv_url_redact(small, sizeof(small), "https://u:p@host/x");
	assert_string_equal(small, "https://***");
	/* a one-letter userinfo grows by two bytes */
	pv_url_redact(big, sizeof(big), "http://a@h/");
	assert_string_equal(big, "http://***@h/");
	snprintf(big, sizeof(big), "%s", "see http://user:secret@h/r now");
	pv_url_redact_inplace(big, sizeof(big));
	assert_string_equal(big, "see http://***@h/r now");
	assert_null(strstr(big, "secret"));
}

/* ---- pv_url_strip_userinfo, pv_url_userinfo ---------------------------- */

static void strip_and_userinfo(void **state)
{
	char out[128], user[64], raw[64];

	(void)state;
	pv_url_strip_userinfo(out, sizeof(out), "https://u:p@host/org/repo.git");
	assert_string_equal(out, "https://host/org/repo.git");
	pv_url_strip_userinfo(out, sizeof(out), "https://host/org/repo.git");
	assert_string_equal(out, "https://host/org/repo.git");
	pv_url_userinfo("https://us%65r:S3cr%40t@host/r", user, sizeof(user), out, sizeof(out), raw, sizeof(raw));
	assert_string_equal(user, "user");
	assert_string_equal(out, "S3cr@t");
	assert_string_equal(raw, "S3cr%40t");
	/* a '%' that starts no escape is kept */
	pv_url_userinfo("https://u:100%@host/r", user, sizeof(user), out, sizeof(out), NULL, 0);
	assert_string_equal(out, "100%");
	pv_url_userinfo("https://tokenonly@host/r", user, sizeof(user), out, sizeof(out), raw, sizeof(raw));
	assert_string_equal(user, "tokenonly");
	assert_string_equal(out, "");
	assert_string_equal(raw, "");
	pv_url_userinfo("https://host/r", user, sizeof(user), out, sizeof(out), raw, sizeof(raw));
	assert_string_equal(user, "");
	assert_string_equal(out, "");
	pv_url_userinfo("git@host:r.git", NULL, 0, out, sizeof(out), NULL, 0);
	assert_string_equal(out, "");
}

static void redact_secret_everywhere(void **state)
{
	char s[128];

	(void)state;
	snprintf(s, sizeof(s), "%s", "auth for hunter2 failed (hunter2)");
	pv_url_redact_secret(s, "hunter2");
	assert_string_equal(s, "auth for *** failed (***)");
	/* too short to tell from any other text */
	snprintf(s, sizeof(s), "%s", "a b a");
	pv_url_redact_secret(s, "a");
	assert_string_equal(s, "a b a");
	pv_url_redact_secret(s, NULL);
	assert_string_equal(s, "a b a");
	snprintf(s, sizeof(s), "%s", "xyzxyz");
	pv_url_redact_secret(s, "xyz");
	assert_string_equal(s, "******");
}

/* ---- pv_url_same_server -------------------------------------------------- */

static void same_server(void **state)
{
	(void)state;
	assert_true(pv_url_same_server("https://u:p@host/a.git", "https://host/b/info/refs?service=x"));
	assert_true(pv_url_same_server("https://HOST:443/a", "https://host/a"));
	assert_true(pv_url_same_server("http://127.0.0.1:8080/git/r.git", "http://127.0.0.1:8080/git/r.git/info/refs"));
	assert_true(pv_url_same_server("ssh://git@host/r.git", "git@host:r.git"));
	assert_true(pv_url_same_server("ssh://git@host:22/r.git", "ssh+git://host/r.git"));
	assert_true(pv_url_same_server("http://[::1]:80/r", "http://[::1]/r"));
}

static void other_server(void **state)
{
	(void)state;
	/* another host, port or scheme gets no credentials */
	assert_false(pv_url_same_server("http://127.0.0.1:8080/r", "http://127.0.0.2:8080/r"));
	assert_false(pv_url_same_server("http://127.0.0.1:8080/r", "http://127.0.0.1:8081/r"));
	assert_false(pv_url_same_server("https://host/r", "http://host/r"));
	assert_false(pv_url_same_server("https://host/r", "https://host.evil/r"));
	assert_false(pv_url_same_server("https://host/r", "https://evil/r?host"));
	/* userinfo does not make a host: "host@evil" is evil */
	assert_false(pv_url_same_server("https://host/r", "https://host@evil/r"));
	assert_false(pv_url_same_server("ssh://git@host:2222/r", "git@host:r"));
	/* what does not parse is no match */
	assert_false(pv_url_same_server("https://host/r", NULL));
	assert_false(pv_url_same_server("https://host/r", "/local/path"));
	assert_false(pv_url_same_server("https://host:99999/r", "https://host:99999/r"));
	assert_false(pv_url_same_server("https://host:8x/r", "https://host:8x/r"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(redact_userinfo),
		cmocka_unit_test(redact_leaves_the_rest),
		cmocka_unit_test(redact_every_url_in_a_text),
		cmocka_unit_test(redact_truncates_and_grows),
		cmocka_unit_test(strip_and_userinfo),
		cmocka_unit_test(redact_secret_everywhere),
		cmocka_unit_test(same_server),
		cmocka_unit_test(other_server),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
