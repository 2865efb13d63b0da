/* The client's timers as a binary min-heap ordered by due time. Cancelled
 * timers are found by a scan, which is cheap next to the transfer each
 * timer stands for. */
#include "schedule.h"

#include <stdlib.h>
#include <time.h>

#define SCHEDULE_INITIAL_CAPACITY 16

double dalle_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void dalle_schedule_init(dalle_schedule *s)
{
    s->heap = NULL;
    s->count = 0;
    s->capacity = 0;
}

void dalle_schedule_free(dalle_schedule *s)
{
    free(s->heap);
    dalle_schedule_init(s);
}

static int earlier(const dalle_timer *a, const dalle_timer *b)
{
    return a->due < b->due || (a->due == b->due && a->id < b->id);
}

static void swap(dalle_schedule *s, size_t a, size_t b)
{
    dalle_timer t = s->heap[a];
    s->heap[a] = s->heap[b];
    s->heap[b] = t;
}

static void sift_up(dalle_schedule *s, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(&s->heap[i], &s->heap[parent])) break;
        swap(s, i, parent);
        i = parent;
    }
}

static void sift_down(dalle_schedule *s, size_t i)
{
    for (;;) {
        size_t left = 2 * i + 1, right = left + 1, least = i;
        if (left < s->count && earlier(&s->heap[left], &s->heap[least])) least = left;
        if (right < s->count && earlier(&s->heap[right], &s->heap[least])) least = right;
        if (least == i) break;
        swap(s, i, least);
        i = least;
    }
}

static void remove_at(dalle_schedule *s, size_t i)
{
    s->heap[i] = s->heap[--s->count];
    if (i < s->count) {
        sift_down(s, i);
        sift_up(s, i);
    }
}

int dalle_schedule_add(dalle_schedule *s, double due, long long id)
{
    if (s->count == s->capacity) {
        size_t capacity = s->capacity ? s->capacity * 2 : SCHEDULE_INITIAL_CAPACITY;
        dalle_timer *heap = realloc(s->heap, capacity * sizeof *heap);
        if (!heap) return -1;
        s->heap = heap;
        s->capacity = capacity;
    }
    s->heap[s->count].due = due;
    s->heap[s->count].id = id;
    sift_up(s, s->count++);
    return 0;
}

double dalle_schedule_next(const dalle_schedule *s)
{
    return s->count ? s->heap[0].due : -1.0;
}

int dalle_schedule_cancel(dalle_schedule *s, long long id)
{
    for (size_t i = 0; i < s->count; i++) {
        if (s->heap[i].id == id) {
            remove_at(s, i);
            return 1;
        }
    }
    return 0;
}

int dalle_schedule_pop_due(dalle_schedule *s, double now, long long *id)
{
    if (!s->count || s->heap[0].due > now) return 0;
    *id = s->heap[0].id;
    remove_at(s, 0);
    return 1;
}
