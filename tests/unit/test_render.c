/* Unit tests for normalisation, review-xml rendering (validated against the XSD) and reply parsing. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <zlib.h>

#include "base/buf.h"
#include "base/gzip.h"
#include "core/normalize.h"
#include "outputs/review_xml/render_xml.h"
#include "outputs/review_xml/reply.h"
#include "tap.h"
#include "base/util.h"

#define NS "urn:guestflow:review-xml:1"
#define BUF_MAX (64u * 1024 * 1024)

static xmlSchemaPtr schema;
static int n_validated, n_invalid;

/* ---- helpers ------------------------------------------------------------ */

static bool starts_with(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* s with bytes outside printable ASCII as \xNN, for test names (a few slots). */
static const char *vis(const char *s)
{
	static char ring[4][256];
	static unsigned slot;
	char *out = ring[slot++ % 4];
	size_t o = 0;
	if (!s)
		return "(null)";
	for (; *s && o + 5 < sizeof(ring[0]); s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, 5, "\\x%02X", c);
	}
	out[o] = '\0';
	return out;
}

static void load_schema(void)
{
	const char *path = getenv("GF_XSD");
	if (!path) {
		ok(false, "GF_XSD is set");
		return;
	}
	xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(path);
	schema = pc ? xmlSchemaParse(pc) : NULL;
	xmlSchemaFreeParserCtxt(pc);
	ok(schema != NULL, "XSD %s loads", path);
}

/* Catch what libxml2 might print on stderr. */
struct capture {
	int saved;
	FILE *tmp;
};

static void capture_stderr(struct capture *c)
{
	fflush(stderr);
	c->saved = dup(STDERR_FILENO);
	c->tmp = tmpfile();
	dup2(fileno(c->tmp), STDERR_FILENO);
}

/* Returns the number of bytes printed meanwhile. */
static long end_capture(struct capture *c)
{
	struct stat st;
	fflush(stderr);
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	long printed = fstat(fileno(c->tmp), &st) == 0 ? (long)st.st_size : -1;
	fclose(c->tmp);
	return printed;
}

static xmlDocPtr parse_doc(const char *data, size_t len)
{
	return xmlReadMemory(data, (int)len, NULL, NULL, XML_PARSE_NONET);
}

/* Every rendered document goes through here. */
static bool validates(xmlDocPtr doc)
{
	if (!doc || !schema) {
		n_invalid++;
		return false;
	}
	xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(schema);
	int r = xmlSchemaValidateDoc(vc, doc);
	xmlSchemaFreeValidCtxt(vc);
	if (r == 0)
		n_validated++;
	else
		n_invalid++;
	return r == 0;
}

/* The validator itself must catch a broken document. */
static bool schema_rejects(const char *xml)
{
	xmlDocPtr doc = parse_doc(xml, strlen(xml));
	xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(schema);
	struct capture cap;
	capture_stderr(&cap);
	int r = doc && vc ? xmlSchemaValidateDoc(vc, doc) : 0;
	end_capture(&cap);
	xmlSchemaFreeValidCtxt(vc);
	xmlFreeDoc(doc);
	return r > 0;
}

static xmlNodePtr first_element(xmlNodePtr n)
{
	while (n && n->type != XML_ELEMENT_NODE)
		n = n->next;
	return n;
}

static xmlNodePtr next_element(xmlNodePtr n)
{
	return n ? first_element(n->next) : NULL;
}

