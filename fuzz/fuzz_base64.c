/* Fuzzes the inline image reader: dalle_data_url_payload on the whole input, then
 * dalle_base64_decode on the payload (or the whole input) against a reference decoder, with
 * room for every byte and with too little. Both decoders must agree on the bytes. */
#include "base64.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PROBLEM_SIZE 256

static int reference_value(uint8_t c)
{
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *at;
    if (c == '-') return 62;
    if (c == '_') return 63;
    at = c ? strchr(alphabet, c) : NULL;
    return at ? (int)(at - alphabet) : -1;
}

/* Strips whitespace and trailing '=', then decodes whole groups and the tail; -1 when a
 * character is not base64, '=' is not at the end, or one character is left over. */
static long reference_decode(const uint8_t *in, size_t len, uint8_t *out)
{
    size_t symbols = 0, padding = 0, written = 0;
    uint32_t bits = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = in[i];
        int v;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') continue;
        if (c == '=') {
            padding++;
            continue;
        }
        if (padding) return -1;
        v = reference_value(c);
        if (v < 0) return -1;
        bits = bits << 6 | (uint32_t)v;
        symbols++;
        if (symbols % 4 == 0) {
            out[written++] = (uint8_t)(bits >> 16);
            out[written++] = (uint8_t)(bits >> 8);
            out[written++] = (uint8_t)bits;
            bits = 0;
        }
    }
    if (symbols == 0 || symbols % 4 == 1) return -1;
    if (padding && (padding > 2 || (symbols % 4 + padding) % 4 != 0)) return -1;
    if (symbols % 4 == 2) out[written++] = (uint8_t)(bits >> 4);
    if (symbols % 4 == 3) {
        out[written++] = (uint8_t)(bits >> 10);
        out[written++] = (uint8_t)(bits >> 2);
    }
    return (long)written;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *payload = (const char *)data;
    size_t payload_len = size, cap, got_len = 0, short_len = 0;
    char problem[PROBLEM_SIZE];
    uint8_t *got, *want;
    long want_len;
    int result;

    if (dalle_data_url_payload((const char *)data, size, &payload, &payload_len, problem,
                               sizeof problem) == 0) {
        if (payload < (const char *)data || payload + payload_len != (const char *)data + size)
            abort();
    } else {
        payload = (const char *)data;
        payload_len = size;
    }
    cap = dalle_base64_max_decoded(payload_len);
    got = malloc(cap);
    want = malloc(cap);
    if (!got || !want) abort();
    result = dalle_base64_decode(payload, payload_len, got, cap, &got_len, problem, sizeof problem);
    want_len = reference_decode((const uint8_t *)payload, payload_len, want);
    if (result == DALLE_BASE64_TOO_LARGE) abort();
    if ((result == DALLE_BASE64_OK) != (want_len >= 0)) abort();
    if (result == DALLE_BASE64_OK) {
        if ((size_t)want_len != got_len || got_len > cap) abort();
        if (memcmp(got, want, got_len) != 0) abort();
        /* One byte short of the room it needs: refused, never written past. */
        if (got_len > 0 && dalle_base64_decode(payload, payload_len, got, got_len - 1, &short_len,
                                               problem, sizeof problem) != DALLE_BASE64_TOO_LARGE)
            abort();
    } else if (memchr(problem, '\0', sizeof problem) == NULL) {
        abort();
    }
    free(got);
    free(want);
    return 0;
}
