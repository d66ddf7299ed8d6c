/* Unit tests for auth.c: API tokens against a real SQLite file in a temp
 * dir (as test_store.c opens it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "auth.h"
#include "hex.h"
#include "log.h"
#include "store.h"
#include "tmpdir.h"

struct fixture {
	char dir[64];
	char path[128];
	struct pv_store *st;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (pv_test_mkdtemp(f->dir, sizeof(f->dir), "auth") < 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	if (pv_store_open(&f->st, &(struct pv_store_settings){ .path = f->path }) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pv_store_free(f->st);
	if (pv_test_rmtree(f->dir) < 0)
		return -1;
	free(f);
	return 0;
}

/* "Bearer " + token */
static void bearer(char *out, size_t len, const char *token)
{
	snprintf(out, len, "Bearer %s", token);
}

static int all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return 0;
	return 1;
}

static void roles(void **state)
{
	(void)state;
	assert_int_equal(pv_auth_role("reader"), PV_ROLE_READER);
	assert_int_equal(pv_auth_role("writer"), PV_ROLE_WRITER);
	assert_int_equal(pv_auth_role("admin"), PV_ROLE_ADMIN);
	assert_int_equal(pv_auth_role("Admin"), PV_ROLE_NONE);
	assert_int_equal(pv_auth_role("root"), PV_ROLE_NONE);
	assert_int_equal(pv_auth_role(""), PV_ROLE_NONE);
	assert_int_equal(pv_auth_role(NULL), PV_ROLE_NONE);
	/* ordered, so "at least writer" is a comparison */
	assert_true(PV_ROLE_READER < PV_ROLE_WRITER && PV_ROLE_WRITER < PV_ROLE_ADMIN);
}

static void loopback(void **state)
{
	(void)state;
	assert_true(pv_auth_is_loopback("127.0.0.1"));
	assert_true(pv_auth_is_loopback("127.1.2.3"));
	assert_true(pv_auth_is_loopback("::1"));
	assert_true(pv_auth_is_loopback("::ffff:127.0.0.1"));
	assert_false(pv_auth_is_loopback("10.0.0.1"));
	assert_false(pv_auth_is_loopback("::ffff:10.0.0.1"));
	assert_false(pv_auth_is_loopback("1127.0.0.1"));
	assert_false(pv_auth_is_loopback("unknown"));
	assert_false(pv_auth_is_loopback(NULL));
}

static void open_mode_is_loopback_only(void **state)
{
	struct fixture *f = *state;
	char actor[64];
	enum pv_role role;

	/* no token yet: loopback clients are admins, others are refused */
	assert_int_equal(pv_auth_check(f->st, NULL, "127.0.0.1", actor, sizeof(actor), &role), 0);
	assert_int_equal(role, PV_ROLE_ADMIN);
	assert_string_equal(actor, "anonymous");
	assert_int_equal(pv_auth_check(f->st, "Bearer whatever", "::1", actor, sizeof(actor), &role), 0);
	assert_int_equal(role, PV_ROLE_ADMIN);
	assert_int_equal(pv_auth_check(f->st, NULL, "192.0.2.7", actor, sizeof(actor), &role), PV_EAUTH);
	assert_int_equal(role, PV_ROLE_NONE);
	assert_non_null(strstr(pv_error_last()->message, "answers only loopback clients"));
}