static xmlNodePtr child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr c = first_element(parent ? parent->children : NULL); c; c = next_element(c))
		if (strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

/* Text of parent/<name> into buf ("" when missing; returns false then). */
static bool child_text(xmlNodePtr parent, const char *name, char *buf, size_t n)
{
	xmlNodePtr c = child(parent, name);
	buf[0] = '\0';
	if (!c)
		return false;
	xmlChar *t = xmlNodeGetContent(c);
	snprintf(buf, n, "%s", t ? (const char *)t : "");
	xmlFree(t);
	return true;
}

static size_t count_guests(xmlDocPtr doc)
{
	size_t n = 0;
	xmlNodePtr root = xmlDocGetRootElement(doc);
	for (xmlNodePtr c = first_element(root ? root->children : NULL); c; c = next_element(c))
		n++;
	return n;
}

static void free_reasons(char **reasons, size_t n)
{
	for (size_t i = 0; i < n; i++)
		reasons[i] = gf_free(reasons[i]);
}

static struct gf_record good_record(const char *booking_no)
{
	struct gf_record r = {
		.booking_id = 1,
		.booking_no = booking_no,
		.last_name = "Müller",
		.first_name = "Anna",
		.email = "anna@example.org",
		.gender = "w",
		.language = "de-DE",
		.status = "checked_out",
		.arrival = "2026-11-20",
		.departure = "2026-11-22",
	};
	return r;
}

/* Render, parse back and validate; returns the document (caller frees) or
 * NULL when nothing was rendered. */
static xmlDocPtr render(const struct gf_record *recs, size_t n, const char *deflang,
                        char **reasons, size_t *n_rendered, int *rc)
{
	struct gf_buf out = GF_BUF_INIT(BUF_MAX);
	*rc = gf_render_review_xml("H-1001", "batch-1", recs, n, deflang, &out, reasons, n_rendered);
	xmlDocPtr doc = NULL;
	if (*rc == 0 && *n_rendered > 0) {
		doc = parse_doc(out.data, out.len);
		validates(doc);
	}
	gf_buf_free(&out);
	return doc;
}

/* ---- normalisation ------------------------------------------------------ */

static void test_gender(void)
{
	static const char *const cases[][2] = {
		{ "m", "male" }, { "M", "male" }, { "f", "female" }, { "F", "female" },
		{ "w", "female" }, { "W", "female" }, { "d", "diverse" }, { "D", "diverse" },
		{ "x", "diverse" }, { "X", "diverse" }, { "male", "male" }, { "MALE", "male" },
		{ "Female", "female" }, { "diverse", "diverse" }, { "divers", "diverse" },
		{ "männlich", "male" }, { "MÄNNLICH", "male" }, { "weiblich", "female" },
		{ "Mann", "male" }, { "Frau", "female" }, { "Herr", "male" }, { "Hr.", "male" },
		{ "Mr", "male" }, { "Mr.", "male" }, { "MRS", "female" }, { "Ms.", "female" },
		{ "Miss", "female" }, { "  f  ", "female" }, { "\tHerr\n", "male" },
		{ "Mme", "female" }, { "non-binary", "diverse" }, { "", "unknown" },
		{ "   ", "unknown" }, { "?", "unknown" }, { "u", "unknown" }, { "mx", "unknown" },
		{ "Herrn", "unknown" }, { ".", "unknown" }, { "m\xff", "unknown" },
		{ "0", "unknown" },
	};
	for (size_t i = 0; i < GF_ARRAY_SIZE(cases); i++)
		is_str(gf_norm_gender(cases[i][0]), cases[i][1], "gender '%s'", vis(cases[i][0]));
	is_str(gf_norm_gender(NULL), "unknown", "gender NULL");
}

static void test_language(void)
{
	static const char *const cases[][2] = {
		{ "de", "de" }, { "DE", "de" }, { "de-DE", "de" }, { "de_at", "de" },
		{ "de_AT.UTF-8", "de" }, { "DEU", "de" }, { "deu", "de" }, { "ger", "de" },
		{ "German", "de" }, { "Deutsch", "de" }, { " deutsch ", "de" },
		{ "en", "en" }, { "en-GB", "en" }, { "eng", "en" }, { "English", "en" },
		{ "fr", "fr" }, { "fra", "fr" }, { "fre", "fr" }, { "Français", "fr" },
		{ "FRANÇAIS", "fr" }, { "it", "it" }, { "ita", "it" }, { "Italiano", "it" },
		{ "es-419", "es" }, { "spa", "es" }, { "Español", "es" }, { "nl", "nl" },
		{ "dut", "nl" }, { "nld", "nl" }, { "Nederlands", "nl" }, { "pt-BR", "pt" },
		{ "por", "pt" }, { "Português", "pt" }, { "pl", "pl" }, { "pol", "pl" },
		{ "Polski", "pl" }, { "cs", "cs" }, { "cze", "cs" }, { "ces", "cs" },
		{ "Čeština", "cs" }, { "ČEŠTINA", "cs" }, { "sk", "sk" }, { "slo", "sk" },
		{ "slk", "sk" }, { "hu", "hu" }, { "hun", "hu" }, { "Magyar", "hu" },
		{ "ro", "ro" }, { "rum", "ro" }, { "ron", "ro" }, { "Română", "ro" },
		{ "hr", "hr" }, { "hrv", "hr" }, { "Hrvatski", "hr" }, { "sl", "sl" },
		{ "slv", "sl" }, { "Slovenščina", "sl" }, { "sv-SE", "sv" }, { "swe", "sv" },
		{ "Svenska", "sv" }, { "da", "da" }, { "dan", "da" }, { "Dansk", "da" },
		{ "no", "no" }, { "nor", "no" }, { "Norsk", "no" }, { "nb-NO", "nb" },
		{ "fi", "fi" }, { "fin", "fi" }, { "Suomi", "fi" }, { "el", "el" },
		{ "gre", "el" }, { "ell", "el" }, { "Ελληνικά", "el" }, { "ΕΛΛΗΝΙΚΆ", "el" },
		{ "tr", "tr" }, { "tur", "tr" }, { "Türkçe", "tr" }, { "TÜRKÇE", "tr" },
		{ "ru", "ru" }, { "rus", "ru" }, { "Русский", "ru" }, { "РУССКИЙ", "ru" },
		{ "uk", "uk" }, { "ukr", "uk" }, { "Українська", "uk" }, { "ar", "ar" },
		{ "ara", "ar" }, { "العربية", "ar" }, { "zh", "zh" }, { "zh-Hans-CN", "zh" },
		{ "chi", "zh" }, { "zho", "zh" }, { "中文", "zh" }, { "Chinese", "zh" },
		{ "ja", "ja" }, { "jpn", "ja" }, { "日本語", "ja" }, { "ko", "ko" },
		{ "kor", "ko" }, { "한국어", "ko" }, { "Korean", "ko" }, { "iw", "he" },
		{ "Französisch", "fr" }, { "English (US)", "en" },
	};
	char out[3];
	for (size_t i = 0; i < GF_ARRAY_SIZE(cases); i++) {
		memcpy(out, "??", 3);
		int r = gf_norm_language(cases[i][0], out);
		ok(r == 0 && strcmp(out, cases[i][1]) == 0, "language '%s' -> %s (got %d '%s')",
		   vis(cases[i][0]), cases[i][1], r, vis(out));
	}
	static const char *const unknown[] = {
		"", "   ", "xx", "x", "qqq", "Klingon", "d e", "de\xff", "\xc3", "12",
		"toolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolong",
	};
	for (size_t i = 0; i < GF_ARRAY_SIZE(unknown); i++)
		is_int(gf_norm_language(unknown[i], out), -ENOENT, "language '%s' unknown", vis(unknown[i]));
	is_int(gf_norm_language(NULL, out), -ENOENT, "language NULL unknown");

	ok(gf_is_language_code("de"), "de is a language code");
	ok(!gf_is_language_code("DE"), "DE is not (upper case)");
	ok(!gf_is_language_code("deu"), "deu is not");
	ok(!gf_is_language_code("d"), "d is not");
	ok(!gf_is_language_code(NULL), "NULL is not");
}

static void test_text_check(void)
{
	char why[128];
	char big[1024];

	is_int(gf_text_check("Müller", 200, why, sizeof(why)), 0, "plain name passes");
	is_int(gf_text_check("", 200, why, sizeof(why)), 0, "empty string passes");
	is_int(gf_text_check("😀🏨👨‍👩‍👧", 200, why, sizeof(why)), 0, "emoji (incl. ZWJ) pass");
	is_int(gf_text_check("שלום עליכם", 200, why, sizeof(why)), 0, "Hebrew RTL passes");
	is_int(gf_text_check("مرحبا\xe2\x80\x8f", 200, why, sizeof(why)), 0, "Arabic + RLM passes");
	is_int(gf_text_check("Zoe\xcc\x88 e\xcc\x81", 200, why, sizeof(why)), 0,
	       "combining marks pass");
	is_int(gf_text_check("\xf4\x8f\xbf\xbf", 200, why, sizeof(why)), 0, "U+10FFFF passes");
	is_int(gf_text_check("\xee\x80\x80\xef\xbf\xbd", 200, why, sizeof(why)), 0,
	       "private use and U+FFFD pass");

	static const struct { const char *s; const char *why; const char *what; } bad[] = {
		{ "ab\xc0\xaf", "invalid UTF-8 at byte 3", "2-byte overlong" },
		{ "\xc1\xbf", "invalid UTF-8 at byte 1", "C1 overlong" },
		{ "x\xe0\x80\xaf", "invalid UTF-8 at byte 2", "3-byte overlong" },
		{ "\xf0\x80\x80\xaf", "invalid UTF-8 at byte 1", "4-byte overlong" },
		{ "M\xc3\xbcller\xed\xa0\x80", "invalid UTF-8 at byte 8", "high surrogate" },
		{ "\xed\xbf\xbf", "invalid UTF-8 at byte 1", "low surrogate" },
		{ "\xf4\x90\x80\x80", "invalid UTF-8 at byte 1", "above U+10FFFF" },
		{ "\xf5\x80\x80\x80", "invalid UTF-8 at byte 1", "lead byte F5" },
		{ "ok\xff", "invalid UTF-8 at byte 3", "byte FF" },
		{ "\x80", "invalid UTF-8 at byte 1", "lone continuation" },
		{ "abc\xc3", "invalid UTF-8 at byte 4", "truncated 2-byte at end" },
		{ "abc\xe2\x82", "invalid UTF-8 at byte 4", "truncated 3-byte at end" },
		{ "\xe2\x82z", "invalid UTF-8 at byte 1", "truncated 3-byte mid-string" },
		{ "\xf0\x9f\x98", "invalid UTF-8 at byte 1", "truncated emoji" },
		{ "ab\x07", "control character U+0007 at character 3", "BEL" },
		{ "Jo\xc3\xa9\x1b", "control character U+001B at character 4", "ESC after é" },
		{ "a\tb", "control character U+0009 at character 2", "tab" },
		{ "a\nb", "control character U+000A at character 2", "newline" },
		{ "a\rb", "control character U+000D at character 2", "CR" },
		{ "\x7f", "control character U+007F at character 1", "DEL" },
		{ "x\xc2\x80", "control character U+0080 at character 2", "C1 U+0080" },
		{ "x\xc2\x9f", "control character U+009F at character 2", "C1 U+009F" },
		{ "a\xef\xbf\xbf", "non-character U+FFFF at character 2", "U+FFFF (not XML)" },
		{ "\xef\xbf\xbe", "non-character U+FFFE at character 1", "U+FFFE (not XML)" },
	};
	for (size_t i = 0; i < GF_ARRAY_SIZE(bad); i++) {
		why[0] = '\0';
		int r = gf_text_check(bad[i].s, 200, why, sizeof(why));
		ok(r == -EINVAL && strcmp(why, bad[i].why) == 0, "%s rejected: '%s'", bad[i].what, why);
	}
	is_int(gf_text_check_len("a\0b", 3, 200, why, sizeof(why)), -EINVAL, "NUL byte rejected");
	is_str(why, "control character U+0000 at character 2", "NUL reason");

	/* A limit, when a caller gives one, counts characters, not bytes
	 * (the renderer gives none: SIZE_MAX). */
	memset(big, 'a', 200);
	big[200] = '\0';
	is_int(gf_text_check(big, 200, why, sizeof(why)), 0, "200 characters pass");
	big[200] = 'a';
	big[201] = '\0';
	is_int(gf_text_check(big, 200, why, sizeof(why)), -EINVAL, "201 characters fail");
	is_str(why, "too long (201 characters, at most 200)", "too-long reason");
	for (size_t i = 0; i < 200; i++)
		memcpy(big + 2 * i, "\xc3\xa9", 2);
	big[400] = '\0';
	is_int(gf_text_check(big, 200, why, sizeof(why)), 0, "200 two-byte characters pass");
	is_int(gf_text_check("x", 200, NULL, 0), 0, "why may be NULL");
	is_int(gf_text_check("\x01", 200, why, 8), -EINVAL, "short why buffer");
	ok(strlen(why) == 7, "why truncated to its size");
}

static void test_trim(void)
{
	char *t;
	is_str(t = gf_trim_dup("  Müller \t"), "Müller", "ASCII white space trimmed"), free(t);
	is_str(t = gf_trim_dup("\xc2\xa0" "Anna\xc2\xa0"), "Anna", "NBSP trimmed"), free(t);
	is_str(t = gf_trim_dup("\r\nvan der Berg\n"), "van der Berg", "inner spaces kept"), free(t);
	is_str(t = gf_trim_dup("\xe3\x80\x80山田\xe3\x80\x80"), "山田", "ideographic space"), free(t);
	is_str(t = gf_trim_dup("\xef\xbb\xbf" "Bom"), "Bom", "BOM trimmed"), free(t);
	is_str(t = gf_trim_dup("   "), "", "all white space gives empty"), free(t);
	is_str(t = gf_trim_dup(""), "", "empty stays empty"), free(t);
	is_str(t = gf_trim_dup("x"), "x", "one char"), free(t);
	is_str(t = gf_trim_dup(" \xc2"), "\xc2", "broken UTF-8 is not eaten"), free(t);
	is_str(t = gf_trim_dup("\xc2\xa0\xc2"), "\xc2", "lone lead after NBSP kept"), free(t);
	ok(gf_trim_dup(NULL) == NULL, "NULL gives NULL");
	size_t start;
	is_int((int64_t)gf_trim_span("  ab ", 5, &start), 2, "trim_span length");
	is_int((int64_t)start, 2, "trim_span start");
}

static void test_record_check(void)
{
	static const struct {
		const char *field, *value, *why;
	} cases[] = {
		{ "booking_no", NULL, "booking_no: missing" },
		{ "booking_no", "  ", "booking_no: only white space" },
		{ "booking_no", "B\xff", "booking_no: invalid UTF-8 at byte 2" },
		{ "last_name", NULL, "last_name: missing" },
		{ "last_name", "", "last_name: empty" },
		{ "last_name", " \xc2\xa0 ", "last_name: only white space" },
		{ "last_name", "Mülle\xff", "last_name: invalid UTF-8 at byte 7" },
		{ "last_name", "  Mülle\xff", "last_name: invalid UTF-8 at byte 7" },
		{ "first_name", "An\x07na", "first_name: control character U+0007 at character 3" },
		{ "email", NULL, "email: missing" },
		{ "email", " ", "email: only white space" },
		{ "email", "anna.example.org", "email: no '@'" },
		{ "email", "anna@@example.org", "email: more than one '@'" },
		{ "email", "@example.org", "email: nothing before '@'" },
		{ "email", "anna@", "email: no domain after '@'" },
		{ "email", "anna maria@example.org", "email: contains white space" },
		{ "email", "anna\xc2\xa0@example.org", "email: contains white space" },
		{ "email", "anna\x01@example.org", "email: control character U+0001 at character 5" },
		{ "status", NULL, "status: missing" },
		{ "status", "", "status: empty" },
		{ "arrival", NULL, "arrival: missing" },
		{ "arrival", "20.11.2026", "arrival: not a date of the form YYYY-MM-DD" },
		{ "arrival", "2026-11-20 ", "arrival: not a date of the form YYYY-MM-DD" },
		{ "arrival", "2026-11-2", "arrival: not a date of the form YYYY-MM-DD" },
		{ "departure", "2027-02-29", "departure: 2027-02-29 is not a real date" },
		{ "departure", "2026-13-01", "departure: 2026-13-01 is not a real date" },
		{ "departure", "2026-04-31", "departure: 2026-04-31 is not a real date" },
		{ "arrival", "0000-01-01", "arrival: 0000-01-01 is not a real date" },
		{ "departure", "2026-11-19", "departure 2026-11-19 is before arrival 2026-11-20" },
	};
	char why[256];
	for (size_t i = 0; i < GF_ARRAY_SIZE(cases); i++) {
		struct gf_record r = good_record("B-1");
		const char **f = !strcmp(cases[i].field, "booking_no") ? &r.booking_no :
		                 !strcmp(cases[i].field, "last_name") ? &r.last_name :
		                 !strcmp(cases[i].field, "first_name") ? &r.first_name :
		                 !strcmp(cases[i].field, "email") ? &r.email :
		                 !strcmp(cases[i].field, "status") ? &r.status :
		                 !strcmp(cases[i].field, "arrival") ? &r.arrival : &r.departure;
		*f = cases[i].value;
		why[0] = '\0';
		int rc = gf_record_check(&r, why, sizeof(why));
		ok(rc == -GF_E_RENDER && strcmp(why, cases[i].why) == 0, "reject %s: '%s'",
		   cases[i].field, why);
	}

	struct gf_record r = good_record("B-1");
	is_int(gf_record_check(&r, why, sizeof(why)), 0, "good record passes");
	r.first_name = NULL;
	r.gender = NULL;
	r.language = NULL;
	is_int(gf_record_check(&r, why, sizeof(why)), 0, "no first name, gender, language passes");
	r.first_name = " \t ";
	is_int(gf_record_check(&r, why, sizeof(why)), 0, "blank first name passes");
	r.arrival = r.departure = "2024-02-29";
	is_int(gf_record_check(&r, why, sizeof(why)), 0, "leap day, same-day departure pass");
	r.gender = "\xff\xfe";
	r.language = "\xc0";
	is_int(gf_record_check(&r, why, sizeof(why)), 0, "broken gender/language do not reject");

	/* No length limit: review-xml-1.xsd states no maxLength, so the
	 * partner decides. */
	char *long_name = gf_xmalloc(10241);
	memset(long_name, 'Q', 10240);
	long_name[10240] = '\0';
	r = good_record("B-1");
	r.last_name = long_name;
	r.first_name = long_name;
	r.status = long_name;
	r.booking_no = long_name;
	is_int(gf_record_check(&r, why, sizeof(why)), 0, "10240-character names, status and booking number pass");
	free(long_name);

	/* Privacy: names and addresses never appear in reasons. */
	r = good_record("B-1");
	r.last_name = "Geheimname\x07";
	gf_record_check(&r, why, sizeof(why));
	ok(!strstr(why, "Geheim"), "reason does not leak the name: '%s'", why);
	r = good_record("B-1");
	r.email = "geheim@@example.org";
	gf_record_check(&r, why, sizeof(why));
	ok(!strstr(why, "geheim") && !strstr(why, "example"), "reason does not leak the e-mail: '%s'",
	   why);
}

/* ---- rendering ---------------------------------------------------------- */

static void test_render_exact(void)
{
	struct gf_record r = good_record("B-000123");
	r.gender = "F";
	struct gf_buf out = GF_BUF_INIT(BUF_MAX);
	char *reasons[1];
	size_t n = 99;
	int rc = gf_render_review_xml("H-1001", "b1", &r, 1, "en", &out, reasons, &n);
	is_int(rc, 0, "render one record");
	is_int((int64_t)n, 1, "one rendered");
	ok(reasons[0] == NULL, "no reason for a rendered record");
	is_str(gf_buf_str(&out),
	       "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	       "<guestList xmlns=\"" NS "\" hotelId=\"H-1001\" batchId=\"b1\">"
	       "<guest><bookingNo>B-000123</bookingNo><lastName>Müller</lastName>"
	       "<firstName>Anna</firstName><email>anna@example.org</email>"
	       "<gender>female</gender><language>de</language><status>checked_out</status>"
	       "<arrival>2026-11-20</arrival><departure>2026-11-22</departure></guest>"
	       "</guestList>\n",
	       "exact document of DESIGN.md section 4");
	xmlDocPtr doc = parse_doc(out.data, out.len);
	ok(validates(doc), "exact document validates");
	xmlFreeDoc(doc);
	ok(schema_rejects("<guestList xmlns=\"" NS "\" hotelId=\"H\" batchId=\"b\"/>"),
	   "validator catches an empty guestList");
	ok(schema_rejects("<guestList xmlns=\"" NS "\" hotelId=\"H\" batchId=\"b\"><guest>"
	                  "<bookingNo>1</bookingNo><lastName>M</lastName><email>a@b</email>"
	                  "<gender>f</gender><language>de</language><status>x</status>"
	                  "<arrival>2026-01-01</arrival><departure>2026-01-02</departure>"
	                  "</guest></guestList>"),
	   "validator catches a bad gender");

	/* Appends after what is already there. */
	size_t before = out.len;
	rc = gf_render_review_xml("H-1001", "b2", &r, 1, "en", &out, reasons, &n);
	ok(rc == 0 && out.len == 2 * before && !memcmp(out.data, out.data + before, 100),
	   "second document appended");
	gf_buf_free(&out);
}

static void test_render_special(void)
{
	static const char *const names[] = {
		"O'Brien & <Sons> \"Ltd\"", "]]>", "&amp;", "<![CDATA[x]]>", "a > b < c",
		"😀 Smile", "שלום", "Zoe\xcc\x88", "山田 太郎", "Ærøskøbing‏", "'\"'\"",
	};
	const size_t n = GF_ARRAY_SIZE(names);
	struct gf_record recs[GF_ARRAY_SIZE(names)];
	char nos[GF_ARRAY_SIZE(names)][16];
	char *reasons[GF_ARRAY_SIZE(names)];
	for (size_t i = 0; i < n; i++) {
		snprintf(nos[i], sizeof(nos[i]), "B&<%zu>\"'", i);
		recs[i] = good_record(nos[i]);
		recs[i].last_name = names[i];
		recs[i].first_name = names[n - 1 - i];
		recs[i].status = "checked_out & <done>";
	}
	struct gf_buf out = GF_BUF_INIT(BUF_MAX);
	size_t nr = 0;
	int rc = gf_render_review_xml("H&\"1'<>", "b\"&<>'", recs, n, "en", &out, reasons, &nr);
	ok(rc == 0 && nr == n, "special characters render");
	xmlDocPtr doc = parse_doc(out.data, out.len);
	ok(validates(doc), "special-character document validates");
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlChar *hid = root ? xmlGetProp(root, BAD_CAST "hotelId") : NULL;
	xmlChar *bid = root ? xmlGetProp(root, BAD_CAST "batchId") : NULL;
	is_str((const char *)hid, "H&\"1'<>", "hotelId byte-exact");
	is_str((const char *)bid, "b\"&<>'", "batchId byte-exact");
	xmlFree(hid);
	xmlFree(bid);
	size_t i = 0;
	bool exact = true;
	char t[512];
	for (xmlNodePtr g = first_element(root ? root->children : NULL); g; g = next_element(g), i++) {
		child_text(g, "lastName", t, sizeof(t));
		exact &= strcmp(t, names[i]) == 0;
		child_text(g, "firstName", t, sizeof(t));
		exact &= strcmp(t, names[n - 1 - i]) == 0;
		child_text(g, "bookingNo", t, sizeof(t));
		exact &= strcmp(t, nos[i]) == 0;
		child_text(g, "status", t, sizeof(t));
		exact &= strcmp(t, "checked_out & <done>") == 0;
	}
	ok(exact && i == n, "names, booking numbers, status arrive byte-exact after parsing");
	xmlFreeDoc(doc);
	gf_buf_free(&out);
}

static void test_render_fields(void)
{
	struct gf_record recs[4];
	char *reasons[4];
	size_t nr;
	int rc;
	char t[256];

	recs[0] = good_record("B-1");
	recs[0].first_name = "   ";
	recs[0].last_name = "  \xc2\xa0Schmidt \t";
	recs[0].email = "  s@example.org ";
	recs[0].language = "Klingon";
	recs[0].gender = "Herr";
	recs[1] = good_record("B-2");
	recs[1].first_name = NULL;
	recs[1].language = NULL;
	recs[1].gender = "?";
	recs[2] = good_record("B-3");
	recs[2].language = "fra";
	recs[3] = good_record("B-4");
	recs[3].first_name = " Jean ";
	recs[3].language = "";
	xmlDocPtr doc = render(recs, 4, "nl", reasons, &nr, &rc);
	ok(rc == 0 && nr == 4 && doc, "four records rendered");
	xmlNodePtr g = first_element(xmlDocGetRootElement(doc)->children);
	ok(!child(g, "firstName"), "blank first name omitted");
	child_text(g, "lastName", t, sizeof(t));
	is_str(t, "Schmidt", "last name trimmed (incl. NBSP)");
	child_text(g, "email", t, sizeof(t));
	is_str(t, "s@example.org", "email trimmed");
	child_text(g, "language", t, sizeof(t));
	is_str(t, "nl", "unknown language falls back to default_language");
	child_text(g, "gender", t, sizeof(t));
	is_str(t, "male", "gender normalised");
	g = next_element(g);
	ok(!child(g, "firstName"), "missing first name omitted");
	child_text(g, "language", t, sizeof(t));
	is_str(t, "nl", "missing language falls back to default_language");
	child_text(g, "gender", t, sizeof(t));
	is_str(t, "unknown", "unrecognised gender is unknown");
	g = next_element(g);
	child_text(g, "language", t, sizeof(t));
	is_str(t, "fr", "mapped language beats the default");
	g = next_element(g);
	child_text(g, "firstName", t, sizeof(t));
	is_str(t, "Jean", "first name trimmed");
	xmlFreeDoc(doc);
	free_reasons(reasons, 4);

	/* No default_language: records without a usable language are left out. */
	doc = render(recs, 4, NULL, reasons, &nr, &rc);
	ok(rc == 0 && nr == 1 && reasons[0] && reasons[1] && !reasons[2] && reasons[3],
	   "without default_language only the mapped one renders");
	ok(starts_with(reasons[0], "language:"), "reason names language: '%s'", reasons[0]);
	xmlFreeDoc(doc);
	free_reasons(reasons, 4);

	struct gf_buf out = GF_BUF_INIT(BUF_MAX);
	is_int(gf_render_review_xml("H", "b", recs, 4, "DE", &out, reasons, &nr), -EINVAL,
	       "malformed default_language is an error");
	is_int(gf_render_review_xml("", "b", recs, 4, "de", &out, reasons, &nr), -EINVAL,
	       "empty hotel id is an error");
	is_int(gf_render_review_xml("H", " ", recs, 4, "de", &out, reasons, &nr), -EINVAL,
	       "blank batch id is an error");
	is_int(gf_render_review_xml("H\x01", "b", recs, 4, "de", &out, reasons, &nr), -EINVAL,
	       "control character in hotel id is an error");
	ok(out.len == 0, "nothing appended on argument errors");
	gf_buf_free(&out);

	/* The rule for hotelId and batchId, named. */
	char why[128];
	is_int(gf_review_xml_check_id("H-1001", why, sizeof(why)), 0, "plain hotel id passes");
	is_int(gf_review_xml_check_id("Hôtel 😀 \xe2\x80\x8f", why, sizeof(why)), 0, "any printable UTF-8 passes");
	struct { const char *id, *why; } bad_ids[] = {
		{ NULL, "missing" }, { "", "missing" }, { " \xc2\xa0", "only white space" },
		{ "H-1\x01", "control character U+0001 at character 4" },
		{ "H\xff", "invalid UTF-8 at byte 2" },
		{ "H\x7f", "control character U+007F at character 2" },
	};
	for (size_t i = 0; i < GF_ARRAY_SIZE(bad_ids); i++) {
		why[0] = '\0';
		ok(gf_review_xml_check_id(bad_ids[i].id, why, sizeof(why)) == -GF_E_RENDER &&
		   strcmp(why, bad_ids[i].why) == 0, "hotel id refused: '%s'", why);
	}
	/* No length limit on them either. */
	char *long_id = gf_xmalloc(5001);
	memset(long_id, 'h', 5000);
	long_id[5000] = '\0';
	is_int(gf_review_xml_check_id(long_id, why, sizeof(why)), 0, "5000-character hotel id passes");
	struct gf_buf out2 = GF_BUF_INIT(BUF_MAX);
	is_int(gf_render_review_xml(long_id, long_id, recs, 4, "de", &out2, reasons, &nr), 0,
	       "5000-character hotel and batch ids render");
	free_reasons(reasons, 4);
	gf_buf_free(&out2);
	free(long_id);
}

/* A name of any length is sent as it is (the partner decides): 305
 * characters of valid UTF-8, and 1 MiB. */
static void test_render_long_values(void)
{
	char *name305 = gf_xmalloc(305 * 2 + 1);
	for (size_t i = 0; i < 305; i++)
		memcpy(name305 + 2 * i, "\xc3\xbc", 2); /* ü */
	name305[610] = '\0';
	size_t big = (size_t)1 << 20;
	char *name1m = gf_xmalloc(big + 1);
	memset(name1m, 'N', big);
	name1m[big] = '\0';
	struct gf_record recs[2] = { good_record("B-305"), good_record("B-1M") };
	recs[0].last_name = name305;
	recs[1].last_name = name1m;
	recs[1].first_name = name1m;
	char *reasons[2];
	size_t nr = 0;
	int rc;
	xmlDocPtr doc = render(recs, 2, "en", reasons, &nr, &rc);
	ok(rc == 0 && nr == 2 && !reasons[0] && !reasons[1], "305-character and 1 MiB names render (rc %d, %zu)", rc, nr);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	xmlNodePtr g = root ? root->children : NULL;
	while (g && g->type != XML_ELEMENT_NODE)
		g = g->next;
	xmlChar *ln = NULL;
	for (xmlNodePtr f = g ? g->children : NULL; f; f = f->next)
		if (f->type == XML_ELEMENT_NODE && !strcmp((const char *)f->name, "lastName"))
			ln = xmlNodeGetContent(f);
	ok(ln && strcmp((const char *)ln, name305) == 0, "the 305-character name is sent whole");
	xmlFree(ln);
	xmlFreeDoc(doc);
	free_reasons(reasons, 2);
	/* A body past the buffer's cap is an error of the whole call, never a
	 * half-written document. */
	struct gf_buf small = GF_BUF_INIT((size_t)512 << 10);
	is_int(gf_render_review_xml("H-1001", "b", recs, 2, "en", &small, reasons, &nr), -GF_E_TOO_BIG,
	       "a document past the buffer cap: -GF_E_TOO_BIG");
	ok(small.len == 0, "nothing appended past the cap");
	gf_buf_free(&small);
	free(name305);
	free(name1m);
}

static void test_render_mixed(void)
{
	struct gf_record recs[6];
	char *reasons[6];
	size_t nr;
	int rc;

	for (size_t i = 0; i < 6; i++)
		recs[i] = good_record(NULL);
	recs[0].booking_no = "B-1";
	recs[1].booking_no = "B-2";
	recs[1].last_name = "Bad\xc3";
	recs[2].booking_no = "B-3";
	recs[3].booking_no = "B-4";
	recs[3].departure = "2026-11-01";
	recs[3].arrival = "2026-11-05";
	recs[4].booking_no = "B-1";      /* twice in the batch */
	recs[5].booking_no = "B-6";
	recs[5].email = NULL;
	xmlDocPtr doc = render(recs, 6, "de", reasons, &nr, &rc);
	ok(rc == 0 && nr == 2 && doc, "two of six rendered");
	ok(!reasons[0] && !reasons[2], "good records have no reason");
	is_str(reasons[1], "last_name: invalid UTF-8 at byte 4", "reason for bad UTF-8");
	is_str(reasons[3], "departure 2026-11-01 is before arrival 2026-11-05", "reason for dates");
	is_str(reasons[4], "booking_no: listed twice in this batch", "reason for duplicate");
	is_str(reasons[5], "email: missing", "reason for missing e-mail");
	is_int((int64_t)count_guests(doc), 2, "document holds the two good ones");
	xmlFreeDoc(doc);
	free_reasons(reasons, 6);

	/* Nothing renderable: nothing appended. */
	struct gf_buf out = GF_BUF_INIT(BUF_MAX);
	gf_buf_puts(&out, "keep");
	nr = 42;
	rc = gf_render_review_xml("H", "b", &recs[1], 1, "de", &out, reasons, &nr);
	ok(rc == 0 && nr == 0, "all rejected: rc 0, n_rendered 0");
	ok(reasons[0] != NULL, "the rejected one has its reason");
	is_str(gf_buf_str(&out), "keep", "nothing appended when nothing rendered");
	free_reasons(reasons, 1);
	rc = gf_render_review_xml("H", "b", NULL, 0, "de", &out, NULL, &nr);
	ok(rc == 0 && nr == 0 && out.len == 4, "empty batch appends nothing");

	/* Buffer cap: an error, nothing half-written, no reasons to free. */
	struct gf_buf small = GF_BUF_INIT(300);
	gf_buf_puts(&small, "x");
	struct capture cap;
	capture_stderr(&cap);
	rc = gf_render_review_xml("H", "b", recs, 6, "de", &small, reasons, &nr);
	long printed = end_capture(&cap);
	is_int(rc, -GF_E_TOO_BIG, "buffer cap reached is an error");
	is_int(printed, 0, "nothing printed on stderr at the cap");
	ok(small.len == 1 && strcmp(small.data, "x") == 0, "buffer unchanged after cap error");
	bool none = true;
	for (size_t i = 0; i < 6; i++)
		none &= reasons[i] == NULL;
	ok(none, "reasons all NULL after an error");
	gf_buf_free(&small);
	gf_buf_free(&out);
}

static void test_render_batch500(void)
{
	enum { N = 500 };
	static const char *const last[] = { "Müller", "O'Neil", "García-López", "Łukasiewicz",
	                                     "Ødegård", "山田", "Иванов", "Nguyễn", "José & Co" };
	static const char *const gender[] = { "m", "F", "w", "d", "Herr", "Frau", "", NULL };
	static const char *const lang[] = { "de", "EN", "fr-FR", "ita", "Español", NULL, "??" };
	struct gf_record *recs = gf_xcalloc(N, sizeof(*recs));
	char (*nos)[16] = gf_xcalloc(N, sizeof(*nos));
	char *reasons[N];
	for (size_t i = 0; i < N; i++) {
		snprintf(nos[i], sizeof(nos[i]), "B-%06zu", i);
		recs[i] = good_record(nos[i]);
		recs[i].last_name = last[i % GF_ARRAY_SIZE(last)];
		recs[i].first_name = i % 7 ? "Anna" : NULL;
		recs[i].gender = gender[i % GF_ARRAY_SIZE(gender)];
		recs[i].language = lang[i % GF_ARRAY_SIZE(lang)];
	}
	struct gf_buf out = GF_BUF_INIT(BUF_MAX);
	size_t nr = 0;
	int rc = gf_render_review_xml("H-1001", "batch-500", recs, N, "de", &out, reasons, &nr);
	ok(rc == 0 && nr == N, "batch of 500 renders");
	xmlDocPtr doc = parse_doc(out.data, out.len);
	ok(validates(doc), "batch of 500 validates");
	is_int((int64_t)count_guests(doc), N, "500 guests in the document");
	xmlFreeDoc(doc);

	/* The gzip body the sender makes inflates to the same bytes. */
	struct gf_buf gz = GF_BUF_INIT(BUF_MAX), back = GF_BUF_INIT(BUF_MAX);
	bool same = gf_gzip(out.data, out.len, 6, &gz) == 0
	            && gf_gunzip(gz.data, gz.len, &back) == 0 && back.len == out.len
	            && memcmp(back.data, out.data, out.len) == 0;
	ok(same, "gzip round trip");
	diag("batch of 500: %zu bytes, %zu gzipped", out.len, gz.len);

	/* Rendered straight into gzip: the same member as rendering, then gzip. */
	struct gf_buf direct = GF_BUF_INIT(BUF_MAX);
	char *reasons2[N];
	size_t nr2 = 0;
	int rg = gf_render_review_xml_gzip("H-1001", "batch-500", recs, N, "de", 6, &direct, reasons2, &nr2);
	ok(rg == 0 && nr2 == N && direct.len == gz.len && memcmp(direct.data, gz.data, gz.len) == 0,
	   "batch of 500 rendered into gzip: the same bytes as render then gzip");
	for (size_t i = 0; i < N; i++)
		free(reasons2[i]);
	is_int(gf_render_review_xml_gzip("H-1001", "b", recs, N, "de", 0, &direct, reasons2, &nr2), -EINVAL,
	       "render into gzip at level 0: -EINVAL");
	struct gf_buf tiny = GF_BUF_INIT(64);
	gf_buf_puts(&tiny, "x");
	rg = gf_render_review_xml_gzip("H-1001", "batch-500", recs, N, "de", 6, &tiny, reasons2, &nr2);
	ok(rg == -GF_E_TOO_BIG && tiny.len == 1 && strcmp(tiny.data, "x") == 0,
	   "render into gzip past out->max: -GF_E_TOO_BIG, buffer unchanged");
	gf_buf_free(&tiny);
	gf_buf_free(&direct);
	gf_buf_free(&gz);
	gf_buf_free(&back);

	/* Rough throughput, for the record (1,000,000 records a night). */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int k = 0; k < 40; k++) {
		gf_buf_reset(&out);
		rc |= gf_render_review_xml("H-1001", "batch-500", recs, N, "de", &out, reasons, &nr);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ok(rc == 0, "repeated renders succeed");
	diag("rendered 20000 records in %.3f s (%.0f records/s)", s, 20000 / s);
	gf_buf_free(&out);
	free(nos);
	free(recs);
}

/* ---- gzip: one deflate state reused across calls ------------------------- */

/* What gf_gzip made before it kept its state: a fresh deflate stream per body.
 * Returns a malloc'd buffer (caller frees), *n its length. */
static unsigned char *gzip_fresh(const void *in, size_t len, int level, size_t *n)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	uLong bound = deflateBound(&zs, (uLong)len);
	unsigned char *out = gf_xmalloc(bound);
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)bound;
	int zr = deflate(&zs, Z_FINISH);
	*n = zs.total_out;
	deflateEnd(&zs);
	if (zr != Z_STREAM_END) {
		free(out);
		return NULL;
	}
	return out;
}

