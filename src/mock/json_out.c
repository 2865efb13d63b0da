/* Writing JSON (never parsing it): string escaping and the few composite
 * values the mock's replies and logs are made of. */
#include "json_out.h"

#include "../rules.h"

#include <string.h>

/* U+FFFD as UTF-8 rather than as an escape, so that writing what was read
 * back gives the same bytes. */
#define REPLACEMENT_CHARACTER "\xEF\xBF\xBD"
#define BASE64_GROUP_BYTES 3
#define BASE64_GROUP_CHARS 4

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Length of the UTF-8 sequence a lead byte announces, or 0 if it cannot lead. */
static size_t utf8_sequence_length(unsigned char lead)
{
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    if (lead >= 0xE0 && lead <= 0xEF) return 3;
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    return 0;
}

void json_string(mock_buf *out, const char *s, size_t len)
{
    size_t i = 0;
    buf_append(out, "\"", 1);
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char escaped[2] = {'\\', (char)c};
            buf_append(out, escaped, 2);
            i++;
        } else if (c < 0x20) {
            buf_printf(out, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            buf_append(out, &s[i], 1);
            i++;
        } else {
            size_t n = utf8_sequence_length(c);
            if (n && n <= len - i && dalle_utf8_length(&s[i], n) == 1) {
                buf_append(out, &s[i], n);
                i += n;
            } else {
                buf_puts(out, REPLACEMENT_CHARACTER);
                i++;
            }
        }
    }
    buf_append(out, "\"", 1);
}

void json_cstring(mock_buf *out, const char *s)
{
    if (s)
        json_string(out, s, strlen(s));
    else
        buf_puts(out, "null");
}

void base64_append(mock_buf *out, const void *data, size_t len)
{
    const unsigned char *in = data;
    for (size_t i = 0; i < len; i += BASE64_GROUP_BYTES) {
        size_t left = len - i;
        uint32_t group = (uint32_t)in[i] << 16;
        char chars[BASE64_GROUP_CHARS];
        if (left > 1) group |= (uint32_t)in[i + 1] << 8;
        if (left > 2) group |= in[i + 2];
        chars[0] = base64_alphabet[(group >> 18) & 0x3F];
        chars[1] = base64_alphabet[(group >> 12) & 0x3F];
        chars[2] = left > 1 ? base64_alphabet[(group >> 6) & 0x3F] : '=';
        chars[3] = left > 2 ? base64_alphabet[group & 0x3F] : '=';
        buf_append(out, chars, sizeof chars);
    }
}

void json_pairs_object(mock_buf *out, const mock_pairs *pairs)
{
    buf_puts(out, "{");
    for (size_t i = 0; i < pairs->count; i++) {
        if (i) buf_puts(out, ",");
        json_cstring(out, pairs->items[i].name);
        buf_puts(out, ":");
        json_string(out, pairs->items[i].value, pairs->items[i].value_len);
    }
    buf_puts(out, "}");
}
