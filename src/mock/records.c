/* What the mock has seen, for tests to inspect: the log of requests to the
 * service routes and the callbacks it received, both in arrival order. */
#include "records.h"

#include "json_out.h"

#include <pthread.h>
#include <stdlib.h>

#define RECORDS_MIN_CAP 32

typedef struct request_record {
    char *method;
    char *path;
    mock_pairs headers;
    mock_pairs fields;
    unsigned status;
} request_record;

typedef struct callback_record {
    char *content_type; /* NULL when the callback had none */
    char *body;
    size_t body_len;
} callback_record;

static pthread_mutex_t records_lock = PTHREAD_MUTEX_INITIALIZER;
static request_record *requests;
static size_t request_count;
static size_t request_cap;
static callback_record *callbacks;
static size_t callback_count;
static size_t callback_cap;
/* Bumped by every reset so requests still in flight cannot touch new entries. */
static unsigned long generation;

/* Returns `items`, reallocated if `count` items already fill `cap`. */
static void *grow(void *items, size_t *cap, size_t count, size_t item_size)
{
    if (count < *cap) return items;
    *cap = *cap ? *cap * 2 : RECORDS_MIN_CAP;
    return mock_realloc(items, *cap * item_size);
}

record_ref records_begin(const char *method, const char *path, mock_pairs *headers)
{
    record_ref ref;
    request_record *record;
    pthread_mutex_lock(&records_lock);
    requests = grow(requests, &request_cap, request_count, sizeof *requests);
    record = &requests[request_count];
    record->method = mock_strdup(method);
    record->path = mock_strdup(path);
    record->headers = *headers;
    record->fields = (mock_pairs){0};
    record->status = 0;
    *headers = (mock_pairs){0};
    ref.generation = generation;
    ref.index = request_count++;
    pthread_mutex_unlock(&records_lock);
    return ref;
}

void records_finish(record_ref ref, const mock_pairs *fields, unsigned status)
{
    pthread_mutex_lock(&records_lock);
    if (ref.generation == generation && ref.index < request_count) {
        request_record *record = &requests[ref.index];
        pairs_free(&record->fields);
        if (fields) pairs_copy(&record->fields, fields);
        record->status = status;
    }
    pthread_mutex_unlock(&records_lock);
}

void records_add_callback(const char *content_type, const char *body, size_t body_len)
{
    callback_record *record;
    pthread_mutex_lock(&records_lock);
    callbacks = grow(callbacks, &callback_cap, callback_count, sizeof *callbacks);
    record = &callbacks[callback_count++];
    record->content_type = content_type ? mock_strdup(content_type) : NULL;
    record->body = mock_strndup(body ? body : "", body ? body_len : 0);
    record->body_len = body ? body_len : 0;
    pthread_mutex_unlock(&records_lock);
}

void records_requests_json(mock_buf *out)
{
    pthread_mutex_lock(&records_lock);
    buf_puts(out, "[");
    for (size_t i = 0; i < request_count; i++) {
        const request_record *record = &requests[i];
        buf_puts(out, i ? ",{\"method\":" : "{\"method\":");
        json_cstring(out, record->method);
        buf_puts(out, ",\"path\":");
        json_cstring(out, record->path);
        buf_puts(out, ",\"headers\":");
        json_pairs_object(out, &record->headers);
        buf_puts(out, ",\"fields\":");
        json_pairs_object(out, &record->fields);
        buf_printf(out, ",\"status\":%u}", record->status);
    }
    buf_puts(out, "]");
    pthread_mutex_unlock(&records_lock);
}

void records_callbacks_json(mock_buf *out)
{
    pthread_mutex_lock(&records_lock);
    buf_puts(out, "[");
    for (size_t i = 0; i < callback_count; i++) {
        buf_puts(out, i ? ",{\"content_type\":" : "{\"content_type\":");
        json_cstring(out, callbacks[i].content_type);
        buf_puts(out, ",\"body\":");
        json_string(out, callbacks[i].body, callbacks[i].body_len);
        buf_puts(out, "}");
    }
    buf_puts(out, "]");
    pthread_mutex_unlock(&records_lock);
}

void records_clear(void)
{
    pthread_mutex_lock(&records_lock);
    for (size_t i = 0; i < request_count; i++) {
        free(requests[i].method);
        free(requests[i].path);
        pairs_free(&requests[i].headers);
        pairs_free(&requests[i].fields);
    }
    for (size_t i = 0; i < callback_count; i++) {
        free(callbacks[i].content_type);
        free(callbacks[i].body);
    }
    free(requests);
    free(callbacks);
    requests = NULL;
    callbacks = NULL;
    request_count = request_cap = 0;
    callback_count = callback_cap = 0;
    generation++;
    pthread_mutex_unlock(&records_lock);
}
