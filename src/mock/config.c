/* The running configuration (polls, delay, shape, API key, chaos, callback
 * faults and sending): what the command line set at startup, and what
 * /_mock/config changed since. */
#include "config.h"

#include "json_out.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;
static mock_config startup_config;
static mock_config running_config;

void config_defaults(mock_config *config)
{
    memset(config, 0, sizeof *config);
    config->polls = MOCK_DEFAULT_POLLS;
    config->shape = SHAPE_PLAIN;
    config->callback_fault_percent = MOCK_PERCENT_MAX;
    config->callback_late_ms = MOCK_CALLBACK_LATE_DEFAULT_MS;
    config->callback_timeout_ms = MOCK_CALLBACK_TIMEOUT_DEFAULT_MS;
    config->callback_connections = MOCK_CALLBACK_CONNECTIONS_DEFAULT;
    config->chaos_seed =
        ((unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16)) & MOCK_CHAOS_SEED_MAX;
}

/* The settings of callbacks; config_apply passes on every key it does not know. */
static int apply_callback_setting(mock_config *config, const char *key, const char *value,
                                  char *error, size_t error_size)
{
    unsigned long hold;
    if (strcmp(key, "callback_fault") == 0)
        return callback_faults_parse(value, &config->callback_faults, error, error_size);
    if (strcmp(key, "callback_fault_percent") == 0) {
        if (mock_parse_ulong(value, MOCK_PERCENT_MAX, &config->callback_fault_percent) == 0)
            return 0;
        snprintf(error, error_size,
                 "callback_fault_percent must be a whole percentage from 0 to %lu",
                 MOCK_PERCENT_MAX);
        return -1;
    }
    if (strcmp(key, "callback_late_ms") == 0) {
        if (mock_parse_ulong(value, MOCK_CALLBACK_LATE_MAX_MS, &config->callback_late_ms) == 0)
            return 0;
        snprintf(error, error_size, "callback_late_ms must be a whole number of ms from 0 to %lu",
                 MOCK_CALLBACK_LATE_MAX_MS);
        return -1;
    }
    if (strcmp(key, "callback_timeout_ms") == 0) {
        if (mock_parse_ulong(value, MOCK_CALLBACK_TIMEOUT_MAX_MS, &config->callback_timeout_ms) ==
                0 &&
            config->callback_timeout_ms > 0)
            return 0;
        snprintf(error, error_size,
                 "callback_timeout_ms must be a whole number of ms from 1 to %lu",
                 MOCK_CALLBACK_TIMEOUT_MAX_MS);
        return -1;
    }
    if (strcmp(key, "callback_connections") == 0) {
        if (mock_parse_ulong(value, MOCK_CALLBACK_CONNECTIONS_MAX, &config->callback_connections) ==
                0 &&
            config->callback_connections > 0)
            return 0;
        snprintf(error, error_size, "callback_connections must be a whole number from 1 to %lu",
                 MOCK_CALLBACK_CONNECTIONS_MAX);
        return -1;
    }
    if (strcmp(key, "callback_hold") == 0) {
        if (mock_parse_ulong(value, 1, &hold) == 0) {
            config->callback_hold = hold == 1;
            return 0;
        }
        snprintf(error, error_size, "callback_hold must be 1 (hold callbacks) or 0 (send them)");
        return -1;
    }
    snprintf(error, error_size,
             "unknown setting '%.40s' (polls, delay_ms, shape, api_key, chaos, chaos_seed, "
             "callback_fault, callback_fault_percent, callback_late_ms, callback_timeout_ms, "
             "callback_connections, callback_hold)",
             key);
    return -1;
}

