/* HTTP on one curl multi handle: starting requests (multipart submits, GETs,
 * downloads to a temporary file renamed into place), collecting bodies under a
 * cap, and handing finished transfers to the binding. */
#include "transport.h"

#include "schedule.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define BODY_INITIAL_CAPACITY 1024
/* A Retry-After further out than this is treated as this. */
#define RETRY_AFTER_MAX_SECONDS 86400.0
#define MAX_REDIRECTS 5
/* Socket events handled, and queued transfers handed to libcurl, per wait.
 * A blocking wait takes as many as are ready, for throughput. A step(0)
 * from a host loop takes two of each (each is about 80 us of work on
 * loopback; libcurl sets up every new transfer in a single call): with four,
 * a 1 ms timer in a luv loop next to 1,000 jobs saw p99 lags of 1.4 to
 * 2.2 ms, with two 0.9 to 1.2 ms (four runs each). What is left keeps the
 * descriptor readable for the next call. */
#define TURN_LIMIT_BLOCKING 64
#define TURN_LIMIT_BOUNDED 2

static int global_refs;

/* libcurl's per-socket pointer marks a socket the poller already watches,
 * so each change is one update (one epoll_ctl on Linux) and none fails. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    dalle_transport *t = userp;
    int flags = 0;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (socketp) dalle_poller_forget(&t->poller, fd);
        return 0;
    }
    if (what & CURL_POLL_IN) flags |= DALLE_POLL_IN;
    if (what & CURL_POLL_OUT) flags |= DALLE_POLL_OUT;
    if (dalle_poller_watch(&t->poller, fd, flags, socketp != NULL) != 0) return -1;
    if (socketp) return 0;
    return curl_multi_assign(t->multi, fd, (void *)t) == CURLM_OK ? 0 : -1;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    dalle_transport *t = userp;
    (void)multi;
    t->curl_due = timeout_ms < 0 ? -1.0 : dalle_now() + (double)timeout_ms / 1000.0;
    return 0;
}

static char *copy_setting(const char *value, int *failed)
{
    char *copy;
    if (!value) return NULL;
    copy = strdup(value);
    if (!copy) *failed = 1;
    return copy;
}

static int add_line(struct curl_slist **list, const char *line)
{
    struct curl_slist *more = curl_slist_append(*list, line);
    if (!more) return -1;
    *list = more;
    return 0;
}

/* The four header lists a request can need, made once rather than per
 * request: the user agent as a line of its own (CURLOPT_USERAGENT would
 * have libcurl format it anew for every request; empty: none sent), the
 * service's headers for its own endpoints, and with a multipart body an
 * empty Expect:, so that libcurl never waits for "100 Continue". */
static int make_header_lists(dalle_transport *t, const dalle_settings *settings)
{
    static const char prefix[] = "User-Agent: ";
    const char *agent = settings->user_agent;
    char *agent_line = NULL;
    int failed = 0;
    if (agent && *agent) {
        size_t length = strlen(agent);
        agent_line = malloc(sizeof prefix + length);
        if (!agent_line) return -1;
        memcpy(agent_line, prefix, sizeof prefix - 1);
        memcpy(agent_line + sizeof prefix - 1, agent, length + 1);
    }
    for (int to_service = 0; to_service < 2; to_service++) {
        for (int form = 0; form < 2; form++) {
            struct curl_slist **list = &t->header_lists[to_service][form];
            if (agent_line && add_line(list, agent_line) != 0) failed = 1;
            for (size_t i = 0; to_service && i < settings->service_header_count; i++)
                if (add_line(list, settings->service_headers[i]) != 0) failed = 1;
            if (form && add_line(list, "Expect:") != 0) failed = 1;
        }
    }
    free(agent_line);
    return failed ? -1 : 0;
}

