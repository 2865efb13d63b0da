/* Chaos mode: the random faults given to service requests that no queued
 * fault matched, drawn from a fixed set by one seeded generator, and their
 * count since start or reset; and the callback faults given to new jobs,
 * drawn by a second generator from the same seed. */
#ifndef DALLE_MOCK_CHAOS_H
#define DALLE_MOCK_CHAOS_H

#include "callback_faults.h"
#include "faults.h"

/* Seeds the generator and zeroes the count: at startup and on reset. */
void chaos_restart(unsigned long seed);
/* Seeds the generator again but keeps the count, so what follows can be
 * repeated with the same seed. */
void chaos_reseed(unsigned long seed);
/* With a chance of `percent` in 100, sets `fault` to one drawn uniformly
 * from the set and returns its spec; otherwise returns NULL. */
const char *chaos_draw(unsigned long percent, mock_fault *fault);
unsigned long chaos_faults_drawn(void);
/* With a chance of `percent` in 100, one fault of `set` drawn uniformly;
 * otherwise (and always for an empty set) CALLBACK_FAULT_NONE. */
enum callback_fault chaos_draw_callback_fault(unsigned long percent, callback_fault_set set);

#endif