/* gf_gzip appends one gzip member after prefix, the same bytes a fresh stream
 * makes, and it inflates back to the body. */
static bool gzip_ok(const char *body, size_t len, int level, const char *prefix)
{
	size_t plen = strlen(prefix), rlen = 0;
	struct gf_buf gz = GF_BUF_INIT(BUF_MAX), back = GF_BUF_INIT(BUF_MAX);
	gf_buf_puts(&gz, prefix);
	unsigned char *ref = gzip_fresh(body, len, level, &rlen);
	bool same = ref && gf_gzip(body, len, level, &gz) == 0 && gz.len == plen + rlen
	            && memcmp(gz.data, prefix, plen) == 0 && memcmp(gz.data + plen, ref, rlen) == 0
	            && gz.data[gz.len] == '\0'
	            && gf_gunzip(gz.data + plen, gz.len - plen, &back) == 0 && back.len == len
	            && (len == 0 || memcmp(back.data, body, len) == 0);
	free(ref);
	gf_buf_free(&gz);
	gf_buf_free(&back);
	return same;
}

static void test_gzip_reuse(void)
{
	/* Bodies of different sizes and kinds, one after another. */
	struct gf_buf xml = GF_BUF_INIT(BUF_MAX), rep = GF_BUF_INIT(BUF_MAX);
	gf_buf_printf(&xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<guestList xmlns=\"%s\">", NS);
	for (int i = 0; xml.len < 60 * 1024; i++)
		gf_buf_printf(&xml, "<guest><bookingNo>B-%07d</bookingNo><lastName>Müller-%d</lastName>"
		              "<email>g%d@example%d.org</email><arrival>2026-%02d-%02d</arrival></guest>",
		              i * 7919 % 10000000, i % 97, i * 31, i % 13, 1 + i % 12, 1 + i % 28);
	gf_buf_puts(&xml, "</guestList>");
	for (int i = 0; rep.len < 1024 * 1024; i++) /* far beyond the 32 KiB window */
		gf_buf_printf(&rep, "<guest id=\"%d\">same again</guest>", i % 50);
	size_t noise_len = 200 * 1024;
	char *noise = gf_xmalloc(noise_len); /* incompressible: output near deflateBound */
	uint64_t x = 0x9E3779B97F4A7C15ULL;
	for (size_t i = 0; i < noise_len; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		noise[i] = (char)(x >> 56);
	}
	const struct {
		const char *what, *data;
		size_t len;
	} bodies[] = {
		{ "60 KiB XML", xml.data, xml.len },
		{ "empty", "", 0 },
		{ "short", "<guestList/>", 12 },
		{ "200 KiB noise", noise, noise_len },
		{ "1 MiB repetitive", rep.data, rep.len },
		{ "60 KiB XML again", xml.data, xml.len },
	};
	/* Level 1 for all, level 9 for all, then switching on every body. */
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < GF_ARRAY_SIZE(bodies); i++) {
			int level = round == 0 ? 1 : round == 1 ? 9 : i % 2 ? 1 : 9;
			ok(gzip_ok(bodies[i].data, bodies[i].len, level, i % 3 ? "" : "head:"),
			   "gzip reuse: %s at level %d same as a fresh stream, round trips", bodies[i].what,
			   level);
		}
	}

	/* Errors leave nothing behind and do not spoil the kept state. */
	struct gf_buf small = GF_BUF_INIT(100);
	gf_buf_puts(&small, "x");
	ok(gf_gzip(xml.data, xml.len, 9, &small) == -GF_E_TOO_BIG && small.len == 1
	   && strcmp(small.data, "x") == 0, "gzip past out->max: -GF_E_TOO_BIG, buffer unchanged");
	gf_buf_free(&small);
	ok(gf_gzip("a", 1, 0, &rep) == -EINVAL && gf_gzip("a", 1, 10, &rep) == -EINVAL,
	   "gzip levels 0 and 10: -EINVAL");
	ok(gzip_ok(xml.data, xml.len, 9, ""), "gzip after errors still exact");

	/* Piece by piece: the same member as gf_gzip, whatever the pieces. */
	const size_t pieces[] = { 1, 7, 4096, 65536 };
	for (size_t k = 0; k < GF_ARRAY_SIZE(pieces); k++) {
		for (size_t i = 0; i < GF_ARRAY_SIZE(bodies); i++) {
			struct gf_buf one = GF_BUF_INIT(BUF_MAX), st_out = GF_BUF_INIT(BUF_MAX);
			gf_buf_puts(&st_out, "head:");
			struct gf_gzip_stream st;
			int rc = gf_gzip_begin(&st, 1, &st_out);
			for (size_t off = 0; rc == 0 && off < bodies[i].len; off += pieces[k]) {
				size_t n = bodies[i].len - off < pieces[k] ? bodies[i].len - off : pieces[k];
				rc = gf_gzip_write(&st, bodies[i].data + off, n);
			}
			if (rc == 0)
				rc = gf_gzip_end(&st);
			bool same = rc == 0 && gf_gzip(bodies[i].data, bodies[i].len, 1, &one) == 0
			            && st_out.len == one.len + 5 && memcmp(st_out.data, "head:", 5) == 0
			            && memcmp(st_out.data + 5, one.data, one.len) == 0 && st_out.data[st_out.len] == '\0';
			ok(same, "gzip stream: %s in pieces of %zu, the same member as gf_gzip", bodies[i].what,
			   pieces[k]);
			gf_buf_free(&one);
			gf_buf_free(&st_out);
		}
	}
	struct gf_buf tight = GF_BUF_INIT(300);
	gf_buf_puts(&tight, "x");
	struct gf_gzip_stream st;
	int rc = gf_gzip_begin(&st, 1, &tight);
	for (size_t off = 0; rc == 0 && off < noise_len; off += 1000)
		rc = gf_gzip_write(&st, noise + off, noise_len - off < 1000 ? noise_len - off : 1000);
	ok(rc == -GF_E_TOO_BIG && gf_gzip_write(&st, "a", 1) == -GF_E_TOO_BIG && gf_gzip_end(&st) == -GF_E_TOO_BIG
	   && tight.len == 1 && strcmp(tight.data, "x") == 0,
	   "gzip stream past out->max: -GF_E_TOO_BIG from then on, buffer as before begin");
	gf_buf_free(&tight);
	ok(gf_gzip_begin(&st, 0, &rep) == -EINVAL && gf_gzip_end(&st) == -EINVAL, "gzip stream level 0: -EINVAL");
	ok(gzip_ok(xml.data, xml.len, 9, ""), "gzip after stream errors still exact");

	/* Cleanup (twice is fine), then a new state on the next call. */
	gf_gzip_cleanup();
	gf_gzip_cleanup();
	ok(gzip_ok(xml.data, xml.len, 1, "") && gzip_ok(noise, noise_len, 1, ""),
	   "gzip after gf_gzip_cleanup works again");
	/* The state is left live on purpose: under ASan, LeakSanitizer must not
	 * count a thread's kept deflate state as a leak at exit. */
	free(noise);
	gf_buf_free(&xml);
	gf_buf_free(&rep);
}

