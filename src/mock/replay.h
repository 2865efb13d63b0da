/* Replay mode (--replay): submit and poll replies recorded from the real
 * service by the client's record mode, loaded from a JSON-lines file and sent
 * back in order, with the recorded job ids and image URLs made the mock's. */
#ifndef DALLE_MOCK_REPLAY_H
#define DALLE_MOCK_REPLAY_H

#include "../rules.h"
#include "config.h"
#include "reply.h"

/* A longer line, or more lines, make the file an error. A line holds one
 * reply body, and a b64_json image is a few MiB of base64. */
#define REPLAY_LINE_MAX (32 * 1024 * 1024)
#define REPLAY_LINES_MAX 100000
#define REPLAY_ERROR_MAX 512

/* Loads the recording; after that replay_active() is 1. Returns 0, or -1
 * with one line in `error` naming the file, the line and what is wrong. */
int replay_load(const char *path, char *error, size_t error_size);
int replay_active(void);

/* Answers a submit that passed the key and form checks with the next
 * recorded submit reply; a 2xx one creates a job (jobs_create_replayed). */
void replay_submit(const dalle_params *params, const mock_config *config, mock_reply *reply);
/* Answers a poll of job `id` with its recorded job's next poll reply. */
void replay_poll(const char *id, mock_reply *reply);
/* The next submit gets the first recorded one again (/_mock/reset). */
void replay_restart(void);
/* Frees the recording; for shutdown. */
void replay_free(void);

#endif
