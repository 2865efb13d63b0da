/* Chaos mode: the random faults given to service requests that no queued
 * fault matched, drawn from a fixed set by one seeded generator, and their
 * count since start or reset. */
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

/* One generator for every connection thread: a sequential client then sees
 * the same faults for the same seed. */
static pthread_mutex_t chaos_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t random_state;
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
static uint32_t next_random(void)
{
    random_state ^= random_state >> 12;
    random_state ^= random_state << 25;
    random_state ^= random_state >> 27;
    return (uint32_t)((random_state * UINT64_C(0x2545F4914F6CDD1D)) >> HIGH_HALF_SHIFT);
}

void chaos_restart(unsigned long seed)
{
    pthread_mutex_lock(&chaos_lock);
    random_state = state_from_seed(seed);
    faults_drawn = 0;
    pthread_mutex_unlock(&chaos_lock);
}

void chaos_reseed(unsigned long seed)
{
    pthread_mutex_lock(&chaos_lock);
    random_state = state_from_seed(seed);
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
