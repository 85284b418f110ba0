/* Connections: one property's link to one partner, with credentials and a
 * lifecycle status (setup, live, stopped, deactivated). */
#ifndef GF_CONNECTION_H
#define GF_CONNECTION_H

#include <libpq-fe.h>
#include <stdio.h>

/* Create a connection in status 'setup' (registering the partner if new).
 * -EEXIST when the property already has a connection to that partner. */
int gf_connection_add(PGconn *c, const char *property, const char *partner,
                      const char *hotel_id, const char *access_key);

/* Move a connection to a new status, recording the change in
 * guestflow.connection_events. -ENOENT when there is no such connection,
 * -EPERM when the transition is not allowed (a deactivated connection can
 * only be activated again; the same status is a no-op). */
int gf_connection_set_status(PGconn *c, const char *property, const char *partner,
                             const char *status, const char *note);

/* Print the connections as a table (never the access key). */
int gf_connection_list(PGconn *c, FILE *out);
/* Print one connection and its recent events; -ENOENT when missing. */
int gf_connection_show(PGconn *c, const char *property, const char *partner, FILE *out);

#endif
