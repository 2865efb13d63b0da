/* The background worker: every few ms it marks done the jobs whose time has
 * come, and POSTs each finished job's result to its callback URL, many at
 * once over one libcurl multi handle. */
#include "callback.h"

#include "config.h"
#include "jobs.h"
#include "util.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>

#define CALLBACK_NOT_STARTED "the mock could not start the POST"

/* A slot for one POST in flight. Its easy handle is made on first use and
 * kept, so later POSTs reuse its buffers instead of allocating them anew. */
typedef struct transfer {
    CURL *easy;
    callback_send send; /* while busy */
} transfer;

typedef struct sender {
    CURLM *multi;
    struct curl_slist *headers; /* the same for every POST */
    const char *ca_file;
    transfer slots[MOCK_CALLBACK_CONNECTIONS_MAX];
    transfer *idle[MOCK_CALLBACK_CONNECTIONS_MAX]; /* the slots not in flight */
    size_t idle_count;
} sender;

static pthread_t worker;

/* The receiver's reply is not needed; without this curl would print it. */
static size_t discard_reply(char *data, size_t size, size_t count, void *cls)
{
    (void)data;
    (void)cls;
    return size * count;
}

static void free_send(callback_send *send)
{
    free(send->url);
    send->url = NULL;
    buf_free(&send->body);
}

/* The options every POST of a slot shares. Returns NULL when out of memory. */
static CURL *new_easy(sender *s, transfer *slot)
{
    CURL *easy = curl_easy_init();
    if (!easy) return NULL;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, slot);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "dalle-mock");
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard_reply);
    if (s->ca_file) curl_easy_setopt(easy, CURLOPT_CAINFO, s->ca_file);
    return easy;
}

/* Starts one POST in an idle slot; takes over `send` whether it starts or
 * not. One that curl cannot start ends at once, so its job is not left
 * waiting. */
static void start(sender *s, callback_send *send, long timeout_ms)
{
    transfer *slot = s->idle[s->idle_count - 1];

    if (!slot->easy) slot->easy = new_easy(s, slot);
    slot->send = *send;
    if (slot->easy) {
        curl_easy_setopt(slot->easy, CURLOPT_URL, slot->send.url);
        curl_easy_setopt(slot->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(slot->easy, CURLOPT_POSTFIELDS, slot->send.body.data);
        curl_easy_setopt(slot->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)slot->send.body.len);
    }
    if (!slot->easy || curl_multi_add_handle(s->multi, slot->easy) != CURLM_OK) {
        mock_log("callback to %s not sent: curl could not start it", slot->send.url);
        jobs_callback_ended(slot->send.job, 0, CALLBACK_NOT_STARTED);
        free_send(&slot->send);
        return;
    }
    s->idle_count--;
}

/* Starts the POSTs that are due, as many as callback_connections leaves room
 * for. Returns 1 when some may still be due for want of room; 0 when none
 * are, or callbacks are held (the next tick looks again). */
static int start_due(sender *s)
{
    callback_send due[MOCK_CALLBACK_CONNECTIONS_MAX];
    mock_config config;
    size_t in_flight = MOCK_CALLBACK_CONNECTIONS_MAX - s->idle_count;
    size_t count;
    int more;

    config_get(&config);
    if (config.callback_hold) return 0;
    if (config.callback_connections <= in_flight) return 1;
    count = jobs_take_callbacks(mock_now_ms(), due, config.callback_connections - in_flight, &more);
    for (size_t i = 0; i < count; i++)
        start(s, &due[i], (long)config.callback_timeout_ms);
    return more;
}

/* Records every POST that has ended and makes its slot idle. Returns how many. */
static size_t finish_ended(sender *s)
{
    CURLMsg *message;
    int queued;
    size_t ended = 0;

    while ((message = curl_multi_info_read(s->multi, &queued))) {
        transfer *slot = NULL;
        long status = 0;
        const char *error = NULL;
        if (message->msg != CURLMSG_DONE) continue;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, (char **)&slot);
        if (message->data.result == CURLE_OK) {
            curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &status);
            if (status >= 300) mock_log("callback to %s answered %ld", slot->send.url, status);
        } else {
            error = curl_easy_strerror(message->data.result);
            mock_log("callback to %s failed: %s", slot->send.url, error);
        }
        jobs_callback_ended(slot->send.job, status, error);
        curl_multi_remove_handle(s->multi, slot->easy);
        free_send(&slot->send);
        s->idle[s->idle_count++] = slot;
        ended++;
    }
    return ended;
}

/* At shutdown: abandons what is still in flight and frees every slot. */
static void free_slots(sender *s)
{
    for (size_t i = 0; i < MOCK_CALLBACK_CONNECTIONS_MAX; i++) {
        transfer *slot = &s->slots[i];
        if (!slot->easy) continue;
        if (slot->send.url) curl_multi_remove_handle(s->multi, slot->easy);
        curl_easy_cleanup(slot->easy);
        free_send(&slot->send);
    }
}

/* Each turn: on the tick, mark jobs done; start what is due while there is
 * room; let curl move every transfer; record the POSTs that ended; wait for
 * curl's sockets, at most until the next tick, so the stop flag is seen
 * within one. (curl's socket interface measured no cheaper per POST than
 * this at 256 in flight.) */
static void send_until_stopped(sender *s)
{
    uint64_t next_tick = 0;
    int look_for_due = 0;

    while (!mock_stopping()) {
        uint64_t now = mock_now_ms();
        int running;
        size_t ended;

        if (now >= next_tick) {
            jobs_advance();
            next_tick = now + CALLBACK_TICK_MS;
            look_for_due = 1;
        }
        if (look_for_due) look_for_due = start_due(s);
        curl_multi_perform(s->multi, &running);
        /* A POST that ended frees room, and may leave its job's second one
         * due: look again at once rather than after a wait. */
        ended = finish_ended(s);
        if (ended > 0) look_for_due = 1;
        now = mock_now_ms();
        if (ended == 0 && next_tick > now)
            curl_multi_poll(s->multi, NULL, 0, (int)(next_tick - now), NULL);
    }
}

static void *run(void *cls)
{
    sender *s = cls;
    s->multi = curl_multi_init();
    s->headers = curl_slist_append(NULL, "Content-Type: application/json");
    /* No "Expect: 100-continue" round trip: the receiver is a plain handler. */
    if (s->headers) s->headers = curl_slist_append(s->headers, "Expect:");
    /* These fail only when memory runs out. */
    if (!s->multi || !s->headers) mock_out_of_memory();

    for (size_t i = 0; i < MOCK_CALLBACK_CONNECTIONS_MAX; i++)
        s->idle[i] = &s->slots[i];
    s->idle_count = MOCK_CALLBACK_CONNECTIONS_MAX;
    send_until_stopped(s);
    free_slots(s);
    curl_slist_free_all(s->headers);
    curl_multi_cleanup(s->multi);
    free(s);
    return NULL;
}

int callback_worker_start(const char *ca_file)
{
    sender *s = mock_calloc(1, sizeof *s);
    s->ca_file = ca_file;
    if (pthread_create(&worker, NULL, run, s) == 0) return 0;
    free(s);
    return -1;
}

void callback_worker_join(void)
{
    pthread_join(worker, NULL);
}
