/* Writing JSON (never parsing it): string escaping and the few composite
 * values the mock's replies and logs are made of. */
#ifndef DALLE_MOCK_JSON_OUT_H
#define DALLE_MOCK_JSON_OUT_H

#include "util.h"

/* A quoted JSON string; bytes that are not valid UTF-8 become U+FFFD so the
 * output always parses, whatever a client sent. */
void json_string(mock_buf *out, const char *s, size_t len);
/* Like json_string for a C string; NULL is written as null. */
void json_cstring(mock_buf *out, const char *s);
/* The bytes in standard, padded base64, unquoted: what a JSON string carries
 * bytes as (OpenAI's b64_json). */
void base64_append(mock_buf *out, const void *data, size_t len);
/* {"name":"value",...} in list order. */
void json_pairs_object(mock_buf *out, const mock_pairs *pairs);

#endif
