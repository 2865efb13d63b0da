/* The descriptors a transport waits on: epoll and a timerfd on Linux,
 * poll() elsewhere (see poller.h). */
#include "poller.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if DALLE_POLLER_EPOLL
#include <sys/epoll.h>
#include <sys/timerfd.h>

/* A wait takes at most this many events from the kernel at once. */
#define EPOLL_BATCH 64

int dalle_poller_init(dalle_poller *p)
{
    struct epoll_event ev;
    memset(p, 0, sizeof *p);
    p->wake_at = -1.0;
    p->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    p->wake_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (p->epoll_fd < 0 || p->wake_fd < 0) return -1;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.fd = p->wake_fd;
    return epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, p->wake_fd, &ev);
}

void dalle_poller_free(dalle_poller *p)
{
    if (p->epoll_fd >= 0) close(p->epoll_fd);
    if (p->wake_fd >= 0) close(p->wake_fd);
    p->epoll_fd = p->wake_fd = -1;
}

int dalle_poller_watch(dalle_poller *p, int fd, int flags, int watched)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.data.fd = fd;
    if (flags & DALLE_POLL_IN) ev.events |= EPOLLIN;
    if (flags & DALLE_POLL_OUT) ev.events |= EPOLLOUT;
    if (watched) return epoll_ctl(p->epoll_fd, EPOLL_CTL_MOD, fd, &ev);
    /* A number closed behind our back may still sit in the set. */
    if (epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0) return 0;
    return errno == EEXIST ? epoll_ctl(p->epoll_fd, EPOLL_CTL_MOD, fd, &ev) : -1;
}

void dalle_poller_forget(dalle_poller *p, int fd)
{
    /* Fails harmlessly when the socket was closed already, which removed it. */
    epoll_ctl(p->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
}

/* Drains wake_fd; the next wake_at() arms it again. */
static void consume_wake(dalle_poller *p)
{
    uint64_t expirations;
    if (read(p->wake_fd, &expirations, sizeof expirations) < 0) return;
    p->wake_at = -1.0;
}

int dalle_poller_wait(dalle_poller *p, dalle_ready *ready, int max, int timeout_ms)
{
    struct epoll_event events[EPOLL_BATCH];
    int got, n = 0;
    if (max > EPOLL_BATCH) max = EPOLL_BATCH;
    got = epoll_wait(p->epoll_fd, events, max, timeout_ms);
    if (got < 0) return errno == EINTR ? 0 : -1;
    for (int i = 0; i < got; i++) {
        int flags = 0;
        if (events[i].data.fd == p->wake_fd) {
            consume_wake(p);
            continue;
        }
        if (events[i].events & EPOLLIN) flags |= DALLE_POLL_IN;
        if (events[i].events & EPOLLOUT) flags |= DALLE_POLL_OUT;
        if (events[i].events & (EPOLLERR | EPOLLHUP)) flags |= DALLE_POLL_ERR;
        ready[n].fd = events[i].data.fd;
        ready[n].flags = flags;
        n++;
    }
    return n;
}

int dalle_poller_fd(const dalle_poller *p)
{
    return p->epoll_fd;
}

int dalle_poller_wake_at(dalle_poller *p, double when)
{
    struct itimerspec spec;
    if (when == p->wake_at) return 0;
    memset(&spec, 0, sizeof spec);
    if (when >= 0) {
        /* An all-zero it_value disarms; a time of exactly 0 must still fire. */
        spec.it_value.tv_sec = (time_t)when;
        spec.it_value.tv_nsec = (long)((when - (double)spec.it_value.tv_sec) * 1e9);
        if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
    }
    if (timerfd_settime(p->wake_fd, TFD_TIMER_ABSTIME, &spec, NULL) != 0) return -1;
    p->wake_at = when;
    return 0;
}

#else /* poll() */

#define FDS_INITIAL_CAPACITY 16

int dalle_poller_init(dalle_poller *p)
{
    memset(p, 0, sizeof *p);
    return 0;
}

void dalle_poller_free(dalle_poller *p)
{
    free(p->fds);
    p->fds = NULL;
    p->count = p->capacity = 0;
}

static struct pollfd *find(dalle_poller *p, int fd)
{
    for (size_t i = 0; i < p->count; i++)
        if (p->fds[i].fd == fd) return &p->fds[i];
    return NULL;
}

int dalle_poller_watch(dalle_poller *p, int fd, int flags, int watched)
{
    struct pollfd *entry = watched ? find(p, fd) : NULL;
    if (!entry) {
        if (p->count == p->capacity) {
            size_t capacity = p->capacity ? p->capacity * 2 : FDS_INITIAL_CAPACITY;
            struct pollfd *fds = realloc(p->fds, capacity * sizeof *fds);
            if (!fds) return -1;
            p->fds = fds;
            p->capacity = capacity;
        }
        entry = &p->fds[p->count++];
        entry->fd = fd;
    }
    entry->events =
        (short)(((flags & DALLE_POLL_IN) ? POLLIN : 0) | ((flags & DALLE_POLL_OUT) ? POLLOUT : 0));
    entry->revents = 0;
    return 0;
}

void dalle_poller_forget(dalle_poller *p, int fd)
{
    struct pollfd *entry = find(p, fd);
    if (entry) *entry = p->fds[--p->count];
}

int dalle_poller_wait(dalle_poller *p, dalle_ready *ready, int max, int timeout_ms)
{
    int got, n = 0;
    size_t first;
    got = poll(p->fds, (nfds_t)p->count, timeout_ms);
    if (got < 0) return errno == EINTR ? 0 : -1;
    if (got == 0 || p->count == 0) return 0;
    first = p->next_first % p->count;
    for (size_t k = 0; k < p->count && n < max; k++) {
        struct pollfd *entry = &p->fds[(first + k) % p->count];
        int flags = 0;
        if (entry->revents & POLLIN) flags |= DALLE_POLL_IN;
        if (entry->revents & POLLOUT) flags |= DALLE_POLL_OUT;
        if (entry->revents & (POLLERR | POLLHUP | POLLNVAL)) flags |= DALLE_POLL_ERR;
        if (!flags) continue;
        ready[n].fd = entry->fd;
        ready[n].flags = flags;
        n++;
        p->next_first = (first + k + 1) % p->count;
    }
    return n;
}

int dalle_poller_fd(const dalle_poller *p)
{
    (void)p;
    return -1;
}

int dalle_poller_wake_at(dalle_poller *p, double when)
{
    /* Without a descriptor nobody watches: timeout() tells when to step. */
    (void)p;
    (void)when;
    return 0;
}

#endif
