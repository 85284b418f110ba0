/* Planning: eligible bookings x live connections become batches of pending
 * deliveries, streamed from one statement and written slice by slice. */
#include "core/plan.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "base/idranges.h"
#include "base/log.h"
#include "core/purge.h"

/* The stream's columns: connection, its property, booking, new (no delivery
 * yet, or one to plan again), again (a delivery rejected for the booking's
 * data, which the PMS has changed since: an updated_at later than the
 * start of the run that rejected it, which read the values it rejected
 * after it started (a plan's copy, rendered minutes later, included), and
 * not ahead of the clock, or the booking would be planned and rejected
 * again at every run until the clock caught up), then the values to render
 * (NULL unless new). */
#define FIELD0 5
#define STREAM_COLS (FIELD0 + GF_REC_FIELDS)
/* A batch is closed before a row that would take the values it holds past
 * this (memory: a few such batches are held until claimed); a row larger
 * alone makes a batch of its own. No value is refused for its size: a PMS
 * may hold anything, and the partner decides (a body too large for it is
 * halved down to the one record, which it rejects). */
#define BATCH_DATA_MAX ((size_t)256 << 20)
/* Buffers that hold whole rows: more than PostgreSQL can send in one (a
 * row, like any value, is under 1 GiB), so that no row is too large here. */
#define ROW_BUF_MAX ((size_t)2 << 30)
/* A parameter or setting holding a slice's arrays: what PostgreSQL takes. */
#define PARAM_MAX ((size_t)1 << 30)
/* Careful mode (an error of one row in the plan statement): pairs read a range at
 * a time. */
#define CAREFUL_RANGE 1024

/* COPY takes no parameters: the job's values are the plan session's settings
 * (set with parameters), each read once (an InitPlan). Sorted by connection
 * and booking, so that a connection's pairs come together and a batch holds
 * its bookings in the order every later read of it gives them.
 * The pairs and their probes are a subquery under the sort (OFFSET 0: not
 * pulled up), so that every probe of the deliveries' key is made before the
 * first row is sent, on the table as it was when the statement began. Above
 * the sort, the probes ran as the run read the stream, while its own slices
 * grew the table: planned when the table was empty or small (a first night,
 * a table just truncated), each probe was a sequential scan of all the rows
 * inserted since, invisible to the statement's snapshot but read all the
 * same, quadratic in the night's size (200,000 eligible: 409 s instead of
 * 15 s). Under the sort, a probe planned that way scans the table as it was,
 * small by the planner's own statistics. */
#define SETTING(name) "(SELECT current_setting('guestflow.plan_" name "'))"
#define STATUSES "@statuses@"
#define STREAM_SQL_WHERE(filter) \
	"COPY (SELECT p.* FROM (" \
	/* (again NULL: a checkout in the future, read and not counted as \
	 * eligible, add_row) */ \
	"      SELECT c.id, c.property_id, s.booking_id, d.new OR d.again," \
	"             CASE WHEN " GF_SQL_NOT_FUTURE " THEN d.again END," \
	/* the values to render, of the pairs to plan only (rows.h); the \
	 * partner's status: the map is read once and looked up per row */ \
	"             CASE WHEN d.new OR d.again THEN s.booking_no END, " \
	GF_SQL_RECORD_VALUES_EACH("CASE WHEN d.new OR d.again THEN ", \
		"coalesce((SELECT jsonb_object_agg(m.source_status, m.partner_status) FROM guestflow.status_map m" \
		" WHERE m.partner = " SETTING("partner") ") ->> s.status, s.status)", " END") \
	"        FROM guestflow.source_bookings s" \
	"        JOIN guestflow.connections c" \
	"          ON c.property_id = s.property_id AND c.partner = " SETTING("partner") " AND c.status = 'live'" \
	/* the delivery's key, probed for each pair of the window (never a \
	 * look at the job's whole history) */ \
	"        LEFT JOIN LATERAL (" \
	"         SELECT false AS new, CASE WHEN d.data_rejected THEN s.updated_at <= now() AND s.updated_at >" \
	/* (the start of the run that rejected it: it read the values it \
	 * rejected after that, possibly well before it rejected them) */ \
	"                  coalesce((SELECT r.started_at FROM guestflow.runs r WHERE r.id = d.finished_run_id)," \
	"                           d.finished_at) ELSE false END AS again" \
	"           FROM guestflow.deliveries d" \
	"          WHERE d.connection_id = c.id AND d.booking_id = s.booking_id AND d.job = " SETTING("job") \
	"          LIMIT 1) d0 ON true" \
	/* (a checkout in the future: read, not planned yet, plan.h) */ \
	"       CROSS JOIN LATERAL (SELECT coalesce(d0.new, true) AND " GF_SQL_NOT_FUTURE " AS new," \
	"                                  coalesce(d0.again, false) AND " GF_SQL_NOT_FUTURE " AS again) d" \
	/* the window a stable expression, not a sub-SELECT: the planner \
	 * estimates it from checked_out_at's histogram (a sub-SELECT counts \
	 * as a third of the bookings: a hash join over every guest of a PMS \
	 * with years of bookings, 1.1 s instead of 0.15 s at 1M) */ \
	/* the statuses a literal (STATUSES, replaced by plan_sql): a partial \
	 * index of the PMS's on status = 'checked_out' serves the default */ \
	"       WHERE " GF_SQL_ELIGIBLE_MS("current_setting('guestflow.plan_window_ms')", STATUSES, \
	                                   SETTING("partner")) filter \
	"      OFFSET 0) p" \
	"      ORDER BY 1, 3) TO STDOUT (FORMAT binary)"
static const char STREAM_SQL[] = STREAM_SQL_WHERE("");
/* Careful mode: the same for one range of the pairs (settings plan_conns
 * and plan_ids: two arrays of the same length). */
static const char RANGE_SQL[] = STREAM_SQL_WHERE(
	" AND s.booking_id = ANY(" SETTING("ids") "::bigint[])"
	" AND (c.id, s.booking_id) IN (SELECT * FROM unnest(" SETTING("conns") "::bigint[], " SETTING("ids") "::bigint[]))");

char *gf_plan_statuses(const struct gf_job *job)
{
	struct gf_buf b = GF_BUF_INIT(SIZE_MAX);
	if (gf_db_text_array(&b, (const char *const *)job->statuses.v, job->statuses.n) < 0)
		abort(); /* no limit to exceed */
	return gf_buf_steal(&b);
}

/* sql with its STATUSES replaced by the job's as a literal; NULL when the
 * connection cannot quote it. */
static char *plan_sql(PGconn *c, const char *sql, const struct gf_job *job)
{
	_cleanup_free_ char *arr = gf_plan_statuses(job);
	char *lit = PQescapeLiteral(c, arr, strlen(arr));
	if (!lit)
		return NULL;
	const char *at = strstr(sql, STATUSES);
	if (!at)
		abort(); /* the statements above all hold it */
	char *out = gf_xasprintf("%.*s%s::text[]%s", (int)(at - sql), sql, lit, at + strlen(STATUSES));
	PQfreemem(lit);
	return out;
}

static void batch_free(struct gf_plan_batch *b)
{
	if (!b)
		return;
	free(b->property_id);
	free(b->bookings);
	free(b->again);
	free(b->off);
	gf_buf_free(&b->buf);
	free(b);
}

static void list_free(struct gf_plan_batch *b)
{
	while (b) {
		struct gf_plan_batch *next = b->next;
		batch_free(b);
		b = next;
	}
}

static void close_stream(struct gf_planner *p)
{
	if (!p->stream)
		return;
	/* Cut short: the server stops the statement now rather than when it
	 * next writes to a closed connection. */
	if (!p->done && PQstatus(p->stream) == CONNECTION_OK) {
		PGcancel *cn = PQgetCancel(p->stream);
		char err[256];
		if (cn) {
			(void)PQcancel(cn, err, sizeof(err));
			PQfreeCancel(cn);
		}
	}
	PQfinish(p->stream);
	p->stream = NULL;
}

