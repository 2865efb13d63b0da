/* Chaos mode: the random faults given to service requests that no queued
 * fault matched, drawn from a fixed set by one seeded generator, and their
 * count since start or reset; and the callback faults given to new jobs,
 * drawn by a second generator from the same seed. */
#include "chaos.h"

#include <pthread.h>
#include <stdint.h>

#define PERCENT 100
/* The high half of an xorshift64* output is its most random. */
#define HIGH_HALF_SHIFT 32

/* Each is read by the --fault parser, so it acts exactly as the queued fault
 * of the same spec would; all have count=1. */
static const char *const chaos_specs[] = {
    "status=500",  "status=503",   "status=429,retry_after=0",
    "drop=1",      "malformed=1",  "stall=1,stall_ms=300",
    "delay_ms=20", "idle_close=1",
};
#define CHAOS_SPEC_COUNT (sizeof chaos_specs / sizeof chaos_specs[0])

/* The callback faults' generator starts from the seed plus this, so its
 * draws are not the request faults' draws over again. */
#define CALLBACK_STREAM_OFFSET 0x63616c6cUL

/* One generator for every connection thread: a sequential client then sees
 * the same faults for the same seed. Callback faults have their own, so
 * turning them on does not change which requests get a fault. */
static pthread_mutex_t chaos_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t random_state;
static uint64_t callback_random_state;
static unsigned long faults_drawn;

/* splitmix64's finaliser. After the added constant every step is a
 * bijection that keeps zero at zero, so only the seed 2^64 minus that
 * constant, far above any allowed seed, would give the zero state that
 * xorshift can never leave. */
static uint64_t state_from_seed(unsigned long seed)
{
    uint64_t x = (uint64_t)seed + UINT64_C(0x9E3779B97F4A7C15);
    x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
    return x ^ (x >> 31);
}

/* xorshift64*; the caller holds chaos_lock. */
static uint32_t next_random_of(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (uint32_t)((*state * UINT64_C(0x2545F4914F6CDD1D)) >> HIGH_HALF_SHIFT);
}

static uint32_t next_random(void)
{
    return next_random_of(&random_state);
}

/* The caller holds chaos_lock. */
static void seed_generators(unsigned long seed)
{
    random_state = state_from_seed(seed);
    callback_random_state = state_from_seed(seed + CALLBACK_STREAM_OFFSET);
}

void chaos_restart(unsigned long seed)
{
    pthread_mutex_lock(&chaos_lock);
    seed_generators(seed);
    faults_drawn = 0;
    pthread_mutex_unlock(&chaos_lock);
}

void chaos_reseed(unsigned long seed)
{
    pthread_mutex_lock(&chaos_lock);
    seed_generators(seed);
    pthread_mutex_unlock(&chaos_lock);
}

const char *chaos_draw(unsigned long percent, mock_fault *fault)
{
    const char *spec = NULL;
    fault_error error;

    if (percent == 0) return NULL;
    pthread_mutex_lock(&chaos_lock);
    if (next_random() % PERCENT < percent) {
        spec = chaos_specs[next_random() % CHAOS_SPEC_COUNT];
        faults_drawn++;
    }
    pthread_mutex_unlock(&chaos_lock);
    if (!spec || fault_parse_spec(spec, fault, &error) != 0) return NULL;
    return spec;
}

unsigned long chaos_faults_drawn(void)
{
    unsigned long drawn;
    pthread_mutex_lock(&chaos_lock);
    drawn = faults_drawn;
    pthread_mutex_unlock(&chaos_lock);
    return drawn;
}

enum callback_fault chaos_draw_callback_fault(unsigned long percent, callback_fault_set set)
{
    enum callback_fault fault = CALLBACK_FAULT_NONE;
    unsigned count = callback_faults_count(set);

    if (percent == 0 || count == 0) return CALLBACK_FAULT_NONE;
    pthread_mutex_lock(&chaos_lock);
    if (next_random_of(&callback_random_state) % PERCENT < percent)
        fault = callback_faults_nth(set, next_random_of(&callback_random_state) % count);
    pthread_mutex_unlock(&chaos_lock);
    return fault;
}
