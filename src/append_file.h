/* Files a client appends whole lines to (a record of its exchanges): created
 * with mode 0600, since they hold what the service said of a user's jobs. */
#ifndef DALLE_APPEND_FILE_H
#define DALLE_APPEND_FILE_H

#include <stddef.h>

/* Opens `path` for appending, creating it with mode 0600. Returns the
 * descriptor, or -1 with the reason in `error`. */
int dalle_append_open(const char *path, char *error, size_t error_size);
/* Writes all of `data` at the end of the file in one write where the system
 * allows. Returns 0, or -1 with the reason in `error`. */
int dalle_append_write(int fd, const char *data, size_t len, char *error, size_t error_size);

#endif
