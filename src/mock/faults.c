/* Fault switches: parsing a fault spec (one parser for --fault and
 * /_mock/fault), the FIFO queue, and the replies that stand in for answers. */
#include "faults.h"

#include "json_out.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAULTS_MIN_CAP 8
#define MALFORMED_BODY "{\"id\": \"abc\", \"status\":"
#define WRONG_TYPE_BODY "<html>service unavailable</html>"
#define OVERSIZE_HEAD "{\"message\":\"mock fault oversize\""

enum fault_key {
    KEY_ON,
    KEY_COUNT,
    KEY_STATUS,
    KEY_RETRY_AFTER,
    KEY_RETRY_AFTER_DATE,
    KEY_MESSAGE,
    KEY_LOCATION,
    KEY_DELAY_MS,
    KEY_STALL,
    KEY_STALL_MS,
    KEY_TRICKLE,
    KEY_TRICKLE_MS,
    KEY_DROP,
    KEY_MALFORMED,
    KEY_WRONG_TYPE,
    KEY_OVERSIZE,
    KEY_IDLE_CLOSE,
    KEY_COUNT_OF_KEYS
};

static const char *const key_names[KEY_COUNT_OF_KEYS] = {
    "on",       "count",     "status",     "retry_after", "retry_after_date", "message",
    "location", "delay_ms",  "stall",      "stall_ms",    "trickle",          "trickle_ms",
    "drop",     "malformed", "wrong_type", "oversize",    "idle_close",
};

static const char *const action_names[] = {
    "none", "status",    "delay_ms",   "stall",    "trickle",
    "drop", "malformed", "wrong_type", "oversize", "idle_close",
};

static const char *const target_names[] = {"any", "submit", "poll", "image"};

int fault_sleeps(const mock_fault *fault)
{
    return fault->action == FAULT_DELAY || fault->action == FAULT_STALL ||
           fault->action == FAULT_TRICKLE;
}

const char *fault_action_name(const mock_fault *fault)
{
    return action_names[fault->action];
}

static pthread_mutex_t faults_lock = PTHREAD_MUTEX_INITIALIZER;
static mock_fault *queue;
static size_t queue_len;
static size_t queue_cap;

