/* Logging: one key=value line per event on stderr, journald-friendly. */
#ifndef GF_LOG_H
#define GF_LOG_H

#include <stdint.h>

#include "util.h"

enum gf_log_level { GF_LOG_ERROR, GF_LOG_WARN, GF_LOG_INFO, GF_LOG_DEBUG };

void gf_log_set_level(enum gf_log_level level);
enum gf_log_level gf_log_get_level(void);
/* "error", "warn", "info", "debug"; -EINVAL otherwise. */
int gf_log_parse_level(const char *s, enum gf_log_level *out);
/* Job and run id added to every line from now on (job NULL: none). */
void gf_log_set_context(const char *job, int64_t run_id);

/* Writes "level=L [run_id=R job=J] event=E <fields>"; fields is a printf
 * format producing key=value pairs. Values that may hold spaces or quotes go
 * through gf_log_q(). */
void gf_log(enum gf_log_level level, const char *event, const char *fields, ...) GF_PRINTF(3, 4);

/* Quote a value for a key=value line: returns s itself when it needs no
 * quoting, else a quoted, escaped copy kept in a small ring of thread-local
 * slots (valid for the next few calls only). Truncated at 512 bytes. */
const char *gf_log_q(const char *s);

#define gf_error(ev, ...) gf_log(GF_LOG_ERROR, ev, __VA_ARGS__)
#define gf_warn(ev, ...) gf_log(GF_LOG_WARN, ev, __VA_ARGS__)
#define gf_info(ev, ...) gf_log(GF_LOG_INFO, ev, __VA_ARGS__)
#define gf_debug(ev, ...) gf_log(GF_LOG_DEBUG, ev, __VA_ARGS__)

#endif