void gf_plan_release(struct gf_planner *p)
{
	close_stream(p);
	p->active = false;
	batch_free(p->cur);
	list_free(p->ready);
	list_free(p->kept);
	p->cur = p->ready = p->kept = NULL;
	p->ready_tail = &p->ready;
	p->kept_tail = &p->kept;
	p->n_ready = 0;
	p->ready_rows = 0;
	p->ready_bytes = 0;
	gf_buf_free(&p->in);
	p->in_pos = 0;
	p->cand_conn = gf_free(p->cand_conn);
	p->cand_book = gf_free(p->cand_book);
	p->ranges = gf_free(p->ranges);
	p->n_cand = p->n_ranges = p->cap_ranges = 0;
	for (size_t i = 0; i < p->n_suspects; i++)
		free(p->suspects[i].reason);
	p->suspects = gf_free(p->suspects);
	p->n_suspects = 0;
	p->careful = p->loaded = false;
	if (p->spool)
		fclose(p->spool);
	p->spool = NULL;
	p->spooled = false;
}

/* Pending deliveries outside any batch (reruns, the rest of a batch cut by
 * --limit) batched at once, in one statement. Rows another planner is
 * batching at the moment are skipped (SKIP LOCKED), and a batch is written
 * only with the rows this statement took (none: no batch). */
static int plan_loose(struct gf_planner *p)
{
	char run[32], max[16];
	snprintf(run, sizeof(run), "%lld", (long long)p->run_id);
	snprintf(max, sizeof(max), "%d", p->job->max_records);
	int err;
	_cleanup_pgresult_ PGresult *res = gf_db_query(p->c, &err, "plan_loose",
		"WITH loose AS MATERIALIZED ("
		"  SELECT x.connection_id, x.booking_id, x.property_id,"
		"         (row_number() OVER (PARTITION BY x.connection_id ORDER BY x.booking_id) - 1) / $2::int AS chunk"
		"    FROM (SELECT d.connection_id, d.booking_id, d.property_id FROM guestflow.deliveries d"
		"            JOIN guestflow.connections c ON c.id = d.connection_id AND c.status = 'live'"
		"           WHERE d.job = $1 AND d.batch_id IS NULL AND d.state = 'pending'"
		"           FOR UPDATE OF d SKIP LOCKED) x"
		"), chunks AS MATERIALIZED ("
		"  SELECT connection_id, chunk, min(property_id) AS property_id, count(*) AS records,"
		"         nextval('guestflow.batches_id_seq') AS batch_id"
		"    FROM loose GROUP BY connection_id, chunk"
		"), u AS ("
		"  UPDATE guestflow.deliveries d SET batch_id = k.batch_id, updated_at = now()"
		"    FROM loose l JOIN chunks k ON k.connection_id = l.connection_id AND k.chunk = l.chunk"
		"   WHERE d.connection_id = l.connection_id AND d.booking_id = l.booking_id AND d.job = $1"
		"  RETURNING d.batch_id"
		"), b AS ("
		"  INSERT INTO guestflow.batches (id, job, connection_id, property_id, idempotency_key, records, created_run_id)"
		"  SELECT k.batch_id, $1, k.connection_id, k.property_id, gen_random_uuid()::text, n.records, $3::bigint"
		"    FROM (SELECT batch_id, count(*) AS records FROM u GROUP BY 1) n JOIN chunks k ON k.batch_id = n.batch_id"
		"  RETURNING 1"
		") SELECT (SELECT count(*) FROM b)", 3, (const char *[]){ p->job->name, max, run });
	if (!res)
		return err;
	p->res.batches += gf_db_get_int(res, 0, 0);
	return 0;
}

/* The plan's own session, its settings, and the statement started. */
static int open_stream(struct gf_planner *p)
{
	int r = gf_db_connect(p->conninfo, &p->stream);
	if (r < 0)
		return -GF_E_DB_LOST;
	/* Never back before the job's purge horizon. */
	r = gf_purge_window(p->stream, p->job, &p->window_ms, NULL, 0);
	if (r < 0)
		return r;
	char window[32];
	snprintf(window, sizeof(window), "%lld", (long long)p->window_ms);
	/* work_mem: the sort by connection in memory, not on disk (an upper
	 * bound, taken only as far as needed). */
	r = gf_db_exec(p->stream, "plan_settings",
		"SELECT set_config('guestflow.plan_job', $1, false), set_config('guestflow.plan_partner', $2, false),"
		"       set_config('guestflow.plan_window_ms', $3, false), set_config('work_mem', '256MB', false)",
		3, (const char *[]){ p->job->name, p->job->partner, window });
	if (r < 0)
		return r;
	_cleanup_free_ char *sql = plan_sql(p->stream, STREAM_SQL, p->job);
	if (!sql || !PQsendQuery(p->stream, sql)) {
		char line[512];
		gf_db_error_line(p->stream, NULL, NULL, line, sizeof(line));
		gf_error("db_error", "statement=plan error=%s", gf_log_q(line));
		return gf_db_error_code(p->stream);
	}
	gf_buf_init(&p->in, ROW_BUF_MAX);
	return 0;
}

int gf_plan_start(struct gf_planner *p, PGconn *c, const char *conninfo, const struct gf_job *job,
                  int64_t run_id, const volatile sig_atomic_t *stop)
{
	gf_plan_release(p);
	*p = (struct gf_planner){ .c = c, .conninfo = conninfo, .job = job, .run_id = run_id, .stop = stop,
		                  .props_whole = -1 };
	p->ready_tail = &p->ready;
	p->kept_tail = &p->kept;
	/* No lock: planners of one job (several processes) may run at once;
	 * the deliveries' key decides which one plans a pair (write_slice). */
	p->active = true;
	int r = plan_loose(p);
	if (r == 0)
		r = open_stream(p);
	if (r < 0)
		gf_plan_release(p);
	return r;
}

/* Big-endian integers of the binary COPY format. */
static uint32_t be32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static int64_t be64(const unsigned char *b)
{
	return (int64_t)((uint64_t)be32(b) << 32 | be32(b + 4));
}

static int bad_stream(const char *what)
{
	gf_error("db_error", "statement=plan error=%s", gf_log_q(what));
	return -GF_E_DB;
}

/* Wait until the plan's session has something to read; a stop signal
 * is seen within a fifth of a second (the first rows of a big PMS may take
 * a while: the server sends nothing, not even the start of the COPY, until
 * they are sorted). */
static int wait_input(struct gf_planner *p)
{
	if (p->stop && *p->stop)
		return -GF_E_INTERRUPTED;
	struct pollfd pfd = { .fd = PQsocket(p->stream), .events = POLLIN };
	if (poll(&pfd, 1, 200) < 0 && errno != EINTR)
		return bad_stream("poll on the plan's session failed");
	if (!PQconsumeInput(p->stream)) {
		char line[512];
		gf_db_error_line(p->stream, NULL, NULL, line, sizeof(line));
		gf_error("db_lost", "statement=plan error=%s", gf_log_q(line));
		return gf_db_error_code(p->stream);
	}
	return 0;
}

/* The plan's statement failed (res: its result, or NULL). -GF_E_DATA for a
 * row's error in the source view (gf_db_sqlstate_may_be_row: a data
 * exception, a plpgsql RAISE, an internal error, ...: an operator's
 * expression that fails for some row), with the server's message kept in
 * p->err_reason: the caller reads on carefully, and only the failing
 * bookings are rejected. Ranges read carefully fail quietly (their
 * bookings are logged once isolated). */
static int statement_failed(struct gf_planner *p, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	bool data = PQstatus(p->stream) == CONNECTION_OK && res && gf_db_sqlstate_may_be_row(state);
	if (data)
		gf_db_error_reason(res, p->err_reason, sizeof(p->err_reason));
	if (data && p->careful)
		return -GF_E_DATA;
	int err = gf_db_result_error(p->stream, res, p->careful ? "plan_range" : "plan");
	return data ? -GF_E_DATA : err;
}

