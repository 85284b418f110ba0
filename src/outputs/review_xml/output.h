/* The review-xml output (DESIGN.md section 4; PARTNERS.md "review-xml v1"). */
#ifndef GF_OUTPUT_REVIEW_XML_H
#define GF_OUTPUT_REVIEW_XML_H

#include "core/output.h"

extern const struct gf_output gf_output_review_xml;

#endif
