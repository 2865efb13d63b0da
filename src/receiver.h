/* The callback receiver: a libmicrohttpd server in its external mode, with
 * no thread of its own. Its one descriptor sits in the client's poller and
 * the client runs it from step(), so whatever drives the client drives the
 * receiver. It answers each POST at once and files the body in the
 * client's dalle_callbacks. */
#ifndef DALLE_RECEIVER_H
#define DALLE_RECEIVER_H

#include "callbacks.h"

#include <stddef.h>

#define DALLE_RECEIVER_DEFAULT_CONNECTIONS 1024
#define DALLE_RECEIVER_DEFAULT_SECONDS 5
/* Room for why the receiver could not start. */
#define DALLE_RECEIVER_ERROR_SIZE 256

typedef struct dalle_receiver dalle_receiver;

typedef struct dalle_receiver_settings {
    const char *host; /* a numeric address or a name; NULL or "*": every address */
    unsigned port;    /* 0: any free one */
    size_t max_body;
    unsigned max_connections; /* 0: DALLE_RECEIVER_DEFAULT_CONNECTIONS */
    unsigned request_seconds; /* a request (or an idle connection) ends after this; 0: default */
    const char *tls_cert;     /* PEM file paths, both or neither */
    const char *tls_key;
} dalle_receiver_settings;

/* Starts listening; returns NULL with the reason in `error`. `callbacks`
 * must outlive the receiver. */
dalle_receiver *dalle_receiver_start(const dalle_receiver_settings *settings,
                                     dalle_callbacks *callbacks, char *error, size_t error_size);
void dalle_receiver_stop(dalle_receiver *r);

/* The descriptor to watch for reading (libmicrohttpd's epoll set). */
int dalle_receiver_fd(const dalle_receiver *r);
unsigned dalle_receiver_port(const dalle_receiver *r);
/* When the receiver next needs running even if its descriptor stays quiet
 * (dalle_now() clock); < 0: not until it does. */
double dalle_receiver_due(const dalle_receiver *r);
/* Does what is ready. Returns 0, or -1 when libmicrohttpd failed. */
int dalle_receiver_run(dalle_receiver *r);

#endif
