/* What the mock has seen, for tests to inspect: the log of requests to the
 * service routes and the callbacks it received, both in arrival order. */
#ifndef DALLE_MOCK_RECORDS_H
#define DALLE_MOCK_RECORDS_H

#include "util.h"

/* Names one logged request; stays safe to use after a reset (it is ignored). */
typedef struct record_ref {
    unsigned long generation;
    size_t index;
} record_ref;

/* Logs a request on arrival, taking over `headers`. */
record_ref records_begin(const char *method, const char *path, mock_pairs *headers);
/* Adds the form fields and the status answered (0: none) to a logged request. */
void records_finish(record_ref ref, const mock_pairs *fields, unsigned status);

void records_add_callback(const char *content_type, const char *body, size_t body_len);

void records_requests_json(mock_buf *out);
void records_callbacks_json(mock_buf *out);
void records_clear(void);

#endif