/* The statement's first answer: the start of the COPY, or its error. */
static int copy_started(struct gf_planner *p)
{
	int r;
	while (PQisBusy(p->stream))
		if ((r = wait_input(p)) < 0)
			return r;
	PGresult *res = PQgetResult(p->stream);
	if (res && PQresultStatus(res) == PGRES_COPY_OUT) {
		PQclear(res);
		p->copying = true;
		return 0;
	}
	r = statement_failed(p, res);
	if (res)
		PQclear(res);
	while ((res = PQgetResult(p->stream)) != NULL)
		PQclear(res);
	return r;
}

/* The statement's end: its result, or its error. */
static int copy_ended(struct gf_planner *p)
{
	int err = 0;
	PGresult *res = PQgetResult(p->stream);
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
		err = statement_failed(p, res);
	if (res)
		PQclear(res);
	while ((res = PQgetResult(p->stream)) != NULL)
		PQclear(res);
	return err;
}

static int copy_lost(struct gf_planner *p)
{
	char line[512];
	gf_db_error_line(p->stream, NULL, NULL, line, sizeof(line));
	gf_error("db_lost", "statement=plan error=%s", gf_log_q(line));
	return gf_db_error_code(p->stream) == -GF_E_DB_LOST ? -GF_E_DB_LOST : -GF_E_DB;
}

/* The whole stream written to a file of its own (unlinked: gone with the
 * process), so that the statement ends, and its snapshot with it, before
 * the first slice is written. A statement left open while the run reads it
 * (as slices are claimed: most of the run) holds back the cleanup of every
 * row version the run makes meanwhile: each delivery is updated twice
 * (sending, then delivered), and with the old versions kept, pages fill,
 * updates stop being HOT and every one adds entries to the deliveries'
 * indexes (100,000 bookings: 21 % of the updates HOT, the table three times
 * its size). In a file, the stream takes disk, not memory: peak RSS stays
 * flat. */
static int spool(struct gf_planner *p)
{
	int r;
	if (!p->copying && (r = copy_started(p)) < 0)
		return r;
	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof(path), "%s/guestflow-plan-XXXXXX", dir && dir[0] ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd >= 0) {
		(void)unlink(path);
		if (!(p->spool = fdopen(fd, "w+b")))
			close(fd);
	}
	if (!p->spool) {
		r = errno ? -errno : -EIO;
		gf_error("plan_spool_failed", "dir=%s error=%s msg=%s", gf_log_q(dir && dir[0] ? dir : "/tmp"),
		         gf_log_q(strerror(-r)), gf_log_q("cannot create a temporary file for the plan's stream (TMPDIR)"));
		return r;
	}
	for (;;) {
		char *buf = NULL;
		int n = PQgetCopyData(p->stream, &buf, 1);
		if (n == 0) {
			if ((r = wait_input(p)) < 0)
				return r;
			continue;
		}
		if (n > 0) {
			errno = 0;
			size_t w = fwrite(buf, 1, (size_t)n, p->spool);
			PQfreemem(buf);
			if (w != (size_t)n)
				break;
			continue;
		}
		if (n == -1) {
			if ((r = copy_ended(p)) < 0)
				return r;
			errno = 0;
			if (fflush(p->spool) != 0 || fseek(p->spool, 0, SEEK_SET) != 0)
				break;
			p->spooled = true;
			return 0;
		}
		return copy_lost(p);
	}
	r = errno ? -errno : -EIO; /* (a short write need not set errno) */
	gf_error("plan_spool_failed", "error=%s msg=%s", gf_log_q(strerror(-r)),
	         gf_log_q("cannot write the plan's stream to a temporary file (TMPDIR)"));
	return r;
}

/* More bytes of the stream (waits for them); 0 at its end (done). */
static int fill(struct gf_planner *p)
{
	int r;
	if (!p->careful && !p->spooled && (r = spool(p)) < 0) {
		if (p->spool) {
			fclose(p->spool);
			p->spool = NULL;
		}
		return r;
	}
	if (!p->spooled && !p->copying && (r = copy_started(p)) < 0)
		return r;
	if (p->in_pos > 0) {
		memmove(p->in.data, p->in.data + p->in_pos, p->in.len - p->in_pos);
		p->in.len -= p->in_pos;
		p->in_pos = 0;
		/* A huge row has gone by: its room is given back. */
		if (p->in.cap > ((size_t)16 << 20) && p->in.len < ((size_t)1 << 20) && !p->careful) {
			p->in.data = gf_xrealloc(p->in.data, p->in.len + 1);
			p->in.cap = p->in.len + 1;
		}
	}
	if (p->spooled && !p->careful) {
		char chunk[1 << 16];
		size_t n = fread(chunk, 1, sizeof(chunk), p->spool);
		if (n == 0 && ferror(p->spool))
			return bad_stream("cannot read the plan's stream back from its temporary file");
		if (n == 0)
			return 0;
		r = gf_buf_append(&p->in, chunk, n);
		return r < 0 ? r : 1;
	}
	char *buf = NULL;
	int n;
	while ((n = PQgetCopyData(p->stream, &buf, 1)) == 0)
		if ((r = wait_input(p)) < 0)
			return r;
	if (n > 0) {
		r = gf_buf_append(&p->in, buf, (size_t)n);
		PQfreemem(buf);
		return r < 0 ? r : 1;
	}
	if (n == -1)
		return copy_ended(p);
	return copy_lost(p);
}

static void finish_cur(struct gf_planner *p)
{
	struct gf_plan_batch *b = p->cur;
	if (!b)
		return;
	/* Held until claimed: no room to grow kept (memory stays flat). */
	if (b->buf.data && b->buf.cap > b->buf.len + 1) {
		b->buf.data = gf_xrealloc(b->buf.data, b->buf.len + 1);
		b->buf.cap = b->buf.len + 1;
	}
	if (b->cap > b->n) {
		b->bookings = gf_xrealloc(b->bookings, b->n * sizeof(*b->bookings));
		b->again = gf_xrealloc(b->again, b->n * sizeof(*b->again));
		b->off = gf_xrealloc(b->off, b->n * GF_REC_FIELDS * sizeof(*b->off));
		b->cap = b->n;
	}
	*p->ready_tail = p->cur;
	p->ready_tail = &p->cur->next;
	p->n_ready++;
	p->ready_rows += p->cur->n;
	p->ready_bytes += p->cur->buf.len;
	p->cur = NULL;
}

/* One tuple's fields: pointers into the stream buffer, lengths (-1: NULL). */
struct tuple {
	const unsigned char *v[STREAM_COLS];
	int32_t len[STREAM_COLS];
};

/* A row of the source view that cannot be planned (it has no booking_id):
 * counted as rejected in the run, with its booking number, in the log and
 * the run's summary; it has no delivery (nothing to key one on), so the
 * next run finds it again until the PMS is fixed. */
static void unplannable(struct gf_planner *p, const struct tuple *t, const char *reason)
{
	int32_t len = t->len[FIELD0 + GF_REC_NO];
	_cleanup_free_ char *no = len >= 0 ? gf_xstrndup((const char *)t->v[FIELD0 + GF_REC_NO], (size_t)len) : NULL;
	p->res.rejected++;
	gf_warn("source_row_rejected", "booking_no=%s reason=%s", gf_log_q(no ? no : ""), gf_log_q(reason));
	if (!p->res.first_rejected[0])
		snprintf(p->res.first_rejected, sizeof(p->res.first_rejected), "%s: %s", no ? no : "(no booking number)",
		         reason);
}

