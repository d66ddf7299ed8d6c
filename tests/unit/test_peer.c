/* Unit tests for peer.c: the trusted-proxy list and X-Forwarded-For. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "peer.h"

static struct pv_peer_ip ip_of(const char *text)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct pv_peer_ip ip;

	if (inet_pton(AF_INET, text, &sin.sin_addr) == 1)
		assert_int_equal(pv_peer_from_sockaddr(&ip, (struct sockaddr *)&sin), 0);
	else {
		assert_int_equal(inet_pton(AF_INET6, text, &sin6.sin6_addr), 1);
		assert_int_equal(pv_peer_from_sockaddr(&ip, (struct sockaddr *)&sin6), 0);
	}
	return ip;
}

static int trusted(const char *list, const char *addr)
{
	struct pv_peer_trust t;
	struct pv_peer_ip ip = ip_of(addr);
	int yes;

	assert_int_equal(pv_peer_trust_parse(&t, list), 0);
	yes = pv_peer_trusted(&t, &ip);
	pv_peer_trust_dispose(&t);
	return yes;
}

static void lists(void **state)
{
	(void)state;
	assert_false(trusted("", "127.0.0.1"));
	assert_true(trusted("127.0.0.1", "127.0.0.1"));
	assert_false(trusted("127.0.0.1", "127.0.0.2"));
	assert_true(trusted(" 10.0.0.0/8 , 192.168.1.0/24", "10.200.3.4"));
	assert_true(trusted("10.0.0.0/8,192.168.1.0/24", "192.168.1.77"));
	assert_false(trusted("10.0.0.0/8,192.168.1.0/24", "192.168.2.1"));
	assert_true(trusted("10.1.0.0/15", "10.0.255.255"));
	assert_false(trusted("10.1.0.0/16", "10.0.255.255"));
	assert_true(trusted("0.0.0.0/0", "203.0.113.1"));
	assert_false(trusted("0.0.0.0/0", "2001:db8::1"));
	assert_true(trusted("fd00::/8", "fd12:3456::1"));
	assert_false(trusted("fd00::/8", "fe80::1"));
	assert_true(trusted("::1", "::1"));
	/* a dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d */
	assert_true(trusted("10.0.0.0/8", "::ffff:10.1.2.3"));
	assert_true(trusted("::ffff:10.0.0.0/104", "10.1.2.3"));
	assert_false(trusted("::ffff:10.0.0.0/104", "11.1.2.3"));
}

static void bad_lists(void **state)
{
	static const char *const bad[] = { "ingress", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/a",
		"10.0.0.0/8/8", "1.2.3", "10.0.0.1,proxy.local", "::ffff:10.0.0.0/8" };
	struct pv_peer_trust t;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pv_peer_trust_parse(&t, bad[i]), PV_EINVAL);
		assert_string_equal(pv_error_last()->field, "PREVIEWD_TRUSTED_PROXIES");
		assert_null(t.nets);
	}
}

static void client_is(const char *list, const char *peer, const char *xff, const char *want)
{
	struct pv_peer_trust t;
	struct pv_peer_ip ip = ip_of(peer);
	char out[PV_PEER_ADDR_LEN];

	assert_int_equal(pv_peer_trust_parse(&t, list), 0);
	pv_peer_client(&t, &ip, xff, out, sizeof(out));
	assert_string_equal(out, want);
	pv_peer_trust_dispose(&t);
}

static void forwarded_for(void **state)
{
	(void)state;
	/* from anyone not trusted the header means nothing */
	client_is("", "198.51.100.1", "203.0.113.5", "198.51.100.1");
	client_is("10.0.0.0/8", "198.51.100.1", "203.0.113.5", "198.51.100.1");
	/* no header: the proxy itself */
	client_is("10.0.0.0/8", "10.0.0.2", NULL, "10.0.0.2");
	client_is("10.0.0.0/8", "10.0.0.2", "", "10.0.0.2");
	client_is("10.0.0.0/8", "10.0.0.2", "203.0.113.5", "203.0.113.5");
	/* the right-most untrusted hop; what the client wrote before it is not read */
	client_is("10.0.0.0/8", "10.0.0.2", "1.1.1.1, 203.0.113.5, 10.0.0.9", "203.0.113.5");
	client_is("10.0.0.0/8", "10.0.0.2", "1.1.1.1,203.0.113.5", "203.0.113.5");
	/* all trusted: the left-most */
	client_is("10.0.0.0/8", "10.0.0.2", "10.0.0.7, 10.0.0.8", "10.0.0.7");
	/* ports and brackets */
	client_is("10.0.0.0/8", "10.0.0.2", "203.0.113.5:4711", "203.0.113.5");
	client_is("10.0.0.0/8", "10.0.0.2", "[2001:db8::5]:443", "2001:db8::5");
	client_is("10.0.0.0/8", "10.0.0.2", "2001:db8::5", "2001:db8::5");
	client_is("10.0.0.0/8", "10.0.0.2", "::ffff:203.0.113.5", "203.0.113.5");
	/* no address: the walk ends at the trusted hop that wrote it */
	client_is("10.0.0.0/8", "10.0.0.2", "203.0.113.5, unknown", "10.0.0.2");
	client_is("10.0.0.0/8", "10.0.0.2", "203.0.113.5, garbage, 10.0.0.3", "10.0.0.3");
	client_is("10.0.0.0/8", "10.0.0.2", "203.0.113.5:123456", "10.0.0.2");
	client_is("10.0.0.0/8", "10.0.0.2", "[2001:db8::5", "10.0.0.2");
	/* empty entries are skipped */
	client_is("10.0.0.0/8", "10.0.0.2", " , 203.0.113.5 ,, ", "203.0.113.5");
	/* an IPv6 peer as a dual-stack listener sees it */
	client_is("10.0.0.0/8", "::ffff:10.0.0.2", "203.0.113.5", "203.0.113.5");
	client_is("", "::ffff:198.51.100.1", NULL, "198.51.100.1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lists),
		cmocka_unit_test(bad_lists),
		cmocka_unit_test(forwarded_for),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