int dalle_transport_init(dalle_transport *t, const dalle_settings *settings)
{
    int copy_failed = 0, poller_failed, headers_failed;
    memset(t, 0, sizeof *t);
    /* First, so that free() finds the poller's descriptors set, whatever fails. */
    poller_failed = dalle_poller_init(&t->poller) != 0;
    t->turn_limit = TURN_LIMIT_BOUNDED;
    t->curl_due = -1.0;
    t->other_fd = -1;
    t->max_transfers =
        settings->max_transfers ? settings->max_transfers : DALLE_DEFAULT_MAX_TRANSFERS;
    t->connect_timeout_ms = settings->connect_timeout_ms;
    t->low_speed_time_s = settings->low_speed_time_s;
    t->ca_file = copy_setting(settings->ca_file, &copy_failed);
    t->ca_path = copy_setting(settings->ca_path, &copy_failed);
    if (global_refs == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return -1;
    global_refs++;
    t->holds_curl_global = 1;
    t->multi = curl_multi_init();
    headers_failed = make_header_lists(t, settings) != 0;
    t->pool = calloc(t->max_transfers, sizeof *t->pool);
    if (copy_failed || poller_failed || headers_failed || !t->multi || !t->pool ||
        curl_multi_setopt(t->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
        curl_multi_setopt(t->multi, CURLMOPT_SOCKETDATA, (void *)t) != CURLM_OK ||
        curl_multi_setopt(t->multi, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK ||
        curl_multi_setopt(t->multi, CURLMOPT_TIMERDATA, (void *)t) != CURLM_OK) {
        dalle_transport_free(t);
        return -1;
    }
    return 0;
}

/* The easy handle goes back to the pool, the rest is freed. The handle keeps
 * the client's shared settings; configure() sets every per-request option
 * again, and nothing left on it points at this transfer's memory. */
void dalle_transport_release(dalle_transport *t, dalle_transfer *tr)
{
    if (!tr) return;
    dalle_image_file_free(&tr->image);
    if (tr->easy) {
        if (t->pool && t->pool_count < t->max_transfers &&
            curl_easy_setopt(tr->easy, CURLOPT_ERRORBUFFER, NULL) == CURLE_OK &&
            curl_easy_setopt(tr->easy, CURLOPT_PRIVATE, NULL) == CURLE_OK) {
            t->pool[t->pool_count++] = tr->easy;
        } else {
            curl_easy_cleanup(tr->easy);
        }
    }
    curl_mime_free(tr->mime);
    free(tr->body);
    free(tr);
}

static void unlink_running(dalle_transport *t, dalle_transfer *tr)
{
    if (tr->prev)
        tr->prev->next = tr->next;
    else
        t->running = tr->next;
    if (tr->next) tr->next->prev = tr->prev;
    tr->prev = tr->next = NULL;
    t->running_count--;
    curl_multi_remove_handle(t->multi, tr->easy);
}

void dalle_transport_free(dalle_transport *t)
{
    while (t->running) {
        dalle_transfer *tr = t->running;
        unlink_running(t, tr);
        dalle_transport_release(t, tr);
    }
    while (t->queue_head) {
        dalle_transfer *tr = t->queue_head;
        t->queue_head = tr->next;
        dalle_transport_release(t, tr);
    }
    while (t->refused) {
        dalle_transfer *tr = t->refused;
        t->refused = tr->next;
        dalle_transport_release(t, tr);
    }
    t->queue_tail = NULL;
    t->queued_count = 0;
    while (t->pool_count)
        curl_easy_cleanup(t->pool[--t->pool_count]);
    free(t->pool);
    t->pool = NULL;
    free(t->ca_file);
    free(t->ca_path);
    t->ca_file = t->ca_path = NULL;
    if (t->multi) curl_multi_cleanup(t->multi);
    t->multi = NULL;
    /* Last of libcurl's: no handle is left to read them. */
    for (int to_service = 0; to_service < 2; to_service++) {
        for (int form = 0; form < 2; form++) {
            curl_slist_free_all(t->header_lists[to_service][form]);
            t->header_lists[to_service][form] = NULL;
        }
    }
    if (t->holds_curl_global && --global_refs == 0) curl_global_cleanup();
    t->holds_curl_global = 0;
    dalle_poller_free(&t->poller);
}

static int is_success(long status)
{
    return status >= 200 && status < 300;
}

static int append_body(dalle_transfer *tr, const char *data, size_t len)
{
    if (len > tr->max_body - tr->body_len) {
        tr->too_large = 1;
        return -1;
    }
    if (tr->body_len + len > tr->body_cap) {
        size_t cap = tr->body_cap ? tr->body_cap : BODY_INITIAL_CAPACITY;
        while (cap < tr->body_len + len)
            cap *= 2;
        if (cap > tr->max_body) cap = tr->max_body;
        char *body = realloc(tr->body, cap);
        if (!body) return -1;
        tr->body = body;
        tr->body_cap = cap;
    }
    memcpy(tr->body + tr->body_len, data, len);
    tr->body_len += len;
    return 0;
}

static int append_file(dalle_transfer *tr, const char *data, size_t len)
{
    if (len > tr->max_body - tr->image.bytes) {
        tr->too_large = 1;
        return -1;
    }
    return dalle_image_file_write(&tr->image, data, len);
}

static size_t on_body(char *data, size_t size, size_t count, void *userdata)
{
    dalle_transfer *tr = userdata;
    size_t len = size * count;
    long status = 0;
    curl_easy_getinfo(tr->easy, CURLINFO_RESPONSE_CODE, &status);
    /* A download's error reply (a JSON message, say) is kept as the body. */
    int ok = (tr->image.file && is_success(status)) ? append_file(tr, data, len)
                                                    : append_body(tr, data, len);
    return ok == 0 ? len : 0;
}

static int header_is(const char *line, size_t len, const char *name, const char **value,
                     size_t *value_len)
{
    size_t name_len = strlen(name);
    if (len <= name_len || strncasecmp(line, name, name_len) != 0 || line[name_len] != ':')
        return 0;
    const char *v = line + name_len + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *value = v;
    *value_len = (size_t)(end - v);
    return 1;
}

static void keep_text(char *to, size_t size, const char *value, size_t len)
{
    if (len >= size) len = size - 1;
    memcpy(to, value, len);
    to[len] = '\0';
}

static size_t on_header(char *line, size_t size, size_t count, void *userdata)
{
    dalle_transfer *tr = userdata;
    size_t len = size * count;
    const char *value;
    size_t value_len;
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a 100 or a redirect): forget the last one's. */
        tr->retry_after = -1;
        tr->content_type[0] = tr->retry_after_text[0] = '\0';
    } else if (header_is(line, len, "retry-after", &value, &value_len)) {
        tr->retry_after = dalle_parse_retry_after(value, value_len, (long long)time(NULL));
        if (tr->keep_headers)
            keep_text(tr->retry_after_text, sizeof tr->retry_after_text, value, value_len);
    } else if (tr->keep_headers && header_is(line, len, "content-type", &value, &value_len)) {
        keep_text(tr->content_type, sizeof tr->content_type, value, value_len);
    }
    return len;
}

double dalle_parse_retry_after(const char *value, size_t len, long long now)
{
    char text[DALLE_RETRY_AFTER_MAX_LEN + 1];
    size_t i;
    if (len == 0 || len > DALLE_RETRY_AFTER_MAX_LEN) return -1;
    memcpy(text, value, len);
    text[len] = '\0';
    for (i = 0; i < len && text[i] >= '0' && text[i] <= '9'; i++)
        ;
    if (i == len) {
        double seconds = strtod(text, NULL);
        return seconds > RETRY_AFTER_MAX_SECONDS ? RETRY_AFTER_MAX_SECONDS : seconds;
    }
    if (memchr(text, '\0', len)) return -1;
    time_t when = curl_getdate(text, NULL);
    if (when == (time_t)-1) return -1;
    double seconds = (double)((long long)when - now);
    if (seconds < 0) return 0;
    return seconds > RETRY_AFTER_MAX_SECONDS ? RETRY_AFTER_MAX_SECONDS : seconds;
}

static int fail_start(char *error, size_t error_size, const char *message)
{
    snprintf(error, error_size, "%s", message);
    return -1;
}

/* The options every request of the client shares, set once per handle.
 * No Accept-Encoding among them: replies are small JSON and images are PNG,
 * so compression would only cost CPU at both ends. */
static int configure_shared(const dalle_transport *t, CURL *e)
{
    CURLcode rc = CURLE_OK;
#define SET(option, value)                                                                         \
    if (rc == CURLE_OK) rc = curl_easy_setopt(e, option, value)
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    /* Over HTTP/2 a request waits for a connection still being set up rather
     * than open one of its own, so concurrent polls share one connection.
     * Submits always open a fresh one (see configure). */
    SET(CURLOPT_PIPEWAIT, 1L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, t->connect_timeout_ms > 0 ? t->connect_timeout_ms : 0L);
    if (t->low_speed_time_s > 0) {
        SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
        SET(CURLOPT_LOW_SPEED_TIME, t->low_speed_time_s);
    }
    if (t->ca_file) SET(CURLOPT_CAINFO, t->ca_file);
    if (t->ca_path) SET(CURLOPT_CAPATH, t->ca_path);
    /* Only downloads follow redirects (see configure); these bound them. */
    SET(CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#undef SET
    return rc == CURLE_OK ? 0 : -1;
}

static CURL *take_easy(dalle_transport *t)
{
    CURL *e;
    if (t->pool_count) return t->pool[--t->pool_count];
    e = curl_easy_init();
    if (e && configure_shared(t, e) != 0) {
        curl_easy_cleanup(e);
        e = NULL;
    }
    return e;
}

static int build_form(dalle_transfer *tr, const dalle_request *req)
{
    tr->mime = curl_mime_init(tr->easy);
    if (!tr->mime) return -1;
    for (size_t i = 0; i < req->field_count; i++) {
        curl_mimepart *part = curl_mime_addpart(tr->mime);
        if (!part || curl_mime_name(part, req->fields[i].name) != CURLE_OK ||
            curl_mime_data(part, req->fields[i].value, req->fields[i].value_len) != CURLE_OK)
            return -1;
    }
    return 0;
}

/* Every option that differs between requests, set on every request, so a
 * pooled handle carries nothing over from its last one. */
static int configure(const dalle_transport *t, dalle_transfer *tr, const dalle_request *req)
{
    CURL *e = tr->easy;
    CURLcode rc = CURLE_OK;
    if (req->field_count && build_form(tr, req) != 0) return -1;
#define SET(option, value)                                                                         \
    if (rc == CURLE_OK) rc = curl_easy_setopt(e, option, value)
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PRIVATE, (void *)tr);
    SET(CURLOPT_ERRORBUFFER, tr->error);
    SET(CURLOPT_WRITEDATA, (void *)tr);
    SET(CURLOPT_HEADERDATA, (void *)tr);
    SET(CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 0L);
    SET(CURLOPT_HTTPHEADER, t->header_lists[req->to_service != 0][req->field_count != 0]);
    /* Images may sit behind a CDN redirect; API calls never follow one. */
    SET(CURLOPT_FOLLOWLOCATION, req->file_path ? 1L : 0L);
    if (req->field_count) {
        SET(CURLOPT_MIMEPOST, tr->mime);
        /* libcurl silently sends a request again when a reused keep-alive
         * connection turns out to be dead; for a submit that could charge
         * twice, so a submit never rides on a reused connection. */
        SET(CURLOPT_FRESH_CONNECT, 1L);
    } else {
        SET(CURLOPT_HTTPGET, 1L);
        SET(CURLOPT_FRESH_CONNECT, 0L);
    }
#undef SET
    return rc == CURLE_OK ? 0 : -1;
}

static int add_running(dalle_transport *t, dalle_transfer *tr)
{
    if (curl_multi_add_handle(t->multi, tr->easy) != CURLM_OK) return -1;
    tr->prev = NULL;
    tr->next = t->running;
    if (t->running) t->running->prev = tr;
    t->running = tr;
    t->running_count++;
    return 0;
}

static int may_start(const dalle_transport *t)
{
    return t->running_count < t->max_transfers && t->started_this_turn < t->turn_limit;
}

int dalle_transport_has_startable(const dalle_transport *t)
{
    return t->queue_head && t->running_count < t->max_transfers;
}

/* Moves queued transfers into the multi handle while there is room. A
 * transfer that libcurl refuses ends at once as failed. */
static void start_queued(dalle_transport *t)
{
    while (t->queue_head && may_start(t)) {
        dalle_transfer *tr = t->queue_head;
        t->queue_head = tr->next;
        if (!t->queue_head) t->queue_tail = NULL;
        t->queued_count--;
        tr->next = NULL;
        t->started_this_turn++;
        if (add_running(t, tr) != 0) {
            tr->result = CURLE_FAILED_INIT;
            snprintf(tr->error, sizeof tr->error, "cannot start the request");
            tr->next = t->refused;
            t->refused = tr;
        }
    }
}

int dalle_transport_start(dalle_transport *t, long long id, const dalle_request *req, char *error,
                          size_t error_size)
{
    dalle_transfer *tr = calloc(1, sizeof *tr);
    if (!tr) return fail_start(error, error_size, "out of memory");
    tr->id = id;
    tr->retry_after = -1;
    tr->max_body = req->max_body ? req->max_body : DALLE_DEFAULT_MAX_BODY;
    tr->keep_headers = req->keep_headers;
    tr->easy = take_easy(t);
    if (!tr->easy) {
        dalle_transport_release(t, tr);
        return fail_start(error, error_size, "cannot create a curl handle");
    }
    if (req->file_path) {
        /* Until it is renamed into place, a download counts as discarded. */
        tr->file_state = DALLE_FILE_DISCARDED;
        if (dalle_image_file_open(&tr->image, req->file_path, error, error_size) != 0) {
            dalle_transport_release(t, tr);
            return -1;
        }
    }
    if (configure(t, tr, req) != 0) {
        dalle_transport_release(t, tr);
        return fail_start(error, error_size, "cannot set up the request");
    }
    if (!t->queue_head && may_start(t)) {
        t->started_this_turn++;
        if (add_running(t, tr) != 0) {
            dalle_transport_release(t, tr);
            return fail_start(error, error_size, "cannot start the request");
        }
        return DALLE_STARTED;
    }
    if (t->queue_tail)
        t->queue_tail->next = tr;
    else
        t->queue_head = tr;
    t->queue_tail = tr;
    t->queued_count++;
    return DALLE_QUEUED;
}

/* Whether bytes of the request may have reached the server: libcurl records
 * the pre-transfer time once the connection (and TLS) stands, just before
 * the request goes out. A transfer still connecting has sent nothing. */
static int may_have_sent(CURL *easy)
{
    long request_size = 0;
    curl_off_t pretransfer_us = 0;
    curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &request_size);
    curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer_us);
    return request_size > 0 || pretransfer_us > 0;
}