static int add_row(struct gf_planner *p, const struct tuple *t)
{
	if (t->len[0] != 8 || t->len[1] < 0 || t->len[3] != 1 || (t->len[4] != 1 && t->len[4] != -1) ||
	    (t->len[2] != 8 && t->len[2] != -1))
		return bad_stream("unexpected column in the plan's stream");
	p->rows_read++;
	if (t->len[4] < 0)
		return 0; /* a checkout in the future: not eligible yet, nothing to plan */
	int64_t conn = be64(t->v[0]);
	bool is_new = t->v[3][0] != 0;
	bool again = t->v[4][0] != 0;
	p->res.eligible++;
	if (t->len[2] < 0) {
		unplannable(p, t, "the source view gives this booking no booking_id: guestflow cannot track it, so it is"
		                  " not sent (fix guestflow.source_bookings or the PMS)");
		return 0;
	}
	int64_t booking = be64(t->v[2]);
	/* Sorted by connection and booking: a view that gives a booking twice
	 * (the operator's mistake) has its rows next to each other; the first
	 * is planned, once. */
	bool twice = p->has_last && p->last_conn == conn && p->last_booking == booking;
	p->has_last = true;
	p->last_conn = conn;
	p->last_booking = booking;
	if (twice) {
		if (!p->told_twice)
			gf_warn("source_row_twice", "booking_id=%lld msg=%s", (long long)booking,
			        gf_log_q("guestflow.source_bookings gives this booking more than once: it is planned once, from"
			                 " its first row (this is told once per run)"));
		p->told_twice = true;
		return 0;
	}
	/* Sorted by connection: a connection's last batch is complete once
	 * another connection's rows begin. */
	if (p->cur && p->cur->connection_id != conn)
		finish_cur(p);
	if (!is_new)
		return 0;
	p->res.found++;
	size_t bytes = 0;
	for (int f = 0; f < GF_REC_FIELDS; f++)
		bytes += t->len[FIELD0 + f] > 0 ? (size_t)t->len[FIELD0 + f] + 1 : 1;
	if (p->cur && (p->cur->n >= (size_t)p->job->max_records ||
	               (p->cur->n > 0 && p->cur->buf.len + bytes > BATCH_DATA_MAX)))
		finish_cur(p);
	struct gf_plan_batch *b = p->cur;
	if (!b) {
		b = p->cur = gf_xcalloc(1, sizeof(*b));
		b->connection_id = conn;
		b->property_id = gf_xstrndup((const char *)t->v[1], (size_t)t->len[1]);
		gf_buf_init(&b->buf, ROW_BUF_MAX);
	}
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 16;
		b->bookings = gf_xrealloc(b->bookings, b->cap * sizeof(*b->bookings));
		b->again = gf_xrealloc(b->again, b->cap * sizeof(*b->again));
		b->off = gf_xrealloc(b->off, b->cap * GF_REC_FIELDS * sizeof(*b->off));
	}
	uint32_t *off = b->off + b->n * GF_REC_FIELDS;
	for (int f = 0; f < GF_REC_FIELDS; f++) {
		int32_t len = t->len[FIELD0 + f];
		if (len < 0) {
			off[f] = UINT32_MAX;
			continue;
		}
		if (b->buf.len + (size_t)len + 1 >= UINT32_MAX)
			return bad_stream("a planned batch's values are too large");
		off[f] = (uint32_t)b->buf.len;
		int r = gf_buf_append(&b->buf, t->v[FIELD0 + f], (size_t)len);
		if (r == 0)
			r = gf_buf_append(&b->buf, "", 1);
		if (r < 0)
			return r;
	}
	b->again[b->n] = again;
	b->bookings[b->n++] = booking;
	return 0;
}

/* Parse what the buffer holds: 1 for a row taken, 0 when more bytes are
 * needed, 2 at the stream's trailer. */
static int parse_one(struct gf_planner *p)
{
	const unsigned char *s = (const unsigned char *)p->in.data + p->in_pos;
	size_t avail = p->in.len - p->in_pos;
	if (!p->header) {
		static const char sig[11] = "PGCOPY\n\377\r\n";
		if (avail < 19)
			return 0;
		if (memcmp(s, sig, sizeof(sig)) != 0)
			return bad_stream("the plan's stream is not binary COPY");
		uint32_t ext = be32(s + 15);
		if (avail < 19 + (size_t)ext)
			return 0;
		p->in_pos += 19 + ext;
		p->header = true;
		return 1;
	}
	if (avail < 2)
		return 0;
	int16_t nf = (int16_t)((uint16_t)s[0] << 8 | s[1]);
	if (nf == -1)
		return 2;
	if (nf != STREAM_COLS)
		return bad_stream("unexpected number of columns in the plan's stream");
	struct tuple t;
	size_t pos = 2;
	for (int i = 0; i < STREAM_COLS; i++) {
		if (avail < pos + 4)
			return 0;
		int32_t len = (int32_t)be32(s + pos);
		pos += 4;
		t.len[i] = len;
		t.v[i] = s + pos;
		if (len < 0)
			continue;
		if (avail < pos + (size_t)len)
			return 0;
		pos += (size_t)len;
	}
	int r = add_row(p, &t);
	if (r < 0)
		return r;
	p->in_pos += pos;
	return 1;
}

/* ---- careful mode --------------------------------------------------------
 * The plan statement raised an error that may be one row's (an operator's
 * view whose expression fails for one booking: a cast, a division, a
 * RAISE in a function it calls): one bad row must not fail the night. The pairs not read yet are listed (their keys only),
 * then read a range at a time with the same statement; a range that fails
 * is halved until the one booking that fails alone is found, and that
 * booking is rejected with the database's message as its reason. Only when
 * the view gives other bookings fine: a view that fails for every booking
 * it is asked for is broken as a whole, and the run ends with its error,
 * rejecting nothing. */

struct range {
	size_t lo, hi;   /* candidates [lo, hi) */
};

static void push_range(struct gf_planner *p, size_t lo, size_t hi)
{
	if (p->n_ranges == p->cap_ranges) {
		p->cap_ranges = p->cap_ranges ? p->cap_ranges * 2 : 64;
		p->ranges = gf_xrealloc(p->ranges, p->cap_ranges * sizeof(*p->ranges));
	}
	p->ranges[p->n_ranges++] = (struct range){ lo, hi };
}

/* The listing of the pairs, a range of booking_id values at a time. */
#define LIST_BY_VALUE_SQL \
	"SELECT c.id, s.booking_id FROM guestflow.source_bookings s" \
	"  JOIN guestflow.connections c ON c.property_id = s.property_id AND c.partner = $1 AND c.status = 'live'" \
	" WHERE s.booking_id BETWEEN $5::bigint AND $6::bigint AND (c.id, s.booking_id) > ($2::bigint, $3::bigint)" \
	"   AND $4::text IS NOT NULL"
/* Bookings isolated with not one row listed (or read) fine: the view is
 * broken as a whole (a few halvings each, not one per booking of the PMS);
 * so is it when all it has are such bookings. */
#define LIST_BY_VALUE_GIVE_UP 10

struct pair {
	int64_t conn, booking;
};

static int cmp_pair(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	if (x->conn != y->conn)
		return x->conn < y->conn ? -1 : 1;
	return x->booking < y->booking ? -1 : x->booking > y->booking;
}

/* Neither listing works: the failing expression is computed for every row
 * the view is asked for, whatever the query reads of it (a VOLATILE
 * function in its select list: PostgreSQL evaluates it for each row it
 * scans). A condition on booking_id alone still reaches the PMS's table
 * first, so the pairs are listed a range of booking_id values at a time,
 * a range that fails halved down to the one id. Such a booking cannot even
 * be given a connection (its property is in the row that fails): it is not
 * planned, and is counted as rejected and logged, every run until the view
 * or the PMS is fixed, like a row without a booking_id. The pairs come
 * back in the stream's order. */