static void create_and_verify(void **state)
{
	struct fixture *f = *state;
	char token[96], header[128], actor[64], hash[72];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct pv_token t;
	char lookup[9];
	enum pv_role role;

	assert_int_equal(pv_auth_token_create(f->st, "ci-bot", "writer", token, sizeof(token)), 0);
	/* pvd_<8 hex>_<64 hex> */
	assert_int_equal(strlen(token), 4 + 8 + 1 + 64);
	assert_memory_equal(token, "pvd_", 4);
	assert_int_equal(token[12], '_');
	assert_true(all_hex(token + 4, 8));
	assert_true(all_hex(token + 13, 64));

	/* the store keeps the SHA-256 of the whole token, never the token */
	memcpy(lookup, token + 4, 8);
	lookup[8] = '\0';
	assert_int_equal(pv_store_token_find(f->st, lookup, &t), 0);
	assert_string_equal(t.name, "ci-bot");
	assert_string_equal(t.role, "writer");
	assert_int_equal(t.revoked_at, 0);
	assert_true(t.created_at > 0 && t.created_at <= (int64_t)time(NULL));
	assert_int_equal(EVP_Digest(token, strlen(token), md, &mdlen, EVP_sha256(), NULL), 1);
	pv_hex_encode(hash, md, mdlen);
	assert_string_equal(t.hash, hash);
	assert_null(strstr(t.hash, token + 13));

	bearer(header, sizeof(header), token);
	assert_int_equal(pv_auth_check(f->st, header, "192.0.2.7", actor, sizeof(actor), &role), 0);
	assert_string_equal(actor, "ci-bot");
	assert_int_equal(role, PV_ROLE_WRITER);
	/* the scheme is case-insensitive; extra spaces before the token are fine */
	snprintf(header, sizeof(header), "bearer   %s", token);
	assert_int_equal(pv_auth_check(f->st, header, "192.0.2.7", actor, sizeof(actor), &role), 0);
	assert_int_equal(role, PV_ROLE_WRITER);
}

static void each_role(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *name, *role;
		enum pv_role want;
	} cases[] = {
		{ "r", "reader", PV_ROLE_READER },
		{ "w", "writer", PV_ROLE_WRITER },
		{ "a", "admin", PV_ROLE_ADMIN },
	};
	char tokens[3][96], header[128], actor[64];
	enum pv_role role;

	for (size_t i = 0; i < 3; i++)
		assert_int_equal(pv_auth_token_create(f->st, cases[i].name, cases[i].role, tokens[i], sizeof(tokens[i])), 0);
	/* three tokens, three different secrets */
	assert_string_not_equal(tokens[0], tokens[1]);
	assert_string_not_equal(tokens[1], tokens[2]);
	for (size_t i = 0; i < 3; i++) {
		bearer(header, sizeof(header), tokens[i]);
		assert_int_equal(pv_auth_check(f->st, header, "127.0.0.1", actor, sizeof(actor), &role), 0);
		assert_string_equal(actor, cases[i].name);
		assert_int_equal(role, cases[i].want);
	}
}

static void refusals(void **state)
{
	struct fixture *f = *state;
	char token[96], forged[96], header[128], actor[64];
	enum pv_role role;

	assert_int_equal(pv_auth_token_create(f->st, "alice", "admin", token, sizeof(token)), 0);
	/* once a token exists, loopback needs one too */
	assert_int_equal(pv_auth_check(f->st, NULL, "127.0.0.1", actor, sizeof(actor), &role), PV_EAUTH);
	assert_int_equal(role, PV_ROLE_NONE);
	assert_non_null(strstr(pv_error_last()->message, "Authorization: Bearer"));
	assert_int_equal(pv_auth_check(f->st, "Basic YWxpY2U6cHc=", "127.0.0.1", actor, sizeof(actor), &role), PV_EAUTH);
	assert_int_equal(pv_auth_check(f->st, "Bearer pvd_short", "127.0.0.1", actor, sizeof(actor), &role), PV_EAUTH);
	assert_string_equal(pv_error_last()->message, "the token is not a previewd token");

	/* the right lookup, a wrong secret */
	snprintf(forged, sizeof(forged), "%s", token);
	forged[strlen(forged) - 1] = forged[strlen(forged) - 1] == '0' ? '1' : '0';
	bearer(header, sizeof(header), forged);
	assert_int_equal(pv_auth_check(f->st, header, "127.0.0.1", actor, sizeof(actor), &role), PV_EAUTH);
	assert_string_equal(pv_error_last()->message, "unknown token");
	assert_int_equal(role, PV_ROLE_NONE);

	/* an unknown lookup */
	snprintf(forged, sizeof(forged), "%s", token);
	forged[4] = forged[4] == 'a' ? 'b' : 'a';
	bearer(header, sizeof(header), forged);
	assert_int_equal(pv_auth_check(f->st, header, "127.0.0.1", actor, sizeof(actor), &role), PV_EAUTH);
	assert_string_equal(pv_error_last()->message, "unknown token");
	assert_string_equal(actor, "anonymous");

	/* bad arguments to create */
	assert_int_equal(pv_auth_token_create(f->st, "bob", "root", token, sizeof(token)), PV_EINVAL);
	assert_string_equal(pv_error_last()->field, "role");
	assert_int_equal(pv_auth_token_create(f->st, "Not A Name", "reader", token, sizeof(token)), PV_EINVAL);
	assert_int_equal(pv_auth_token_create(f->st, "bob", "reader", token, 20), PV_ERROR);
	assert_int_equal(pv_auth_token_create(f->st, "alice", "reader", token, sizeof(token)), PV_ECONFLICT);
}

