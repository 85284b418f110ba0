/* partner-sim: declarations shared by the simulator's modules (buffers, maps, XML). */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <libxml/xmlschemas.h>

#define SIM_NS "urn:guestflow:review-xml:1"

/* A growable byte buffer with a hard size cap; data is always NUL-terminated. */
struct sim_buf {
	char *data;
	size_t len, cap, max;
};

void sim_buf_init(struct sim_buf *b, size_t max);
void sim_buf_free(struct sim_buf *b);
/* Return 0, -ENOMEM, or -E2BIG when the cap would be exceeded (buffer unchanged). */
int sim_buf_add(struct sim_buf *b, const void *p, size_t n);
int sim_buf_adds(struct sim_buf *b, const char *s);
/* Make room for n more bytes (an allocation hint: the cap is not checked); 0 or -ENOMEM. */
int sim_buf_reserve(struct sim_buf *b, size_t n);
int sim_buf_printf(struct sim_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as a JSON string ("null" when s is NULL); invalid UTF-8 becomes U+FFFD. */
int sim_buf_json(struct sim_buf *b, const char *s);

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
size_t sim_utf8_len(const unsigned char *s, size_t n);
/* True if s is valid UTF-8 without control characters other than tab and newline. */
bool sim_text_ok(const char *s);

/* String-keyed hash map; keys are copied, values are owned and freed with free_val. */
struct sim_map;
struct sim_map *sim_map_new(void (*free_val)(void *));
void sim_map_free(struct sim_map *m);
void *sim_map_get(const struct sim_map *m, const char *key);
int sim_map_put(struct sim_map *m, const char *key, void *val); /* replaces; 0 or -ENOMEM */
bool sim_map_del(struct sim_map *m, const char *key);
void sim_map_clear(struct sim_map *m);
size_t sim_map_count(const struct sim_map *m);

/* One <guest>; fields in XSD order, f[SIM_F_FIRST_NAME] is NULL when absent. */
enum {
	SIM_F_BOOKING_NO, SIM_F_LAST_NAME, SIM_F_FIRST_NAME, SIM_F_EMAIL, SIM_F_GENDER,
	SIM_F_LANGUAGE, SIM_F_STATUS, SIM_F_ARRIVAL, SIM_F_DEPARTURE, SIM_F_COUNT
};
extern const char *const sim_field_names[SIM_F_COUNT];

struct sim_guest {
	char *f[SIM_F_COUNT]; /* into the batch's text */
};

struct sim_batch {
	char *hotel_id, *batch_id; /* into text */
	struct sim_guest *guests;
	size_t n;
	char *text; /* every string of the batch, NUL-terminated; freed with the batch */
};

/* Inflate a gzip body (one or more members) into out: 0, -EINVAL (bad gzip), -E2BIG
 * (more than max bytes), -ENOMEM. */
int sim_gunzip(const char *in, size_t n, size_t max, struct sim_buf *out);
/* XSD sampling, shared by all request threads: of the documents that reach the XSD check
 * (well-formed, no DOCTYPE), the 1st, (1+every)th, (1+2*every)th... are validated. */
struct sim_sample {
	unsigned long every;	 /* 1 = validate every document */
	atomic_ullong reached;	 /* documents that reached the check */
	atomic_ullong validated; /* documents given to xmlSchemaValidateDoc */
};

/* Parse and validate a guestList (validation only for the documents sample picks; NULL
 * = every document); on failure returns -EINVAL with the first libxml2 error in err.
 * The caller frees out with sim_batch_free. */
int sim_batch_parse(xmlSchemaPtr schema, struct sim_sample *sample, const char *data, size_t n,
		    struct sim_batch *out, char *err, size_t errsz);
void sim_batch_free(struct sim_batch *b);
/* Sorted, newline-joined booking numbers: identifies a batch's members. malloc'd. */
char *sim_batch_members(const struct sim_batch *b);
/* A refuse reason starting with this byte is raw: the bytes after it go into
 * reason="..." as they are (/_sim/refuse?reason_hex=). */
#define SIM_RAW_REASON '\x01'
/* The 200 reply body; malloc'd, NULL on allocation failure. Written by
 * libxml2 as UTF-8, unless encoding is not NULL (declared as it is, nothing
 * converted) or a reason is raw: then written out by hand. */
char *sim_import_result(size_t accepted, size_t nrej, const char *const *booking_nos,
			const char *const *reasons, const char *encoding);

/* guest-json v1 (sim_json.c). */
#define SIM_JSON_MAX_GUESTS 1000

enum sim_route {
	SIM_ROUTE_NONE,	    /* not a guest-json path */
	SIM_ROUTE_GUESTS,   /* <prefix>/properties/ID/guests */
	SIM_ROUTE_PROPERTY, /* <prefix>/properties/ID */
	SIM_ROUTE_EVENTS,   /* <prefix>/properties/ID/events */
	SIM_ROUTE_OOM,
};
/* Route a request by its URI as received (query ignored); for a guest-json path,
 * *property is the percent-decoded ID, malloc'd ("" when its encoding is broken). */
enum sim_route sim_json_route(const char *uri, char **property);
/* Content-Type application/json, parameters allowed (a charset only if UTF-8). */
bool sim_json_ctype_ok(const char *content_type);

/* A checked guest list; the guests' fields point into root (a json_t). */
struct sim_json_batch {
	struct sim_batch b;
	void *root;
};
/* Parse and check a guest list strictly (guest-json v1; batchId must equal idem):
 * 0, or 400 / 413 with the reason in err, or -ENOMEM. Free with sim_json_batch_free. */
int sim_json_parse(const char *data, size_t n, const char *idem, struct sim_json_batch *out, char *err,
		   size_t errsz);
void sim_json_batch_free(struct sim_json_batch *jb);
/* Replies, written by jansson, compact; malloc'd, NULL on allocation failure. Reasons
 * may be raw (SIM_RAW_REASON): bytes that are not UTF-8 become U+FFFD. */
char *sim_json_result(size_t accepted, size_t nrej, const char *const *ids, const char *const *reasons);
/* {"error": msg} and, when nrej > 0, "rejected": [...] */
char *sim_json_error(const char *msg, size_t nrej, const char *const *ids, const char *const *reasons);
/* The test call's answer: {"id": id, "name": "Property <id>"} */
char *sim_json_property(const char *id);
/* review-xml's test call reply: <pong xmlns=... hotelId="ID"/>. */
char *sim_pong(const char *hotel_id);

/* An event the simulator reports back (control endpoint "event"). */
struct sim_event {
	const char *booking_no, *type, *at;
};
/* The event pull's replies: review-xml <events next=...>, guest-json
 * {"events": [...], "next": ...}. */
char *sim_events_xml(const struct sim_event *ev, size_t n, const char *next);
char *sim_json_events(const struct sim_event *ev, size_t n, const char *next);
