/* The imitated aiRight routes: submit (POST .../sdk/models/dall-e), poll
 * (GET .../sdk/art/{id}) and the generated image (GET /images/{id}.png). */
#include "request.h"

#include "../rules.h"
#include "config.h"
#include "jobs.h"
#include "png.h"
#include "replay.h"

#include <stdlib.h>
#include <string.h>

#define QUOTED_MAX 60

/* Loads the running configuration and checks the x-api-key header against it. */
static int key_accepted(struct MHD_Connection *connection, mock_config *config)
{
    config_get(config);
    return config_key_accepted(
        config, MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "x-api-key"));
}

static void reply_unauthorized(mock_reply *reply)
{
    reply_message(reply, MHD_HTTP_UNAUTHORIZED, NULL, "invalid or missing api key");
}

static int is_submit_field(const char *name)
{
    for (size_t i = 0; i < DALLE_FORM_FIELD_COUNT; i++)
        if (strcmp(dalle_form_fields[i], name) == 0) return 1;
    return 0;
}

static const char *field_value(const mock_request *request, const char *name, size_t *len)
{
    const mock_pair *pair = pairs_find(&request->fields, name);
    if (len) *len = pair ? pair->value_len : 0;
    return pair ? pair->value : NULL;
}

/* Form problems the rules do not cover; returns 0 when there are none. */
static int check_form(const mock_request *request, mock_reply *reply)
{
    const char *model_id = dalle_rules_find(dalle_default_model)->model_id;
    const char *given_id = field_value(request, "modelId", NULL);

    if (request->fields_too_large) {
        reply_message(reply, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
                      "the form fields are larger than %d bytes in total", REQUEST_FIELDS_MAX);
        return -1;
    }
    if (!request->post) {
        reply_message(reply, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, NULL,
                      "the body must be multipart/form-data or application/x-www-form-urlencoded");
        return -1;
    }
    if (request->form_malformed) {
        reply_message(reply, MHD_HTTP_BAD_REQUEST, NULL, "the form body could not be read");
        return -1;
    }
    if (request->duplicate_field) {
        reply_message(reply, MHD_HTTP_BAD_REQUEST, request->duplicate_field,
                      "field %.40s is given more than once", request->duplicate_field);
        return -1;
    }
    if (!given_id) {
        reply_message(reply, MHD_HTTP_BAD_REQUEST, "modelId",
                      "modelId is required (dall-e is modelId %s)", model_id);
        return -1;
    }
    if (strcmp(given_id, model_id) != 0) {
        reply_message(reply, MHD_HTTP_BAD_REQUEST, "modelId",
                      "invalid modelId '%.*s' (dall-e is modelId %s)", QUOTED_MAX, given_id,
                      model_id);
        return -1;
    }
    for (size_t i = 0; i < request->fields.count; i++) {
        const mock_pair *field = &request->fields.items[i];
        if (!is_submit_field(field->name)) {
            reply_message(reply, MHD_HTTP_BAD_REQUEST, field->name,
                          "unknown field '%.*s' (dall-e takes " DALLE_FORM_FIELD_LIST ")",
                          QUOTED_MAX, field->name);
            return -1;
        }
        /* The rules see C strings for every field but the prompt. */
        if (strcmp(field->name, "prompt") != 0 && strlen(field->value) != field->value_len) {
            reply_message(reply, MHD_HTTP_BAD_REQUEST, field->name, "%s must not contain NUL bytes",
                          field->name);
            return -1;
        }
    }
    return 0;
}

void service_submit(struct MHD_Connection *connection, mock_request *request, mock_reply *reply)
{
    mock_config config;
    dalle_params params;
    dalle_rules_error error;

    if (!key_accepted(connection, &config)) {
        reply_unauthorized(reply);
        return;
    }
    if (check_form(request, reply)) return;

    memset(&params, 0, sizeof params);
    for (size_t i = 0; i < DALLE_FORM_FIELD_COUNT; i++) {
        const char **slot = dalle_params_slot(&params, dalle_form_fields[i]);
        if (slot) *slot = field_value(request, dalle_form_fields[i], NULL);
    }
    params.prompt = field_value(request, "prompt", &params.prompt_len);
    if (dalle_rules_check(&params, &error) != 0) {
        reply_message(reply, MHD_HTTP_BAD_REQUEST, error.field, "%s", error.message);
        return;
    }
    if (replay_active()) {
        replay_submit(&params, &config, reply);
        return;
    }
    jobs_create(&params, &config, &reply->body);
    reply_json(reply, MHD_HTTP_OK);
}

void service_poll(struct MHD_Connection *connection, mock_request *request, mock_reply *reply)
{
    mock_config config;
    if (!key_accepted(connection, &config)) {
        reply_unauthorized(reply);
        return;
    }
    if (replay_active()) {
        replay_poll(request->target_id, reply);
        return;
    }
    if (jobs_poll(request->target_id, &reply->body) != 0) {
        reply_message(reply, MHD_HTTP_NOT_FOUND, NULL, "no job %.*s", QUOTED_MAX,
                      request->target_id);
        return;
    }
    reply_json(reply, MHD_HTTP_OK);
}

void service_image(struct MHD_Connection *connection, mock_request *request, mock_reply *reply)
{
    char *prompt = NULL;
    size_t prompt_len = 0;
    unsigned width = 0, height = 0;
    (void)connection;

    switch (jobs_image(request->target_id, &prompt, &prompt_len, &width, &height)) {
    case IMAGE_NO_JOB:
        reply_message(reply, MHD_HTTP_NOT_FOUND, NULL, "no job %.*s", QUOTED_MAX,
                      request->target_id);
        return;
    case IMAGE_NOT_READY:
        reply_message(reply, MHD_HTTP_NOT_FOUND, NULL,
                      "job %.*s has no image (it has not succeeded)", QUOTED_MAX,
                      request->target_id);
        return;
    case IMAGE_READY:
        break;
    }
    png_from_prompt(prompt, prompt_len, width, height, &reply->body);
    free(prompt);
    reply->status = MHD_HTTP_OK;
    reply->content_type = "image/png";
}
