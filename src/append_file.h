/* Files a client appends whole lines to: the record of its exchanges and the
 * journal of its submits. Created with mode 0600, since they hold what the
 * service said of a user's jobs (and a journal, their prompts). */
#ifndef DALLE_APPEND_FILE_H
#define DALLE_APPEND_FILE_H

#include <stddef.h>

/* Flags of dalle_append_open. */
enum {
    /* Hold an exclusive lock (flock) while open: a second opener, in this
     * process or another, fails with DALLE_APPEND_LOCKED. */
    DALLE_APPEND_LOCK = 1,
    /* A file this call creates has its directory entry synced too, so that
     * lines synced later cannot be lost with the file's name. */
    DALLE_APPEND_DURABLE = 2,
};

/* Why dalle_append_open failed. */
enum { DALLE_APPEND_FAILED = -1, DALLE_APPEND_LOCKED = -2 };

/* Opens `path` for appending, creating it with mode 0600. Returns the
 * descriptor, or DALLE_APPEND_FAILED or DALLE_APPEND_LOCKED with the reason
 * in `error`. */
int dalle_append_open(const char *path, int flags, char *error, size_t error_size);
/* Writes all of `data` at the end of the file in one write where the system
 * allows. Returns 0, or -1 with the reason in `error`. */
int dalle_append_write(int fd, const char *data, size_t len, char *error, size_t error_size);
/* Waits until what was written is on stable storage (fdatasync). Returns 0,
 * or -1 with the reason in `error`. */
int dalle_append_sync(int fd, char *error, size_t error_size);

#endif
