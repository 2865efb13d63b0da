/* A reply before it goes on the wire, and the ways it can go: whole, one
 * byte at a time (the trickle fault), or with the connection closed after. */
#ifndef DALLE_MOCK_REPLY_H
#define DALLE_MOCK_REPLY_H

#include "util.h"

#include <microhttpd.h>

#define REPLY_HEADER_MAX 64

typedef struct mock_reply {
    unsigned status;
    const char *content_type; /* a string literal, or one that outlives the reply */
    mock_buf body;
    const char *allow;                  /* the Allow header of a 405, else NULL */
    char retry_after[REPLY_HEADER_MAX]; /* empty: no Retry-After */
    const char *location;               /* the Location header, else NULL */
} mock_reply;

enum reply_delivery { DELIVER_WHOLE, DELIVER_TRICKLE, DELIVER_THEN_CLOSE };

/* Marks what the caller wrote into `reply->body` as a JSON reply. */
void reply_json(mock_reply *reply, unsigned status);
/* Replaces the reply with {"message":"...","field":"..."} (no field if NULL). */
void reply_message(mock_reply *reply, unsigned status, const char *field, const char *format, ...)
    __attribute__((format(printf, 4, 5)));
/* 405 with an Allow header naming the methods the route takes. */
void reply_not_allowed(mock_reply *reply, const char *method, const char *allowed);
void reply_free(mock_reply *reply);

/* The MHD response for `reply`, which gives up its body; NULL on failure.
 * `trickle_ms` is the pause before each byte when trickling. */
struct MHD_Response *reply_response(mock_reply *reply, enum reply_delivery delivery,
                                    unsigned long trickle_ms);

#endif
