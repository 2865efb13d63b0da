/* HTTP for the client: every request runs on one curl multi handle; bodies are
 * collected in C and completed transfers are handed out one at a time, so no
 * Lua code ever runs inside a libcurl callback. */
#ifndef DALLE_TRANSPORT_H
#define DALLE_TRANSPORT_H

#include "image_file.h"
#include "poller.h"

#include <curl/curl.h>
#include <stddef.h>
#include <stdio.h>

/* Caps on what a response may hold; callers may lower or raise them. */
#define DALLE_DEFAULT_MAX_BODY (1024 * 1024)
#define DALLE_DEFAULT_MAX_IMAGE (50L * 1024 * 1024)
/* A longer Retry-After value is not a valid one. */
#define DALLE_RETRY_AFTER_MAX_LEN 64
/* A reply's Content-Type, kept for a record, is cut at this many bytes. */
#define DALLE_CONTENT_TYPE_MAX 128

typedef struct dalle_field {
    const char *name;
    const char *value;
    size_t value_len;
} dalle_field;

/* What to send. Strings are borrowed only for the call that starts it. */
typedef struct dalle_request {
    const char *url;
    int to_service; /* send the service's headers (the API key): its own endpoints only */
    const dalle_field *fields; /* non-empty: a multipart POST */
    size_t field_count;
    const char *file_path; /* a download: the body is written here */
    long timeout_ms;
    size_t max_body;
    int keep_headers; /* keep the reply's Content-Type and Retry-After text (a record) */
} dalle_request;

/* What every request of a client shares. Set once on each easy handle the
 * transport creates; strings are copied. */
typedef struct dalle_settings {
    size_t max_transfers; /* 0: DALLE_DEFAULT_MAX_TRANSFERS */
    long connect_timeout_ms;
    long low_speed_time_s; /* abort when under 1 byte/s for this long; 0: off */
    const char *user_agent;
    const char *ca_file;
    const char *ca_path;
    const char *const *service_headers; /* "name: value" lines for the service's own endpoints */
    size_t service_header_count;
} dalle_settings;

typedef enum dalle_file_state {
    DALLE_FILE_NONE,     /* not a download */
    DALLE_FILE_SAVED,    /* renamed into place */
    DALLE_FILE_DISCARDED /* removed: the transfer or the bytes were bad */
} dalle_file_state;

typedef struct dalle_transfer {
    long long id;
    CURL *easy;
    curl_mime *mime;
    struct dalle_transfer *prev, *next; /* in the running list, or next in the queue */

    /* Response, filled while the transfer runs. */
    char *body;
    size_t body_len, body_cap, max_body;
    int too_large;
    long status;
    double retry_after; /* seconds, < 0 when absent */

    /* Kept only with keep_headers: the texts as the reply gave them. */
    int keep_headers;
    char content_type[DALLE_CONTENT_TYPE_MAX + 1];
    char retry_after_text[DALLE_RETRY_AFTER_MAX_LEN + 1];

    /* Download state: image.path is set for a download. */
    dalle_image_file image;
    dalle_file_state file_state;

    /* Outcome, set when the transfer is done. */
    CURLcode result;
    char error[CURL_ERROR_SIZE];
    int request_sent; /* a connection was made: the request may have gone out */
    double elapsed;
} dalle_transfer;

/* Requests past the cap wait in our own FIFO (not libcurl's, whose queue has
 * regressed between releases), so a request's timeout never counts time
 * spent queued. */
#define DALLE_DEFAULT_MAX_TRANSFERS 64
#define DALLE_MAX_TRANSFERS_LIMIT 100000

typedef struct dalle_transport {
    CURLM *multi;
    dalle_poller poller;     /* every socket libcurl wants watched */
    double curl_due;         /* when libcurl's own timer fires; < 0: none */
    dalle_transfer *running; /* transfers in the multi handle */
    size_t running_count;
    dalle_transfer *queue_head; /* started while at the cap, in order */
    dalle_transfer *queue_tail;
    size_t queued_count;
    dalle_transfer *refused; /* dequeued but refused by libcurl: done, failed */
    size_t max_transfers;
    size_t turn_limit;        /* socket events and starts per wait (see transport.c) */
    size_t started_this_turn; /* handed to libcurl since the last wait began */
    CURL **pool;              /* idle easy handles, their shared settings already set */
    size_t pool_count;
    long connect_timeout_ms; /* the client's dalle_settings, kept for new handles */
    long low_speed_time_s;
    /* Every request's header lines, made once and shared (libcurl only reads
     * them), by [to the service][with a multipart body]. */
    struct curl_slist *header_lists[2][2];
    char *ca_file;
    char *ca_path;
    int holds_curl_global; /* counted in curl_global_init's users */
    int other_fd;          /* watched beside libcurl's sockets (the callback receiver); -1: none */
    int other_ready;       /* other_fd turned readable in a wait: its owner runs it, then clears */
} dalle_transport;

/* Returns 0, or -1 when libcurl or the poller could not be set up. */
int dalle_transport_init(dalle_transport *t, const dalle_settings *settings);
/* Aborts every transfer (removing partial downloads) and frees everything;
 * safe on a transport whose init failed part way. */
void dalle_transport_free(dalle_transport *t);

/* Starts a request: returns DALLE_STARTED, DALLE_QUEUED (it waits for a free
 * transfer slot, and its timeout has not started), or -1 with a message in
 * `error`. */
enum { DALLE_STARTED = 0, DALLE_QUEUED = 1 };
int dalle_transport_start(dalle_transport *t, long long id, const dalle_request *req, char *error,
                          size_t error_size);
/* Aborts a running or queued transfer by id; returns 1 when there was one,
 * and sets `*sent` to whether its request may have reached the server. */
int dalle_transport_cancel(dalle_transport *t, long long id, int *sent);

/* Waits up to `timeout_ms` for socket activity or libcurl's timer, then does
 * the ready work; never longer than libcurl's own timer allows. `bounded`
 * does only a few items of work, for a caller that must return quickly. */
int dalle_transport_wait(dalle_transport *t, int timeout_ms, int bounded);
/* 1 when queued transfers could start now (the next wait starts them). */
int dalle_transport_has_startable(const dalle_transport *t);
/* When libcurl's timer fires (dalle_now() clock); < 0 when it has none. */
double dalle_transport_curl_due(const dalle_transport *t);
/* Makes the poller's descriptor readable at `when` (dalle_now() clock; < 0:
 * never), so a loop that watches only the descriptor still wakes for
 * timers. Returns 0, or -1 when the timer could not be set. */
int dalle_transport_wake_at(dalle_transport *t, double when);
/* Watches `fd` for reading beside libcurl's sockets; a wait that finds it
 * readable sets other_ready. One at most; -1 stops watching. Returns 0 or -1. */
int dalle_transport_watch_other(dalle_transport *t, int fd);
/* The descriptor a host loop watches (see poller.h); -1 when there is none. */
int dalle_transport_fd(const dalle_transport *t);
/* Hands out one finished transfer, or NULL. Free it with dalle_transfer_free. */
dalle_transfer *dalle_transport_next_done(dalle_transport *t);
/* Frees a transfer handed out (or never started), keeping its easy handle. */
void dalle_transport_release(dalle_transport *t, dalle_transfer *tr);

/* Seconds to wait from a Retry-After value (delta seconds or HTTP-date),
 * relative to `now` (epoch seconds); -1 when the value is not valid. */
double dalle_parse_retry_after(const char *value, size_t len, long long now);

#endif