static void revoking(void **state)
{
	struct fixture *f = *state;
	char alice[96], bob[96], header[128], actor[64];
	enum pv_role role;
	long long count = 0;

	assert_int_equal(pv_auth_token_create(f->st, "alice", "writer", alice, sizeof(alice)), 0);
	assert_int_equal(pv_auth_token_create(f->st, "bob", "reader", bob, sizeof(bob)), 0);
	assert_int_equal(pv_store_token_revoke(f->st, "alice", (int64_t)time(NULL)), 0);
	bearer(header, sizeof(header), alice);
	assert_int_equal(pv_auth_check(f->st, header, "127.0.0.1", actor, sizeof(actor), &role), PV_EAUTH);
	assert_string_equal(pv_error_last()->message, "the token was revoked");
	assert_int_equal(role, PV_ROLE_NONE);
	/* the other token still works */
	bearer(header, sizeof(header), bob);
	assert_int_equal(pv_auth_check(f->st, header, "127.0.0.1", actor, sizeof(actor), &role), 0);
	assert_int_equal(role, PV_ROLE_READER);
	/* revoking twice, or an unknown name, says so */
	assert_int_equal(pv_store_token_revoke(f->st, "alice", (int64_t)time(NULL)), PV_ENOTFOUND);
	assert_int_equal(pv_store_token_revoke(f->st, "carol", (int64_t)time(NULL)), PV_ENOTFOUND);

	/* revoking every token does not reopen the API */
	assert_int_equal(pv_store_token_revoke(f->st, "bob", (int64_t)time(NULL)), 0);
	assert_int_equal(pv_store_token_count(f->st, &count), 0);
	assert_int_equal(count, 2);
	assert_int_equal(pv_auth_check(f->st, NULL, "127.0.0.1", actor, sizeof(actor), &role), PV_EAUTH);
}

static void survives_reopen(void **state)
{
	struct fixture *f = *state;
	char token[96], header[128], actor[64];
	enum pv_role role;

	assert_int_equal(pv_auth_token_create(f->st, "ops", "admin", token, sizeof(token)), 0);
	pv_store_free(f->st);
	f->st = NULL;
	assert_int_equal(pv_store_open(&f->st, &(struct pv_store_settings){ .path = f->path }), 0);
	bearer(header, sizeof(header), token);
	assert_int_equal(pv_auth_check(f->st, header, "192.0.2.1", actor, sizeof(actor), &role), 0);
	assert_string_equal(actor, "ops");
	assert_int_equal(role, PV_ROLE_ADMIN);
}

/* `previewd token ...`: exit statuses, what it prints and what it leaves in
 * the database */