static int list_by_value(struct gf_planner *p, const char *const *params, struct pair **out, size_t *n_out)
{
	struct gf_id_ranges st = { 0 };
	size_t n = 0, cap = 0, isolated = 0;
	struct pair *v = NULL;
	bool listed = p->rows_read > 0;
	int err = 0;
	int64_t lo, hi;
	gf_id_ranges_all(&st);
	gf_warn("plan_list_by_value", "error=%s msg=%s", gf_log_q(p->err_reason),
	        gf_log_q("the source view fails for some row whatever is read of it: its bookings are listed a range"
	                 " of booking_id values at a time"));
	while (err == 0 && gf_id_ranges_pop(&st, &lo, &hi)) {
		char los[32], his[32];
		snprintf(los, sizeof(los), "%lld", (long long)lo);
		snprintf(his, sizeof(his), "%lld", (long long)hi);
		const char *pv[] = { params[0], params[1], params[2], params[3], los, his };
		/* (quietly: the failures are expected, and many) */
		_cleanup_pgresult_ PGresult *r = PQexecParams(p->stream, LIST_BY_VALUE_SQL, 6, NULL, pv, NULL, NULL, 0);
		if (r && PQresultStatus(r) == PGRES_TUPLES_OK) {
			for (int i = 0; i < PQntuples(r); i++) {
				if (n == cap) {
					cap = cap ? cap * 2 : 1024;
					v = gf_xrealloc(v, cap * sizeof(*v));
				}
				v[n++] = (struct pair){ gf_db_get_int(r, i, 0), gf_db_get_int(r, i, 1) };
			}
			listed = listed || PQntuples(r) > 0;
			continue;
		}
		const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
		if (PQstatus(p->stream) != CONNECTION_OK || !gf_db_sqlstate_may_be_row(state)) {
			err = gf_db_result_error(p->stream, r, "plan_list_by_value");
			break;
		}
		if (gf_id_ranges_halve(&st, lo, hi))
			continue;
		char why[400];
		gf_db_error_reason(r, why, sizeof(why));
		p->res.rejected++;
		isolated++;
		gf_warn("source_row_rejected", "booking_id=%lld reason=%s", (long long)lo,
		        gf_log_q("the source view raises an error for this booking whatever is read of it, so guestflow"
		                 " cannot tell its property: it is not sent (fix guestflow.source_bookings or the PMS)"));
		if (!p->res.first_rejected[0])
			snprintf(p->res.first_rejected, sizeof(p->res.first_rejected), "(booking_id %lld): the source view"
			         " cannot give this booking: %s", (long long)lo, why);
		if (!listed && isolated >= LIST_BY_VALUE_GIVE_UP)
			break;
	}
	gf_id_ranges_free(&st);
	if (err == 0 && !listed && isolated > 0) {
		gf_error("plan_failed", "error=%s msg=%s", gf_log_q(p->err_reason),
		         gf_log_q("the source view raised an error for every booking it was asked for: it is broken"
		                  " as a whole, so nothing is rejected; fix guestflow.source_bookings"));
		p->res.rejected -= (int64_t)isolated;
		p->res.first_rejected[0] = '\0';
		err = -GF_E_DB;
	}
	if (err < 0) {
		free(v);
		return err;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_pair);
	*out = v;
	*n_out = n;
	return 0;
}

/* The pairs still to read, in the stream's order: after the last one read,
 * through the eligibility rules when the view can evaluate them (else all
 * of its pairs: the range statements apply the rules; else listed by
 * booking_id value, list_by_value). */
static int list_candidates(struct gf_planner *p)
{
	char window[32], conn[32], booking[32];
	snprintf(window, sizeof(window), "%lld", (long long)p->window_ms);
	snprintf(conn, sizeof(conn), "%lld", (long long)(p->has_last ? p->last_conn : INT64_MIN));
	snprintf(booking, sizeof(booking), "%lld", (long long)(p->has_last ? p->last_booking : INT64_MIN));
	_cleanup_free_ char *statuses = gf_plan_statuses(p->job);
	const char *params[] = { p->job->partner, conn, booking, window, statuses };
	int err = 0;
	PGresult *r = NULL;
	for (int pass = 0; pass < 2 && !r; pass++) {
		r = gf_db_query(p->stream, &err, pass ? "plan_candidates_all" : "plan_candidates",
			pass ? "SELECT c.id, s.booking_id FROM guestflow.source_bookings s"
			       "  JOIN guestflow.connections c ON c.property_id = s.property_id AND c.partner = $1 AND c.status = 'live'"
			       " WHERE s.booking_id IS NOT NULL AND (c.id, s.booking_id) > ($2::bigint, $3::bigint)"
			       "   AND $4::text IS NOT NULL AND $5::text[] IS NOT NULL"
			       " ORDER BY 1, 2"
			     : "SELECT c.id, s.booking_id FROM guestflow.source_bookings s"
			       "  JOIN guestflow.connections c ON c.property_id = s.property_id AND c.partner = $1 AND c.status = 'live'"
			       " WHERE s.booking_id IS NOT NULL AND (c.id, s.booking_id) > ($2::bigint, $3::bigint)"
			       "   AND " GF_SQL_ELIGIBLE_MS("$4", "$5::text[]", "$1")
			       " ORDER BY 1, 2", 5, params);
		if (!r && !gf_db_sqlstate_may_be_row(gf_db_sqlstate(p->stream)))
			return err;
	}
	struct pair *byv = NULL;
	size_t n = 0;
	if (!r && (err = list_by_value(p, params, &byv, &n)) < 0)
		return err;
	if (r)
		n = (size_t)PQntuples(r);
	p->cand_conn = gf_xcalloc(n ? n : 1, sizeof(*p->cand_conn));
	p->cand_book = gf_xcalloc(n ? n : 1, sizeof(*p->cand_book));
	p->n_cand = n;
	for (size_t i = 0; i < n; i++) {
		p->cand_conn[i] = r ? gf_db_get_int(r, (int)i, 0) : byv[i].conn;
		p->cand_book[i] = r ? gf_db_get_int(r, (int)i, 1) : byv[i].booking;
	}
	free(byv);
	if (r)
		PQclear(r);
	/* A stack: the first range on top. */
	for (size_t k = (n + CAREFUL_RANGE - 1) / CAREFUL_RANGE; k-- > 0;)
		push_range(p, k * CAREFUL_RANGE, (k + 1) * CAREFUL_RANGE < n ? (k + 1) * CAREFUL_RANGE : n);
	return 0;
}

static int careful_begin(struct gf_planner *p)
{
	gf_warn("plan_careful", "error=%s msg=%s", gf_log_q(p->err_reason),
	        gf_log_q("the source view raised an error that may be one booking's: the rest of the plan is read a"
	                 " range at a time, and the"
	                 " bookings it cannot give are rejected alone"));
	p->careful = true;
	p->loaded = false;
	/* (a row cut off by the error is read again) */
	gf_buf_reset(&p->in);
	p->in_pos = 0;
	return list_candidates(p);
}

/* Write the isolated bookings as deliveries rejected for their data (the
 * source view fails for them: planned again once the PMS changes them). A
 * booking that has a delivery already (its row fails whether it is new or
 * not) keeps it. */
