/* The callback receiver on libmicrohttpd's external epoll mode (see
 * receiver.h). libmicrohttpd's own blocking wait is never used: MHD_run is
 * called only when its descriptor is readable or its timeout is due, so the
 * hang of its epoll thread with many sockets ready at once cannot happen. */
#include "receiver.h"

#include "schedule.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define LISTEN_BACKLOG 1024
/* MHD_run again while a run closed connections, at most this many times:
 * at its connection limit libmicrohttpd stops listening, and takes the
 * listening socket back only at the start of a run. */
#define MAX_RUNS_AFTER_CLOSE 4
/* A certificate or key file larger than this is not one. */
#define MAX_PEM_BYTES (1024 * 1024)

static const char REPLY_OK[] = "{\"received\":true}";
static const char REPLY_UNKNOWN[] = "{\"error\":\"no job waits on this callback URL\"}";
static const char REPLY_METHOD[] = "{\"error\":\"only POST is allowed\"}";
static const char REPLY_TOO_LARGE[] = "{\"error\":\"the body is too large\"}";

/* One connection's limit on time: a request, or the idle time before the
 * next, ends by `deadline`. Kept in deadline order (every deadline is now
 * plus the same span), so the head is the first due. */
typedef struct tracked {
    struct MHD_Connection *connection;
    double deadline;
    int listed;
    struct tracked *prev, *next;
} tracked;

/* A POST in progress: the token it was sent to and its body so far. */
typedef struct upload {
    char token[DALLE_TOKEN_LEN];
    char *body;
    size_t len, cap;
    int too_large;
} upload;

struct dalle_receiver {
    struct MHD_Daemon *daemon;
    dalle_callbacks *callbacks;
    size_t max_body;
    double request_seconds;
    tracked *head, *tail;
    unsigned closed; /* connections closed since the last run began */
    struct MHD_Response *ok, *unknown, *method, *too_large;
    char *tls_cert, *tls_key;
};

static void unlist(dalle_receiver *r, tracked *t)
{
    if (!t->listed) return;
    if (t->prev)
        t->prev->next = t->next;
    else
        r->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        r->tail = t->prev;
    t->prev = t->next = NULL;
    t->listed = 0;
}

static void list_at_tail(dalle_receiver *r, tracked *t)
{
    unlist(r, t);
    t->deadline = dalle_now() + r->request_seconds;
    t->prev = r->tail;
    if (r->tail)
        r->tail->next = t;
    else
        r->head = t;
    r->tail = t;
    t->listed = 1;
}

static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    dalle_receiver *r = cls;
    tracked *t = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        /* Untracked if memory ran out: libmicrohttpd's idle timeout still holds. */
        t = calloc(1, sizeof *t);
        if (!t) return;
        t->connection = connection;
        list_at_tail(r, t);
        *socket_context = t;
    } else {
        r->closed++;
        if (t) {
            unlist(r, t);
            free(t);
            *socket_context = NULL;
        }
    }
}

static enum MHD_Result reply(struct MHD_Connection *connection, unsigned status,
                             struct MHD_Response *response)
{
    return MHD_queue_response(connection, status, response);
}

static enum MHD_Result begin(dalle_receiver *r, struct MHD_Connection *connection, const char *url,
                             const char *method, void **request)
{
    const char *token, *length;
    upload *u;
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return reply(connection, MHD_HTTP_METHOD_NOT_ALLOWED, r->method);
    token = dalle_callbacks_token_of(url, strlen(url));
    /* Refused from the headers alone: the body is never read. */
    if (!token || !dalle_callbacks_known(r->callbacks, token))
        return reply(connection, MHD_HTTP_NOT_FOUND, r->unknown);
    length =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length && strtoull(length, NULL, 10) > r->max_body)
        return reply(connection, MHD_HTTP_CONTENT_TOO_LARGE, r->too_large);
    u = calloc(1, sizeof *u);
    if (!u) return MHD_NO;
    memcpy(u->token, token, DALLE_TOKEN_LEN);
    *request = u;
    return MHD_YES;
}

