/* Connections: one property's link to one partner, with credentials and a
 * lifecycle status (setup, live, stopped, deactivated). */
#ifndef GF_CONNECTION_H
#define GF_CONNECTION_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

#include "base/buf.h"

/* 0 when a partner's id for a property (review-xml's hotel id, guest-json's
 * property id) can be carried by every output (review-xml's hotelId
 * attribute, XSD type nonEmpty, and the id= query parameter; guest-json's
 * URL path; each output checks its own rule besides) and shown safely: valid
 * UTF-8, no control characters (C0, DEL, C1), no non-characters U+FFFE/U+FFFF
 * (not XML characters), no bidi controls (U+061C, U+200E, U+200F,
 * U+202A..U+202E, U+2066..U+2069: they make a terminal or mail reader show
 * text reordered), at least one character other than a space. No length
 * limit: the format states none. Else -EINVAL with why naming the rule
 * broken, without quoting the id. */
int gf_connection_check_id_at_partner(const char *id, char *why, size_t whylen);
/* The same rule for what an operator records on a connection (consent's
 * --by and --terms-version, activate's --reason). */
int gf_connection_check_text(const char *s, char *why, size_t whylen);
/* The same rule for a property id, which guestflow shows in its output,
 * logs and alert mails. */
int gf_connection_check_property(const char *id, char *why, size_t whylen);

/* The partner is told (issue 17 item 5): the event of each change below
 * (requested = added, activated, deactivated, stopped) is a notice to the
 * partner (partner_notice), addressed in the same statement to the
 * connection's own partner_email, else to notice_to (the partner's address
 * in the main config, gf_config_partner_email(); NULL: none, the partner
 * is not told and 'connection show' says so). gf_notify_partners() mails
 * it. An event that changes no status is no notice. */

/* Create a connection in status 'setup' (registering the partner if new),
 * its secret (NULL: its output's connections hold none) stored encrypted
 * (gf_secret_open() first), its own partner_email (NULL: none; checked
 * with gf_check_email() first). -EEXIST when
 * the property already has a connection to that partner. */
int gf_connection_add(PGconn *c, const char *property, const char *partner,
                      const char *id_at_partner, const char *secret, const char *partner_email,
                      const char *notice_to);

/* Set (email, checked with gf_check_email() first) or clear (NULL) the
 * address where the partner hears of this connection's changes, recorded
 * in its events. *same when it was that already (nothing recorded). The
 * changes the partner was not told of yet (none sent, or refused, or with
 * no address then) go to the new address (email, else notice_to: the main
 * file's for the partner), from scratch; *repointed counts them.
 * -ENOENT when there is no such connection. */
int gf_connection_set_partner_email(PGconn *c, const char *property, const char *partner, const char *email,
                                    const char *notice_to, bool *same, int *repointed);

/* Replace a connection's secret (stored encrypted; gf_secret_open()
 * first), recorded in guestflow.connection_events without it; what names
 * it there ("access key"). The last connection test is forgotten: it
 * tested the secret replaced.
 * -ENOENT when there is no such connection. */
int gf_connection_set_secret(PGconn *c, const char *property, const char *partner, const char *secret,
                             const char *what);

/* The jobs (jobs[n_jobs]: those that send to the connection's partner) of
 * the calls below hear of a connection stopped or deactivated through an
 * alert (connection_stopped, connection_deactivated: mailed to the alert
 * and technical contacts after the job's next run), raised in the same
 * transaction; going live clears them. */

/* Move a connection to a new status, recording the change in
 * guestflow.connection_events. -ENOENT when there is no such connection,
 * -EPERM when the transition is not allowed (a deactivated connection can
 * only be activated again; the same status is a no-op). */
int gf_connection_set_status(PGconn *c, const char *property, const char *partner,
                             const char *status, const char *note, const char *const *jobs, size_t n_jobs,
                             const char *notice_to);

/* Record that `by` accepted the partner's terms `version` for a connection
 * (seeds 000, 001), replacing the consent in force, if any, in one
 * transaction; the same terms accepted again change nothing (*already set).
 * -ENOENT when there is no such connection. */
int gf_connection_consent(PGconn *c, const char *property, const char *partner, const char *by,
                          const char *version, bool *already);
/* Withdraw the consent in force (by `by`) and deactivate the connection, in
 * one transaction, both in its events; also when no consent was recorded
 * (returns 1 then: the connection is deactivated all the same). A
 * deactivated connection stays so. -ENOENT when there is no such
 * connection. */
int gf_connection_consent_withdraw(PGconn *c, const char *property, const char *partner, const char *by,
                                   const char *const *jobs, size_t n_jobs, const char *notice_to);

/* Make a connection live through the go-live gate: consent in force, an
 * alert and a technical contact covering it (its own, one of the jobs in
 * jobs[n_jobs] that send to its partner, or all), and a connection test
 * that succeeded in the last 24 hours. -EACCES with every missing item, one
 * per line, in missing, unless force_reason (non-empty) is given, which is
 * recorded with them in the connection's events. Live already: 1, nothing
 * changed or recorded. -ENOENT when there is no such connection. */
int gf_connection_activate(PGconn *c, const char *property, const char *partner, const char *const *jobs,
                           size_t n_jobs, const char *force_reason, const char *notice_to, struct gf_buf *missing);

struct gf_job;
/* At the start of a run (issue 17 item 6, seeds 001, 004): each live
 * connection of the job's partner whose property guestflow.source_properties
 * says may not be exported is stopped; one whose property is gone from the
 * view is deactivated when the job says on_removed: deactivate, else kept
 * (logged each run; its guests are not eligible all the same, plan.h).
 * Each change in one transaction with its event and the
 * connection_stopped / connection_deactivated alert of each of the jobs
 * (jobs[n_jobs]: those of the partner). *changed counts the connections
 * moved. Made again while a run sends (again: a kept connection is not
 * logged again), waiting for a lock no longer than lock_timeout_ms (0: the
 * session's setting). */
int gf_connection_autostop(PGconn *c, const struct gf_job *job, const char *const *jobs, size_t n_jobs,
                           const char *notice_to, int64_t lock_timeout_ms, bool again, int *changed);

/* Print the connections as a table (never a secret), or with doc add them
 * to doc ("connections") instead. */
int gf_connection_list(PGconn *c, json_t *doc, FILE *out);
/* Print one connection and its recent events, or with doc add it to doc
 * ("connection"); -ENOENT when missing. */
/* id_label, secret_label: as the partner's format names them ("hotel id",
 * "access key"; secret_label NULL: its connections hold none). */
int gf_connection_show(PGconn *c, const char *property, const char *partner, const char *id_label,
                       const char *secret_label, json_t *doc, FILE *out);

#endif