static int reject_suspects(struct gf_planner *p)
{
	char run[32];
	snprintf(run, sizeof(run), "%lld", (long long)p->run_id);
	for (size_t i = 0; i < p->n_suspects; i++) {
		struct gf_plan_suspect *x = &p->suspects[i];
		char conn[32], booking[32];
		snprintf(conn, sizeof(conn), "%lld", (long long)x->conn);
		snprintf(booking, sizeof(booking), "%lld", (long long)x->booking);
		/* Its number, if the view can give that much of it. */
		int err;
		PGresult *no = gf_db_query(p->stream, &err, "plan_rejected_no",
			"SELECT s.booking_no FROM guestflow.source_bookings s WHERE s.booking_id = $1::bigint LIMIT 1", 1,
			(const char *[]){ booking });
		_cleanup_free_ char *booking_no = no && PQntuples(no) ? gf_xstrdup(PQgetvalue(no, 0, 0)) : NULL;
		if (no)
			PQclear(no);
		PGresult *res = gf_db_query(p->c, &err, "plan_reject",
			"INSERT INTO guestflow.deliveries (job, connection_id, property_id, booking_id, booking_no, state, reason,"
			"                                  data_rejected, planned_run_id, finished_run_id, finished_at)"
			" SELECT $1, c.id, c.property_id, $3::bigint, coalesce($4, ''), 'rejected', $5, true, $6::bigint,"
			"        $6::bigint, now()"
			"   FROM guestflow.connections c WHERE c.id = $2::bigint"
			" ON CONFLICT DO NOTHING RETURNING 1", 6,
			(const char *[]){ p->job->name, conn, booking, booking_no, x->reason, run });
		if (!res)
			return err;
		if (PQntuples(res) == 1) {
			p->res.rejected++;
			gf_warn("record_rejected", "booking_no=%s booking_id=%s reason=%s", gf_log_q(booking_no ? booking_no : ""),
			        booking, gf_log_q(x->reason));
			if (!p->res.first_rejected[0])
				snprintf(p->res.first_rejected, sizeof(p->res.first_rejected), "%s: %s",
				         booking_no ? booking_no : booking, x->reason);
		}
		PQclear(res);
	}
	for (size_t i = 0; i < p->n_suspects; i++)
		free(p->suspects[i].reason);
	p->n_suspects = 0;
	return 0;
}

/* A booking isolated whose own row the view gives whole, and whose
 * property's row in guestflow.source_properties raises (the PMS's rule for
 * the property cannot be read, a value it cannot give): not the booking's
 * fault, so it is not rejected (a rejection for its data would wait for the
 * booking to change, not the property), only left unplanned this run and
 * counted (p->res.held). 1 then, 0 when it is the booking's own row, or a
 * session lost. */
static int property_rule_fails(struct gf_planner *p, int64_t booking)
{
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)booking);
	/* (quietly: the booking's own row may fail here as it did in the range) */
	_cleanup_pgresult_ PGresult *row = PQexecParams(p->stream,
		"SELECT s.property_id, s.booking_no, row_to_json(s)::text FROM guestflow.source_bookings s"
		" WHERE s.booking_id = $1::bigint LIMIT 1", 1, NULL, (const char *[]){ id }, NULL, NULL, 0);
	if (PQstatus(p->stream) != CONNECTION_OK)
		return gf_db_error_code(p->stream);
	if (PQresultStatus(row) != PGRES_TUPLES_OK || PQntuples(row) == 0 || PQgetisnull(row, 0, 0))
		return 0;
	const char *prop = PQgetvalue(row, 0, 0);
	char why[400] = "";
	/* The properties view read whole first (once a plan): when some row
	 * of it raises, the rule of any property may raise or not as the
	 * planner reads the view (a property_id that raises for another
	 * property fails the comparison with this one's), so no booking is
	 * taken for bad whose own row reads: left unplanned. */
	if (p->props_whole < 0) {
		_cleanup_pgresult_ PGresult *all = PQexec(p->stream,
			"SELECT count(row_to_json(x)) FROM guestflow.source_properties x");
		if (PQstatus(p->stream) != CONNECTION_OK)
			return gf_db_error_code(p->stream);
		p->props_whole = PQresultStatus(all) == PGRES_TUPLES_OK ||
		                 !gf_db_sqlstate_may_be_row(PQresultErrorField(all, PG_DIAG_SQLSTATE));
		if (!p->props_whole) {
			gf_db_error_reason(all, p->props_why, sizeof(p->props_why));
			gf_warn("properties_unreadable", "error=%s msg=%s", gf_log_q(p->props_why),
			        gf_log_q("guestflow.source_properties raises an error for some property: a booking whose"
			                 " own row reads but whose eligibility cannot be read is left unplanned, not"
			                 " rejected"));
		}
	}
	if (!p->props_whole) {
		snprintf(why, sizeof(why), "%s", p->props_why);
	} else {
		_cleanup_pgresult_ PGresult *rule = PQexecParams(p->stream, "SELECT " GF_SQL_PROPERTY_ALLOWED("$1"), 1,
		                                                 NULL, &prop, NULL, NULL, 0);
		if (PQstatus(p->stream) != CONNECTION_OK)
			return gf_db_error_code(p->stream);
		if (PQresultStatus(rule) == PGRES_TUPLES_OK ||
		    !gf_db_sqlstate_may_be_row(PQresultErrorField(rule, PG_DIAG_SQLSTATE)))
			return 0;
		gf_db_error_reason(rule, why, sizeof(why));
	}
	p->res.held++;
	gf_warn("booking_not_planned", "booking_no=%s booking_id=%s property=%s reason=%s",
	        gf_log_q(PQgetvalue(row, 0, 1)), id, gf_log_q(prop),
	        gf_log_q("guestflow.source_properties raises an error for the booking's property, so whether the PMS"
	                 " allows its guests to be exported cannot be read: not sent this run, and not rejected"
	                 " (planned once the property's row reads again)"));
	if (!p->res.first_held[0])
		snprintf(p->res.first_held, sizeof(p->res.first_held), "%s (property %s): %s", PQgetvalue(row, 0, 1),
		         prop, why);
	return 1;
}

/* The next range read whole into p->in (1), or none left (0). A range that
 * fails is halved; a single pair that fails is isolated. */
static int careful_load(struct gf_planner *p)
{
	while (p->n_ranges > 0) {
		struct range rg = p->ranges[--p->n_ranges];
		_cleanup_buf_ struct gf_buf conns = GF_BUF_INIT(PARAM_MAX);
		_cleanup_buf_ struct gf_buf ids = GF_BUF_INIT(PARAM_MAX);
		int r = gf_db_int_array(&conns, p->cand_conn + rg.lo, rg.hi - rg.lo);
		if (r == 0)
			r = gf_db_int_array(&ids, p->cand_book + rg.lo, rg.hi - rg.lo);
		if (r == 0)
			r = gf_db_exec(p->stream, "plan_range_settings",
				"SELECT set_config('guestflow.plan_conns', $1, false), set_config('guestflow.plan_ids', $2, false)",
				2, (const char *[]){ gf_buf_str(&conns), gf_buf_str(&ids) });
		if (r < 0)
			return r;
		_cleanup_free_ char *sql = plan_sql(p->stream, RANGE_SQL, p->job);
		if (!sql || !PQsendQuery(p->stream, sql)) {
			gf_error("db_error", "statement=plan_range error=%s", gf_log_q(PQerrorMessage(p->stream)));
			return gf_db_error_code(p->stream);
		}
		p->copying = p->header = false;
		gf_buf_reset(&p->in);
		p->in_pos = 0;
		while ((r = fill(p)) > 0)
			;
		if (r == 0) {
			p->loaded = true;
			return 1;
		}
		if (r != -GF_E_DATA)
			return r;
		gf_buf_reset(&p->in);
		if (rg.hi - rg.lo > 1) {
			size_t mid = rg.lo + (rg.hi - rg.lo) / 2;
			push_range(p, mid, rg.hi);
			push_range(p, rg.lo, mid);
			continue;
		}
		if ((r = property_rule_fails(p, p->cand_book[rg.lo])) != 0) {
			if (r < 0)
				return r;
			continue;
		}
		p->suspects = gf_xrealloc(p->suspects, (p->n_suspects + 1) * sizeof(*p->suspects));
		p->suspects[p->n_suspects++] = (struct gf_plan_suspect){
			.conn = p->cand_conn[rg.lo], .booking = p->cand_book[rg.lo],
			.reason = gf_xasprintf("the source view cannot give this booking: %s", p->err_reason) };
		/* Isolated for certain once the view has given other bookings. */
		if (p->rows_read > 0 && (r = reject_suspects(p)) < 0)
			return r;
	}
	return 0;
}