int dalle_transport_cancel(dalle_transport *t, long long id, int *sent)
{
    dalle_transfer *prev = NULL;
    *sent = 0;
    for (dalle_transfer *tr = t->running; tr; tr = tr->next) {
        if (tr->id == id) {
            *sent = may_have_sent(tr->easy);
            unlink_running(t, tr);
            dalle_transport_release(t, tr);
            start_queued(t);
            return 1;
        }
    }
    for (dalle_transfer *tr = t->queue_head; tr; prev = tr, tr = tr->next) {
        if (tr->id == id) {
            if (prev)
                prev->next = tr->next;
            else
                t->queue_head = tr->next;
            if (t->queue_tail == tr) t->queue_tail = prev;
            t->queued_count--;
            dalle_transport_release(t, tr);
            return 1;
        }
    }
    return 0;
}

/* Seconds until libcurl's timer, 0 when it is due, < 0 when it has none. */
static double due_in(const dalle_transport *t)
{
    double left;
    if (t->curl_due < 0) return -1.0;
    left = t->curl_due - dalle_now();
    return left > 0 ? left : 0;
}

double dalle_transport_curl_due(const dalle_transport *t)
{
    return t->curl_due;
}

int dalle_transport_wake_at(dalle_transport *t, double when)
{
    return dalle_poller_wake_at(&t->poller, when);
}

