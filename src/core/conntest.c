/* The connection test: the output's test call on the shared transport,
 * its verdict by the output's table, then the engine's for the transport. */
#include "core/conntest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "base/log.h"
#include "base/util.h"
#include "db/db.h"
#include "transport/http.h"

static const char *const names[] = {
	[GF_TEST_OK] = "ok",
	[GF_TEST_CREDENTIALS] = "credentials_refused",
	[GF_TEST_UNKNOWN_ID] = "unknown_id",
	[GF_TEST_PEER_REFUSED] = "peer_refused",
	[GF_TEST_UNREACHABLE] = "unreachable",
	[GF_TEST_UNEXPECTED] = "unexpected",
};

const char *gf_conntest_name(enum gf_test_verdict v)
{
	return (size_t)v < GF_ARRAY_SIZE(names) ? names[v] : "unexpected";
}

int gf_conntest_exit_code(enum gf_test_verdict v)
{
	switch (v) {
	case GF_TEST_OK:
		return 0;
	case GF_TEST_CREDENTIALS:
		return 77; /* EX_NOPERM */
	case GF_TEST_UNKNOWN_ID:
		return 67; /* EX_NOUSER: the addressee is unknown */
	case GF_TEST_PEER_REFUSED:
		return 79; /* guestflow's own */
	case GF_TEST_UNREACHABLE:
		return GF_EXIT_UNAVAILABLE;
	case GF_TEST_UNEXPECTED:
	default:
		return 76; /* EX_PROTOCOL */
	}
}

enum gf_test_verdict gf_conntest_transport_verdict(int code)
{
	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_SSH: /* the SSH session failed: closed or reset before or during the login */
		return GF_TEST_UNREACHABLE;
	case CURLE_PEER_FAILED_VERIFICATION:
		return GF_TEST_PEER_REFUSED;
	case CURLE_LOGIN_DENIED:
		return GF_TEST_CREDENTIALS;
	default:
		return GF_TEST_UNEXPECTED;
	}
}

int gf_conntest_run(const struct gf_job *job, const struct gf_output_target *t, struct gf_conntest *out)
{
	const struct gf_output *o = job->output;
	*out = (struct gf_conntest){ .verdict = GF_TEST_UNEXPECTED };
	struct gf_http *h = gf_http_new(job);
	struct gf_http_req *req = gf_http_req_new();
	if (!h || !req) {
		gf_http_req_free(req);
		gf_http_free(h);
		return -ENOMEM;
	}
	int64_t t0 = gf_now_mono_ms();
	int r = o->test(h, req, job, t);
	if (r == 0)
		r = gf_http_wait(h, req);
	if (r == 0) {
		struct gf_http_req *done = req;
		out->latency_ms = gf_now_mono_ms() - t0;
		out->status = done->status;
		int v = o->test_verdict(done, t, out->why, sizeof(out->why));
		if (v < 0) {
			v = (int)gf_conntest_transport_verdict(done->result);
			gf_http_error_text(done, out->why, sizeof(out->why));
		}
		out->verdict = (enum gf_test_verdict)v;
	}
	gf_http_free(h);
	gf_http_req_free(req);
	return r;
}

int gf_conntest_record(PGconn *c, int64_t connection_id, const char *tested_hex, const struct gf_conntest *res,
                       const char *const *ok_jobs, size_t n_ok)
{
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)connection_id);
	_cleanup_buf_ struct gf_buf jobs = GF_BUF_INIT(SIZE_MAX);
	int err = gf_db_text_array(&jobs, ok_jobs, n_ok);
	if (err < 0)
		return err;
	const char *p[] = { id, gf_conntest_name(res->verdict), res->why, tested_hex, gf_buf_str(&jobs) };
	/* (a verdict on a secret 'set-credentials' replaced meanwhile would
	 * open the go-live gate for one never tested) */
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "conntest_record",
		"WITH u AS (UPDATE guestflow.connections SET last_test_at = now(), last_test_verdict = $2,"
		"           last_test_detail = nullif($3, '')"
		"           WHERE id = $1::bigint AND secret_enc IS NOT DISTINCT FROM decode($4, 'hex') RETURNING id),"
		/* the credentials work again: a held auth_failed alert of any job
		 * of the connection clears (issue 17 item 9) */
		" a AS (UPDATE guestflow.alert_events SET cleared_at = now()"
		"        WHERE connection_id = $1::bigint AND kind = 'auth_failed' AND cleared_at IS NULL"
		"          AND job = ANY($5::text[]) AND EXISTS (SELECT 1 FROM u) RETURNING id)"
		" SELECT EXISTS (SELECT 1 FROM guestflow.connections WHERE id = $1::bigint), EXISTS (SELECT 1 FROM u),"
		"        (SELECT string_agg(id::text, ',') FROM a)",
		5, p);
	if (!r)
		return err;
	if (!PQgetisnull(r, 0, 2))
		gf_info("alert_cleared", "alert=%s kind=auth_failed connection=%s reason=%s", PQgetvalue(r, 0, 2), id,
		        gf_log_q("the connection test passed"));
	return PQgetvalue(r, 0, 0)[0] != 't' ? -ENOENT : PQgetvalue(r, 0, 1)[0] != 't' ? -ESTALE : 0;
}
