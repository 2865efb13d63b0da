/* Helpers every part of dalle-mock uses: allocation that never returns NULL,
 * a growable byte buffer, name/value lists, the clock, logging and sleeps. */
#ifndef DALLE_MOCK_UTIL_H
#define DALLE_MOCK_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Longest a sleep goes without looking at the stop flag, so shutdown is prompt. */
#define MOCK_SLEEP_STEP_MS 10

/* Ends the process: a test double that ran out of memory cannot answer
 * truthfully any more. For libraries (zlib) that report it themselves. */
_Noreturn void mock_out_of_memory(void);
void *mock_calloc(size_t count, size_t size);
void *mock_realloc(void *ptr, size_t size);
char *mock_strndup(const char *s, size_t len);
char *mock_strdup(const char *s);

/* Bytes that grow as they are appended; `data` stays NUL-terminated. */
typedef struct mock_buf {
    char *data;
    size_t len;
    size_t cap;
} mock_buf;

void buf_append(mock_buf *buf, const void *data, size_t len);
void buf_puts(mock_buf *buf, const char *s);
void buf_printf(mock_buf *buf, const char *format, ...) __attribute__((format(printf, 2, 3)));
void buf_repeat(mock_buf *buf, char c, size_t count);
/* Hands the bytes to the caller (never NULL, free() them) and empties `buf`. */
char *buf_take(mock_buf *buf, size_t *len);
void buf_free(mock_buf *buf);

/* Name/value lists in arrival order: request headers and form fields. */
typedef struct mock_pair {
    char *name;
    char *value; /* NUL-terminated, but may also hold NUL bytes */
    size_t value_len;
} mock_pair;

typedef struct mock_pairs {
    mock_pair *items;
    size_t count;
    size_t cap;
} mock_pairs;

mock_pair *pairs_add(mock_pairs *pairs, const char *name, const char *value, size_t value_len);
void pair_append(mock_pair *pair, const char *data, size_t len);
mock_pair *pairs_find(const mock_pairs *pairs, const char *name);
void pairs_copy(mock_pairs *dst, const mock_pairs *src);
void pairs_free(mock_pairs *pairs);

/* FNV-1a over `len` bytes: a fast, stable hash (the same bytes give the
 * same value in every run). */
uint64_t mock_hash(const void *data, size_t len);

uint64_t mock_now_ms(void);
/* The same clock in seconds (CLOCK_MONOTONIC, as the client's dalle.core
 * now()), for times another process on this machine compares. */
double mock_now(void);
/* Strict decimal: digits only, at most `max`. Returns 0, or -1 if not. */
int mock_parse_ulong(const char *text, unsigned long max, unsigned long *out);

void mock_set_quiet(int quiet);
void mock_log(const char *format, ...) __attribute__((format(printf, 1, 2)));

void mock_request_stop(void);
int mock_stopping(void);
/* Returns 0 after `ms`, or -1 as soon as the server begins to stop. */
int mock_sleep_ms(unsigned long ms);

#endif