static void take_data(dalle_receiver *r, upload *u, const char *data, size_t size)
{
    if (u->too_large) return;
    if (size > r->max_body - u->len) {
        /* Read on and thrown away: the reply waits for the end of the body. */
        u->too_large = 1;
        free(u->body);
        u->body = NULL;
        return;
    }
    if (u->len + size > u->cap) {
        size_t cap = u->cap ? u->cap : 1024;
        char *grown;
        while (cap < u->len + size)
            cap *= 2;
        if (cap > r->max_body) cap = r->max_body;
        grown = realloc(u->body, cap);
        if (!grown) {
            u->too_large = 1;
            free(u->body);
            u->body = NULL;
            return;
        }
        u->body = grown;
        u->cap = cap;
    }
    memcpy(u->body + u->len, data, size);
    u->len += size;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **request)
{
    dalle_receiver *r = cls;
    upload *u = *request;
    (void)version;
    if (!u) return begin(r, connection, url, method, request);
    if (*upload_data_size > 0) {
        take_data(r, u, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (u->too_large) return reply(connection, MHD_HTTP_CONTENT_TOO_LARGE, r->too_large);
    /* The job may have ended while its body arrived. */
    if (dalle_callbacks_arrive(r->callbacks, u->token, u->body, u->len) == -1)
        return reply(connection, MHD_HTTP_NOT_FOUND, r->unknown);
    return reply(connection, MHD_HTTP_OK, r->ok);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **request,
                         enum MHD_RequestTerminationCode code)
{
    dalle_receiver *r = cls;
    upload *u = *request;
    const union MHD_ConnectionInfo *info;
    (void)code;
    if (u) {
        free(u->body);
        free(u);
        *request = NULL;
    }
    /* The next request (or the idle wait for it) gets the whole span again. */
    info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (info && info->socket_context) list_at_tail(r, info->socket_context);
}

static struct MHD_Response *json_reply(const char *text)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (response) MHD_add_response_header(response, "Content-Type", "application/json");
    return response;
}

static char *read_pem(const char *path, const char *what, char *error, size_t error_size)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0;
    if (!f) {
        snprintf(error, error_size, "cannot open the callback TLS %s file", what);
        return NULL;
    }
    text = malloc(MAX_PEM_BYTES + 1);
    if (text) len = fread(text, 1, MAX_PEM_BYTES + 1, f);
    fclose(f);
    if (!text || len == 0 || len > MAX_PEM_BYTES) {
        snprintf(error, error_size, "the callback TLS %s file is empty, unreadable or too large",
                 what);
        free(text);
        return NULL;
    }
    text[len] = '\0';
    return text;
}

