/* Sending batches as files over SFTP (libcurl's sftp://, on the shared
 * multi handle of http.h): the job's account, its known_hosts file always
 * enforced, upload to a hidden .part name and rename, and a file already
 * there with the same size taken as delivered (a resend after a crash). */
#ifndef GF_SFTP_H
#define GF_SFTP_H

#include "transport/http.h"

/* Start putting req->body as the file name (not encoded, one path
 * segment) in the job's endpoint directory (sftp://host[:port]/dir/):
 * first a look at name, then, when it is not there, an upload to
 * .name.part renamed to name. The request ends with CURLE_OK when the
 * file is there (req->resp says when it was found already: with the same
 * size, or with any size when an earlier attempt may have put it there,
 * maybe_sent: the batch's name is its own, and it is re-rendered from the
 * guests' data as it is now); CURLE_REMOTE_FILE_EXISTS when another file
 * of that name is (not overwritten); CURLE_PEER_FAILED_VERIFICATION when the server's host key
 * is not the known_hosts file's (detail: unknown or changed);
 * CURLE_LOGIN_DENIED; or another transport error. 0, or a negative error
 * (the job's password file unreadable: -errno, logged). */
int gf_sftp_put(struct gf_http *h, struct gf_http_req *req, const char *name, bool maybe_sent);

/* Start the test call of the job's account (PARTNERS.md, visits-csv "test
 * call"): log in, list the endpoint's directory, upload
 * .guestflow-probe-<random> (req->body is set to its content) and remove
 * it. Ends CURLE_OK when all of it worked, else with the transport's
 * error as for gf_sftp_put() (CURLE_REMOTE_FILE_NOT_FOUND: no such
 * directory; CURLE_QUOTE_ERROR: the probe could not be removed). */
int gf_sftp_probe(struct gf_http *h, struct gf_http_req *req);

/* Start the event pull of visits-csv (PARTNERS.md): list the endpoint's
 * errors/ directory and read every file of hotel_id's batches
 * (<YYYYMMDD>_<hotel id>_<batch id>.csv.errors.csv). Ends CURLE_OK when
 * all were read (no errors/ directory: none), else the transport's error;
 * gf_sftp_pulled() gives the files read. */
int gf_sftp_pull_errors(struct gf_http *h, struct gf_http_req *req, const char *hotel_id);
/* The files a finished pull read: their names and contents; how many. */
size_t gf_sftp_pulled(const struct gf_http_req *req, const char *const **names, const struct gf_buf **bodies);
/* The files the pull could not read and why (a file too large, a dangling
 * link), or NULL: skipped, left where they are. */
const char *gf_sftp_pull_skipped(const struct gf_http_req *req);
/* Start moving the named error files into errors/done/ (made when it is
 * not there). A file that cannot be moved stays where it is. */
int gf_sftp_retire_errors(struct gf_http *h, struct gf_http_req *req, const char *const *names, size_t n);

/* The URL of name in the job's endpoint directory, name percent-encoded. */
char *gf_sftp_url(const char *endpoint, const char *name);

/* The job's SFTP password from its password_file: the file's first line.
 * 0 and *out (to wipe and free), or a negative error with err set. */
int gf_sftp_password(const struct gf_job *job, char **out, char *err, size_t errlen);

#endif