int dalle_transport_watch_other(dalle_transport *t, int fd)
{
    if (t->other_fd >= 0) dalle_poller_forget(&t->poller, t->other_fd);
    t->other_fd = fd;
    t->other_ready = 0;
    return fd < 0 ? 0 : dalle_poller_watch(&t->poller, fd, DALLE_POLL_IN, 0);
}

int dalle_transport_fd(const dalle_transport *t)
{
    return dalle_poller_fd(&t->poller);
}

static int on_curl_timer_if_due(dalle_transport *t)
{
    int running;
    if (t->curl_due < 0 || t->curl_due > dalle_now()) return 0;
    /* libcurl sets its next timer from inside this call. */
    t->curl_due = -1.0;
    return curl_multi_socket_action(t->multi, CURL_SOCKET_TIMEOUT, 0, &running) == CURLM_OK ? 0
                                                                                            : -1;
}

int dalle_transport_wait(dalle_transport *t, int timeout_ms, int bounded)
{
    dalle_ready ready[TURN_LIMIT_BLOCKING];
    double curl_left = due_in(t);
    int running, count;
    t->turn_limit = bounded ? TURN_LIMIT_BOUNDED : TURN_LIMIT_BLOCKING;
    t->started_this_turn = 0;
    start_queued(t);
    if (curl_left >= 0 && curl_left * 1000.0 < timeout_ms)
        timeout_ms = (int)ceil(curl_left * 1000.0);
    if (timeout_ms < 0 || dalle_transport_has_startable(t)) timeout_ms = 0;
    count = dalle_poller_wait(&t->poller, ready, (int)t->turn_limit, timeout_ms);
    if (count < 0) return -1;
    for (int i = 0; i < count; i++) {
        int flags = 0;
        if (ready[i].fd == t->other_fd) {
            t->other_ready = 1;
            continue;
        }
        if (ready[i].flags & DALLE_POLL_IN) flags |= CURL_CSELECT_IN;
        if (ready[i].flags & DALLE_POLL_OUT) flags |= CURL_CSELECT_OUT;
        if (ready[i].flags & DALLE_POLL_ERR) flags |= CURL_CSELECT_ERR;
        if (curl_multi_socket_action(t->multi, ready[i].fd, flags, &running) != CURLM_OK) return -1;
    }
    return on_curl_timer_if_due(t);
}

