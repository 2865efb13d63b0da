/* The background worker: every few ms it marks done the jobs whose time has
 * come, and POSTs each finished job's result to its callback URL (libcurl). */
#include "callback.h"

#include "jobs.h"
#include "util.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>

static pthread_t worker;

/* The receiver's reply is not needed; without this curl would print it. */
static size_t discard_reply(char *data, size_t size, size_t count, void *cls)
{
    (void)data;
    (void)cls;
    return size * count;
}

/* Ends a callback in flight when the server stops, so shutdown is prompt. */
static int abort_if_stopping(void *cls, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                             curl_off_t ulnow)
{
    (void)cls;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return mock_stopping();
}

static void deliver(const char *url, const mock_buf *body)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    CURLcode result;
    long status = 0;

    if (!curl) {
        mock_log("callback to %s not sent: curl_easy_init failed", url);
        return;
    }
    headers = curl_slist_append(headers, "Content-Type: application/json");
    /* No "Expect: 100-continue" round trip: the receiver is a plain handler. */
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, CALLBACK_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "dalle-mock");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_reply);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, abort_if_stopping);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);

    result = curl_easy_perform(curl);
    if (result != CURLE_OK) {
        mock_log("callback to %s failed: %s", url, curl_easy_strerror(result));
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 300) mock_log("callback to %s answered %ld", url, status);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
}

static void *run(void *cls)
{
    (void)cls;
    while (!mock_stopping()) {
        char *url;
        mock_buf body = {0};
        jobs_advance();
        while (!mock_stopping() && jobs_take_callback(&url, &body)) {
            deliver(url, &body);
            free(url);
            buf_free(&body);
        }
        mock_sleep_ms(CALLBACK_TICK_MS);
    }
    return NULL;
}

int callback_worker_start(void)
{
    return pthread_create(&worker, NULL, run, NULL) == 0 ? 0 : -1;
}

void callback_worker_join(void)
{
    pthread_join(worker, NULL);
}
