/* baseline: the benchmark's pure-C reference client: submit-then-poll jobs on
 * one libcurl multi handle, CONCURRENCY jobs in flight, against dalle-mock. */

/* A benchmark baseline, not product code: it reads a reply only far enough to
 * find the id and the status in dalle-mock's "plain" shape (with strstr), and
 * any other reply ends the run with an error. Like lua-dalle, a submit goes on
 * a fresh connection and polls reuse pooled ones, and every request carries the
 * same header lines (--user-agent gives lua-dalle's); unlike lua-dalle, each
 * slot keeps one easy handle for all its requests, as a hand-written C client
 * would.
 *
 * Usage: baseline [--user-agent UA] BASE_URL API_KEY JOBS CONCURRENCY
 * Prints "completed JOBS" when every job has succeeded; exits 1 on any failure. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPLY 4096
#define MAX_ID 64
#define MAX_URL 1024
/* A job that is still pending after this many polls means the mock is not
 * running with --polls 2: fail rather than poll forever. */
#define MAX_POLLS_PER_JOB 100
#define REQUEST_TIMEOUT_MS 30000L
#define POLL_WAIT_MS 1000

typedef struct slot {
    CURL *easy;
    curl_mime *form;
    char reply[MAX_REPLY];
    size_t reply_len;
    int reply_too_long;
    int polling;
    int polls;
    char id[MAX_ID];
    char url[MAX_URL];
} slot;

typedef struct bench {
    CURLM *multi;
    struct curl_slist *headers;
    const char *base;
    char submit_url[MAX_URL];
    char callback_url[MAX_URL];
    long jobs_started;
} bench;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "baseline: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static size_t keep_reply(char *data, size_t size, size_t count, void *userdata)
{
    slot *s = userdata;
    size_t len = size * count;
    if (len >= MAX_REPLY - s->reply_len) {
        s->reply_too_long = 1;
        return 0;
    }
    memcpy(s->reply + s->reply_len, data, len);
    s->reply_len += len;
    s->reply[s->reply_len] = '\0';
    return len;
}

static void add_field(curl_mime *form, const char *name, const char *value)
{
    curl_mimepart *part = curl_mime_addpart(form);
    if (!part || curl_mime_name(part, name) != CURLE_OK ||
        curl_mime_data(part, value, CURL_ZERO_TERMINATED) != CURLE_OK)
        die("cannot build the form", name);
}

static void start(bench *b, slot *s)
{
    s->reply_len = 0;
    s->reply_too_long = 0;
    s->reply[0] = '\0';
    if (curl_multi_add_handle(b->multi, s->easy) != CURLM_OK) die("cannot start a request", NULL);
}

static void start_submit(bench *b, slot *s)
{
    char prompt[64];
    snprintf(prompt, sizeof prompt, "bench job %ld", ++b->jobs_started);
    curl_mime_free(s->form);
    s->form = curl_mime_init(s->easy);
    if (!s->form) die("cannot build the form", NULL);
    add_field(s->form, "callback", b->callback_url);
    add_field(s->form, "modelId", "70");
    add_field(s->form, "prompt", prompt);
    add_field(s->form, "model", "dall-e-2");
    add_field(s->form, "size", "1024x1024");
    curl_easy_setopt(s->easy, CURLOPT_URL, b->submit_url);
    curl_easy_setopt(s->easy, CURLOPT_MIMEPOST, s->form);
    /* The same guard as lua-dalle: libcurl silently resends a request whose
     * reused connection turns out dead, which must never happen to a submit. */
    curl_easy_setopt(s->easy, CURLOPT_FRESH_CONNECT, 1L);
    s->polling = 0;
    s->polls = 0;
    start(b, s);
}

