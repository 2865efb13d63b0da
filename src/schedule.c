/* The client's timers as a binary min-heap ordered by due time, with an id
 * index beside it so a timer is cancelled without a scan. */
#include "schedule.h"

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define SCHEDULE_INITIAL_CAPACITY 16
#define SLOTS_INITIAL 32

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
    s->slots = NULL;
    s->slot_mask = 0;
}

void dalle_schedule_free(dalle_schedule *s)
{
    free(s->heap);
    free(s->slots);
    dalle_schedule_init(s);
}

static size_t slot_of(const dalle_schedule *s, long long id)
{
    uint64_t x = (uint64_t)id * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(x ^ (x >> 29)) & s->slot_mask;
}

/* The slot holding `id`, or the empty slot where it would go. */
static dalle_timer_slot *find_slot(const dalle_schedule *s, long long id)
{
    size_t i = slot_of(s, id);
    while (s->slots[i].id != 0 && s->slots[i].id != id)
        i = (i + 1) & s->slot_mask;
    return &s->slots[i];
}

static int grow_slots(dalle_schedule *s)
{
    size_t old_count = s->slots ? s->slot_mask + 1 : 0;
    size_t new_count = old_count ? old_count * 2 : SLOTS_INITIAL;
    dalle_timer_slot *old = s->slots;
    dalle_timer_slot *slots = calloc(new_count, sizeof *slots);
    if (!slots) return -1;
    s->slots = slots;
    s->slot_mask = new_count - 1;
    for (size_t i = 0; i < old_count; i++)
        if (old[i].id != 0) *find_slot(s, old[i].id) = old[i];
    free(old);
    return 0;
}

/* Removes `id` from the index, shifting later entries of its probe run back
 * so no lookup ever stops short at the hole. */
static void forget_slot(dalle_schedule *s, long long id)
{
    size_t hole = (size_t)(find_slot(s, id) - s->slots);
    size_t i = hole;
    s->slots[hole].id = 0;
    for (;;) {
        i = (i + 1) & s->slot_mask;
        if (s->slots[i].id == 0) return;
        size_t home = slot_of(s, s->slots[i].id);
        /* Move it back unless its home lies cyclically in (hole, i]. */
        if ((i > hole && (home <= hole || home > i)) || (i < hole && home <= hole && home > i)) {
            s->slots[hole] = s->slots[i];
            s->slots[i].id = 0;
            hole = i;
        }
    }
}

static void place(dalle_schedule *s, size_t position)
{
    find_slot(s, s->heap[position].id)->position = position;
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
    place(s, a);
    place(s, b);
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
    forget_slot(s, s->heap[i].id);
    s->heap[i] = s->heap[--s->count];
    if (i < s->count) {
        place(s, i);
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
    if ((s->count + 1) * 2 > (s->slots ? s->slot_mask + 1 : 0) && grow_slots(s) != 0) return -1;
    s->heap[s->count].due = due;
    s->heap[s->count].id = id;
    find_slot(s, id)->id = id;
    place(s, s->count);
    sift_up(s, s->count++);
    return 0;
}

double dalle_schedule_next(const dalle_schedule *s)
{
    return s->count ? s->heap[0].due : -1.0;
}

int dalle_schedule_cancel(dalle_schedule *s, long long id)
{
    dalle_timer_slot *slot;
    if (!s->count) return 0;
    slot = find_slot(s, id);
    if (slot->id == 0) return 0;
    remove_at(s, slot->position);
    return 1;
}

int dalle_schedule_pop_due(dalle_schedule *s, double now, long long *id)
{
    if (!s->count || s->heap[0].due > now) return 0;
    *id = s->heap[0].id;
    remove_at(s, 0);
    return 1;
}
