/* One HTTP request as the mock sees it across MHD's calls: its route, what it
 * uploaded, the fault it drew and where it is logged; and its handlers. */
#ifndef DALLE_MOCK_REQUEST_H
#define DALLE_MOCK_REQUEST_H

#include "faults.h"
#include "records.h"
#include "reply.h"
#include "util.h"

#include <microhttpd.h>

/* The service takes small forms; anything bigger is refused with 413. */
#define REQUEST_FIELDS_MAX (64 * 1024)
#define REQUEST_CALLBACK_BODY_MAX (1024 * 1024)

enum route {
    ROUTE_SUBMIT,
    ROUTE_ART,
    ROUTE_IMAGE,
    ROUTE_MOCK_CALLBACK,
    ROUTE_MOCK_CALLBACKS,
    ROUTE_MOCK_REQUESTS,
    ROUTE_MOCK_RESET,
    ROUTE_MOCK_CONFIG,
    ROUTE_MOCK_FAULT,
    ROUTE_MOCK_JOBS,
    ROUTE_MOCK_UNKNOWN,
    ROUTE_UNKNOWN
};

typedef struct mock_request {
    enum route route;
    char *method;
    char *path;
    char *target_id; /* the job id in an art or image path */
    int is_get;      /* GET or HEAD */
    int is_post;

    struct MHD_PostProcessor *post; /* NULL unless a submit with a form body */
    mock_pairs fields;
    size_t field_bytes;
    int fields_too_large;
    int form_malformed;
    char *duplicate_field;
    long current_field; /* field that further chunks append to; -1: none */

    mock_buf body; /* raw body, kept only for /_mock/callback */
    int body_too_large;

    int logged;
    record_ref record;
    int has_fault;
    mock_fault fault;
    unsigned status; /* answered; 0 while none */
} mock_request;

void service_submit(struct MHD_Connection *connection, mock_request *request, mock_reply *reply);
void service_poll(struct MHD_Connection *connection, mock_request *request, mock_reply *reply);
void service_image(struct MHD_Connection *connection, mock_request *request, mock_reply *reply);
void control_handle(struct MHD_Connection *connection, mock_request *request, mock_reply *reply);

#endif