static int fail(fault_error *err, const char *key, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(fault_error *err, const char *key, const char *format, ...)
{
    va_list args;
    snprintf(err->key, sizeof err->key, "%s", key);
    va_start(args, format);
    vsnprintf(err->message, sizeof err->message, format, args);
    va_end(args);
    return -1;
}

void fault_init(mock_fault *fault)
{
    memset(fault, 0, sizeof *fault);
    fault->on = FAULT_ON_ANY;
    fault->count = 1;
    fault->action = FAULT_NONE;
    fault->stall_ms = FAULT_DEFAULT_STALL_MS;
    fault->trickle_ms = FAULT_DEFAULT_TRICKLE_MS;
}

static int seen(const mock_fault *fault, enum fault_key key)
{
    return (fault->seen_keys >> key) & 1u;
}

static int set_action(mock_fault *fault, enum fault_action action, const char *key,
                      fault_error *err)
{
    if (fault->action != FAULT_NONE)
        return fail(err, key, "a fault has one action, but '%s' comes after '%s'", key,
                    action_names[fault->action]);
    fault->action = action;
    return 0;
}

static int set_number(const char *key, const char *value, unsigned long min, unsigned long max,
                      unsigned long *out, fault_error *err)
{
    if (mock_parse_ulong(value, max, out) == 0 && *out >= min) return 0;
    return fail(err, key, "%s must be a whole number from %lu to %lu, not '%.40s'", key, min, max,
                value);
}

/* Switch keys take exactly "1", so a typo like stall=yes is not silently read. */
static int set_switch(mock_fault *fault, enum fault_action action, const char *key,
                      const char *value, fault_error *err)
{
    if (strcmp(value, "1") != 0) return fail(err, key, "%s takes the value 1 (%s=1)", key, key);
    return set_action(fault, action, key, err);
}

static int set_target(mock_fault *fault, const char *value, fault_error *err)
{
    for (size_t i = 0; i < sizeof target_names / sizeof target_names[0]; i++) {
        if (strcmp(target_names[i], value) == 0) {
            fault->on = (enum fault_target)i;
            return 0;
        }
    }
    return fail(err, "on", "on must be submit, poll, image or any, not '%.40s'", value);
}

static int find_key(const char *name)
{
    for (int i = 0; i < KEY_COUNT_OF_KEYS; i++)
        if (strcmp(key_names[i], name) == 0) return i;
    return -1;
}

int fault_set(mock_fault *fault, const char *name, const char *value, fault_error *err)
{
    unsigned long number;
    int key = find_key(name);
    if (key < 0)
        return fail(err, name,
                    "unknown fault key '%.40s' (keys: on, count, status, retry_after, "
                    "retry_after_date, message, location, delay_ms, stall, stall_ms, trickle, "
                    "trickle_ms, "
                    "drop, malformed, wrong_type, oversize, idle_close)",
                    name);
    if (seen(fault, (enum fault_key)key)) return fail(err, name, "%s is given twice", name);
    fault->seen_keys |= 1u << key;
    if (!value) return fail(err, name, "%s needs a value (%s=...)", name, name);

    switch ((enum fault_key)key) {
    case KEY_ON:
        return set_target(fault, value, err);
    case KEY_COUNT:
        return set_number(name, value, 1, FAULT_COUNT_MAX, &fault->count, err);
    case KEY_STATUS:
        if (set_number(name, value, FAULT_STATUS_MIN, FAULT_STATUS_MAX, &number, err)) return -1;
        fault->status = (unsigned)number;
        return set_action(fault, FAULT_STATUS, name, err);
    case KEY_RETRY_AFTER:
        fault->has_retry_after = 1;
        return set_number(name, value, 0, FAULT_RETRY_AFTER_MAX_S, &fault->retry_after_s, err);
    case KEY_RETRY_AFTER_DATE:
        if (strcmp(value, "1") != 0) return fail(err, name, "retry_after_date takes the value 1");
        fault->retry_after_date = 1;
        return 0;
    case KEY_MESSAGE:
        if (strlen(value) > FAULT_MESSAGE_MAX)
            return fail(err, name, "message is longer than %d bytes", FAULT_MESSAGE_MAX);
        snprintf(fault->message, sizeof fault->message, "%s", value);
        return 0;
    case KEY_LOCATION:
        if (strlen(value) > FAULT_LOCATION_MAX)
            return fail(err, name, "location is longer than %d bytes", FAULT_LOCATION_MAX);
        snprintf(fault->location, sizeof fault->location, "%s", value);
        return 0;
    case KEY_DELAY_MS:
        if (set_number(name, value, 0, FAULT_WAIT_MAX_MS, &fault->delay_ms, err)) return -1;
        return set_action(fault, FAULT_DELAY, name, err);
    case KEY_STALL:
        return set_switch(fault, FAULT_STALL, name, value, err);
    case KEY_STALL_MS:
        return set_number(name, value, 0, FAULT_WAIT_MAX_MS, &fault->stall_ms, err);
    case KEY_TRICKLE:
        return set_switch(fault, FAULT_TRICKLE, name, value, err);
    case KEY_TRICKLE_MS:
        return set_number(name, value, 0, FAULT_TRICKLE_MAX_MS, &fault->trickle_ms, err);
    case KEY_DROP:
        return set_switch(fault, FAULT_DROP, name, value, err);
    case KEY_MALFORMED:
        return set_switch(fault, FAULT_MALFORMED, name, value, err);
    case KEY_WRONG_TYPE:
        return set_switch(fault, FAULT_WRONG_TYPE, name, value, err);
    case KEY_OVERSIZE:
        if (set_number(name, value, 1, FAULT_OVERSIZE_MAX, &fault->oversize_bytes, err)) return -1;
        return set_action(fault, FAULT_OVERSIZE, name, err);
    case KEY_IDLE_CLOSE:
        return set_switch(fault, FAULT_IDLE_CLOSE, name, value, err);
    case KEY_COUNT_OF_KEYS:
        break;
    }
    return fail(err, name, "unknown fault key '%.40s'", name);
}

/* A modifier key given without the action it modifies. */
static int check_modifier(const mock_fault *fault, enum fault_key key, enum fault_action action,
                          const char *action_example, fault_error *err)
{
    if (!seen(fault, key) || fault->action == action) return 0;
    return fail(err, key_names[key], "%s only goes with %s", key_names[key], action_example);
}

int fault_finish(mock_fault *fault, fault_error *err)
{
    if (fault->action == FAULT_NONE)
        return fail(err, "action",
                    "a fault needs one action: status=CODE, delay_ms=N, stall=1, trickle=1, "
                    "drop=1, malformed=1, wrong_type=1, oversize=N or idle_close=1");
    if (check_modifier(fault, KEY_RETRY_AFTER, FAULT_STATUS, "status=CODE", err) ||
        check_modifier(fault, KEY_RETRY_AFTER_DATE, FAULT_STATUS, "status=CODE", err) ||
        check_modifier(fault, KEY_MESSAGE, FAULT_STATUS, "status=CODE", err) ||
        check_modifier(fault, KEY_LOCATION, FAULT_STATUS, "status=CODE", err) ||
        check_modifier(fault, KEY_STALL_MS, FAULT_STALL, "stall=1", err) ||
        check_modifier(fault, KEY_TRICKLE_MS, FAULT_TRICKLE, "trickle=1", err))
        return -1;
    if (fault->has_retry_after && fault->retry_after_date)
        return fail(err, "retry_after_date",
                    "give retry_after=SECONDS or retry_after_date=1, not both");
    return 0;
}

int fault_parse_spec(const char *spec, mock_fault *fault, fault_error *err)
{
    char *copy = mock_strdup(spec);
    char *rest = copy;
    int result = 0;
    fault_init(fault);
    while (result == 0 && rest) {
        char *item = rest;
        char *comma = strchr(item, ',');
        char *equals;
        rest = comma ? comma + 1 : NULL;
        if (comma) *comma = '\0';
        if (!*item) continue;
        equals = strchr(item, '=');
        if (equals) *equals = '\0';
        result = fault_set(fault, item, equals ? equals + 1 : NULL, err);
    }
    free(copy);
    return result ? result : fault_finish(fault, err);
}

void faults_push(const mock_fault *fault)
{
    pthread_mutex_lock(&faults_lock);
    if (queue_len == queue_cap) {
        queue_cap = queue_cap ? queue_cap * 2 : FAULTS_MIN_CAP;
        queue = mock_realloc(queue, queue_cap * sizeof *queue);
    }
    queue[queue_len++] = *fault;
    pthread_mutex_unlock(&faults_lock);
}

int faults_take(enum fault_target target, mock_fault *out)
{
    int taken = 0;
    pthread_mutex_lock(&faults_lock);
    for (size_t i = 0; i < queue_len && !taken; i++) {
        mock_fault *fault = &queue[i];
        if (fault->on != FAULT_ON_ANY && fault->on != target) continue;
        *out = *fault;
        taken = 1;
        if (--fault->count == 0) {
            memmove(&queue[i], &queue[i + 1], (queue_len - i - 1) * sizeof *queue);
            queue_len--;
        }
    }
    pthread_mutex_unlock(&faults_lock);
    return taken;
}

size_t faults_queued(void)
{
    size_t len;
    pthread_mutex_lock(&faults_lock);
    len = queue_len;
    pthread_mutex_unlock(&faults_lock);
    return len;
}

void faults_clear(void)
{
    pthread_mutex_lock(&faults_lock);
    free(queue);
    queue = NULL;
    queue_len = 0;
    queue_cap = 0;
    pthread_mutex_unlock(&faults_lock);
}

void fault_to_json(const mock_fault *fault, mock_buf *out)
{
    buf_puts(out, "{\"on\":");
    json_cstring(out, target_names[fault->on]);
    buf_printf(out, ",\"count\":%lu,\"action\":", fault->count);
    json_cstring(out, action_names[fault->action]);
    switch (fault->action) {
    case FAULT_STATUS:
        buf_printf(out, ",\"status\":%u", fault->status);
        if (fault->has_retry_after) buf_printf(out, ",\"retry_after\":%lu", fault->retry_after_s);
        if (fault->retry_after_date) buf_puts(out, ",\"retry_after_date\":1");
        if (fault->message[0]) {
            buf_puts(out, ",\"message\":");
            json_cstring(out, fault->message);
        }
        if (fault->location[0]) {
            buf_puts(out, ",\"location\":");
            json_cstring(out, fault->location);
        }
        break;
    case FAULT_DELAY:
        buf_printf(out, ",\"delay_ms\":%lu", fault->delay_ms);
        break;
    case FAULT_STALL:
        buf_printf(out, ",\"stall_ms\":%lu", fault->stall_ms);
        break;
    case FAULT_TRICKLE:
        buf_printf(out, ",\"trickle_ms\":%lu", fault->trickle_ms);
        break;
    case FAULT_OVERSIZE:
        buf_printf(out, ",\"oversize\":%lu", fault->oversize_bytes);
        break;
    default:
        break;
    }
    buf_puts(out, "}");
}

static void retry_after_date(char *out, size_t size)
{
    time_t when = time(NULL) + FAULT_RETRY_DATE_AHEAD_S;
    struct tm utc;
    gmtime_r(&when, &utc);
    /* The C locale is never changed, so names are the English ones HTTP wants. */
    strftime(out, size, "%a, %d %b %Y %H:%M:%S GMT", &utc);
}

void fault_reply(const mock_fault *fault, mock_reply *reply)
{
    buf_free(&reply->body);
    switch (fault->action) {
    case FAULT_STATUS:
        if (fault->message[0])
            reply_message(reply, fault->status, NULL, "%s", fault->message);
        else
            reply_message(reply, fault->status, NULL, "mock fault %u", fault->status);
        if (fault->has_retry_after)
            snprintf(reply->retry_after, sizeof reply->retry_after, "%lu", fault->retry_after_s);
        if (fault->retry_after_date)
            retry_after_date(reply->retry_after, sizeof reply->retry_after);
        if (fault->location[0]) reply->location = fault->location;
        break;
    case FAULT_MALFORMED:
        buf_puts(&reply->body, MALFORMED_BODY);
        reply_json(reply, MHD_HTTP_OK);
        break;
    case FAULT_WRONG_TYPE:
        buf_puts(&reply->body, WRONG_TYPE_BODY);
        reply->status = MHD_HTTP_OK;
        reply->content_type = "text/html";
        break;
    case FAULT_OVERSIZE: {
        size_t head = strlen(OVERSIZE_HEAD);
        buf_puts(&reply->body, OVERSIZE_HEAD);
        /* Whitespace between tokens keeps the padded body valid JSON. */
        if (fault->oversize_bytes > head + 1)
            buf_repeat(&reply->body, ' ', fault->oversize_bytes - head - 1);
        buf_puts(&reply->body, "}");
        reply_json(reply, MHD_HTTP_OK);
        break;
    }
    default:
        reply_message(reply, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "fault %s has no reply",
                      action_names[fault->action]);
        break;
    }
}
