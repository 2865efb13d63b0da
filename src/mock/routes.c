/* The MHD access handler: routing, the request's life across MHD's calls,
 * applying the fault it drew, logging, and putting the reply on the wire. */
#include "routes.h"

#include "request.h"

#include "chaos.h"
#include "config.h"
#include "jobs.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* MHD's buffer for parsing a form; fields longer than this arrive in chunks. */
#define POST_BUFFER_SIZE 16384
#define SDK_PREFIX "/sdk/"
#define SUBMIT_SUFFIX "/sdk/models/dall-e"
#define ART_PREFIX "/sdk/art/"
#define IMAGES_PREFIX "/images/"
#define IMAGE_EXTENSION ".png"
#define MOCK_PREFIX "/_mock/"

static const struct {
    const char *name;
    enum route route;
} mock_routes[] = {
    {"callback", ROUTE_MOCK_CALLBACK}, {"callbacks", ROUTE_MOCK_CALLBACKS},
    {"requests", ROUTE_MOCK_REQUESTS}, {"reset", ROUTE_MOCK_RESET},
    {"config", ROUTE_MOCK_CONFIG},     {"fault", ROUTE_MOCK_FAULT},
    {"jobs", ROUTE_MOCK_JOBS},
};

static int is_service_route(enum route route)
{
    return route == ROUTE_SUBMIT || route == ROUTE_ART || route == ROUTE_IMAGE;
}

/* Service routes are matched by suffix so any base path prefix works, as the
 * real service lives under /nft-market-backend-service. */
static enum route classify(const char *url, char **target_id)
{
    const char *mock = strstr(url, MOCK_PREFIX);
    const char *sdk = strstr(url, SDK_PREFIX);
    const char *images = NULL;

    if (mock) {
        for (size_t i = 0; i < sizeof mock_routes / sizeof mock_routes[0]; i++)
            if (strcmp(mock + strlen(MOCK_PREFIX), mock_routes[i].name) == 0)
                return mock_routes[i].route;
        return ROUTE_MOCK_UNKNOWN;
    }
    if (sdk && strcmp(sdk, SUBMIT_SUFFIX) == 0) return ROUTE_SUBMIT;
    if (sdk && strncmp(sdk, ART_PREFIX, strlen(ART_PREFIX)) == 0) {
        const char *id = sdk + strlen(ART_PREFIX);
        if (*id && !strchr(id, '/')) {
            *target_id = mock_strdup(id);
            return ROUTE_ART;
        }
    }
    for (const char *at = strstr(url, IMAGES_PREFIX); at; at = strstr(at + 1, IMAGES_PREFIX))
        images = at;
    if (images) {
        const char *name = images + strlen(IMAGES_PREFIX);
        size_t len = strlen(name);
        size_t extension = strlen(IMAGE_EXTENSION);
        if (len > extension && !strchr(name, '/') &&
            strcmp(name + len - extension, IMAGE_EXTENSION) == 0) {
            *target_id = mock_strndup(name, len - extension);
            return ROUTE_IMAGE;
        }
    }
    return ROUTE_UNKNOWN;
}

/* A fault is aimed at a route only when the method is the one the route takes. */
static int fault_target(const mock_request *request, enum fault_target *target)
{
    if (request->route == ROUTE_SUBMIT && request->is_post)
        *target = FAULT_ON_SUBMIT;
    else if (request->route == ROUTE_ART && request->is_get)
        *target = FAULT_ON_POLL;
    else if (request->route == ROUTE_IMAGE && request->is_get)
        *target = FAULT_ON_IMAGE;
    else
        return 0;
    return 1;
}

