/* The registry of partner outputs: a job's `format:` names one of these. */
#include <stdio.h>
#include <string.h>

#include "core/output.h"
#include "outputs/guest_json/output.h"
#include "outputs/review_xml/output.h"
#include "outputs/visits_csv/output.h"

static const struct gf_output *const outputs[] = {
	&gf_output_review_xml,
	&gf_output_guest_json,
	&gf_output_visits_csv,
};

#define N_OUTPUTS (sizeof(outputs) / sizeof(outputs[0]))

const struct gf_output *gf_output_find(const char *name)
{
	for (size_t i = 0; name && i < N_OUTPUTS; i++)
		if (strcmp(outputs[i]->name, name) == 0)
			return outputs[i];
	return NULL;
}

const char *gf_output_names(void)
{
	static char names[256];
	size_t at = 0;
	names[0] = '\0';
	for (size_t i = 0; i < N_OUTPUTS; i++) {
		int k = snprintf(names + at, sizeof(names) - at, "%s%s", i ? ", " : "", outputs[i]->name);
		if (k < 0 || (size_t)k >= sizeof(names) - at)
			break;
		at += (size_t)k;
	}
	return names;
}
