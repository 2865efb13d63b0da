/* Fuzzes dalle_parse_retry_after: the answer is -1 or a wait in [0, 86400], all-digit values
 * are capped delta seconds, and an HTTP-date's wait follows the clock second by second. */
#include "transport.h"

#include <stdint.h>
#include <stdlib.h>

#define MAX_WAIT_SECONDS 86400.0
/* A fixed clock keeps every finding reproducible: 2024-01-01T00:00:00Z. */
#define FIXED_NOW 1704067200LL

static int is_valid_wait(double seconds)
{
    return seconds == -1 || (seconds >= 0 && seconds <= MAX_WAIT_SECONDS);
}

/* Delta seconds computed digit by digit, saturating, instead of through strtod. */
static double capped_delta_seconds(const uint8_t *digits, size_t len)
{
    double seconds = 0;
    for (size_t i = 0; i < len; i++) {
        seconds = seconds * 10 + (digits[i] - '0');
        if (seconds > MAX_WAIT_SECONDS) return MAX_WAIT_SECONDS;
    }
    return seconds;
}

static int all_digits(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++)
        if (data[i] < '0' || data[i] > '9') return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *value = (const char *)data;
    double seconds = dalle_parse_retry_after(value, size, FIXED_NOW);

    if (!is_valid_wait(seconds)) abort();
    if (dalle_parse_retry_after(value, size, FIXED_NOW) != seconds) abort();

    if (size == 0 || size > DALLE_RETRY_AFTER_MAX_LEN) {
        if (seconds != -1) abort();
    } else if (all_digits(data, size)) {
        if (seconds != capped_delta_seconds(data, size)) abort();
    } else if (seconds > 0 && seconds < MAX_WAIT_SECONDS) {
        /* A date strictly inside the window is one second closer a second later. */
        if (dalle_parse_retry_after(value, size, FIXED_NOW + 1) != seconds - 1) abort();
    }
    return 0;
}
