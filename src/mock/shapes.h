/* The response shapes the mock answers in: each lays out the submit reply,
 * the poll replies and the callback body the way some real service might. */
#ifndef DALLE_MOCK_SHAPES_H
#define DALLE_MOCK_SHAPES_H

#include "util.h"

#include <stddef.h>

enum mock_shape {
    SHAPE_PLAIN,
    SHAPE_NUMERIC,
    SHAPE_DATA,
    SHAPE_NESTED,
    SHAPE_BARE,
    SHAPE_NOSTATUS,
    SHAPE_MYSTERY,
    SHAPE_OPENAI,
    SHAPE_B64,
    SHAPE_COUNT
};

/* Which of the four bodies of a shape is wanted. */
enum job_phase { PHASE_SUBMITTED, PHASE_PENDING, PHASE_SUCCEEDED, PHASE_FAILED };

const char *shape_name(enum mock_shape shape);
/* Returns 0 and sets `shape`, or -1 for an unknown name. */
int shape_parse(const char *name, enum mock_shape *shape);
/* Writes "plain, numeric, ..." for messages and --help. */
void shape_names(char *out, size_t size);

/* What a body may tell of its job; each shape takes what it needs. */
typedef struct shape_job {
    const char *id;        /* digits in the numeric shape */
    const char *image_url; /* when succeeded */
    const char *image_b64; /* when succeeded in the b64 shape: the PNG in base64 */
    const char *prompt;    /* for the openai shapes' revised_prompt */
    size_t prompt_len;
    long long created;  /* unix seconds of the submit, for the openai shapes */
    const char *reason; /* when failed */
} shape_job;

void shape_render(enum mock_shape shape, enum job_phase phase, const shape_job *job, mock_buf *out);

#endif
