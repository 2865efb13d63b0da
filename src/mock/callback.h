/* The background worker: every few ms it marks done the jobs whose time has
 * come, and POSTs each finished job's result to its callback URL, many at
 * once over one libcurl multi handle. */
#ifndef DALLE_MOCK_CALLBACK_H
#define DALLE_MOCK_CALLBACK_H

#define CALLBACK_TICK_MS 10

/* `ca_file`, when not NULL, is the CA bundle https callback URLs are verified
 * against instead of the system's (a test's own certificate); it must stay
 * valid until the worker is joined. Returns 0, or -1 if the thread could not
 * start. */
int callback_worker_start(const char *ca_file);
/* Call after mock_request_stop(): waits for the worker to end. POSTs still
 * in flight are abandoned. */
void callback_worker_join(void);

#endif
