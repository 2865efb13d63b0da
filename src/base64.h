/* Inline images as a reply may carry them: `data:image/...;base64,` URLs and
 * the base64 inside (OpenAI's b64_json), decoded for saving. */
#ifndef DALLE_BASE64_H
#define DALLE_BASE64_H

#include <stddef.h>

/* The most bytes `len` characters of base64 can decode to. */
size_t dalle_base64_max_decoded(size_t len);

enum { DALLE_BASE64_OK = 0, DALLE_BASE64_BAD = -1, DALLE_BASE64_TOO_LARGE = -2 };

/* Decodes `in` into `out`, which has room for `out_cap` bytes. Accepts the
 * standard alphabet and the URL-safe one, '=' padding at the end or none,
 * and skips ASCII whitespace (line breaks). Returns DALLE_BASE64_OK with
 * `*out_len` set; DALLE_BASE64_BAD with what is wrong, and where, in
 * `problem`; DALLE_BASE64_TOO_LARGE when the bytes would pass `out_cap`. */
int dalle_base64_decode(const char *in, size_t len, unsigned char *out, size_t out_cap,
                        size_t *out_len, char *problem, size_t problem_size);

/* Finds the base64 payload of a `data:image/...;base64,` URL. Returns 0 with
 * `*payload` and `*payload_len` set, or -1 with the reason in `problem`. */
int dalle_data_url_payload(const char *url, size_t len, const char **payload, size_t *payload_len,
                           char *problem, size_t problem_size);

#endif