static void start_poll(bench *b, slot *s)
{
    snprintf(s->url, sizeof s->url, "%s/sdk/art/%s", b->base, s->id);
    curl_easy_setopt(s->easy, CURLOPT_URL, s->url);
    curl_easy_setopt(s->easy, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(s->easy, CURLOPT_FRESH_CONNECT, 0L);
    s->polling = 1;
    s->polls++;
    start(b, s);
}

/* Copies the string value of "id" in the plain shape's submit reply. */
static int read_id(const slot *s, char *id)
{
    const char *from = strstr(s->reply, "\"id\":\"");
    if (!from) return -1;
    from += strlen("\"id\":\"");
    const char *end = strchr(from, '"');
    if (!end || end == from || (size_t)(end - from) >= MAX_ID) return -1;
    memcpy(id, from, (size_t)(end - from));
    id[end - from] = '\0';
    return 0;
}

/* Moves a slot on after its request finished; returns 1 when its job is done. */
static int advance(bench *b, slot *s, CURLcode result)
{
    long status = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    if (result != CURLE_OK) die("a request failed", curl_easy_strerror(result));
    if (s->reply_too_long) die("a reply is too long", NULL);
    if (status != 200) die("a request was not answered 200", s->reply);
    if (!s->polling) {
        if (read_id(s, s->id) != 0) die("no job id in the submit reply", s->reply);
        start_poll(b, s);
        return 0;
    }
    if (strstr(s->reply, "\"status\":\"succeeded\"")) return 1;
    if (strstr(s->reply, "\"status\":\"failed\"")) die("a job failed", s->reply);
    if (s->polls >= MAX_POLLS_PER_JOB) die("a job is still pending after too many polls", s->id);
    start_poll(b, s);
    return 0;
}

static long parse_count(const char *text, const char *what)
{
    char *end;
    long n = strtol(text, &end, 10);
    if (*end != '\0' || n < 1) die("expected a positive number", what);
    return n;
}

int main(int argc, char **argv)
{
    const char *user_agent = NULL;
    if (argc == 7 && strcmp(argv[1], "--user-agent") == 0) {
        user_agent = argv[2];
        argv += 2;
        argc -= 2;
    }
    if (argc != 5) {
        fprintf(stderr, "usage: baseline [--user-agent UA] BASE_URL API_KEY JOBS CONCURRENCY\n");
        return 2;
    }
    bench b = {0};
    char key_header[512], agent_header[512];
    long jobs = parse_count(argv[3], "JOBS");
    long concurrency = parse_count(argv[4], "CONCURRENCY");
    if (concurrency > jobs) concurrency = jobs;

    b.base = argv[1];
    snprintf(b.submit_url, sizeof b.submit_url, "%s/sdk/models/dall-e", b.base);
    snprintf(b.callback_url, sizeof b.callback_url, "%s/_mock/callback", b.base);
    /* In lua-dalle's order: user agent, key, accept; the empty Expect: puts nothing on the
     * wire, it only keeps libcurl from waiting for "100 Continue". */
    if (user_agent) {
        snprintf(agent_header, sizeof agent_header, "User-Agent: %s", user_agent);
        b.headers = curl_slist_append(b.headers, agent_header);
    }
    snprintf(key_header, sizeof key_header, "x-api-key: %s", argv[2]);
    b.headers = curl_slist_append(b.headers, key_header);
    b.headers = curl_slist_append(b.headers, "accept: application/json");
    b.headers = curl_slist_append(b.headers, "Expect:");
    if (!b.headers) die("out of memory", NULL);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) die("curl_global_init failed", NULL);
    b.multi = curl_multi_init();
    slot *slots = calloc((size_t)concurrency, sizeof *slots);
    if (!b.multi || !slots) die("out of memory", NULL);

    for (long i = 0; i < concurrency; i++) {
        slot *s = &slots[i];
        s->easy = curl_easy_init();
        if (!s->easy) die("cannot create a curl handle", NULL);
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, b.headers);
        curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, keep_reply);
        curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, (void *)s);
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, (void *)s);
        curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
        start_submit(&b, s);
    }

    long finished = 0;
    while (finished < jobs) {
        int running, queued;
        CURLMsg *msg;
        if (curl_multi_perform(b.multi, &running) != CURLM_OK) die("curl_multi_perform failed", NULL);
        while ((msg = curl_multi_info_read(b.multi, &queued))) {
            slot *s = NULL;
            if (msg->msg != CURLMSG_DONE) continue;
            CURLcode result = msg->data.result;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            curl_multi_remove_handle(b.multi, s->easy);
            if (!advance(&b, s, result)) continue;
            finished++;
            if (b.jobs_started < jobs) start_submit(&b, s);
        }
        if (finished < jobs && curl_multi_poll(b.multi, NULL, 0, POLL_WAIT_MS, NULL) != CURLM_OK)
            die("curl_multi_poll failed", NULL);
    }

    for (long i = 0; i < concurrency; i++) {
        curl_easy_cleanup(slots[i].easy);
        curl_mime_free(slots[i].form);
    }
    free(slots);
    curl_multi_cleanup(b.multi);
    curl_slist_free_all(b.headers);
    curl_global_cleanup();
    printf("completed %ld\n", finished);
    return 0;
}