/* ---- the nasty-record generator ------------------------------------------ */

static uint64_t rng = 0x2545F4914F6CDD1DULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t below(size_t n)
{
	return (size_t)(rnd() % n);
}

/* Pieces of text, good and bad, that random strings are made from. */
static const char *const pieces[] = {
	"a", "Z", "é", "Ö", "ß", " ", "  ", "-", "'", "\"", "&", "<", ">", "]]>", "&amp;",
	"@", ".", "😀", "👨‍👩‍👧", "עברית", "مرحبا", "\xe2\x80\x8f", "e\xcc\x81", "中文",
	"\xc2\xa0", "\xe3\x80\x80", "\xef\xbb\xbf", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf",
	/* bad */
	"\xef\xbf\xbf", "\xed\xa0\x80", "\xc0\xaf", "\x07", "\x7f", "\xc2\x85", "\t", "\n",
	"\xf4\x90\x80\x80", "\xe2", "\x80", "\xff", "\xf0\x9f\x98",
};

struct arena {
	char *p[16];
	size_t n;
};

static char *keep(struct arena *a, char *s)
{
	if (a->n < GF_ARRAY_SIZE(a->p))
		a->p[a->n++] = s;
	return s;
}

static char *random_text(struct arena *a)
{
	struct gf_buf b = GF_BUF_INIT(1u << 20);
	size_t kind = below(10);
	if (kind < 3) {                        /* pieces */
		for (size_t k = below(12); k > 0; k--)
			gf_buf_puts(&b, pieces[below(GF_ARRAY_SIZE(pieces))]);
	} else if (kind < 5) {                 /* random bytes */
		for (size_t k = below(24); k > 0; k--) {
			char c = (char)(1 + below(255));
			gf_buf_append(&b, &c, 1);
		}
	} else if (kind < 7) {                 /* around the 200-character limit */
		const char *p = below(2) ? "x" : "é";
		for (size_t k = 195 + below(10); k > 0; k--)
			gf_buf_puts(&b, p);
	} else if (kind == 7) {                /* very long */
		for (size_t k = 5000 + below(6000); k > 0; k--)
			gf_buf_puts(&b, "y");
	} else {                               /* white space only, or empty */
		for (size_t k = below(4); k > 0; k--)
			gf_buf_puts(&b, below(2) ? " " : "\xc2\xa0");
	}
	return keep(a, gf_buf_steal(&b));
}

