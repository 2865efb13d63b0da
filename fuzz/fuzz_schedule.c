/* Fuzzes the timer schedule: any sequence of add, cancel and pop must give
 * exactly what a plain unsorted list of timers gives. */
#include "schedule.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define MODEL_MAX 4096

typedef struct model_timer {
    double due;
    long long id;
} model_timer;

static model_timer model[MODEL_MAX];
static size_t model_count;

static int earlier(const model_timer *a, const model_timer *b)
{
    return a->due < b->due || (a->due == b->due && a->id < b->id);
}

/* The model's earliest timer due by `now`, removed; 0 when none. */
static int model_pop_due(double now, long long *id)
{
    size_t best = model_count;
    for (size_t i = 0; i < model_count; i++)
        if (model[i].due <= now && (best == model_count || earlier(&model[i], &model[best])))
            best = i;
    if (best == model_count) return 0;
    *id = model[best].id;
    model[best] = model[--model_count];
    return 1;
}

static int model_cancel(long long id)
{
    for (size_t i = 0; i < model_count; i++) {
        if (model[i].id == id) {
            model[i] = model[--model_count];
            return 1;
        }
    }
    return 0;
}

static double model_next(void)
{
    double next = -1.0;
    for (size_t i = 0; i < model_count; i++)
        if (next < 0 || model[i].due < next) next = model[i].due;
    return next;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dalle_schedule schedule;
    long long next_id = 1;
    dalle_schedule_init(&schedule);
    model_count = 0;
    for (size_t i = 0; i + 1 < size; i += 2) {
        uint8_t op = data[i] % 3, arg = data[i + 1];
        if (op == 0 && model_count < MODEL_MAX) {
            /* Few distinct due times, so ties (broken by id) are common. */
            double due = (double)(arg % 32);
            if (dalle_schedule_add(&schedule, due, next_id) != 0) abort();
            model[model_count].due = due;
            model[model_count].id = next_id++;
            model_count++;
        } else if (op == 1) {
            /* Ids past the last one issued, and ones already gone, too. */
            long long id = (long long)arg % (next_id + 2);
            if (dalle_schedule_cancel(&schedule, id) != model_cancel(id)) abort();
        } else {
            double now = (double)(arg % 40);
            long long got = 0, want = 0;
            int found = dalle_schedule_pop_due(&schedule, now, &got);
            if (found != model_pop_due(now, &want) || (found && got != want)) abort();
        }
        if (schedule.count != model_count || dalle_schedule_next(&schedule) != model_next())
            abort();
    }
    dalle_schedule_free(&schedule);
    return 0;
}
