/* The running configuration (polls, delay, shape, API key, chaos, callback
 * faults and sending): what the command line set at startup, and what
 * /_mock/config changed since. */
#ifndef DALLE_MOCK_CONFIG_H
#define DALLE_MOCK_CONFIG_H

#include "callback_faults.h"
#include "shapes.h"
#include "util.h"

#define MOCK_DEFAULT_POLLS 2
#define MOCK_POLLS_MAX 1000000UL
#define MOCK_DELAY_MAX_MS 3600000UL
#define MOCK_API_KEY_MAX 256
#define MOCK_CONFIG_ERROR_MAX 256
#define MOCK_PERCENT_MAX 100UL
/* Seeds fit 32 bits: an unsigned long everywhere, and exact as a JSON number
 * in any client. */
#define MOCK_CHAOS_SEED_MAX 4294967295UL
#define MOCK_CALLBACK_LATE_DEFAULT_MS 1000UL
#define MOCK_CALLBACK_LATE_MAX_MS 3600000UL
/* Each callback POST, from its start to the receiver's whole answer. */
#define MOCK_CALLBACK_TIMEOUT_DEFAULT_MS 5000UL
#define MOCK_CALLBACK_TIMEOUT_MAX_MS 600000UL
/* Callback POSTs in flight at once (each on its own connection); more that
 * are due wait for one to end. Above 128 by default, so a receiver meets
 * more connections ready at once than some servers handle (note 2 of the
 * libmicrohttpd notes); fewer deliver a burst on one machine sooner. */
#define MOCK_CALLBACK_CONNECTIONS_DEFAULT 256UL
#define MOCK_CALLBACK_CONNECTIONS_MAX 1024UL

typedef struct mock_config {
    unsigned long polls;    /* pending poll replies a job gives before it is done */
    unsigned long delay_ms; /* least time from submit to done */
    enum mock_shape shape;
    char api_key[MOCK_API_KEY_MAX + 1]; /* empty: any non-empty key is accepted */
    unsigned long chaos_percent;        /* share of service requests given a random fault */
    unsigned long chaos_seed;
    /* A job submitted gets, with a chance of callback_fault_percent in 100,
     * one of callback_faults drawn at random (none when the set is empty). */
    callback_fault_set callback_faults;
    unsigned long callback_fault_percent;
    unsigned long callback_late_ms;     /* how late the late fault sends */
    unsigned long callback_timeout_ms;  /* read when each POST starts */
    unsigned long callback_connections; /* POSTs in flight at once */
    /* While set, callbacks that fall due wait; clearing it sends them all at
     * once. Jobs are done and answer polls as usual. */
    int callback_hold;
    /* One thread serves every connection, so nothing may sleep: no fault
     * that does (fault_sleeps), no chaos. Set at startup only. */
    int single_thread;
} mock_config;

/* The chaos seed defaults to one taken from the time and process id. */
void config_defaults(mock_config *config);
/* Sets one setting by its name (polls, delay_ms, shape, api_key, chaos,
 * chaos_seed, callback_fault, callback_fault_percent, callback_late_ms,
 * callback_timeout_ms, callback_connections, callback_hold): the one parser
 * behind both the command line and /_mock/config. Returns 0, or -1 with a
 * message in `error`. */
int config_apply(mock_config *config, const char *key, const char *value, char *error,
                 size_t error_size);

void config_start(const mock_config *startup);
void config_get(mock_config *out);
void config_set(const mock_config *config);
void config_restore_startup(void);

/* 1 when `given` (NULL if the header is missing) passes `config`'s key rule. */
int config_key_accepted(const mock_config *config, const char *given);
/* "polls":..,"chaos_seed":N without the braces, so a reply can add members. */
void config_members_json(const mock_config *config, mock_buf *out);

/* Why --single-thread refuses what would sleep: on the command line and the control routes. */
#define MOCK_SINGLE_THREAD_NO_SLEEP                                                                \
    "dalle-mock runs --single-thread: one thread serves every connection, so a fault that "        \
    "sleeps (delay_ms, stall, trickle) or chaos would hold up all of them"

#endif
