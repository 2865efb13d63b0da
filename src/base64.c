/* Base64 and data: URLs for inline images (see base64.h). */
#include "base64.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define BAD_SYMBOL 0xFF
#define BITS_PER_SYMBOL 6
#define SYMBOLS_PER_GROUP 4
#define BYTES_PER_GROUP 3
/* How much of a data: URL's media type an error message shows. */
#define MEDIA_TYPE_SHOWN 40

static const char data_scheme[] = "data:";
static const char image_type[] = "image/";
static const char base64_marker[] = ";base64";

static unsigned char symbol_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return (unsigned char)(c - 'A');
    if (c >= 'a' && c <= 'z') return (unsigned char)(c - 'a' + 26);
    if (c >= '0' && c <= '9') return (unsigned char)(c - '0' + 52);
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return BAD_SYMBOL;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

size_t dalle_base64_max_decoded(size_t len)
{
    return len / SYMBOLS_PER_GROUP * BYTES_PER_GROUP + BYTES_PER_GROUP;
}

static int bad(char *problem, size_t size, const char *what, unsigned char c, size_t offset)
{
    if (c >= 0x21 && c < 0x7F)
        snprintf(problem, size, "%s '%c' at offset %zu", what, c, offset);
    else
        snprintf(problem, size, "%s (byte 0x%02X) at offset %zu", what, c, offset);
    return DALLE_BASE64_BAD;
}

int dalle_base64_decode(const char *in, size_t len, unsigned char *out, size_t out_cap,
                        size_t *out_len, char *problem, size_t problem_size)
{
    const unsigned char *s = (const unsigned char *)in;
    unsigned long bits = 0;
    size_t symbols = 0, padding = 0, written = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i], value;
        if (is_space(c)) continue;
        if (c == '=') {
            padding++;
            continue;
        }
        if (padding)
            return bad(problem, problem_size, "base64 data goes on after '=' padding with", c, i);
        value = symbol_value(c);
        if (value == BAD_SYMBOL) return bad(problem, problem_size, "not a base64 character:", c, i);
        bits = (bits << BITS_PER_SYMBOL) | value;
        if (++symbols % SYMBOLS_PER_GROUP == 0) {
            if (out_cap - written < BYTES_PER_GROUP) return DALLE_BASE64_TOO_LARGE;
            out[written++] = (unsigned char)(bits >> 16);
            out[written++] = (unsigned char)(bits >> 8);
            out[written++] = (unsigned char)bits;
            bits = 0;
        }
    }
    size_t left = symbols % SYMBOLS_PER_GROUP;
    if (symbols == 0) {
        snprintf(problem, problem_size, "the base64 data is empty");
        return DALLE_BASE64_BAD;
    }
    if (left == 1) {
        snprintf(problem, problem_size,
                 "the base64 data is cut short: %zu characters, one past a whole group of 4",
                 symbols);
        return DALLE_BASE64_BAD;
    }
    if (padding && (padding > 2 || (left + padding) % SYMBOLS_PER_GROUP != 0)) {
        snprintf(problem, problem_size, "the base64 data has %zu '=' where %zu would end it",
                 padding, left ? SYMBOLS_PER_GROUP - left : (size_t)0);
        return DALLE_BASE64_BAD;
    }
    if (left) {
        size_t extra = left - 1; /* 2 symbols give 1 byte, 3 give 2 */
        if (out_cap - written < extra) return DALLE_BASE64_TOO_LARGE;
        bits <<= BITS_PER_SYMBOL * (SYMBOLS_PER_GROUP - left);
        out[written++] = (unsigned char)(bits >> 16);
        if (extra == 2) out[written++] = (unsigned char)(bits >> 8);
    }
    *out_len = written;
    return DALLE_BASE64_OK;
}

int dalle_data_url_payload(const char *url, size_t len, const char **payload, size_t *payload_len,
                           char *problem, size_t problem_size)
{
    const size_t scheme_len = sizeof data_scheme - 1, marker_len = sizeof base64_marker - 1;
    const char *comma, *type = url + scheme_len;
    size_t type_len;
    if (len < scheme_len || strncasecmp(url, data_scheme, scheme_len) != 0) {
        snprintf(problem, problem_size, "not a data: URL");
        return -1;
    }
    comma = memchr(type, ',', len - scheme_len);
    if (!comma) {
        snprintf(problem, problem_size, "the data: URL has no ',' before its data");
        return -1;
    }
    type_len = (size_t)(comma - type);
    if (type_len < sizeof image_type - 1 ||
        strncasecmp(type, image_type, sizeof image_type - 1) != 0) {
        int shown = (int)(type_len < MEDIA_TYPE_SHOWN ? type_len : MEDIA_TYPE_SHOWN);
        snprintf(problem, problem_size, "the data: URL is not an image (media type '%.*s')", shown,
                 type);
        return -1;
    }
    if (type_len < marker_len || strncasecmp(comma - marker_len, base64_marker, marker_len) != 0) {
        snprintf(problem, problem_size, "the data: URL is not base64 (no ';base64' before ',')");
        return -1;
    }
    *payload = comma + 1;
    *payload_len = len - (size_t)(comma + 1 - url);
    return 0;
}
