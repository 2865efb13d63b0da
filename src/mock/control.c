/* The /_mock/ control routes tests drive the mock with: received callbacks, the
 * request log, the job list, reset, configuration and fault queueing. */
#include "request.h"

#include "chaos.h"
#include "config.h"
#include "faults.h"
#include "jobs.h"
#include "json_out.h"
#include "records.h"
#include "replay.h"

#include <stdio.h>
#include <string.h>

#define CONFIG_KEY_MAX 32

/* Carries the first bad query argument out of MHD's argument iterator. */
typedef struct config_change {
    mock_config config;
    char key[CONFIG_KEY_MAX];
    char error[MOCK_CONFIG_ERROR_MAX];
    int failed;
    int chaos_seed_given;
} config_change;

typedef struct fault_change {
    mock_fault fault;
    fault_error error;
    int failed;
} fault_change;

static enum MHD_Result apply_config_argument(void *cls, enum MHD_ValueKind kind, const char *key,
                                             const char *value)
{
    config_change *change = cls;
    (void)kind;
    if (config_apply(&change->config, key, value, change->error, sizeof change->error) == 0) {
        change->chaos_seed_given |= strcmp(key, "chaos_seed") == 0;
        return MHD_YES;
    }
    snprintf(change->key, sizeof change->key, "%s", key);
    change->failed = 1;
    return MHD_NO;
}

static enum MHD_Result apply_fault_argument(void *cls, enum MHD_ValueKind kind, const char *key,
                                            const char *value)
{
    fault_change *change = cls;
    (void)kind;
    if (fault_set(&change->fault, key, value, &change->error) == 0) return MHD_YES;
    change->failed = 1;
    return MHD_NO;
}

static void receive_callback(struct MHD_Connection *connection, mock_request *request,
                             mock_reply *reply)
{
    if (request->body_too_large) {
        reply_message(reply, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
                      "a callback body is at most %d bytes", REQUEST_CALLBACK_BODY_MAX);
        return;
    }
    records_add_callback(
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
        request->body.data, request->body.len);
    buf_puts(&reply->body, "{\"ok\":true}");
    reply_json(reply, MHD_HTTP_OK);
}

static void reset(mock_reply *reply)
{
    mock_config startup;
    jobs_clear();
    records_clear();
    faults_clear();
    config_restore_startup();
    config_get(&startup);
    chaos_restart(startup.chaos_seed);
    replay_restart();
    buf_puts(&reply->body, "{\"ok\":true}");
    reply_json(reply, MHD_HTTP_OK);
}

static void change_config(struct MHD_Connection *connection, mock_reply *reply)
{
    config_change change;
    memset(&change, 0, sizeof change);
    config_get(&change.config);
    MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, apply_config_argument, &change);
    if (change.failed) {
        reply_message(reply, MHD_HTTP_BAD_REQUEST, change.key, "%s", change.error);
        return;
    }
    if (change.config.single_thread && change.config.chaos_percent > 0) {
        reply_message(reply, MHD_HTTP_BAD_REQUEST, "chaos", "%s", MOCK_SINGLE_THREAD_NO_SLEEP);
        return;
    }
    config_set(&change.config);
    if (change.chaos_seed_given) chaos_reseed(change.config.chaos_seed);
    buf_puts(&reply->body, "{");
    config_members_json(&change.config, &reply->body);
    buf_printf(&reply->body, ",\"chaos_faults\":%lu}", chaos_faults_drawn());
    reply_json(reply, MHD_HTTP_OK);
}

static void queue_fault(struct MHD_Connection *connection, mock_reply *reply)
{
    fault_change change;
    mock_config config;
    memset(&change, 0, sizeof change);
    fault_init(&change.fault);
    MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, apply_fault_argument, &change);
    if (change.failed || fault_finish(&change.fault, &change.error) != 0) {
        reply_message(reply, MHD_HTTP_BAD_REQUEST, change.error.key, "%s", change.error.message);
        return;
    }
    config_get(&config);
    if (config.single_thread && fault_sleeps(&change.fault)) {
        reply_message(reply, MHD_HTTP_BAD_REQUEST, fault_action_name(&change.fault), "%s",
                      MOCK_SINGLE_THREAD_NO_SLEEP);
        return;
    }
    faults_push(&change.fault);
    buf_puts(&reply->body, "{\"queued\":");
    fault_to_json(&change.fault, &reply->body);
    buf_printf(&reply->body, ",\"faults_queued\":%zu}", faults_queued());
    reply_json(reply, MHD_HTTP_OK);
}

void control_handle(struct MHD_Connection *connection, mock_request *request, mock_reply *reply)
{
    int wants_post = request->route != ROUTE_MOCK_CALLBACKS &&
                     request->route != ROUTE_MOCK_REQUESTS && request->route != ROUTE_MOCK_JOBS;

    if (request->route == ROUTE_MOCK_UNKNOWN) {
        reply_message(reply, MHD_HTTP_NOT_FOUND, NULL,
                      "no mock route %.60s (callback, callbacks, requests, jobs, reset, config, "
                      "fault)",
                      request->path);
        return;
    }
    if (wants_post && !request->is_post) {
        reply_not_allowed(reply, request->method, "POST");
        return;
    }
    if (!wants_post && !request->is_get) {
        reply_not_allowed(reply, request->method, "GET, HEAD");
        return;
    }

    switch (request->route) {
    case ROUTE_MOCK_CALLBACK:
        receive_callback(connection, request, reply);
        break;
    case ROUTE_MOCK_CALLBACKS:
        records_callbacks_json(&reply->body);
        reply_json(reply, MHD_HTTP_OK);
        break;
    case ROUTE_MOCK_REQUESTS:
        records_requests_json(&reply->body);
        reply_json(reply, MHD_HTTP_OK);
        break;
    case ROUTE_MOCK_JOBS:
        jobs_to_json(&reply->body);
        reply_json(reply, MHD_HTTP_OK);
        break;
    case ROUTE_MOCK_RESET:
        reset(reply);
        break;
    case ROUTE_MOCK_CONFIG:
        change_config(connection, reply);
        break;
    case ROUTE_MOCK_FAULT:
        queue_fault(connection, reply);
        break;
    default:
        reply_message(reply, MHD_HTTP_NOT_FOUND, NULL, "no mock route %.60s", request->path);
        break;
    }
}
