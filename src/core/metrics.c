/* After a run: the Prometheus textfile-collector file and health pings. */
#include "core/metrics.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "db/db.h"
#include "transport/http.h"
#include "base/log.h"

static void gauge(struct gf_buf *b, const char *name, const char *help, const char *job, double v)
{
	gf_buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s{job=\"%s\"} %.15g\n", name, help, name, name, job, v);
}

int gf_metrics_write(const char *dir, PGconn *c, const struct gf_job *job, const struct gf_run_stats *st,
                     int exit_code)
{
	struct gf_buf b = GF_BUF_INIT((size_t)1 << 20);
	double now = (double)gf_now_wall_ms() / 1000.0;
	gauge(&b, "guestflow_last_run_timestamp_seconds", "When the last run of the job ended.", job->name, now);
	gauge(&b, "guestflow_last_run_duration_seconds", "How long the last run took.", job->name,
	      (double)st->duration_ms / 1000.0);
	gauge(&b, "guestflow_last_run_exit_code", "Exit code of the last run (0 ok, 1 partial, 69, 75, 78).",
	      job->name, exit_code);
	gauge(&b, "guestflow_last_run_delivered", "Deliveries the last run delivered.", job->name, (double)st->delivered);
	gauge(&b, "guestflow_last_run_rejected", "Deliveries the last run saw rejected.", job->name, (double)st->rejected);
	gauge(&b, "guestflow_last_run_dead", "Deliveries that went dead in the last run.", job->name, (double)st->dead);
	if (c) {
		int err;
		_cleanup_pgresult_ PGresult *s = gf_db_query(c, &err, "metrics_success",
			"SELECT extract(epoch FROM max(finished_at)) FROM guestflow.runs WHERE job = $1 AND exit_code = 0",
			1, (const char *[]){ job->name });
		if (s && !PQgetisnull(s, 0, 0))
			gf_buf_printf(&b, "# HELP guestflow_last_success_timestamp_seconds When a run of the job last ended with exit 0.\n"
			              "# TYPE guestflow_last_success_timestamp_seconds gauge\n"
			              "guestflow_last_success_timestamp_seconds{job=\"%s\"} %s\n", job->name, PQgetvalue(s, 0, 0));
		_cleanup_pgresult_ PGresult *q = gf_db_query(c, &err, "metrics_states",
			"WITH d AS (SELECT state FROM guestflow.deliveries WHERE job = $1"
			") SELECT s.state, count(d.state) FROM unnest(ARRAY['pending', 'sending', 'delivered', 'rejected', 'dead']) s(state)"
			"  LEFT JOIN d ON d.state = s.state GROUP BY s.state ORDER BY 1",
			1, (const char *[]){ job->name });
		if (q) {
			gf_buf_puts(&b, "# HELP guestflow_deliveries Deliveries of the job by state.\n"
			                "# TYPE guestflow_deliveries gauge\n");
			for (int i = 0; i < PQntuples(q); i++)
				gf_buf_printf(&b, "guestflow_deliveries{job=\"%s\",state=\"%s\"} %s\n", job->name,
				              PQgetvalue(q, i, 0), PQgetvalue(q, i, 1));
		}
	}
	_cleanup_free_ char *path = gf_xasprintf("%s/guestflow_%s.prom", dir, job->name);
	int r = gf_replace_file(path, b.data, b.len, 0644); /* readable by the node exporter */
	if (r < 0)
		gf_error("metrics_failed", "path=%s error=%s", gf_log_q(path), gf_log_q(gf_strerror(r)));
	gf_buf_free(&b);
	return r;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

void gf_ping(const struct gf_job *job, const char *url, const char *what)
{
	if (!url)
		return;
	CURL *e = curl_easy_init();
	if (!e)
		return;
	/* The job's proxy, but the system's CAs: http.ca_file is the partner's. */
	if (gf_http_secure(e, gf_http_protocols(job), NULL, job->proxy, job->no_proxy) < 0) {
		gf_warn("ping_failed", "ping=%s error=%s", what, gf_log_q("libcurl refused the transport options"));
		curl_easy_cleanup(e);
		return;
	}
	if (strncmp(url, "http://", 7) == 0)
		gf_warn("insecure_http", "key=ping.%s msg=%s", what,
		        gf_log_q("plain http:// (allow_insecure_http: true): the ping travels unencrypted; "
		                 "meant only for tests on this machine"));
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "guestflow");
	CURLcode rc = curl_easy_perform(e);
	long status = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK || status >= 400)
		gf_warn("ping_failed", "ping=%s status=%ld error=%s", what, status,
		        gf_log_q(rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP error"));
	else
		gf_debug("ping", "ping=%s status=%ld", what, status);
	curl_easy_cleanup(e);
}