/* A queued fault comes first; only a request none matches can get a chaos one. */
static int take_fault(const mock_request *request, enum fault_target target, mock_fault *fault)
{
    mock_config config;
    const char *chaos_spec;

    if (faults_take(target, fault)) return 1;
    config_get(&config);
    chaos_spec = chaos_draw(config.chaos_percent, fault);
    if (!chaos_spec) return 0;
    mock_log("chaos fault %s on %s %s", chaos_spec, request->method, request->path);
    return 1;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    mock_pairs *headers = cls;
    char *name = mock_strdup(key);
    mock_pair *existing;
    (void)kind;
    if (!value) value = "";
    for (char *c = name; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    /* Repeated headers are joined as HTTP allows, so the log stays an object. */
    existing = pairs_find(headers, name);
    if (existing) {
        pair_append(existing, ", ", 2);
        pair_append(existing, value, strlen(value));
    } else {
        pairs_add(headers, name, value, strlen(value));
    }
    free(name);
    return MHD_YES;
}

static enum MHD_Result collect_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *filename, const char *content_type,
                                     const char *transfer_encoding, const char *data, uint64_t off,
                                     size_t size)
{
    mock_request *request = cls;
    size_t cost = size + (off == 0 ? strlen(key) : 0);
    (void)kind;
    (void)filename;
    (void)content_type;
    (void)transfer_encoding;

    if (request->fields_too_large) return MHD_YES;
    if (request->field_bytes + cost > REQUEST_FIELDS_MAX) {
        request->fields_too_large = 1;
        return MHD_YES;
    }
    request->field_bytes += cost;
    /* A part whose headers and data arrive in separate writes is announced
     * with no data first, then its data comes again at offset 0. */
    if (off == 0 && request->current_field >= 0 &&
        request->fields.items[request->current_field].value_len == 0 &&
        strcmp(request->fields.items[request->current_field].name, key) == 0) {
        pair_append(&request->fields.items[request->current_field], data, size);
    } else if (off == 0) {
        if (pairs_find(&request->fields, key)) {
            if (!request->duplicate_field) request->duplicate_field = mock_strdup(key);
            request->current_field = -1;
        } else {
            pairs_add(&request->fields, key, data, size);
            request->current_field = (long)request->fields.count - 1;
        }
    } else if (request->current_field >= 0 &&
               strcmp(request->fields.items[request->current_field].name, key) == 0) {
        pair_append(&request->fields.items[request->current_field], data, size);
    }
    return MHD_YES;
}

static mock_request *request_begin(struct MHD_Connection *connection, const char *url,
                                   const char *method)
{
    mock_request *request = mock_calloc(1, sizeof *request);
    enum fault_target target;

    request->method = mock_strdup(method);
    request->path = mock_strdup(url);
    request->route = classify(url, &request->target_id);
    request->is_get =
        strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    request->is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    request->current_field = -1;

    /* Everything but the control routes is logged, so a client that calls a
     * wrong path shows up in /_mock/requests too. */
    if (is_service_route(request->route) || request->route == ROUTE_UNKNOWN) {
        mock_pairs headers = {0};
        MHD_get_connection_values(connection, MHD_HEADER_KIND, collect_header, &headers);
        request->record = records_begin(method, url, &headers);
        request->logged = 1;
    }
    if (request->route == ROUTE_ART && request->is_get) jobs_count_get(request->target_id);
    if (fault_target(request, &target))
        request->has_fault = take_fault(request, target, &request->fault);
    if (request->route == ROUTE_SUBMIT && request->is_post)
        request->post =
            MHD_create_post_processor(connection, POST_BUFFER_SIZE, collect_field, request);
    return request;
}

static void request_upload(mock_request *request, const char *data, size_t size)
{
    if (request->post) {
        if (!request->fields_too_large && !request->form_malformed &&
            MHD_post_process(request->post, data, size) != MHD_YES)
            request->form_malformed = 1;
    } else if (request->route == ROUTE_MOCK_CALLBACK) {
        if (request->body.len + size > REQUEST_CALLBACK_BODY_MAX)
            request->body_too_large = 1;
        else if (!request->body_too_large)
            buf_append(&request->body, data, size);
    }
}

