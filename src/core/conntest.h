/* The connection test (PARTNERS.md, "test call"): one request of the
 * connection's output with its stored credentials, and one verdict. */
#ifndef GF_CONNTEST_H
#define GF_CONNTEST_H

#include <libpq-fe.h>
#include <stdint.h>

#include "core/config.h"
#include "core/output.h"

struct gf_conntest {
	enum gf_test_verdict verdict;
	long status;        /* the HTTP status; 0: none (no answer, or SFTP) */
	int64_t latency_ms; /* of the whole test */
	char why[600];      /* what was found: safe text, the secret redacted */
};

/* Run job's output's test call for t (the connection's id and secret) and
 * wait for its end (the job's connect and request timeouts bound it).
 * 0 and *out, or a negative error: nothing could be started. */
int gf_conntest_run(const struct gf_job *job, const struct gf_output_target *t, struct gf_conntest *out);

/* The engine's table for a transfer that failed (a CURLcode) when the
 * output has no word of its own: the name resolved, connected, the peer's
 * certificate or host key, a login. */
enum gf_test_verdict gf_conntest_transport_verdict(int curl_code);

/* The verdict's name as stored and shown: "ok", "credentials_refused",
 * "unknown_id", "peer_refused", "unreachable", "unexpected". */
const char *gf_conntest_name(enum gf_test_verdict v);
/* The exit code of 'connection test' for it (guestflow(1)). */
int gf_conntest_exit_code(enum gf_test_verdict v);

/* Record the result on the connection (last_test_*), if its secret is
 * still the one tested (tested_hex: its secret_enc as hex, NULL for none).
 * 0, -ENOENT when it is gone, -ESTALE when its secret was replaced while
 * the test ran (nothing recorded), or a database error. The auth_failed
 * alerts of the connection for the jobs in ok_jobs (those whose test
 * passed) clear with it. */
int gf_conntest_record(PGconn *c, int64_t connection_id, const char *tested_hex, const struct gf_conntest *res,
                       const char *const *ok_jobs, size_t n_ok);

#endif
