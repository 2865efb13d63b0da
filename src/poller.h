/* The descriptors a transport waits on. On Linux an epoll set holds
 * libcurl's sockets and a timerfd, so one descriptor tells a host loop when
 * to step. Elsewhere, or built with DALLE_POLL_FALLBACK, a poll() array
 * does the waiting and there is no such descriptor. */
#ifndef DALLE_POLLER_H
#define DALLE_POLLER_H

#include <stddef.h>

#if defined(__linux__) && !defined(DALLE_POLL_FALLBACK)
#define DALLE_POLLER_EPOLL 1
#else
#define DALLE_POLLER_EPOLL 0
#include <poll.h>
#endif

/* What a socket is watched for, and what it is ready for. */
#define DALLE_POLL_IN 1
#define DALLE_POLL_OUT 2
#define DALLE_POLL_ERR 4

typedef struct dalle_ready {
    int fd;
    int flags; /* DALLE_POLL_* */
} dalle_ready;

typedef struct dalle_poller {
#if DALLE_POLLER_EPOLL
    int epoll_fd;   /* the watched sockets and wake_fd */
    int wake_fd;    /* a timerfd: readable at wake_at */
    double wake_at; /* dalle_now() clock; < 0: disarmed */
#else
    struct pollfd *fds;
    size_t count, capacity;
    size_t next_first; /* where the next wait starts looking, so no socket starves */
#endif
} dalle_poller;

/* Returns 0, or -1 when the system refused; free it either way. */
int dalle_poller_init(dalle_poller *p);
void dalle_poller_free(dalle_poller *p);
/* Watches `fd` for `flags` (IN and/or OUT); `watched` says it already is. */
int dalle_poller_watch(dalle_poller *p, int fd, int flags, int watched);
/* Stops watching `fd` (closed or not). */
void dalle_poller_forget(dalle_poller *p, int fd);
/* Waits up to `timeout_ms` (0: not at all) and fills at most `max` ready
 * sockets; returns how many, or -1. A due wake timer is consumed here. */
int dalle_poller_wait(dalle_poller *p, dalle_ready *ready, int max, int timeout_ms);
/* The descriptor that turns readable when a socket is ready or the wake
 * time has come; -1 on systems without one. */
int dalle_poller_fd(const dalle_poller *p);
/* Sets the wake time (dalle_now() clock; < 0: none). Returns 0 or -1. */
int dalle_poller_wake_at(dalle_poller *p, double when);

#endif
