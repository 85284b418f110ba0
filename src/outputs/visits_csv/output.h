/* The visits-csv output (PARTNERS.md "visits-csv v1 over SFTP"): one CSV
 * file per batch, uploaded over SFTP with the job's account; connections
 * carry a hotel id only. */
#ifndef GF_OUTPUT_VISITS_CSV_H
#define GF_OUTPUT_VISITS_CSV_H

#include <stddef.h>

#include "base/buf.h"
#include "core/output.h"

extern const struct gf_output gf_output_visits_csv;

/* The file for recs (exposed for the unit tests and fuzz targets): UTF-8
 * without BOM, ';'-separated, CRLF, no header, one line per guest:
 * hotel id;booking no;last name;first name;email;gender;language;status;arrival;departure
 * A field holding ';', '"', CR or LF enclosed in '"' with '"' doubled; an
 * omitted (GF_OMIT_* bits) or unknown field empty. */
int gf_render_visits_csv(const char *hotel_id, const struct gf_record *recs, size_t n,
                         const char *default_language, unsigned omit, struct gf_buf *out, char **reasons,
                         size_t *n_rendered);

/* The file's name: <YYYYMMDD>_<hotel id>_<batch id>.csv (malloc'd). */
char *gf_visits_csv_name(const struct gf_output_target *t);

/* The lines of the error file name (<YYYYMMDD>_<hotel id>_<batch id>.csv
 * .errors.csv, as the pull found it), "booking no;reason" quoted as the
 * batch files are, CRLF or LF, appended to ev as rejected events of that
 * batch. 0, or -1 with why naming the file and line (nothing appended). */
int gf_visits_csv_parse_errors(const char *name, const char *data, size_t size, struct gf_events *ev, char *why,
                               size_t whylen);

#endif