static const char *pick(struct arena *a, const char *good, unsigned bad_percent)
{
	if (below(100) >= bad_percent)
		return good;
	return below(6) == 0 ? NULL : random_text(a);
}

static const char *random_date(struct arena *a, unsigned bad_percent)
{
	static const char *const odd[] = { "2026-02-29", "2024-02-29", "2026-13-01", "2026-00-10",
	                                   "2026-04-31", "0000-01-01", "9999-12-31", "26-11-20",
	                                   "2026/11/20", "2026-11-20T00:00", "", "2026-1-5" };
	if (below(100) < bad_percent)
		return below(3) ? odd[below(GF_ARRAY_SIZE(odd))] : pick(a, NULL, 100);
	return keep(a, gf_xasprintf("%04zu-%02zu-%02zu", 2020 + below(10), 1 + below(12),
	                            1 + below(28)));
}

static void random_record(struct gf_record *r, struct arena *a, size_t i)
{
	static const char *const genders[] = { "m", "F", "w", "D", "x", "Herr", "Mrs.", "divers",
	                                       "??", "", "\xff", "männlich", "MX" };
	static const char *const langs[] = { "de", "en-GB", "DEU", "ger", "Deutsch", "xx", "",
	                                     "zh_CN", "日本語", "\xc3", "Klingon", "fre" };
	memset(r, 0, sizeof(*r));
	r->booking_id = (int64_t)i;
	r->booking_no = pick(a, keep(a, gf_xasprintf("B-%zu", below(20) ? i : i / 2)), 8);
	r->last_name = pick(a, below(2) ? "Müller" : "O'Brien & <Söhne>", 10);
	r->first_name = pick(a, "Anna 😀", 25);
	r->email = pick(a, below(4) ? "a@b" : "guest+tag@example.org", 8);
	if (below(20) == 0)
		r->email = below(2) ? "a@b@c" : "a b@c";
	r->gender = below(4) ? genders[below(GF_ARRAY_SIZE(genders))] : pick(a, NULL, 100);
	r->language = below(4) ? langs[below(GF_ARRAY_SIZE(langs))] : pick(a, NULL, 100);
	r->status = pick(a, "checked_out", 5);
	r->arrival = random_date(a, 6);
	r->departure = random_date(a, 6);
}

