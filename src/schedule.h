/* The client's timers (poll schedules, sleeps, deadlines) in one min-heap, so
 * finding the next due timer costs the same with ten jobs or ten thousand. */
#ifndef DALLE_SCHEDULE_H
#define DALLE_SCHEDULE_H

#include <stddef.h>

typedef struct dalle_timer {
    double due; /* monotonic seconds */
    long long id;
} dalle_timer;

/* Where a timer sits in the heap, found by id: cancel is O(1) to find and
 * O(log n) to remove, however many timers there are. */
typedef struct dalle_timer_slot {
    long long id; /* 0: empty (ids start at 1) */
    size_t position;
} dalle_timer_slot;

typedef struct dalle_schedule {
    dalle_timer *heap;
    size_t count;
    size_t capacity;
    dalle_timer_slot *slots; /* open addressing, linear probing */
    size_t slot_mask;        /* slot count - 1; the count is a power of two */
} dalle_schedule;

/* Monotonic clock in seconds. */
double dalle_now(void);

void dalle_schedule_init(dalle_schedule *s);
void dalle_schedule_free(dalle_schedule *s);
/* Returns 0, or -1 when out of memory. */
int dalle_schedule_add(dalle_schedule *s, double due, long long id);
/* The earliest due time, or a negative number when there are no timers. */
double dalle_schedule_next(const dalle_schedule *s);
/* Removes a timer before it is due; returns 1 when there was one. */
int dalle_schedule_cancel(dalle_schedule *s, long long id);
/* Removes one timer due at or before `now` into *id; returns 0 when none. */
int dalle_schedule_pop_due(dalle_schedule *s, double now, long long *id);

#endif