static void cli(void **state)
{
	struct fixture *f = *state;
	char *create[] = { "previewd", "token", "create", "deploy", "--role", "writer", NULL };
	char *create_bad[] = { "previewd", "token", "create", "deploy2", "--role", "boss", NULL };
	char *list[] = { "previewd", "token", "list", NULL };
	char *revoke_it[] = { "previewd", "token", "revoke", "deploy", NULL };
	char *revoke_none[] = { "previewd", "token", "revoke", "nobody", NULL };
	char *no_verb[] = { "previewd", "token", NULL };
	char *bad_verb[] = { "previewd", "token", "delete", NULL };
	char path[128], text[4096] = "", header[128], actor[64], *line, *tok;
	long long count = 0;
	int out = dup(STDOUT_FILENO), err = dup(STDERR_FILENO), year;
	FILE *capture, *null = fopen("/dev/null", "w");
	enum pv_role role;
	size_t n;
	int rc[8];

	/* stdout into a file, stderr away: keep the test log readable */
	snprintf(path, sizeof(path), "%s/stdout", f->dir);
	capture = fopen(path, "w+");
	assert_non_null(capture);
	assert_non_null(null);
	fflush(stdout);
	fflush(stderr);
	dup2(fileno(capture), STDOUT_FILENO);
	dup2(fileno(null), STDERR_FILENO);
	rc[0] = pv_auth_cli(6, create, f->path);
	rc[1] = pv_auth_cli(6, create_bad, f->path);
	rc[2] = pv_auth_cli(3, list, f->path);
	rc[3] = pv_auth_cli(4, revoke_it, f->path);
	rc[4] = pv_auth_cli(3, list, f->path);
	rc[5] = pv_auth_cli(4, revoke_none, f->path);
	rc[6] = pv_auth_cli(2, no_verb, f->path);
	rc[7] = pv_auth_cli(3, bad_verb, f->path);
	fflush(stdout);
	fflush(stderr);
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	close(out);
	close(err);
	fclose(null);
	rewind(capture);
	n = fread(text, 1, sizeof(text) - 1, capture);
	text[n] = '\0';
	fclose(capture);

	assert_int_equal(rc[0], 0);
	assert_int_equal(rc[1], 1);
	assert_int_equal(rc[2], 0);
	assert_int_equal(rc[3], 0);
	assert_int_equal(rc[4], 0);
	assert_int_equal(rc[5], 1);
	assert_int_equal(rc[6], 2);
	assert_int_equal(rc[7], 2);
	assert_int_equal(pv_store_token_count(f->st, &count), 0);
	assert_int_equal(count, 1);

	/* line 1: the token, shown once; it worked until revoked */
	line = strtok_r(text, "\n", &tok);
	assert_non_null(line);
	assert_int_equal(strlen(line), 77);
	assert_memory_equal(line, "pvd_", 4);
	bearer(header, sizeof(header), line);
	assert_int_equal(pv_auth_check(f->st, header, "127.0.0.1", actor, sizeof(actor), &role), PV_EAUTH);
	assert_string_equal(pv_error_last()->message, "the token was revoked");
	/* line 2: the list before revoking, times in RFC 3339 */
	line = strtok_r(NULL, "\n", &tok);
	assert_non_null(line);
	assert_memory_equal(line, "deploy                   writer  created ", 41);
	assert_int_equal(sscanf(line + 41, "%4d-", &year), 1);
	assert_true(year >= 2024);
	assert_int_equal(strlen(line + 41), 21); /* "YYYY-MM-DDTHH:MM:SSZ " */
	assert_int_equal(line[41 + 10], 'T');
	assert_int_equal(line[41 + 19], 'Z');
	/* line 3: revoke's confirmation; line 4: the list with the revocation */
	line = strtok_r(NULL, "\n", &tok);
	assert_string_equal(line, "revoked deploy");
	line = strtok_r(NULL, "\n", &tok);
	assert_non_null(line);
	assert_memory_equal(line, "deploy                   writer  created ", 41);
	assert_memory_equal(line + 41 + 20, " revoked ", 9);
	assert_int_equal(strlen(line + 41 + 20 + 9), 20);
	assert_int_equal(line[41 + 20 + 9 + 19], 'Z');
	assert_null(strtok_r(NULL, "\n", &tok));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(roles),
		cmocka_unit_test(loopback),
		cmocka_unit_test_setup_teardown(open_mode_is_loopback_only, setup, teardown),
		cmocka_unit_test_setup_teardown(create_and_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(each_role, setup, teardown),
		cmocka_unit_test_setup_teardown(refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(revoking, setup, teardown),
		cmocka_unit_test_setup_teardown(survives_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(cli, setup, teardown),
	};

	pv_log_threshold = PV_LOG_WARN; /* no migration chatter */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
