/* Fuzzes the callback token reader and the registry behind it: the input is a path (or URL, or
 * bare token) sent to the receiver or to deliver_callback. The token found must be the path's
 * last segment, of token characters only; a path naming a live token (one of ours, spliced
 * in when the input asks) must file its body, and forgetting must leave nothing behind. */
#include "callbacks.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LIVE_TOKENS 4

static int is_token_char(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* The token as a reference reads it: cut at '?' or '#', one trailing '/' dropped, then what
 * follows the last '/'. */
static const char *reference_token(const char *path, size_t len)
{
    const char *cut = path, *end, *start;
    while ((size_t)(cut - path) < len && *cut != '?' && *cut != '#')
        cut++;
    end = cut;
    if (end > path && end[-1] == '/') end--;
    start = end;
    while (start > path && start[-1] != '/')
        start--;
    if (end - start != DALLE_TOKEN_LEN) return NULL;
    for (const char *p = start; p < end; p++)
        if (!is_token_char((uint8_t)*p)) return NULL;
    return start;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dalle_callbacks cb;
    char tokens[LIVE_TOKENS][DALLE_TOKEN_LEN + 1];
    char *path;
    const char *found;
    dalle_callback *arrival;
    size_t len = size;

    dalle_callbacks_init(&cb);
    for (int i = 0; i < LIVE_TOKENS; i++)
        if (dalle_callbacks_expect(&cb, 100 + i, tokens[i]) != 0) {
            dalle_callbacks_free(&cb);
            return 0;
        }
    /* A first byte below LIVE_TOKENS puts that live token after the rest of the input. */
    path = malloc(size + DALLE_TOKEN_LEN + 1);
    if (!path) abort();
    if (size > 0 && data[0] < LIVE_TOKENS) {
        memcpy(path, data + 1, size - 1);
        memcpy(path + size - 1, tokens[data[0]], DALLE_TOKEN_LEN);
        len = size - 1 + DALLE_TOKEN_LEN;
    } else if (size > 0) {
        memcpy(path, data, size);
    }

    found = dalle_callbacks_token_of(path, len);
    assert(found == reference_token(path, len));
    if (found && dalle_callbacks_arrive(&cb, found, path, len) == 0) {
        arrival = dalle_callbacks_next(&cb);
        assert(arrival && memcmp(arrival->token, found, DALLE_TOKEN_LEN) == 0);
        assert(arrival->body_len == len && memcmp(arrival->body, path, len) == 0);
        /* A duplicate replaces the body and stays one arrival. */
        assert(dalle_callbacks_arrive(&cb, found, "{}", 2) == 0);
        assert(dalle_callbacks_next(&cb) == arrival && arrival->body_len == 2);
        if (len % 2) {
            dalle_callbacks_taken(&cb, arrival);
            assert(dalle_callbacks_next(&cb) == NULL);
        }
    }
    for (int i = 0; i < LIVE_TOKENS; i += 2)
        dalle_callbacks_forget(&cb, 100 + i);
    assert(cb.count == LIVE_TOKENS / 2);
    for (int i = 0; i < LIVE_TOKENS; i++)
        assert(dalle_callbacks_known(&cb, tokens[i]) == (i % 2));
    if (found && !dalle_callbacks_known(&cb, found))
        assert(dalle_callbacks_arrive(&cb, found, "", 0) == -1);
    dalle_callbacks_free(&cb);
    free(path);
    return 0;
}