static int resolve(const dalle_receiver_settings *s, struct sockaddr_storage *addr, int *ipv6,
                   char *error, size_t error_size)
{
    struct addrinfo hints, *found = NULL;
    char port[16];
    const char *host = s->host && strcmp(s->host, "*") != 0 && s->host[0] ? s->host : NULL;
    int rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof port, "%u", s->port);
    rc = getaddrinfo(host, port, &hints, &found);
    if (rc != 0 || !found) {
        snprintf(error, error_size, "cannot listen on '%.64s': %s", host ? host : "*",
                 rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    memcpy(addr, found->ai_addr, found->ai_addrlen);
    *ipv6 = found->ai_family == AF_INET6;
    freeaddrinfo(found);
    return 0;
}

static void free_receiver(dalle_receiver *r)
{
    tracked *t;
    if (r->daemon) MHD_stop_daemon(r->daemon);
    /* Stopping closed every connection and freed their tracking; anything
     * left was never notified. */
    t = r->head;
    while (t) {
        tracked *next = t->next;
        free(t);
        t = next;
    }
    if (r->ok) MHD_destroy_response(r->ok);
    if (r->unknown) MHD_destroy_response(r->unknown);
    if (r->method) MHD_destroy_response(r->method);
    if (r->too_large) MHD_destroy_response(r->too_large);
    free(r->tls_cert);
    free(r->tls_key);
    free(r);
}

dalle_receiver *dalle_receiver_start(const dalle_receiver_settings *s, dalle_callbacks *callbacks,
                                     char *error, size_t error_size)
{
    struct sockaddr_storage addr;
    unsigned flags = MHD_USE_EPOLL;
    int ipv6 = 0;
    unsigned seconds = s->request_seconds ? s->request_seconds : DALLE_RECEIVER_DEFAULT_SECONDS;
    unsigned connections =
        s->max_connections ? s->max_connections : DALLE_RECEIVER_DEFAULT_CONNECTIONS;
    dalle_receiver *r;

    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) != MHD_YES) {
        snprintf(error, error_size, "the callback receiver needs libmicrohttpd with epoll (Linux)");
        return NULL;
    }
    if ((s->tls_cert != NULL) != (s->tls_key != NULL)) {
        snprintf(error, error_size, "callback TLS needs both a certificate and a key file");
        return NULL;
    }
    if (s->tls_cert && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(error, error_size, "this libmicrohttpd was built without TLS");
        return NULL;
    }
    if (resolve(s, &addr, &ipv6, error, error_size) != 0) return NULL;
    r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    r->callbacks = callbacks;
    r->max_body = s->max_body;
    r->request_seconds = seconds;
    r->ok = json_reply(REPLY_OK);
    r->unknown = json_reply(REPLY_UNKNOWN);
    r->method = json_reply(REPLY_METHOD);
    r->too_large = json_reply(REPLY_TOO_LARGE);
    if (!r->ok || !r->unknown || !r->method || !r->too_large) {
        snprintf(error, error_size, "out of memory");
        free_receiver(r);
        return NULL;
    }
    MHD_add_response_header(r->method, "Allow", "POST");
    if (s->tls_cert) {
        r->tls_cert = read_pem(s->tls_cert, "certificate", error, error_size);
        r->tls_key = r->tls_cert ? read_pem(s->tls_key, "key", error, error_size) : NULL;
        if (!r->tls_key) {
            free_receiver(r);
            return NULL;
        }
        flags |= MHD_USE_TLS;
    }
    if (ipv6) flags |= MHD_USE_IPv6;
    r->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, r, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, connections, MHD_OPTION_CONNECTION_TIMEOUT, seconds,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)LISTEN_BACKLOG, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, r, MHD_OPTION_NOTIFY_COMPLETED, on_completed, r,
        r->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, r->tls_cert,
        MHD_OPTION_HTTPS_MEM_KEY, r->tls_key, MHD_OPTION_END);
    if (!r->daemon) {
        snprintf(error, error_size,
                 "cannot listen on '%.64s' port %u (in use, not an address of this machine, "
                 "or a bad TLS certificate or key)",
                 s->host ? s->host : "*", s->port);
        free_receiver(r);
        return NULL;
    }
    return r;
}

void dalle_receiver_stop(dalle_receiver *r)
{
    if (r) free_receiver(r);
}

int dalle_receiver_fd(const dalle_receiver *r)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    return info ? info->epoll_fd : -1;
}

unsigned dalle_receiver_port(const dalle_receiver *r)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

double dalle_receiver_due(const dalle_receiver *r)
{
    MHD_UNSIGNED_LONG_LONG ms;
    double due = r->head ? r->head->deadline : -1.0;
    if (MHD_get_timeout(r->daemon, &ms) == MHD_YES) {
        double at = dalle_now() + (double)ms / 1000.0;
        if (due < 0 || at < due) due = at;
    }
    return due;
}

int dalle_receiver_run(dalle_receiver *r)
{
    double now;
    for (int run = 0; run < MAX_RUNS_AFTER_CLOSE; run++) {
        r->closed = 0;
        if (MHD_run(r->daemon) != MHD_YES) return -1;
        if (!r->closed) break;
    }
    now = dalle_now();
    /* A connection that trickles its request, or sits idle, past its span
     * is shut down; libmicrohttpd sees the end and frees it on its next run. */
    while (r->head && r->head->deadline <= now) {
        tracked *t = r->head;
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(t->connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        unlist(r, t);
        if (info) shutdown(info->connect_fd, SHUT_RDWR);
    }
    return 0;
}
