/* Planning: every eligible booking x live connection of the job that has no
 * delivery yet becomes a pending delivery in a batch, streamed from one
 * set-based statement and written slice by slice (see struct gf_planner). */
#ifndef GF_PLAN_H
#define GF_PLAN_H

#include <libpq-fe.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "base/buf.h"
#include "core/claim.h"
#include "core/config.h"
#include "core/normalize.h"
#include "core/rows.h"

/* The eligibility rules of DESIGN.md section 2, one SQL condition each over
 * guestflow.source_bookings s; the window rule takes the job's window in
 * milliseconds as an SQL expression, the status rules the job's
 * selection.statuses as an SQL text[] expression (gf_plan_statuses) and
 * the partner as an SQL text expression. GF_SQL_ELIGIBLE_MS combines them;
 * explain shows them one by one. The connection rule (a live connection to
 * the job's partner) is the join the statements make. */
/* The statuses of the reference PMS (schemas/sql/reference/pms.sql), which
 * every partner takes as they are unless its status map says otherwise;
 * any other status is sent only when mapped for the partner (seed 004). */
#define GF_SQL_REFERENCE_STATUSES "'confirmed', 'in_house', 'checked_out', 'cancelled', 'no_show'"
#define GF_SQL_RULE_STATUS_SELECTED(statuses) "s.status = ANY(" statuses ")"
#define GF_SQL_RULE_STATUS_MAPPED(partner) \
	"(s.status IN (" GF_SQL_REFERENCE_STATUSES ") OR EXISTS (SELECT 1 FROM guestflow.status_map m" \
	" WHERE m.partner = " partner " AND m.source_status = s.status))"
#define GF_SQL_RULE_EMAIL "btrim(s.email, E' \\t\\r\\n') ~ '^[^@[:space:]]+@[^@[:space:]]+$'"
/* A name has a character that shows (gf_cp_shows, normalize.h: not white
 * space, a control, a format character such as zero-width and bidi marks,
 * the soft hyphen, a filler, nor a combining mark with nothing to combine
 * with); the renderer checks it again (gf_text_visible). */
#define GF_SQL_RULE_NAME "s.last_name ~ '[^[:space:]" GF_SQL_NO_SHOW "]'"
#define GF_SQL_RULE_NOTIFY "s.notify IS TRUE"
/* Checked out at most ms ago: the window's rule in every statement that
 * lists bookings (purge keeps the deliveries of such bookings too). Not in
 * the future (a PMS clock or time zone gone wrong: the guest is not invited
 * before leaving, and is once the time has come): GF_SQL_NOT_FUTURE, which
 * the plan applies to what it plans (plan.c, STREAM_SQL), explain to its
 * verdict and a rerun to what it queues, never as a condition of the scan:
 * a second bound on checked_out_at makes the planner take the pair for a
 * range, estimated at 0.5 % of the rows where the view computes the column
 * (no statistics), and scan every booking with it, so that a row the view
 * fails for fails the careful plan's reads of any other one. */
#define GF_SQL_CHECKED_OUT_SINCE_MS(ms) "s.checked_out_at >= now() - (" ms ")::bigint * interval '1 millisecond'"
#define GF_SQL_RULE_WINDOW_MS(ms) GF_SQL_CHECKED_OUT_SINCE_MS(ms)
#define GF_SQL_NOT_FUTURE "coalesce(s.checked_out_at <= now(), false)"
#define GF_SQL_RULE_WINDOW GF_SQL_RULE_WINDOW_MS("$3")
/* Not on the suppression list ('guestflow pull': the guest unsubscribed or
 * bounced with some partner): for every job and every partner. */
#define GF_SQL_RULE_NOT_SUPPRESSED \
	"NOT EXISTS (SELECT 1 FROM guestflow.suppressions x WHERE x.email = guestflow.email_key(s.email))"

/* The guest's consent as it is when a planned booking is about to be sent:
 * WHEN clauses of a CASE over the source row s, each giving why it is not
 * sent. The plan checked both when it read the booking, at the run's start;
 * a guest who withdrew since is not sent by a later attempt of its batch
 * (gf_batch_rows()). The notify flag is the PMS's, and guestflow is not
 * told when it changes: the claim also looks it up for the batches a run
 * renders from its plan's copy (a column of the bookings alone: one index
 * probe a member). An address suppressed since the plan read the booking
 * ('guestflow pull' during the run) keeps the booking out of the plan's
 * slice written after it (plan.c, SLICE_SQL), and the pull withdraws it
 * from a batch written before, never attempted nor under a lease. */
