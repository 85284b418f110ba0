/* Unit tests for access keys at rest (secret.c: AES-256-GCM values bound to
 * their connection and key id, fingerprints) and the rules for what a
 * connection may be given (connection.c: access keys, hotel ids). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/connection.h"
#include "core/output.h"
#include "core/secret.h"
#include "tap.h"

static void test_seal_and_open(void)
{
	uint8_t key[GF_SECRET_KEY_BYTES], other[GF_SECRET_KEY_BYTES];
	for (int i = 0; i < GF_SECRET_KEY_BYTES; i++) {
		key[i] = (uint8_t)(i * 7 + 1);
		other[i] = (uint8_t)(i * 7 + 2);
	}
	const char *plain = "k3y+/=one with \xc3\xa4 and more";
	char *a = gf_secret_encrypt(key, 3, 42, plain);
	char *b = gf_secret_encrypt(key, 3, 42, plain);
	ok(a && b, "encrypts");
	if (!a || !b)
		return;
	ok(strcmp(a, b) != 0, "a random nonce per value: the same key twice gives two values");
	ok(strstr(a, "k3y") == NULL, "the value does not hold the plain text");
	is_int((int64_t)strlen(a), 2 * (2 + 12 + (int64_t)strlen(plain) + 16), "format, key id, nonce, ciphertext, tag");
	ok(strncmp(a, "0103", 4) == 0, "starts with format 1 and key id 3");

	char *out = NULL;
	int stored = 0;
	is_int(gf_secret_decrypt(key, 3, 42, a, &out, &stored), 0, "decrypts with its key and connection");
	is_str(out, plain, "the same access key");
	is_int(stored, 3, "reports the key id");
	free(out);
	out = NULL;
	is_int(gf_secret_decrypt(key, 3, 43, a, &out, NULL), -EBADMSG, "another connection's row: refused");
	is_int(gf_secret_decrypt(other, 3, 42, a, &out, NULL), -EBADMSG, "another key: refused");
	is_int(gf_secret_decrypt(key, 4, 42, a, &out, &stored), -ENOKEY, "stored under key 3, asked with key 4");
	is_int(stored, 3, "says which key it was stored under");

	/* The key id is authenticated too: a value relabelled as key 4 does
	 * not open with key 4's id. */
	char *relabel = gf_xstrdup(a);
	relabel[3] = '4';
	is_int(gf_secret_decrypt(key, 4, 42, relabel, &out, NULL), -EBADMSG, "a relabelled key id: refused");
	free(relabel);

	size_t n = strlen(a);
	bool all_refused = true;
	for (size_t i = 4; i < n; i++) {
		char *t = gf_xstrdup(a);
		t[i] = t[i] == '0' ? '1' : '0';
		if (gf_secret_decrypt(key, 3, 42, t, &out, NULL) != -EBADMSG)
			all_refused = false;
		free(t);
	}
	ok(all_refused, "any altered hex digit of nonce, ciphertext or tag: refused");
	is_int(gf_secret_decrypt(key, 3, 42, "01030102", &out, NULL), -EINVAL, "too short: not a stored value");
	is_int(gf_secret_decrypt(key, 3, 42, "zz", &out, NULL), -EINVAL, "not hex: not a stored value");
	is_int(gf_secret_decrypt(key, 3, 42, NULL, &out, NULL), -EINVAL, "nothing stored");
	char *v2 = gf_xstrdup(a);
	v2[1] = '2';
	is_int(gf_secret_decrypt(key, 3, 42, v2, &out, NULL), -EINVAL, "unknown format byte: not a stored value");
	free(v2);
	ok(gf_secret_encrypt(key, 3, 42, "") == NULL, "nothing to encrypt: no value");
	ok(gf_secret_encrypt(key, 0, 42, "x") == NULL && gf_secret_encrypt(key, 256, 42, "x") == NULL,
	   "key ids are 1..255");
	free(a);
	free(b);

	char fa[33], fb[33], fc[33];
	gf_secret_fingerprint(key, fa);
	gf_secret_fingerprint(key, fb);
	gf_secret_fingerprint(other, fc);
	ok(strlen(fa) == 32 && strspn(fa, "0123456789abcdef") == 32, "fingerprint: 32 hex digits");
	ok(strcmp(fa, fb) == 0 && strcmp(fa, fc) != 0, "fingerprint: the same for a key, another for another key");
}

/* Each output's rule for the secret entered with 'connection add' and
 * 'set-credentials' (both: what a URL or a header carries, long enough to
 * be blanked in text without blanking words). */
