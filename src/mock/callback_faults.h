/* Callback faults: what may go wrong with a finished job's callback (never
 * sent, sent late, sent twice, a body that is not JSON, JSON of another
 * shape), their names, and the set of them a configuration allows. */
#ifndef DALLE_MOCK_CALLBACK_FAULTS_H
#define DALLE_MOCK_CALLBACK_FAULTS_H

#include "util.h"

#include <stddef.h>

enum callback_fault {
    CALLBACK_FAULT_NONE,
    CALLBACK_FAULT_NEVER,
    CALLBACK_FAULT_LATE,
    CALLBACK_FAULT_TWICE,
    CALLBACK_FAULT_GARBAGE,
    CALLBACK_FAULT_OTHER_SHAPE,
    CALLBACK_FAULT_COUNT
};

/* A set of faults, one bit per enum value (CALLBACK_FAULT_NONE's bit unused). */
typedef unsigned callback_fault_set;

#define CALLBACK_FAULT_LIST "never, late, twice, garbage, other_shape"
/* The most POSTs one job's callback makes (the twice fault). */
#define CALLBACK_SENDS_MAX 2
/* The body of the other_shape fault: JSON with neither an id nor a status. */
#define CALLBACK_OTHER_SHAPE_BODY                                                                  \
    "{\"event\":\"job.updated\",\"detail\":{\"note\":\"a callback of another shape\"}}"

const char *callback_fault_name(enum callback_fault fault);
/* Reads "none" or a comma-separated list of fault names, each at most once.
 * Returns 0, or -1 with a message in `error`. */
int callback_faults_parse(const char *text, callback_fault_set *set, char *error,
                          size_t error_size);
/* How many faults the set holds, and the n-th of them (from 0) in enum order. */
unsigned callback_faults_count(callback_fault_set set);
enum callback_fault callback_faults_nth(callback_fault_set set, unsigned n);
/* The set as "twice,garbage" (or "none"), a JSON string. */
void callback_faults_json(callback_fault_set set, mock_buf *out);
/* How many POSTs a finished job's callback makes under `fault`. */
unsigned callback_fault_sends(enum callback_fault fault);
/* Replaces a finished job's callback body with what `fault` sends instead. */
void callback_fault_body(enum callback_fault fault, mock_buf *body);

#endif