static void test_fuzz(void)
{
	enum { TOTAL = 2000, BATCH = 50 };
	size_t rendered = 0, rejected = 0, docs = 0, bad_rc = 0, inconsistent = 0, invalid = 0;
	size_t mismatched = 0, leaks = 0;
	struct gf_record recs[BATCH];
	struct arena arenas[BATCH];
	char *reasons[BATCH];
	struct gf_buf out = GF_BUF_INIT(BUF_MAX);

	for (size_t base = 0; base < TOTAL; base += BATCH) {
		memset(arenas, 0, sizeof(arenas));
		for (size_t i = 0; i < BATCH; i++)
			random_record(&recs[i], &arenas[i], base + i);
		gf_buf_reset(&out);
		size_t nr = SIZE_MAX;
		int rc = gf_render_review_xml("H-1001", "fuzz", recs, BATCH, "de", &out, reasons, &nr);
		if (rc != 0) {
			bad_rc++;
			continue;
		}
		size_t nulls = 0;
		for (size_t i = 0; i < BATCH; i++) {
			if (!reasons[i]) {
				nulls++;
				continue;
			}
			char why[64];
			if (!reasons[i][0] || gf_text_check(reasons[i], 300, why, sizeof(why)) < 0)
				inconsistent++;
			/* Never the name or address in a reason. */
			const char *pii[] = { recs[i].last_name, recs[i].first_name, recs[i].email };
			for (size_t k = 0; k < 3; k++)
				if (pii[k] && strlen(pii[k]) >= 6 && strstr(reasons[i], pii[k]))
					leaks++;
		}
		if (nulls != nr)
			inconsistent++;
		rendered += nr;
		rejected += BATCH - nr;
		if (nr == 0) {
			if (out.len != 0)
				inconsistent++;
		} else {
			docs++;
			xmlDocPtr doc = parse_doc(out.data, out.len);
			if (!validates(doc))
				invalid++;
			/* Rendered records appear in order, byte-exact. */
			xmlNodePtr g = doc ? first_element(xmlDocGetRootElement(doc)->children) : NULL;
			for (size_t i = 0; i < BATCH; i++) {
				if (reasons[i])
					continue;
				char t[16384];
				char *want = gf_trim_dup(recs[i].last_name);
				child_text(g, "bookingNo", t, sizeof(t));
				mismatched += strcmp(t, recs[i].booking_no) != 0;
				child_text(g, "lastName", t, sizeof(t));
				mismatched += strcmp(t, want) != 0;
				free(want);
				g = next_element(g);
			}
			mismatched += g != NULL;
			xmlFreeDoc(doc);
		}
		free_reasons(reasons, BATCH);
		for (size_t i = 0; i < BATCH; i++)
			for (size_t k = 0; k < arenas[i].n; k++)
				free(arenas[i].p[k]);
	}
	gf_buf_free(&out);
	diag("fuzz: %zu records, %zu rendered, %zu rejected, %zu documents", (size_t)TOTAL,
	     rendered, rejected, docs);
	is_int((int64_t)bad_rc, 0, "fuzz: every batch renders without error");
	is_int((int64_t)(rendered + rejected), TOTAL, "fuzz: every record rendered or rejected");
	is_int((int64_t)inconsistent, 0, "fuzz: reasons exactly for the rejected, all readable");
	is_int((int64_t)invalid, 0, "fuzz: every document validates against the XSD");
	is_int((int64_t)mismatched, 0, "fuzz: booking numbers and names arrive byte-exact");
	is_int((int64_t)leaks, 0, "fuzz: no name or e-mail in any reason");
	ok(rendered > TOTAL / 5 && rejected > TOTAL / 5, "fuzz exercises both outcomes");
}