#define GF_SQL_NOTIFY_WITHDRAWN_WHEN \
	" WHEN NOT coalesce(" GF_SQL_RULE_NOTIFY ", false) THEN 'the guest is no longer to be contacted: the" \
	" notify flag is off in the PMS (turned off after the booking was planned)'"
#define GF_SQL_CONSENT_WITHDRAWN_WHEN \
	GF_SQL_NOTIFY_WITHDRAWN_WHEN \
	" WHEN NOT " GF_SQL_RULE_NOT_SUPPRESSED " THEN 'the guest''s address is on the suppression list" \
	" (unsubscribed or bounced after the booking was planned; guestflow explain says where from)'"

/* The PMS allows the property's guests to be exported: it lists the
 * property in guestflow.source_properties, every row of it with
 * export_allowed true (issue 17 item 6). Fail-closed: a property the view
 * does not list, or lists as not allowed, sends nothing, whatever the
 * status of its connections (the run's automatic stop records that). */
#define GF_SQL_PROPERTY_ALLOWED(prop) \
	"(EXISTS (SELECT 1 FROM guestflow.source_properties p WHERE p.property_id = " prop ")" \
	" AND NOT EXISTS (SELECT 1 FROM guestflow.source_properties p" \
	"                 WHERE p.property_id = " prop " AND p.export_allowed IS NOT TRUE))"
#define GF_SQL_RULE_PROPERTY_ALLOWED GF_SQL_PROPERTY_ALLOWED("s.property_id")

/* All but the window (a rerun's). */
#define GF_SQL_ELIGIBLE_BUT_WINDOW(statuses, partner) \
	GF_SQL_RULE_STATUS_SELECTED(statuses) " AND " GF_SQL_RULE_STATUS_MAPPED(partner) \
	" AND " GF_SQL_RULE_EMAIL " AND " GF_SQL_RULE_NAME " AND " GF_SQL_RULE_NOTIFY \
	" AND " GF_SQL_RULE_NOT_SUPPRESSED " AND " GF_SQL_RULE_PROPERTY_ALLOWED
#define GF_SQL_ELIGIBLE_MS(ms, statuses, partner) \
	GF_SQL_ELIGIBLE_BUT_WINDOW(statuses, partner) " AND " GF_SQL_RULE_WINDOW_MS(ms)

/* The job's selection.statuses as a PostgreSQL array literal (a text[]
 * parameter); the caller frees it. */
char *gf_plan_statuses(const struct gf_job *job);

struct gf_plan_result {
	int64_t eligible; /* eligible booking x connection pairs read so far */
	int64_t found;    /* of them new: no delivery yet, or one rejected for the booking's data, changed since */
	int64_t planned;  /* new pending deliveries written so far */
	int64_t batches;  /* new batches written so far */
	int64_t rejected; /* bookings the source view could not give (rejected deliveries, or rows without a booking_id) */
	char first_rejected[600]; /* the first of them: "BOOKING_NO: reason" */
	int64_t held;     /* bookings not planned: their property's row in guestflow.source_properties raises */
	char first_held[600]; /* the first of them: "BOOKING_NO (property P): the database's message" */
};

/* A booking whose row alone makes the plan statement fail. */
struct gf_plan_suspect {
	int64_t conn, booking;
	char *reason;
};


/* A batch formed from the stream, with its rows as the plan read them. */
struct range;

struct gf_plan_batch {
	struct gf_plan_batch *next;
	int64_t id;                  /* the batch written (0 until it is) */
	int64_t connection_id;
	char *property_id;
	size_t n, cap;
	int64_t *bookings;           /* n booking ids, ascending */
	bool *again;                 /* n: a delivery rejected for the booking's data, planned again */
	uint32_t *off;               /* n x GF_REC_FIELDS offsets into buf (UINT32_MAX: NULL), rows.h */
	struct gf_buf buf;
};

/* Planning as a stream, so that the first batches go out while the rest is
 * still being read. gf_plan_start batches the pending deliveries that are
 * in no batch (reruns, the rest of a batch cut by --limit), and starts one
 * statement on a session of its own: every eligible pair of the window,
 * read once, with its delivery's key probed (never the job's whole
 * history), sorted by connection and booking (PostgreSQL may run it with
 * parallel workers), sent with COPY as it is produced. Each gf_plan_step
 * reads on until it has the next slice of batches (max_records bookings of
 * one connection at most), writes them on c (one statement), and keeps
 * their rows, so that a batch this run claims is rendered from them instead
 * of being read again through the source view. Memory holds only the
 * slices not yet claimed.
 *
 * Several processes may plan the same job at once: no lock. The
 * deliveries' key decides: a slice inserts its pairs with ON CONFLICT DO
 * NOTHING and its batches hold only the rows it inserted, so a pair is
 * planned once, by whichever planner gets it in first. */