/* Whether the view gives some booking other than the isolated ones whole
 * (every column evaluated): evidence that the failing rows are bad alone,
 * when no eligible booking was read fine. */
static bool view_gives_others(struct gf_planner *p)
{
	_cleanup_buf_ struct gf_buf ids = GF_BUF_INIT(PARAM_MAX);
	int r = gf_buf_puts(&ids, "{");
	for (size_t i = 0; i < p->n_suspects && r == 0; i++)
		r = gf_db_array_add_int(&ids, p->suspects[i].booking, i == 0);
	if (r == 0)
		r = gf_buf_puts(&ids, "}");
	if (r < 0)
		return false;
	int err;
	_cleanup_pgresult_ PGresult *res = gf_db_query(p->stream, &err, "plan_view_probe",
		"SELECT row_to_json(s)::text FROM guestflow.source_bookings s"
		" WHERE s.booking_id IS NOT NULL AND s.booking_id <> ALL($1::bigint[]) LIMIT 10", 1,
		(const char *[]){ gf_buf_str(&ids) });
	return res && PQntuples(res) > 0;
}

/* No range left: the plan is read. */
static int careful_end(struct gf_planner *p)
{
	if (p->n_suspects > 0 && p->rows_read == 0 && !view_gives_others(p)) {
		gf_error("plan_failed", "bookings=%zu error=%s msg=%s", p->n_suspects, gf_log_q(p->err_reason),
		         gf_log_q("the source view raised an error for every booking it was asked for: it is broken as a"
		                  " whole, so nothing is rejected; fix guestflow.source_bookings"));
		return -GF_E_DB;
	}
	return reject_suspects(p);
}

/* Read until n batches and rows members are complete, or the stream ends.
 * Batches cut by their size count as full: what is held stays within n
 * batches of BATCH_DATA_MAX (plus the one filling), however large the rows. */
static int read_batches(struct gf_planner *p, size_t n, size_t rows)
{
	while (!p->done && (p->n_ready < n || (p->ready_rows < rows && p->ready_bytes < n * BATCH_DATA_MAX)) &&
	       p->n_ready < PLAN_SLICE_MAX) {
		int r;
		if (p->careful && !p->loaded) {
			if ((r = careful_load(p)) < 0)
				return r;
			if (r == 0) {
				if ((r = careful_end(p)) < 0)
					return r;
				finish_cur(p);
				p->done = true;
				close_stream(p);
				continue;
			}
		}
		r = parse_one(p);
		if (r < 0)
			return r;
		if (r == 1)
			continue;
		if (p->careful) {
			/* A range is read whole before it is parsed. */
			if (r == 0)
				return bad_stream("a range of the plan ended in the middle of a row");
			p->loaded = false;
			continue;
		}
		if (r == 0 && (r = fill(p)) > 0)
			continue;
		if (r == -GF_E_DATA) {
			if ((r = careful_begin(p)) < 0)
				return r;
			continue;
		}
		if (r < 0)
			return r;
		/* the trailer, or the end of the data */
		if (r == 0 && (p->in.len > p->in_pos || !p->header))
			return bad_stream("the plan's stream ended in the middle of a row");
		finish_cur(p);
		p->done = true;
		if (r == 2) {
			/* the end of the COPY itself */
			while ((r = fill(p)) > 0)
				;
			if (r < 0)
				return r;
		}
		close_stream(p);
	}
	return 0;
}

/* A slice as arrays: per batch (connection, property), per member (the
 * batch's place in the slice from 1, booking, booking number, planned
 * again). */
static int slice_arrays(struct gf_plan_batch *const *slice, size_t n, struct gf_buf *conns, struct gf_buf *props,
                        struct gf_buf *ks, struct gf_buf *bookings, struct gf_buf *nos, struct gf_buf *again,
                        struct gf_buf *emails)
{
	int r = gf_buf_puts(conns, "{");
	r = r ? r : gf_buf_puts(props, "{");
	r = r ? r : gf_buf_puts(ks, "{");
	r = r ? r : gf_buf_puts(bookings, "{");
	r = r ? r : gf_buf_puts(nos, "{");
	r = r ? r : gf_buf_puts(again, "{");
	r = r ? r : gf_buf_puts(emails, "{");
	bool first = true;
	for (size_t k = 0; k < n && r == 0; k++) {
		const struct gf_plan_batch *b = slice[k];
		r = gf_db_array_add_int(conns, b->connection_id, k == 0);
		r = r ? r : gf_db_array_add_text(props, b->property_id, k == 0);
		for (size_t i = 0; i < b->n && r == 0; i++) {
			r = gf_db_array_add_int(ks, (int64_t)k + 1, first);
			r = r ? r : gf_db_array_add_int(bookings, b->bookings[i], first);
			uint32_t no = b->off[i * GF_REC_FIELDS + GF_REC_NO];
			r = r ? r : gf_db_array_add_text(nos, no == UINT32_MAX ? NULL : b->buf.data + no, first);
			r = r ? r : gf_buf_puts(again, first ? (b->again[i] ? "t" : "f") : (b->again[i] ? ",t" : ",f"));
			uint32_t em = b->off[i * GF_REC_FIELDS + GF_REC_EMAIL];
			r = r ? r : gf_db_array_add_text(emails, em == UINT32_MAX ? NULL : b->buf.data + em, first);
			first = false;
		}
	}
	r = r ? r : gf_buf_puts(conns, "}");
	r = r ? r : gf_buf_puts(props, "}");
	r = r ? r : gf_buf_puts(ks, "}");
	r = r ? r : gf_buf_puts(bookings, "}");
	r = r ? r : gf_buf_puts(nos, "}");
	r = r ? r : gf_buf_puts(emails, "}");
	return r ? r : gf_buf_puts(again, "}");
}

/* A slice in one statement. Each member is inserted as a pending delivery
 * of its batch with ON CONFLICT DO NOTHING on the deliveries' key: a pair
 * planned meanwhile by another planner (or a rerun) is that one's, and is
 * left out; a delivery rejected for its data, whose booking has changed
 * since (again), is set pending in the batch, if it is still so rejected.
 * A member whose address went on the suppression list since the plan read
 * it (an unsubscribe pulled during the run) is not planned: as if the plan
 * had read it now ('guestflow pull' withdraws what it finds planned
 * already; explain names the rule). Each member keeps the hash of its
 * address (email_hash: the pull's bounce rule). A batch is then written with the
 * members this statement took, and not at all when it took none. Batch ids are drawn in the order the batches were
 * read. Rows: the batch's place in the slice, its id, its members. The
 * inserts go in key order, as every planner's do (no deadlock between two
 * of them). */
