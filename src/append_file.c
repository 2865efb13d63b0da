/* Appending whole lines to a private file, locked and synced where asked
 * (see append_file.h). */
#include "append_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define PRIVATE_MODE 0600
#define APPEND_FLAGS (O_WRONLY | O_APPEND | O_CLOEXEC)

/* Syncs the directory that holds `path`, so that a file just created there
 * keeps its name after a crash. Best effort: some file systems refuse to
 * sync a directory, and the file itself is still written and synced. */
static void sync_directory(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 0;
    if (!slash) {
        snprintf(dir, sizeof dir, ".");
    } else if (len == 0) {
        snprintf(dir, sizeof dir, "/");
    } else if (len < sizeof dir) {
        memcpy(dir, path, len);
        dir[len] = '\0';
    } else {
        return;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

int dalle_append_open(const char *path, int flags, char *error, size_t error_size)
{
    int created = 0;
    int fd = open(path, APPEND_FLAGS | O_CREAT | O_EXCL, PRIVATE_MODE);
    if (fd >= 0) {
        created = 1;
    } else if (errno == EEXIST) {
        fd = open(path, APPEND_FLAGS | O_CREAT, PRIVATE_MODE);
    }
    if (fd < 0) {
        snprintf(error, error_size, "cannot open '%s': %s", path, strerror(errno));
        return DALLE_APPEND_FAILED;
    }
    if (flags & DALLE_APPEND_LOCK) {
        int locked;
        while ((locked = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
        }
        if (locked != 0) {
            int busy = errno == EWOULDBLOCK;
            if (busy)
                snprintf(error, error_size, "'%s' is locked: another client has it open", path);
            else
                snprintf(error, error_size, "cannot lock '%s': %s", path, strerror(errno));
            close(fd);
            return busy ? DALLE_APPEND_LOCKED : DALLE_APPEND_FAILED;
        }
    }
    if (created && (flags & DALLE_APPEND_DURABLE)) sync_directory(path);
    return fd;
}

int dalle_append_write(int fd, const char *data, size_t len, char *error, size_t error_size)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            snprintf(error, error_size, "cannot write: %s", strerror(errno));
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int dalle_append_sync(int fd, char *error, size_t error_size)
{
    int synced;
    while ((synced = fdatasync(fd)) != 0 && errno == EINTR) {
    }
    if (synced != 0) {
        snprintf(error, error_size, "cannot sync: %s", strerror(errno));
        return -1;
    }
    return 0;
}
