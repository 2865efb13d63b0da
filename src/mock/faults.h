/* Fault switches: parsing a fault spec (one parser for --fault and
 * /_mock/fault), the FIFO queue, and the replies that stand in for answers. */
#ifndef DALLE_MOCK_FAULTS_H
#define DALLE_MOCK_FAULTS_H

#include "reply.h"
#include "util.h"

#define FAULT_MESSAGE_MAX 256
#define FAULT_KEY_MAX 32
#define FAULT_ERROR_MAX 256
#define FAULT_COUNT_MAX 1000000UL
/* 1xx are not final answers, so a fault cannot send them. */
#define FAULT_STATUS_MIN 200UL
#define FAULT_STATUS_MAX 599UL
#define FAULT_WAIT_MAX_MS 3600000UL
#define FAULT_DEFAULT_STALL_MS 30000UL
#define FAULT_DEFAULT_TRICKLE_MS 200UL
#define FAULT_TRICKLE_MAX_MS 60000UL
#define FAULT_OVERSIZE_MAX (64UL * 1024 * 1024)
#define FAULT_RETRY_AFTER_MAX_S 86400UL
/* location=URL (with status=CODE) is a Location header up to this long. */
#define FAULT_LOCATION_MAX 512
/* retry_after_date=1 sends an HTTP-date this many seconds ahead. */
#define FAULT_RETRY_DATE_AHEAD_S 2

/* The service routes a fault can be aimed at. */
enum fault_target { FAULT_ON_ANY, FAULT_ON_SUBMIT, FAULT_ON_POLL, FAULT_ON_IMAGE };

enum fault_action {
    FAULT_NONE,
    FAULT_STATUS,
    FAULT_DELAY,
    FAULT_STALL,
    FAULT_TRICKLE,
    FAULT_DROP,
    FAULT_MALFORMED,
    FAULT_WRONG_TYPE,
    FAULT_OVERSIZE,
    FAULT_IDLE_CLOSE
};

typedef struct mock_fault {
    enum fault_target on;
    unsigned long count; /* matching requests it still applies to */
    enum fault_action action;
    unsigned status;
    unsigned long retry_after_s;
    int has_retry_after;
    int retry_after_date;
    char message[FAULT_MESSAGE_MAX + 1];   /* empty: "mock fault CODE" */
    char location[FAULT_LOCATION_MAX + 1]; /* empty: no Location header */
    unsigned long delay_ms;
    unsigned long stall_ms;
    unsigned long trickle_ms;
    unsigned long oversize_bytes;
    unsigned seen_keys; /* while parsing: which keys were given */
} mock_fault;

typedef struct fault_error {
    char key[FAULT_KEY_MAX];
    char message[FAULT_ERROR_MAX];
} fault_error;

void fault_init(mock_fault *fault);
/* One key=value of a spec. Returns 0, or -1 with `err` naming the key. */
int fault_set(mock_fault *fault, const char *key, const char *value, fault_error *err);
/* Checks the whole spec once every key is set (one action, modifiers that fit it). */
int fault_finish(mock_fault *fault, fault_error *err);
/* 1 for delay_ms, stall and trickle: they sleep in their connection's thread. */
int fault_sleeps(const mock_fault *fault);
/* The key that names the fault's action: "status", "stall", ... */
const char *fault_action_name(const mock_fault *fault);
/* "on=submit,status=503": the command-line form, split on `,` then `=`. */
int fault_parse_spec(const char *spec, mock_fault *fault, fault_error *err);

void faults_push(const mock_fault *fault);
/* Takes the first queued fault aimed at `target`; returns 1 and a copy, or 0. */
int faults_take(enum fault_target target, mock_fault *out);
size_t faults_queued(void);
void faults_clear(void);

void fault_to_json(const mock_fault *fault, mock_buf *out);
/* The reply of an action that replaces the answer: status, malformed,
 * wrong_type and oversize. */
void fault_reply(const mock_fault *fault, mock_reply *reply);

#endif