int config_apply(mock_config *config, const char *key, const char *value, char *error,
                 size_t error_size)
{
    if (!value) {
        snprintf(error, error_size, "%s needs a value", key);
        return -1;
    }
    if (strcmp(key, "polls") == 0) {
        if (mock_parse_ulong(value, MOCK_POLLS_MAX, &config->polls) == 0) return 0;
        snprintf(error, error_size, "polls must be a whole number from 0 to %lu", MOCK_POLLS_MAX);
        return -1;
    }
    if (strcmp(key, "delay_ms") == 0) {
        if (mock_parse_ulong(value, MOCK_DELAY_MAX_MS, &config->delay_ms) == 0) return 0;
        snprintf(error, error_size, "delay_ms must be a whole number of ms from 0 to %lu",
                 MOCK_DELAY_MAX_MS);
        return -1;
    }
    if (strcmp(key, "shape") == 0) {
        char choices[128];
        if (shape_parse(value, &config->shape) == 0) return 0;
        shape_names(choices, sizeof choices);
        snprintf(error, error_size, "unknown shape '%.40s' (one of: %s)", value, choices);
        return -1;
    }
    if (strcmp(key, "api_key") == 0) {
        if (strlen(value) <= MOCK_API_KEY_MAX) {
            snprintf(config->api_key, sizeof config->api_key, "%s", value);
            return 0;
        }
        snprintf(error, error_size, "api_key is longer than %d bytes", MOCK_API_KEY_MAX);
        return -1;
    }
    if (strcmp(key, "chaos") == 0) {
        if (mock_parse_ulong(value, MOCK_PERCENT_MAX, &config->chaos_percent) == 0) return 0;
        snprintf(error, error_size, "chaos must be a whole percentage from 0 to %lu",
                 MOCK_PERCENT_MAX);
        return -1;
    }
    if (strcmp(key, "chaos_seed") == 0) {
        if (mock_parse_ulong(value, MOCK_CHAOS_SEED_MAX, &config->chaos_seed) == 0) return 0;
        snprintf(error, error_size, "chaos_seed must be a whole number from 0 to %lu",
                 MOCK_CHAOS_SEED_MAX);
        return -1;
    }
    return apply_callback_setting(config, key, value, error, error_size);
}

void config_start(const mock_config *startup)
{
    pthread_mutex_lock(&config_lock);
    startup_config = *startup;
    running_config = *startup;
    pthread_mutex_unlock(&config_lock);
}

void config_get(mock_config *out)
{
    pthread_mutex_lock(&config_lock);
    *out = running_config;
    pthread_mutex_unlock(&config_lock);
}

void config_set(const mock_config *config)
{
    pthread_mutex_lock(&config_lock);
    running_config = *config;
    pthread_mutex_unlock(&config_lock);
}

void config_restore_startup(void)
{
    pthread_mutex_lock(&config_lock);
    running_config = startup_config;
    pthread_mutex_unlock(&config_lock);
}

int config_key_accepted(const mock_config *config, const char *given)
{
    if (!given || !*given) return 0;
    return config->api_key[0] == '\0' || strcmp(config->api_key, given) == 0;
}

void config_members_json(const mock_config *config, mock_buf *out)
{
    buf_printf(out, "\"polls\":%lu,\"delay_ms\":%lu,\"shape\":", config->polls, config->delay_ms);
    json_cstring(out, shape_name(config->shape));
    buf_puts(out, ",\"api_key\":");
    json_cstring(out, config->api_key[0] ? config->api_key : NULL);
    buf_printf(out, ",\"chaos\":%lu,\"chaos_seed\":%lu", config->chaos_percent, config->chaos_seed);
    buf_puts(out, ",\"callback_fault\":");
    callback_faults_json(config->callback_faults, out);
    buf_printf(out,
               ",\"callback_fault_percent\":%lu,\"callback_late_ms\":%lu,"
               "\"callback_timeout_ms\":%lu,\"callback_connections\":%lu,\"callback_hold\":%d",
               config->callback_fault_percent, config->callback_late_ms,
               config->callback_timeout_ms, config->callback_connections, config->callback_hold);
}
