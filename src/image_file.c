/* Saving an image whole or not at all (see image_file.h). */
#include "image_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEMP_SUFFIX ".part-XXXXXX"

int dalle_image_file_open(dalle_image_file *f, const char *path, char *error, size_t error_size)
{
    size_t len = strlen(path);
    int fd;
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    f->temp_path = malloc(len + sizeof TEMP_SUFFIX);
    if (!f->path || !f->temp_path) {
        free(f->temp_path);
        f->temp_path = NULL;
        snprintf(error, error_size, "out of memory");
        return -1;
    }
    memcpy(f->temp_path, path, len);
    memcpy(f->temp_path + len, TEMP_SUFFIX, sizeof TEMP_SUFFIX);
    fd = mkstemp(f->temp_path);
    if (fd < 0) {
        snprintf(error, error_size, "cannot create a file next to '%s': %s", path, strerror(errno));
        free(f->temp_path);
        f->temp_path = NULL;
        return -1;
    }
    f->file = fdopen(fd, "wb");
    if (!f->file) {
        close(fd);
        dalle_image_file_discard(f, NULL);
        snprintf(error, error_size, "cannot open the file next to '%s'", path);
        return -1;
    }
    return 0;
}

int dalle_image_file_write(dalle_image_file *f, const void *data, size_t len)
{
    if (f->magic_len < DALLE_MAGIC_BYTES) {
        size_t take = DALLE_MAGIC_BYTES - f->magic_len;
        if (take > len) take = len;
        memcpy(f->magic + f->magic_len, data, take);
        f->magic_len += take;
    }
    if (fwrite(data, 1, len, f->file) != len) {
        if (!f->problem) f->problem = "could not write the file";
        return -1;
    }
    f->bytes += len;
    return 0;
}

static int looks_like_image(const dalle_image_file *f)
{
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    const unsigned char *m = f->magic;
    if (f->magic_len >= sizeof png && memcmp(m, png, sizeof png) == 0) return 1;
    if (f->magic_len >= 3 && m[0] == 0xFF && m[1] == 0xD8 && m[2] == 0xFF) return 1;
    return f->magic_len >= 12 && memcmp(m, "RIFF", 4) == 0 && memcmp(m + 8, "WEBP", 4) == 0;
}

int dalle_image_file_commit(dalle_image_file *f)
{
    int closed;
    if (!looks_like_image(f)) {
        f->not_image = 1;
        dalle_image_file_discard(f, "the bytes are not a PNG, JPEG or WebP image");
        return -1;
    }
    closed = fclose(f->file);
    f->file = NULL;
    if (closed != 0) {
        dalle_image_file_discard(f, "could not write the file");
        return -1;
    }
    if (rename(f->temp_path, f->path) != 0) {
        dalle_image_file_discard(f, "could not move the file into place");
        return -1;
    }
    free(f->temp_path);
    f->temp_path = NULL;
    return 0;
}

void dalle_image_file_discard(dalle_image_file *f, const char *problem)
{
    if (f->file) {
        fclose(f->file);
        f->file = NULL;
    }
    if (f->temp_path) {
        unlink(f->temp_path);
        free(f->temp_path);
        f->temp_path = NULL;
    }
    if (!f->problem) f->problem = problem;
}

void dalle_image_file_free(dalle_image_file *f)
{
    dalle_image_file_discard(f, NULL);
    free(f->path);
    f->path = NULL;
}