/* ---- reply parsing ------------------------------------------------------- */

static int parse_reply(const char *s, struct gf_reply *r, char *why, size_t whylen)
{
	memset(r, 0, sizeof(*r));
	why[0] = '\0';
	return gf_reply_parse_review_xml(s, strlen(s), NULL, r, why, whylen);
}

static void reply_fails(const char *body, const char *why_prefix, const char *name)
{
	struct gf_reply r;
	char why[256];
	int rc = parse_reply(body, &r, why, sizeof(why));
	ok(rc == -GF_E_REPLY && starts_with(why, why_prefix) && r.items == NULL,
	   "reply %s rejected: '%s'", name, why);
}

static void test_reply(void)
{
	struct gf_reply r;
	char why[256];
	int rc;

	rc = parse_reply("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	                 "<importResult xmlns=\"" NS "\" accepted=\"3\" rejected=\"2\">\n"
	                 "  <!-- comment -->\n"
	                 "  <rejected bookingNo=\"B-1\" reason=\"invalid e-mail &amp; more\"/>\n"
	                 "  <rejected bookingNo=\"B-&lt;2&gt;\" reason=\"&#x1F600;\"/>\n"
	                 "</importResult>\n", &r, why, sizeof(why));
	is_int(rc, 0, "namespaced reply parses");
	is_int(r.accepted, 3, "accepted count");
	is_int(r.rejected, 2, "rejected count");
	is_int((int64_t)r.n_items, 2, "two items");
	if (r.n_items == 2) {
		is_str(r.items[0].booking_no, "B-1", "first booking");
		is_str(r.items[0].reason, "invalid e-mail & more", "first reason, entity decoded");
		is_str(r.items[1].booking_no, "B-<2>", "second booking decoded");
		is_str(r.items[1].reason, "😀", "character reference decoded");
	}
	gf_reply_clear(&r);
	ok(r.items == NULL && r.n_items == 0, "clear empties");
	gf_reply_clear(&r);

	rc = parse_reply("<importResult accepted=\" 5 \" rejected=\"1\"><rejected bookingNo=\"X\"/>"
	                 "<somethingNew/></importResult>", &r, why, sizeof(why));
	ok(rc == 0 && r.accepted == 5 && r.n_items == 1 && strcmp(r.items[0].reason, "") == 0,
	   "reply without namespace, reason missing -> \"\", unknown elements ignored");
	gf_reply_clear(&r);

	rc = parse_reply("<rx:importResult xmlns:rx=\"" NS "\" accepted=\"0\" rejected=\"0\"/>",
	                 &r, why, sizeof(why));
	ok(rc == 0 && r.accepted == 0 && r.rejected == 0 && r.n_items == 0,
	   "prefixed namespace, zero counts");
	gf_reply_clear(&r);

	rc = parse_reply("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
	                 "<importResult accepted=\"0\" rejected=\"1\">"
	                 "<rejected bookingNo=\"B-1\" reason=\"M\xfcller unbekannt\"/></importResult>",
	                 &r, why, sizeof(why));
	ok(rc == 0 && r.n_items == 1 && strcmp(r.items[0].reason, "Müller unbekannt") == 0,
	   "Latin-1 reply converted to UTF-8");
	gf_reply_clear(&r);

	reply_fails("", "reply: empty body", "empty body");
	reply_fails("  \n ", "reply: not well-formed XML", "white space body");
	reply_fails("Service Unavailable", "reply: not well-formed XML", "plain text");
	reply_fails("{\"accepted\": 1}", "reply: not well-formed XML", "JSON");
	reply_fails("<importResult accepted=\"1\" rejected=\"0\">", "reply: not well-formed XML",
	            "truncated");
	reply_fails("<importResult accepted=\"1\" rejected=\"0\"><rejected bookingNo=\"B",
	            "reply: not well-formed XML", "truncated mid-attribute");
	reply_fails("<html><body>503</body></html>", "reply: root element is <html>", "HTML");
	reply_fails("<importResult xmlns=\"urn:other\" accepted=\"1\" rejected=\"0\"/>",
	            "reply: <importResult> is in namespace \"urn:other\"", "foreign namespace");
	reply_fails("<importResult rejected=\"0\"/>", "reply: attribute accepted missing",
	            "missing accepted");
	reply_fails("<importResult accepted=\"1\"/>", "reply: attribute rejected missing",
	            "missing rejected");
	reply_fails("<importResult accepted=\"-1\" rejected=\"0\"/>",
	            "reply: accepted=\"-1\" is not a non-negative integer", "negative count");
	reply_fails("<importResult accepted=\"1\" rejected=\"two\"/>",
	            "reply: rejected=\"two\" is not", "non-numeric count");
	reply_fails("<importResult accepted=\"1.5\" rejected=\"0\"/>", "reply: accepted=\"1.5\"",
	            "fractional count");
	reply_fails("<importResult accepted=\"\" rejected=\"0\"/>", "reply: accepted=\"\"",
	            "empty count");
	reply_fails("<importResult accepted=\"99999999999999999999\" rejected=\"0\"/>",
	            "reply: accepted=\"9999", "overflowing count");
	/* Counts are at most INT32_MAX, so that accepted + rejected never
	 * overflows (a reply of INT64_MAX and 1 did). */
	reply_fails("<importResult accepted=\"9223372036854775807\" rejected=\"1\"><rejected bookingNo=\"A\"/>"
	            "</importResult>", "reply: accepted=\"9223372036854775807\" is not a non-negative integer up to",
	            "INT64_MAX count");
	reply_fails("<importResult accepted=\"2147483648\" rejected=\"0\"/>", "reply: accepted=\"2147483648\"",
	            "count above INT32_MAX");
	{
		struct gf_reply big;
		char w[256];
		int brc = parse_reply("<importResult accepted=\"2147483647\" rejected=\"0\"/>", &big, w, sizeof(w));
		ok(brc == 0 && big.accepted == INT32_MAX, "a count of INT32_MAX is read");
		gf_reply_clear(&big);
	}
	reply_fails("<importResult accepted=\"1\" rejected=\"2\"><rejected bookingNo=\"A\"/>"
	            "</importResult>", "reply: rejected=\"2\" but 1 <rejected>", "count mismatch");
	reply_fails("<importResult accepted=\"1\" rejected=\"0\"><rejected bookingNo=\"A\"/>"
	            "</importResult>", "reply: rejected=\"0\" but 1", "unannounced rejection");
	reply_fails("<importResult accepted=\"1\" rejected=\"1\"><rejected reason=\"x\"/>"
	            "</importResult>", "reply: <rejected> number 1 has no bookingNo",
	            "rejected without bookingNo");
	reply_fails("<importResult accepted=\"1\" rejected=\"1\"><rejected bookingNo=\"\"/>"
	            "</importResult>", "reply: <rejected> number 1 has no bookingNo",
	            "empty bookingNo");
	reply_fails("<importResult accepted=\"0\" rejected=\"3\"><rejected bookingNo=\"A\"/>"
	            "<rejected bookingNo=\"B\"/><rejected bookingNo=\"A\"/></importResult>",
	            "reply: booking A is listed twice", "duplicate bookingNo");
	reply_fails("<?xml version=\"1.0\"?>\n"
	            "<!DOCTYPE lolz [\n"
	            " <!ENTITY lol \"lol\">\n"
	            " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
	            " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
	            " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
	            " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
	            " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
	            " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
	            " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
	            " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
	            " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
	            "]>\n"
	            "<importResult accepted=\"0\" rejected=\"1\">"
	            "<rejected bookingNo=\"B\" reason=\"&lol9;\"/></importResult>",
	            "reply: has a DOCTYPE", "billion laughs");
	reply_fails("<!DOCTYPE importResult [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
	            "<importResult accepted=\"0\" rejected=\"1\">"
	            "<rejected bookingNo=\"B\" reason=\"&x;\"/></importResult>",
	            "reply: has a DOCTYPE", "external entity (XXE)");
	reply_fails("<!DOCTYPE importResult SYSTEM \"http://127.0.0.1:1/x.dtd\">"
	            "<importResult accepted=\"0\" rejected=\"0\"/>",
	            "reply: has a DOCTYPE", "external DTD");
	reply_fails("<importResult accepted=\"0\" rejected=\"0\"/><second/>",
	            "reply: not well-formed XML", "two roots");

	/* An embedded NUL byte. */
	static const char nul[] = "<importResult accepted=\"0\" rejected=\"0\"\0/>";
	rc = gf_reply_parse_review_xml(nul, sizeof(nul) - 1, NULL, &r, why, sizeof(why));
	ok(rc == -GF_E_REPLY, "embedded NUL rejected: '%s'", why);

	/* libxml2 errors go into why, not onto stderr. */
	struct capture cap;
	capture_stderr(&cap);
	rc = parse_reply("<importResult accepted=\"1\" rejected=\"0\"></wrong>", &r, why, sizeof(why));
	long printed = end_capture(&cap);
	ok(rc == -GF_E_REPLY && strstr(why, "line 1") != NULL, "parser error captured: '%s'", why);
	is_int(printed, 0, "nothing printed to stderr");

	/* A huge reply: 200,000 rejections. */
	enum { HUGE = 200000 };
	struct gf_buf big = GF_BUF_INIT(BUF_MAX);
	gf_buf_printf(&big, "<importResult xmlns=\"%s\" accepted=\"0\" rejected=\"%d\">", NS, HUGE);
	for (int i = 0; i < HUGE; i++)
		gf_buf_printf(&big, "<rejected bookingNo=\"B-%d\" reason=\"duplicate guest\"/>", i);
	gf_buf_puts(&big, "</importResult>");
	rc = gf_reply_parse_review_xml(big.data, big.len, NULL, &r, why, sizeof(why));
	ok(rc == 0 && r.n_items == HUGE && strcmp(r.items[HUGE - 1].booking_no, "B-199999") == 0,
	   "huge reply (%zu bytes) parses", big.len);
	gf_reply_clear(&r);
	/* ... and cut short. */
	rc = gf_reply_parse_review_xml(big.data, big.len / 2, NULL, &r, why, sizeof(why));
	ok(rc == -GF_E_REPLY, "huge reply truncated in the middle rejected");
	gf_buf_free(&big);
}