static void finish_download(dalle_transfer *tr)
{
    if (tr->result != CURLE_OK || !is_success(tr->status)) {
        dalle_image_file_discard(&tr->image, "the download did not complete");
        return;
    }
    if (dalle_image_file_commit(&tr->image) == 0) tr->file_state = DALLE_FILE_SAVED;
}

dalle_transfer *dalle_transport_next_done(dalle_transport *t)
{
    int queued;
    CURLMsg *msg;
    if (t->refused) {
        dalle_transfer *tr = t->refused;
        t->refused = tr->next;
        tr->next = NULL;
        return tr;
    }
    while ((msg = curl_multi_info_read(t->multi, &queued))) {
        dalle_transfer *tr = NULL;
        if (msg->msg != CURLMSG_DONE) continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&tr);
        tr->result = msg->data.result;
        unlink_running(t, tr);
        start_queued(t);
        curl_easy_getinfo(tr->easy, CURLINFO_RESPONSE_CODE, &tr->status);
        curl_easy_getinfo(tr->easy, CURLINFO_TOTAL_TIME, &tr->elapsed);
        tr->request_sent = may_have_sent(tr->easy);
        if (tr->result != CURLE_OK && !tr->error[0])
            snprintf(tr->error, sizeof tr->error, "%s", curl_easy_strerror(tr->result));
        if (tr->image.path) finish_download(tr);
        return tr;
    }
    return NULL;
}
