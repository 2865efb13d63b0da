/* The background worker: every few ms it marks done the jobs whose time has
 * come, and POSTs each finished job's result to its callback URL (libcurl). */
#ifndef DALLE_MOCK_CALLBACK_H
#define DALLE_MOCK_CALLBACK_H

#define CALLBACK_TICK_MS 10
#define CALLBACK_TIMEOUT_MS 5000L

/* Returns 0, or -1 if the thread could not start. */
int callback_worker_start(void);
/* Call after mock_request_stop(): waits for the worker to end. */
void callback_worker_join(void);

#endif