/* The access key the request carried, quoted back in a reply: redacted in
 * every piece before the piece is cut (a cut piece of the key is no longer
 * the key a later redaction could find). */
static void test_reply_key(void)
{
	char key[303] = "Zq";
	for (int i = 0; i < 30; i++)
		memcpy(key + 2 + 10 * i, "x7Lw9Tr2Vb", 10);
	key[302] = '\0';
	const char *shortkey = "Sup3rS3cretKey-ABCDEFGHIJKLMNOP";
	struct gf_buf body = GF_BUF_INIT(BUF_MAX);
	struct gf_reply r;
	char why[512];
	/* the key goes between the parts */
	const char *bodies[][3] = {
		{ "<importResult accepted=\"", "\" rejected=\"0\"/>", NULL },
		{ "<importResult accepted=\"1\" rejected=\"0\"><", "></x></importResult>", NULL },
		{ "<importResult accepted=\"0\" rejected=\"2\"><rejected bookingNo=\"", "\"/><rejected bookingNo=\"",
		  "\"/></importResult>" },
		{ "<", " accepted=\"1\" rejected=\"0\"/>", NULL },
		{ "<importResult xmlns=\"urn:", "\" accepted=\"1\" rejected=\"0\"/>", NULL },
	};
	for (size_t i = 0; i < GF_ARRAY_SIZE(bodies); i++) {
		gf_buf_reset(&body);
		for (int k = 0; k < 3 && bodies[i][k]; k++) {
			if (k > 0)
				gf_buf_puts(&body, key);
			gf_buf_puts(&body, bodies[i][k]);
		}
		memset(&r, 0, sizeof(r));
		int rc = gf_reply_parse_review_xml(body.data, body.len, key, &r, why, sizeof(why));
		ok(rc == -GF_E_REPLY && !strstr(why, "x7Lw9Tr2Vb") && !strstr(why, "Zqx7") && strstr(why, "***"),
		   "reply %zu: no piece of the key in '%s'", i, why);
	}
	/* a reason whose key straddles the 1024-byte cap */
	gf_buf_reset(&body);
	gf_buf_puts(&body, "<importResult accepted=\"1\" rejected=\"1\"><rejected bookingNo=\"B-1\" reason=\"");
	for (int i = 0; i < 991; i++)
		gf_buf_puts(&body, "x");
	gf_buf_printf(&body, "%s trailing text\"/></importResult>", shortkey);
	memset(&r, 0, sizeof(r));
	int rc = gf_reply_parse_review_xml(body.data, body.len, shortkey, &r, why, sizeof(why));
	ok(rc == 0 && r.n_items == 1 && !strstr(r.items[0].reason, "Sup3r") && strstr(r.items[0].reason, "xxx***"),
	   "a reason with the key across the cap: '...%s'",
	   r.n_items ? r.items[0].reason + strlen(r.items[0].reason) - 20 : "");
	gf_reply_clear(&r);
	gf_buf_free(&body);
}

/* GF_SQL_NO_SHOW (the SQL rule of a name) and gf_cp_shows (the renderer's
 * check) name the same characters: every code point compared. */
static unsigned long sql_escape(const char **p)
{
	/* \uXXXX or \UXXXXXXXX */
	int digits = (*p)[1] == 'U' ? 8 : 4;
	char hex[9] = { 0 };
	memcpy(hex, *p + 2, (size_t)digits);
	*p += 2 + digits;
	return strtoul(hex, NULL, 16);
}

static void test_no_show_set(void)
{
	static bool in_sql[0x110000];
	const char *p = GF_SQL_NO_SHOW;
	size_t ranges = 0;
	while (*p == '\\') {
		unsigned long lo = sql_escape(&p), hi = lo;
		if (*p == '-') {
			p++;
			hi = sql_escape(&p);
		}
		for (unsigned long c = lo; c <= hi && c < 0x110000; c++)
			in_sql[c] = true;
		ranges++;
	}
	ok(*p == '\0' && ranges > 10, "GF_SQL_NO_SHOW read whole (%zu ranges)", ranges);
	unsigned long first_bad = 0, bad = 0;
	for (unsigned long c = 1; c < 0x110000; c++) {
		if (c >= 0xD800 && c <= 0xDFFF)
			continue;
		if (in_sql[c] == gf_cp_shows((uint32_t)c)) {
			first_bad = bad++ ? first_bad : c;
		}
	}
	is_int((int64_t)bad, 0, "the SQL rule and gf_cp_shows agree on every code point (first apart: U+%04lX)",
	       first_bad);
	ok(gf_text_visible("Jose\xcc\x81", 6), "a letter with a combining accent shows");
	ok(!gf_text_visible("\xe3\x85\xa4", 3), "U+3164 Hangul filler alone does not");
	ok(!gf_text_visible("\xd6\xb0\xd6\xb4", 4), "Hebrew points alone do not");
	ok(!gf_text_visible("\xf3\xa0\x81\x81", 4), "a tag character alone does not");
	ok(gf_text_visible("\xe0\xb8\x81\xe0\xb8\xb1", 6), "Thai: a consonant with its vowel mark shows");
}

int main(void)
{
	LIBXML_TEST_VERSION
	load_schema();

	test_no_show_set();

	test_gender();
	test_language();
	test_text_check();
	test_trim();
	test_record_check();
	test_render_exact();
	test_render_special();
	test_render_fields();
	test_render_long_values();
	test_render_mixed();
	test_render_batch500();
	test_gzip_reuse();
	test_fuzz();
	test_reply();
	test_reply_key();

	is_int(n_invalid, 0, "no rendered document failed validation (%d validated)", n_validated);
	ok(n_validated >= 40, "every rendered document was validated (%d)", n_validated);

	xmlSchemaFree(schema);
	xmlCleanupParser();
	return done_testing();
}
