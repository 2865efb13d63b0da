/* Helpers every part of dalle-mock uses: allocation that never returns NULL,
 * a growable byte buffer, name/value lists, the clock, logging and sleeps. */
#include "util.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FNV_OFFSET_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

#define BUF_MIN_CAP 64
#define PAIRS_MIN_CAP 8

static atomic_int stop_requested;
static atomic_int quiet_logging;

_Noreturn void mock_out_of_memory(void)
{
    fputs("dalle-mock: out of memory\n", stderr);
    abort();
}

void *mock_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) mock_out_of_memory();
    return p;
}

void *mock_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p) mock_out_of_memory();
    return p;
}

char *mock_strndup(const char *s, size_t len)
{
    char *copy = mock_calloc(len + 1, 1);
    if (len) memcpy(copy, s, len);
    return copy;
}

char *mock_strdup(const char *s)
{
    return mock_strndup(s, strlen(s));
}

static void buf_reserve(mock_buf *buf, size_t extra)
{
    size_t needed = buf->len + extra + 1;
    size_t cap = buf->cap ? buf->cap : BUF_MIN_CAP;
    if (needed <= buf->cap) return;
    while (cap < needed)
        cap *= 2;
    buf->data = mock_realloc(buf->data, cap);
    buf->cap = cap;
}

void buf_append(mock_buf *buf, const void *data, size_t len)
{
    buf_reserve(buf, len);
    if (len) memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

void buf_puts(mock_buf *buf, const char *s)
{
    buf_append(buf, s, strlen(s));
}

void buf_printf(mock_buf *buf, const char *format, ...)
{
    va_list args;
    int needed;
    va_start(args, format);
    needed = vsnprintf(NULL, 0, format, args);
    va_end(args);
    if (needed < 0) return;
    buf_reserve(buf, (size_t)needed);
    va_start(args, format);
    vsnprintf(buf->data + buf->len, (size_t)needed + 1, format, args);
    va_end(args);
    buf->len += (size_t)needed;
}

void buf_repeat(mock_buf *buf, char c, size_t count)
{
    buf_reserve(buf, count);
    memset(buf->data + buf->len, c, count);
    buf->len += count;
    buf->data[buf->len] = '\0';
}

char *buf_take(mock_buf *buf, size_t *len)
{
    char *data;
    buf_reserve(buf, 0);
    data = buf->data;
    if (len) *len = buf->len;
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
    return data;
}

void buf_free(mock_buf *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

mock_pair *pairs_add(mock_pairs *pairs, const char *name, const char *value, size_t value_len)
{
    mock_pair *pair;
    if (pairs->count == pairs->cap) {
        pairs->cap = pairs->cap ? pairs->cap * 2 : PAIRS_MIN_CAP;
        pairs->items = mock_realloc(pairs->items, pairs->cap * sizeof *pairs->items);
    }
    pair = &pairs->items[pairs->count++];
    pair->name = mock_strdup(name);
    pair->value = mock_strndup(value, value_len);
    pair->value_len = value_len;
    return pair;
}

void pair_append(mock_pair *pair, const char *data, size_t len)
{
    if (!len) return;
    pair->value = mock_realloc(pair->value, pair->value_len + len + 1);
    memcpy(pair->value + pair->value_len, data, len);
    pair->value_len += len;
    pair->value[pair->value_len] = '\0';
}

mock_pair *pairs_find(const mock_pairs *pairs, const char *name)
{
    for (size_t i = 0; i < pairs->count; i++)
        if (strcmp(pairs->items[i].name, name) == 0) return &pairs->items[i];
    return NULL;
}

void pairs_copy(mock_pairs *dst, const mock_pairs *src)
{
    for (size_t i = 0; i < src->count; i++)
        pairs_add(dst, src->items[i].name, src->items[i].value, src->items[i].value_len);
}

void pairs_free(mock_pairs *pairs)
{
    for (size_t i = 0; i < pairs->count; i++) {
        free(pairs->items[i].name);
        free(pairs->items[i].value);
    }
    free(pairs->items);
    pairs->items = NULL;
    pairs->count = 0;
    pairs->cap = 0;
}

uint64_t mock_hash(const void *data, size_t len)
{
    const unsigned char *bytes = data;
    uint64_t hash = FNV_OFFSET_BASIS;
    for (size_t k = 0; k < len; k++) {
        hash ^= bytes[k];
        hash *= FNV_PRIME;
    }
    return hash;
}

double mock_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

uint64_t mock_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

int mock_parse_ulong(const char *text, unsigned long max, unsigned long *out)
{
    unsigned long value = 0;
    if (!text || !*text) return -1;
    for (const char *p = text; *p; p++) {
        unsigned long digit;
        if (*p < '0' || *p > '9') return -1;
        digit = (unsigned long)(*p - '0');
        /* digit > max first: below 9, max - digit would wrap around. */
        if (digit > max || value > (max - digit) / 10) return -1;
        value = value * 10 + digit;
    }
    *out = value;
    return 0;
}

void mock_set_quiet(int quiet)
{
    atomic_store(&quiet_logging, quiet);
}

void mock_log(const char *format, ...)
{
    char line[1024];
    va_list args;
    if (atomic_load(&quiet_logging)) return;
    va_start(args, format);
    vsnprintf(line, sizeof line, format, args);
    va_end(args);
    /* One fprintf per line keeps lines from concurrent requests whole. */
    fprintf(stderr, "dalle-mock: %s\n", line);
}

void mock_request_stop(void)
{
    atomic_store(&stop_requested, 1);
}

int mock_stopping(void)
{
    return atomic_load(&stop_requested);
}

int mock_sleep_ms(unsigned long ms)
{
    uint64_t end = mock_now_ms() + ms;
    for (;;) {
        uint64_t now = mock_now_ms();
        uint64_t step;
        struct timespec pause;
        if (mock_stopping()) return -1;
        if (now >= end) return 0;
        step = end - now < MOCK_SLEEP_STEP_MS ? end - now : MOCK_SLEEP_STEP_MS;
        pause.tv_sec = 0;
        pause.tv_nsec = (long)step * 1000000L;
        nanosleep(&pause, NULL);
    }
}
