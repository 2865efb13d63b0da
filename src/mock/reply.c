/* A reply before it goes on the wire, and the ways it can go: whole, one
 * byte at a time (the trickle fault), or with the connection closed after. */
#include "reply.h"

#include "json_out.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define REPLY_MESSAGE_MAX 1024
/* MHD's read buffer for a trickled body; only one byte is given per call. */
#define TRICKLE_BLOCK_SIZE 64

typedef struct trickle_body {
    char *data;
    size_t len;
    unsigned long interval_ms;
} trickle_body;

void reply_json(mock_reply *reply, unsigned status)
{
    reply->status = status;
    reply->content_type = "application/json";
}

void reply_message(mock_reply *reply, unsigned status, const char *field, const char *format, ...)
{
    char message[REPLY_MESSAGE_MAX];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);

    buf_free(&reply->body);
    buf_puts(&reply->body, "{\"message\":");
    json_cstring(&reply->body, message);
    if (field) {
        buf_puts(&reply->body, ",\"field\":");
        json_cstring(&reply->body, field);
    }
    buf_puts(&reply->body, "}");
    reply_json(reply, status);
}

void reply_not_allowed(mock_reply *reply, const char *method, const char *allowed)
{
    reply_message(reply, MHD_HTTP_METHOD_NOT_ALLOWED, NULL,
                  "%.20s is not allowed here (allowed: %s)", method, allowed);
    reply->allow = allowed;
}

void reply_free(mock_reply *reply)
{
    buf_free(&reply->body);
}

static ssize_t trickle_read(void *cls, uint64_t pos, char *out, size_t max)
{
    trickle_body *body = cls;
    if (pos >= body->len) return MHD_CONTENT_READER_END_OF_STREAM;
    if (max == 0) return 0;
    if (mock_sleep_ms(body->interval_ms) != 0) return MHD_CONTENT_READER_END_WITH_ERROR;
    out[0] = body->data[pos];
    return 1;
}

static void trickle_free(void *cls)
{
    trickle_body *body = cls;
    free(body->data);
    free(body);
}

static struct MHD_Response *trickle_response(mock_reply *reply, unsigned long interval_ms)
{
    trickle_body *body = mock_calloc(1, sizeof *body);
    struct MHD_Response *response;
    body->data = buf_take(&reply->body, &body->len);
    body->interval_ms = interval_ms;
    response = MHD_create_response_from_callback(body->len, TRICKLE_BLOCK_SIZE, trickle_read, body,
                                                 trickle_free);
    if (!response) trickle_free(body);
    return response;
}

struct MHD_Response *reply_response(mock_reply *reply, enum reply_delivery delivery,
                                    unsigned long trickle_ms)
{
    struct MHD_Response *response;
    if (delivery == DELIVER_TRICKLE) {
        response = trickle_response(reply, trickle_ms);
    } else {
        size_t len;
        char *data = buf_take(&reply->body, &len);
        response = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (!response) free(data);
    }
    if (!response) return NULL;
    if (reply->content_type)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type);
    if (reply->allow) MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, reply->allow);
    if (reply->retry_after[0])
        MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, reply->retry_after);
    if (reply->location)
        MHD_add_response_header(response, MHD_HTTP_HEADER_LOCATION, reply->location);
    if (delivery == DELIVER_THEN_CLOSE)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    return response;
}