static void test_secret_rules(void)
{
	char why[512];
	const struct gf_output *xml = gf_output_find("review-xml"), *json = gf_output_find("guest-json"),
	                       *csv = gf_output_find("visits-csv");
	ok(xml && json && csv && xml->check_secret && json->check_secret && !csv->check_secret,
	   "review-xml and guest-json check a secret; visits-csv's connections hold none");
	if (!xml || !json || !csv || !xml->check_secret || !json->check_secret)
		return;
	size_t big = 100000;
	char *k = malloc(big + 1);
	memset(k, 'a', big);
	k[big] = '\0';
	for (int o = 0; o < 2; o++) {
		const struct gf_output *out = o ? json : xml;
		is_int(out->check_secret("k3y+/=o", 7, why, sizeof(why)), -GF_E_RENDER, "%s: 7 characters: refused",
		       out->name);
		ok(strstr(why, "8 to 8192") && strstr(why, "has 7") && !strstr(why, "k3y"),
		   "%s: the rule and the length named, the secret not quoted: %s", out->name, why);
		is_int(out->check_secret("k3y+/=on", 8, why, sizeof(why)), 0, "%s: 8 characters: taken", out->name);
		is_int(out->check_secret(k, 8192, why, sizeof(why)), 0, "%s: 8192 characters: taken", out->name);
		is_int(out->check_secret(k, 8193, why, sizeof(why)), -GF_E_RENDER, "%s: 8193 characters: refused",
		       out->name);
		is_int(out->check_secret(k, big, why, sizeof(why)), -GF_E_RENDER, "%s: 100000 characters: refused",
		       out->name);
		is_int(out->check_secret("", 0, why, sizeof(why)), -GF_E_RENDER, "%s: empty: refused", out->name);
		is_int(out->check_secret("key with space", 14, why, sizeof(why)), -GF_E_RENDER, "%s: a space: refused",
		       out->name);
		ok(strstr(why, "character 4 is a space") != NULL && !strstr(why, "key"), "%s: says where, not what: %s",
		   out->name, why);
		is_int(out->check_secret("key\twith-tab", 12, why, sizeof(why)), -GF_E_RENDER, "%s: a tab: refused",
		       out->name);
		is_int(out->check_secret("key\x7fwith-del", 12, why, sizeof(why)), -GF_E_RENDER, "%s: DEL: refused",
		       out->name);
		is_int(out->check_secret("k\xc3\xa4y-umlaut", 11, why, sizeof(why)), -GF_E_RENDER,
		       "%s: non-ASCII: refused", out->name);
		ok(strstr(why, "not ASCII") != NULL, "%s: says it is not ASCII: %s", out->name, why);
		is_int(out->check_secret("k3y+/=one", 9, why, sizeof(why)), 0, "%s: '+', '/', '=' anywhere: taken", out->name);
	}
	free(k);
	/* review-xml percent-encodes its key into the URL: any printable ASCII */
	is_int(xml->check_secret("~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}", 32, why, sizeof(why)), 0,
	       "review-xml: every printable ASCII punctuation: taken");
}

static void test_hotel_id_rule(void)
{
	char why[512];
	static const char *const good[] = { "H-1001", "Hôtel du Lac", " H 1 ", "\xf0\x9f\x8f\xa8 hotel", "\xc2\xa0x" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		is_int(gf_connection_check_id_at_partner(good[i], why, sizeof(why)), 0, "hotel id %zu taken", i);
	static const struct { const char *id, *says; } bad[] = {
		{ "", "empty" },
		{ "   ", "only spaces" },
		{ "H\t1", "U+0009" },
		{ "H\n1", "U+000A" },
		{ "H\x7f", "U+007F" },
		{ "H\xc2\x85", "U+0085" },
		{ "H\xef\xbf\xbe", "U+FFFE" },
		{ "H\xff", "byte 2 is not UTF-8" },
		{ "H\xc0\xaf", "not UTF-8" },
		{ "H\xed\xa0\x80", "not UTF-8" },
		{ "H\xe2\x82", "not UTF-8" },
		{ "H\xf4\x90\x80\x80", "not UTF-8" },
		{ "H-\xe2\x80\xae" "1009", "character 3 is U+202E, a bidi control" },
		{ "H\xd8\x9c", "U+061C, a bidi control" },
		{ "H\xe2\x80\x8e", "U+200E, a bidi control" },
		{ "H\xe2\x80\x8f", "U+200F, a bidi control" },
		{ "\xe2\x80\xaaH", "U+202A, a bidi control" },
		{ "\xe2\x81\xa6H", "U+2066, a bidi control" },
		{ "H\xe2\x81\xa9", "U+2069, a bidi control" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = gf_connection_check_id_at_partner(bad[i].id, why, sizeof(why));
		ok(r == -EINVAL && strstr(why, bad[i].says) && strstr(why, "nonEmpty"),
		   "hotel id %zu refused, the rule and '%s' named: %s", i, bad[i].says, why);
		r = gf_connection_check_property(bad[i].id, why, sizeof(why));
		ok(r == -EINVAL && strstr(why, bad[i].says) && strstr(why, "a property id"),
		   "property %zu refused, the rule and '%s' named: %s", i, bad[i].says, why);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		is_int(gf_connection_check_property(good[i], why, sizeof(why)), 0, "property %zu taken", i);
	/* marks and controls that are not bidi controls */
	is_int(gf_connection_check_id_at_partner("H\xe2\x80\x8d" "1", why, sizeof(why)), 0, "a zero width joiner is taken");
}

int main(void)
{
	test_seal_and_open();
	test_secret_rules();
	test_hotel_id_rule();
	return done_testing();
}
