/* The callbacks a client expects: one secret token per job, made from the
 * system's random source, and the bodies POSTed to those tokens' URLs,
 * queued until step() hands them out. The receiver (receiver.c) and
 * deliver_callback (an app's own HTTP server) both feed it. */
#ifndef DALLE_CALLBACKS_H
#define DALLE_CALLBACKS_H

#include <stddef.h>

/* 24 random bytes (192 bits) in URL-safe base64, unpadded. */
#define DALLE_TOKEN_BYTES 24
#define DALLE_TOKEN_LEN 32

typedef struct dalle_callback {
    char token[DALLE_TOKEN_LEN + 1];
    long long id; /* the step() event id its arrivals carry */
    char *body;   /* the latest body not yet handed out, or NULL */
    size_t body_len;
    double arrived_at; /* when that body was filed (dalle_now() clock) */
    int queued;        /* on the arrived list */
    struct dalle_callback *next_by_token, *next_by_id, *next_arrived;
} dalle_callback;

typedef struct dalle_callbacks {
    dalle_callback **by_token, **by_id; /* hash chains, `buckets` long */
    size_t buckets, count;
    dalle_callback *arrived_head, *arrived_tail;
} dalle_callbacks;

void dalle_callbacks_init(dalle_callbacks *cb);
void dalle_callbacks_free(dalle_callbacks *cb);

/* Makes a fresh token for the event id `id` into `token` (NUL-terminated).
 * Returns 0, or -1 when memory or the random source failed. */
int dalle_callbacks_expect(dalle_callbacks *cb, long long id, char token[DALLE_TOKEN_LEN + 1]);
/* Ends the token of `id`, and drops a body of it not yet handed out. */
void dalle_callbacks_forget(dalle_callbacks *cb, long long id);

/* The token a callback path names: its last segment, before any query or
 * fragment, of a bare token, a path or an absolute URL. Returns it (not
 * NUL-terminated, DALLE_TOKEN_LEN bytes), or NULL when the path names none. */
const char *dalle_callbacks_token_of(const char *path, size_t len);
/* 1 when `token` (DALLE_TOKEN_LEN bytes) belongs to a job still expected. */
int dalle_callbacks_known(const dalle_callbacks *cb, const char *token);
/* Files `body` as the token's latest arrival (a duplicate replaces one not
 * yet handed out). Returns 0, -1 for an unknown token, -2 out of memory. */
int dalle_callbacks_arrive(dalle_callbacks *cb, const char *token, const char *body, size_t len);

/* The oldest arrival not handed out, or NULL. Read its id and body, then
 * call dalle_callbacks_taken(). */
dalle_callback *dalle_callbacks_next(dalle_callbacks *cb);
void dalle_callbacks_taken(dalle_callbacks *cb, dalle_callback *arrival);

#endif
