/* The job store: ids, the way from submitted to done, what each poll sees,
 * which finished jobs still owe their callback, and what each job cost and
 * sent (its GETs, its callback POSTs and how they ended). */
#ifndef DALLE_MOCK_JOBS_H
#define DALLE_MOCK_JOBS_H

#include "../rules.h"
#include "config.h"
#include "util.h"

#include <stdint.h>

/* Jobs whose prompt contains this end failed instead of succeeding. */
#define JOB_FAIL_MARKER "[fail]"
#define JOB_FAIL_REASON "the mock was asked to fail this job"

void jobs_start(void);
/* Image URLs are "<base>/images/<id>.png". */
void jobs_set_public_base(const char *base);

/* Creates a job from checked parameters with the running configuration, and
 * writes the submit reply in the configured shape. */
void jobs_create(const dalle_params *params, const mock_config *config, mock_buf *reply);
/* Answers one poll: writes the job's state and counts the poll. Returns 0,
 * or -1 when there is no such job. */
int jobs_poll(const char *id, mock_buf *reply);

/* Replay mode (replay.h) keeps the store but writes the bodies itself. */
/* Creates a job for a recorded 2xx submit, standing for recorded job
 * `recording`: done at once, so its image downloads, and never owed a
 * callback. Appends its id and image URL. */
void jobs_create_replayed(const dalle_params *params, const mock_config *config, size_t recording,
                          mock_buf *id, mock_buf *url);
/* Counts a poll of a replayed job: gives its recorded job, the polls it
 * answered before this one, and appends its image URL. Returns 0, or -1 when
 * there is no such replayed job. */
int jobs_poll_replayed(const char *id, size_t *recording, unsigned long *polls_before,
                       mock_buf *url);

enum image_state { IMAGE_READY, IMAGE_NO_JOB, IMAGE_NOT_READY };
/* When ready, gives a copy of the prompt (free it) and the image size. */
enum image_state jobs_image(const char *id, char **prompt, size_t *prompt_len, unsigned *width,
                            unsigned *height);

/* Counts a GET (or HEAD) of /sdk/art/{id} for the job, whatever it is
 * answered (a fault's reply included); an unknown id is not counted. */
void jobs_count_get(const char *id);

/* Marks done every job whose polls and delay are both satisfied. */
void jobs_advance(void);

/* Names one job across the callback worker's calls; a reset since makes it
 * name none. */
typedef struct job_ref {
    unsigned long generation;
    size_t index;
} job_ref;

/* One callback POST to make. */
typedef struct callback_send {
    job_ref job;
    char *url; /* free it */
    mock_buf body;
} callback_send;

/* Takes up to `max` callback POSTs due at `now_ms`, in creation order and at
 * most one per job at a time (the second POST of the twice fault is due once
 * the first has ended). Returns how many were taken into `out`, and sets
 * `*more` when some that were due had no room. */
size_t jobs_take_callbacks(uint64_t now_ms, callback_send *out, size_t max, int *more);
/* Records how a taken POST ended: the HTTP status the receiver answered, or
 * 0 and why there was no answer (a string that lives as long as the program). */
void jobs_callback_ended(job_ref job, long status, const char *error);

/* [{"id","prompt","state","polls","gets","callback_fault","callbacks_pending",
 * "callbacks"},...] in creation order; the id is always a string, whatever
 * the shape; polls counts the pending polls answered, gets every GET of the
 * job; callbacks is [{"status":N} or {"error":"..."},...] per POST ended,
 * each with "at", when it ended (mock_now()). */
void jobs_to_json(mock_buf *out);

void jobs_clear(void);
/* Frees everything, the public base too; for shutdown. */
void jobs_stop(void);

#endif
