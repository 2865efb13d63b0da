/* The callbacks a client expects, by token and by event id (see callbacks.h). */
#include "callbacks.h"

#include "schedule.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define INITIAL_BUCKETS 64

static const char URL_SAFE[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void dalle_callbacks_init(dalle_callbacks *cb)
{
    memset(cb, 0, sizeof *cb);
}

void dalle_callbacks_free(dalle_callbacks *cb)
{
    for (size_t i = 0; i < cb->buckets; i++) {
        dalle_callback *e = cb->by_id[i];
        while (e) {
            dalle_callback *next = e->next_by_id;
            free(e->body);
            free(e);
            e = next;
        }
    }
    free(cb->by_token);
    free(cb->by_id);
    memset(cb, 0, sizeof *cb);
}

static size_t token_hash(const char *token)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < DALLE_TOKEN_LEN; i++)
        h = (h ^ (unsigned char)token[i]) * 1099511628211ULL;
    return (size_t)h;
}

static size_t id_hash(long long id)
{
    return (size_t)((uint64_t)id * 11400714819323198485ULL >> 16);
}

/* Doubles the chains once they average more than one entry. */
static int grow(dalle_callbacks *cb)
{
    size_t buckets = cb->buckets ? cb->buckets * 2 : INITIAL_BUCKETS;
    dalle_callback **by_token = calloc(buckets, sizeof *by_token);
    dalle_callback **by_id = calloc(buckets, sizeof *by_id);
    if (!by_token || !by_id) {
        free(by_token);
        free(by_id);
        return -1;
    }
    for (size_t i = 0; i < cb->buckets; i++) {
        dalle_callback *e = cb->by_id[i];
        while (e) {
            dalle_callback *next = e->next_by_id;
            size_t t = token_hash(e->token) & (buckets - 1), d = id_hash(e->id) & (buckets - 1);
            e->next_by_token = by_token[t];
            by_token[t] = e;
            e->next_by_id = by_id[d];
            by_id[d] = e;
            e = next;
        }
    }
    free(cb->by_token);
    free(cb->by_id);
    cb->by_token = by_token;
    cb->by_id = by_id;
    cb->buckets = buckets;
    return 0;
}

static int random_bytes(unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

static void encode_token(const unsigned char *bytes, char *token)
{
    for (size_t i = 0, o = 0; i < DALLE_TOKEN_BYTES; i += 3) {
        uint32_t v = (uint32_t)bytes[i] << 16 | (uint32_t)bytes[i + 1] << 8 | bytes[i + 2];
        token[o++] = URL_SAFE[v >> 18 & 63];
        token[o++] = URL_SAFE[v >> 12 & 63];
        token[o++] = URL_SAFE[v >> 6 & 63];
        token[o++] = URL_SAFE[v & 63];
    }
    token[DALLE_TOKEN_LEN] = '\0';
}

static dalle_callback *find_token(const dalle_callbacks *cb, const char *token)
{
    dalle_callback *e;
    if (!cb->buckets) return NULL;
    for (e = cb->by_token[token_hash(token) & (cb->buckets - 1)]; e; e = e->next_by_token)
        if (memcmp(e->token, token, DALLE_TOKEN_LEN) == 0) return e;
    return NULL;
}

int dalle_callbacks_expect(dalle_callbacks *cb, long long id, char token[DALLE_TOKEN_LEN + 1])
{
    unsigned char bytes[DALLE_TOKEN_BYTES];
    dalle_callback *e;
    size_t t, d;
    if (cb->count >= cb->buckets && grow(cb) != 0) return -1;
    if (random_bytes(bytes, sizeof bytes) != 0) return -1;
    e = calloc(1, sizeof *e);
    if (!e) return -1;
    encode_token(bytes, e->token);
    e->id = id;
    t = token_hash(e->token) & (cb->buckets - 1);
    d = id_hash(id) & (cb->buckets - 1);
    e->next_by_token = cb->by_token[t];
    cb->by_token[t] = e;
    e->next_by_id = cb->by_id[d];
    cb->by_id[d] = e;
    cb->count++;
    memcpy(token, e->token, DALLE_TOKEN_LEN + 1);
    return 0;
}

static void unqueue(dalle_callbacks *cb, dalle_callback *target)
{
    dalle_callback **link = &cb->arrived_head, *prev = NULL;
    while (*link && *link != target) {
        prev = *link;
        link = &(*link)->next_arrived;
    }
    if (!*link) return;
    *link = target->next_arrived;
    if (cb->arrived_tail == target) cb->arrived_tail = prev;
    target->next_arrived = NULL;
    target->queued = 0;
}

void dalle_callbacks_forget(dalle_callbacks *cb, long long id)
{
    dalle_callback **link, *e;
    if (!cb->buckets) return;
    for (link = &cb->by_id[id_hash(id) & (cb->buckets - 1)]; *link; link = &(*link)->next_by_id)
        if ((*link)->id == id) break;
    e = *link;
    if (!e) return;
    *link = e->next_by_id;
    for (link = &cb->by_token[token_hash(e->token) & (cb->buckets - 1)]; *link != e;
         link = &(*link)->next_by_token)
        ;
    *link = e->next_by_token;
    if (e->queued) unqueue(cb, e);
    cb->count--;
    free(e->body);
    free(e);
}

static int is_token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

const char *dalle_callbacks_token_of(const char *path, size_t len)
{
    size_t end = 0, start;
    while (end < len && path[end] != '?' && path[end] != '#')
        end++;
    /* One trailing slash is the same path (an app's router may add it). */
    if (end > 0 && path[end - 1] == '/') end--;
    start = end;
    while (start > 0 && path[start - 1] != '/')
        start--;
    if (end - start != DALLE_TOKEN_LEN) return NULL;
    for (size_t i = start; i < end; i++)
        if (!is_token_char(path[i])) return NULL;
    return path + start;
}

int dalle_callbacks_known(const dalle_callbacks *cb, const char *token)
{
    return find_token(cb, token) != NULL;
}

int dalle_callbacks_arrive(dalle_callbacks *cb, const char *token, const char *body, size_t len)
{
    dalle_callback *e = find_token(cb, token);
    char *copy;
    if (!e) return -1;
    copy = malloc(len + 1);
    if (!copy) return -2;
    if (len) memcpy(copy, body, len);
    copy[len] = '\0';
    free(e->body);
    e->body = copy;
    e->body_len = len;
    e->arrived_at = dalle_now();
    if (!e->queued) {
        e->queued = 1;
        if (cb->arrived_tail)
            cb->arrived_tail->next_arrived = e;
        else
            cb->arrived_head = e;
        cb->arrived_tail = e;
    }
    return 0;
}

dalle_callback *dalle_callbacks_next(dalle_callbacks *cb)
{
    return cb->arrived_head;
}

void dalle_callbacks_taken(dalle_callbacks *cb, dalle_callback *arrival)
{
    unqueue(cb, arrival);
    free(arrival->body);
    arrival->body = NULL;
    arrival->body_len = 0;
}