static const char SLICE_SQL[] =
	"WITH k AS MATERIALIZED ("
	"  SELECT b.k, b.connection_id, b.property_id, nextval('guestflow.batches_id_seq') AS batch_id"
	"    FROM unnest($3::bigint[], $4::text[]) WITH ORDINALITY AS b(connection_id, property_id, k)"
	"   ORDER BY b.k"
	"), m AS MATERIALIZED ("
	"  SELECT k.k, k.batch_id, k.connection_id, k.property_id, u.booking_id, u.booking_no, u.again,"
	"         guestflow.email_hash(u.email) AS email_hash"
	"    FROM unnest($5::int[], $6::bigint[], $7::text[], $8::bool[], $9::text[])"
	"         AS u(k, booking_id, booking_no, again, email)"
	"    JOIN k ON k.k = u.k"
	"   WHERE NOT EXISTS (SELECT 1 FROM guestflow.suppressions x WHERE x.email = guestflow.email_key(u.email))"
	"), ins AS ("
	"  INSERT INTO guestflow.deliveries (connection_id, booking_id, job, property_id, booking_no, batch_id,"
	"                                    planned_run_id, email_hash)"
	/* (a booking without a number in the source view is rejected for it
	 * when rendered; the column is NOT NULL) */
	"  SELECT connection_id, booking_id, $1, property_id, coalesce(booking_no, ''), batch_id, $2::bigint, email_hash"
	"    FROM m WHERE NOT again ORDER BY connection_id, booking_id"
	"  ON CONFLICT DO NOTHING RETURNING batch_id"
	"), re AS ("
	"  UPDATE guestflow.deliveries d SET state = 'pending', batch_id = m.batch_id, data_rejected = false,"
	"         reason = 'planned again: the booking changed after it was rejected for its data (' || coalesce(d.reason, 'rejected') || ')',"
	"         rerun = false, planned_run_id = $2::bigint, finished_run_id = NULL, finished_at = NULL,"
	"         email_hash = m.email_hash, updated_at = now()"
	"    FROM m WHERE m.again AND d.connection_id = m.connection_id AND d.booking_id = m.booking_id AND d.job = $1"
	"     AND d.state = 'rejected' AND d.data_rejected"
	"  RETURNING d.batch_id"
	"), n AS ("
	"  SELECT batch_id, count(*) AS records FROM (SELECT batch_id FROM ins UNION ALL SELECT batch_id FROM re) x"
	"   GROUP BY batch_id"
	"), b AS ("
	"  INSERT INTO guestflow.batches (id, job, connection_id, property_id, idempotency_key, records, created_run_id)"
	"  SELECT k.batch_id, $1, k.connection_id, k.property_id, gen_random_uuid()::text, n.records, $2::bigint"
	"    FROM n JOIN k ON k.batch_id = n.batch_id ORDER BY k.k"
	"  RETURNING id, records"
	") SELECT k.k, b.id, b.records FROM k JOIN b ON b.id = k.batch_id ORDER BY k.k";

/* The next slice: up to n ready batches written in one transaction. */
static int write_slice(struct gf_planner *p, size_t n, int margin, int64_t *written)
{
	struct gf_plan_batch **slice = gf_xcalloc(n, sizeof(*slice));
	size_t taken = 0;
	while (taken < n && p->ready) {
		struct gf_plan_batch *b = p->ready;
		p->ready = b->next;
		b->next = NULL;
		p->n_ready--;
		p->ready_rows -= b->n;
		p->ready_bytes -= b->buf.len;
		slice[taken++] = b;
	}
	if (!p->ready)
		p->ready_tail = &p->ready;
	_cleanup_buf_ struct gf_buf conns = GF_BUF_INIT(PARAM_MAX);
	_cleanup_buf_ struct gf_buf props = GF_BUF_INIT(PARAM_MAX);
	_cleanup_buf_ struct gf_buf ks = GF_BUF_INIT(PARAM_MAX);
	_cleanup_buf_ struct gf_buf bookings = GF_BUF_INIT(PARAM_MAX);
	_cleanup_buf_ struct gf_buf nos = GF_BUF_INIT(PARAM_MAX);
	_cleanup_buf_ struct gf_buf again = GF_BUF_INIT(PARAM_MAX);
	_cleanup_buf_ struct gf_buf emails = GF_BUF_INIT(PARAM_MAX);
	char run[32];
	snprintf(run, sizeof(run), "%lld", (long long)p->run_id);
	int err = slice_arrays(slice, taken, &conns, &props, &ks, &bookings, &nos, &again, &emails);
	PGresult *res = err < 0 ? NULL : gf_db_query_prepared(p->c, &err, "plan_step", SLICE_SQL, 9,
		(const char *[]){ p->job->name, run, gf_buf_str(&conns), gf_buf_str(&props), gf_buf_str(&ks),
		                  gf_buf_str(&bookings), gf_buf_str(&nos), gf_buf_str(&again), gf_buf_str(&emails) });
	if (!res) {
		for (size_t i = 0; i < taken; i++)
			batch_free(slice[i]);
		free(slice);
		return err < 0 ? err : -GF_E_DB;
	}
	/* Keep the rows of the batches written whole, for this run's claims. */
	int rows = PQntuples(res);
	int at = 0;
	for (size_t i = 0; i < taken; i++) {
		struct gf_plan_batch *b = slice[i];
		int64_t k = (int64_t)i + 1;
		while (at < rows && gf_db_get_int(res, at, 0) < k)
			at++;
		if (at < rows && gf_db_get_int(res, at, 0) == k) {
			int64_t records = gf_db_get_int(res, at, 2);
			b->id = gf_db_get_int(res, at, 1);
			p->upto = b->id > p->upto ? b->id : p->upto;
			p->res.planned += records;
			p->res.batches++;
			if ((size_t)records == b->n && !p->no_keep) {
				*p->kept_tail = b;
				p->kept_tail = &b->next;
				continue;
			}
		}
		batch_free(b); /* not written, or without a pair planned by another: read the long way */
	}
	if (margin > rows / 2)
		margin = rows / 2; /* a short slice: its second half */
	p->mark = rows == 0 ? p->upto : gf_db_get_int(res, rows > margin ? rows - margin - 1 : 0, 1);
	PQclear(res);
	free(slice);
	*written = (int64_t)taken;
	return 0;
}

int gf_plan_step(struct gf_planner *p, int min_batches, size_t min_rows, int margin, int64_t *written)
{
	*written = 0;
	if (!p->active)
		return 0;
	size_t want = min_batches > 0 ? (size_t)min_batches : 1;
	int r = read_batches(p, want, min_rows);
	if (r == 0 && p->n_ready > 0)
		r = write_slice(p, p->n_ready, margin, written);
	if (r < 0) {
		gf_plan_release(p);
		return r;
	}
	/* All written. */
	if (p->done && !p->ready)
		p->active = false;
	return 0;
}

void gf_plan_forget(struct gf_planner *p)
{
	list_free(p->kept);
	p->kept = NULL;
	p->kept_tail = &p->kept;
	p->no_keep = true;
}

struct gf_batch_rows *gf_plan_take(struct gf_planner *p, const struct gf_batch *b)
{
	if (!b->fresh)
		return NULL;
	/* Claims go in batch order: a batch kept before this one was taken by
	 * another process (or is of a connection skipped this run). */
	while (p->kept && p->kept->id < b->id) {
		struct gf_plan_batch *old = p->kept;
		p->kept = old->next;
		batch_free(old);
	}
	if (!p->kept)
		p->kept_tail = &p->kept;
	if (!p->kept || p->kept->id != b->id)
		return NULL;
	struct gf_plan_batch *k = p->kept;
	p->kept = k->next;
	if (!p->kept)
		p->kept_tail = &p->kept;
	if (k->n != (size_t)b->records || k->connection_id != b->connection_id || b->withdrawn) {
		/* cut by --limit, or a guest withdrew consent since the plan
		 * read the rows: read what is left, as it is now, the long way
		 * (which says why a member is not sent) */
		batch_free(k);
		return NULL;
	}
	struct gf_batch_rows *r = gf_xcalloc(1, sizeof(*r));
	r->n = k->n;
	r->recs = gf_xcalloc(k->n ? k->n : 1, sizeof(*r->recs));
	r->in_source = gf_xcalloc(k->n ? k->n : 1, sizeof(*r->in_source));
	r->data = gf_buf_steal(&k->buf);
	for (size_t i = 0; i < k->n; i++) {
		const uint32_t *off = k->off + i * GF_REC_FIELDS;
		const char *v[GF_REC_FIELDS];
		for (int f = 0; f < GF_REC_FIELDS; f++)
			v[f] = off[f] == UINT32_MAX ? NULL : r->data + off[f];
		r->recs[i] = gf_record_of(k->bookings[i], v);
		bool gone = false;
		for (size_t j = 0; j < b->n_gone && !gone; j++)
			gone = b->gone[j] == k->bookings[i];
		r->in_source[i] = !gone;
	}
	batch_free(k);
	return r;
}
