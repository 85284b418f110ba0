/* The partners' status maps (seed 004): what a PMS status is called for a
 * partner. The reference statuses (GF_SQL_REFERENCE_STATUSES) go out as
 * they are unless mapped; any other status is sent to a partner only once
 * mapped for it (the eligibility rule "status known to the partner"). */
#ifndef GF_STATUS_MAP_H
#define GF_STATUS_MAP_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>

/* Map pms_status to partner_status for partner (replacing its mapping);
 * *changed tells whether anything changed. */
int gf_status_map_set(PGconn *c, const char *partner, const char *pms_status, const char *partner_status,
                      bool *changed);
/* -ENOENT when pms_status is not mapped for partner. */
int gf_status_map_remove(PGconn *c, const char *partner, const char *pms_status);
/* Every partner in partners (n of them), and unless only every partner with a mapping:
 * the reference statuses and the mapped ones, what each is sent as. */
int gf_status_map_list(PGconn *c, const char *const *partners, size_t n, FILE *out, bool only);

#endif