struct gf_planner {
	PGconn *c;                   /* the run's session: lock, slices */
	PGconn *stream;              /* the plan's statement, until it has been read whole */
	const char *conninfo;
	const volatile sig_atomic_t *stop; /* set by a stop signal: waiting for the stream ends */
	const struct gf_job *job;
	int64_t run_id;
	int64_t window_ms;           /* the window as far as it may reach (gf_purge_window) */
	int64_t rows_read;           /* rows of the view read whole, eligible or not (a checkout in
	                              * the future): evidence that the view works */
	bool active;                 /* batches remain to be written */
	bool copying;                /* the server has begun the COPY */
	bool header;                 /* the COPY header has been read */
	bool done;                   /* the stream has been read to its end */
	bool told_twice;             /* the view gave a booking twice (logged once) */
	bool has_last;               /* the last pair read from the stream: */
	int64_t last_conn, last_booking; /* duplicates, and where careful mode resumes */
	/* Careful mode (plan.c): the statement raised an error for some
	 * row; the rest is read a range of pairs at a time. */
	bool careful;
	bool loaded;                 /* a range is in `in`, being parsed */
	char err_reason[400];        /* the database's message of the last such error */
	int64_t *cand_conn, *cand_book; /* the pairs to read, in the stream's order */
	size_t n_cand;
	struct range *ranges;        /* ranges of them still to read (a stack) */
	size_t n_ranges, cap_ranges;
	struct gf_plan_suspect *suspects; /* isolated, not written yet */
	size_t n_suspects;
	int props_whole;             /* whether guestflow.source_properties reads whole: 1 yes, 0 no,
	                              * -1 not asked yet (property_rule_fails, plan.c) */
	char props_why[400];         /* props_whole 0: the database's message */
	FILE *spool;                 /* the whole stream, read back from here (plan.c, spool) */
	bool spooled;                /* it is all in the file: the statement has ended */
	struct gf_buf in;            /* stream bytes not parsed yet */
	size_t in_pos;
	struct gf_plan_batch *cur;   /* filling */
	struct gf_plan_batch *ready, **ready_tail; /* complete, not written yet */
	size_t n_ready;
	size_t ready_rows;           /* their members */
	size_t ready_bytes;          /* and their rows' bytes */
	struct gf_plan_batch *kept, **kept_tail;   /* written, not claimed by this run yet */
	bool no_keep;                /* gf_plan_forget(): every batch is read the long way */
	int64_t upto;                /* the last batch written */
	int64_t mark;                /* once this batch is claimed, write the next slice */
	struct gf_plan_result res;
};

/* The rows of the batches written so far are dropped, and no later ones
 * kept: the run's batches are read from the source view when claimed (the
 * claim's probe of the plan's copy failed, gf_claim()). */
void gf_plan_forget(struct gf_planner *p);

int gf_plan_start(struct gf_planner *p, PGconn *c, const char *conninfo, const struct gf_job *job,
                  int64_t run_id, const volatile sig_atomic_t *stop);
/* The most batches one slice statement writes. */
#define PLAN_SLICE_MAX 1024
/* Write the next slice: at least min_batches batches and min_rows members
 * (fewer at the end of the plan; at most PLAN_SLICE_MAX batches), so that
 * small batches share a statement as large ones do; *written: how many
 * batches (0 and no longer active: the plan is all in). Batches cut by
 * their size count as full, so a slice holds at most min_batches batches'
 * worth of bytes. mark is set to the batch margin batches (at most half the
 * slice) before the last one written: claims go in batch order, so once it
 * is claimed (by any process) the slice is running out. */
int gf_plan_step(struct gf_planner *p, int min_batches, size_t min_rows, int margin, int64_t *written);
/* True while batches remain to be written. */
static inline bool gf_plan_active(const struct gf_planner *p) { return p->active; }
/* Stop reading without writing the rest (a run that
 * ends early): the bookings not written stay unplanned, for the next run.
 * Frees everything the planner holds. */
void gf_plan_release(struct gf_planner *p);
/* The rows of b when it is a batch of this plan, never sent and not cut,
 * with its members gone from the source view since (b->gone) marked; the
 * caller owns them (gf_batch_rows_free). NULL when it is not one: the
 * caller reads it through the source view. */
struct gf_batch_rows *gf_plan_take(struct gf_planner *p, const struct gf_batch *b);

#endif
