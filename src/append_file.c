/* Appending whole lines to a private file (see append_file.h). */
#include "append_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PRIVATE_MODE 0600

int dalle_append_open(const char *path, char *error, size_t error_size)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, PRIVATE_MODE);
    if (fd < 0) snprintf(error, error_size, "cannot open '%s': %s", path, strerror(errno));
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