static void handle(struct MHD_Connection *connection, mock_request *request, mock_reply *reply)
{
    switch (request->route) {
    case ROUTE_SUBMIT:
        if (request->is_post)
            service_submit(connection, request, reply);
        else
            reply_not_allowed(reply, request->method, "POST");
        break;
    case ROUTE_ART:
        if (request->is_get)
            service_poll(connection, request, reply);
        else
            reply_not_allowed(reply, request->method, "GET, HEAD");
        break;
    case ROUTE_IMAGE:
        if (request->is_get)
            service_image(connection, request, reply);
        else
            reply_not_allowed(reply, request->method, "GET, HEAD");
        break;
    case ROUTE_UNKNOWN:
        reply_message(reply, MHD_HTTP_NOT_FOUND, NULL, "no route for %.20s %.200s", request->method,
                      request->path);
        break;
    default:
        control_handle(connection, request, reply);
        break;
    }
}

static void finish_record(mock_request *request)
{
    if (request->logged) records_finish(request->record, &request->fields, request->status);
}

static enum MHD_Result close_without_reply(mock_request *request)
{
    request->status = 0;
    finish_record(request);
    return MHD_NO;
}

static enum MHD_Result send_reply(struct MHD_Connection *connection, mock_request *request,
                                  mock_reply *reply, enum reply_delivery delivery)
{
    unsigned status = reply->status;
    struct MHD_Response *response = reply_response(reply, delivery, request->fault.trickle_ms);
    enum MHD_Result result;

    reply_free(reply);
    if (!response) return close_without_reply(request);
    result = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    request->status = result == MHD_YES ? status : 0;
    finish_record(request);
    return result;
}

static enum MHD_Result request_answer(struct MHD_Connection *connection, mock_request *request)
{
    mock_reply reply;
    enum reply_delivery delivery = DELIVER_WHOLE;
    enum fault_action action = request->has_fault ? request->fault.action : FAULT_NONE;

    memset(&reply, 0, sizeof reply);
    switch (action) {
    case FAULT_DROP:
        return close_without_reply(request);
    case FAULT_STALL:
        /* A stalled submit still creates its job: the service did the work,
         * only the answer is lost. */
        if (request->route == ROUTE_SUBMIT) handle(connection, request, &reply);
        reply_free(&reply);
        mock_sleep_ms(request->fault.stall_ms);
        return close_without_reply(request);
    case FAULT_STATUS:
    case FAULT_MALFORMED:
    case FAULT_WRONG_TYPE:
    case FAULT_OVERSIZE:
        fault_reply(&request->fault, &reply);
        break;
    case FAULT_DELAY:
        handle(connection, request, &reply);
        if (mock_sleep_ms(request->fault.delay_ms) != 0) {
            reply_free(&reply);
            return close_without_reply(request);
        }
        break;
    case FAULT_TRICKLE:
        handle(connection, request, &reply);
        delivery = DELIVER_TRICKLE;
        break;
    case FAULT_IDLE_CLOSE:
        handle(connection, request, &reply);
        delivery = DELIVER_THEN_CLOSE;
        break;
    case FAULT_NONE:
        handle(connection, request, &reply);
        break;
    }
    return send_reply(connection, request, &reply, delivery);
}

/* Note 1 of the MHD notes: a reply queued on the first, headers-only call
 * costs keep-alive, so every route answers on a later call. */
enum MHD_Result routes_access(void *cls, struct MHD_Connection *connection, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **request_state)
{
    mock_request *request = *request_state;
    (void)cls;
    (void)version;

    if (!request) {
        *request_state = request_begin(connection, url, method);
        return MHD_YES;
    }
    if (*upload_data_size) {
        request_upload(request, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return request_answer(connection, request);
}

void routes_completed(void *cls, struct MHD_Connection *connection, void **request_state,
                      enum MHD_RequestTerminationCode reason)
{
    mock_request *request = *request_state;
    (void)cls;
    (void)connection;
    (void)reason;
    if (!request) return;

    if (request->status)
        mock_log("%s %s -> %u", request->method, request->path, request->status);
    else
        mock_log("%s %s -> 0 (closed without a reply)", request->method, request->path);

    if (request->post) MHD_destroy_post_processor(request->post);
    pairs_free(&request->fields);
    buf_free(&request->body);
    free(request->duplicate_field);
    free(request->target_id);
    free(request->path);
    free(request->method);
    free(request);
    *request_state = NULL;
}
