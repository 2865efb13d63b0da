/* An image saved whole or not at all: its bytes go to a temporary file beside
 * the path, are checked for PNG, JPEG or WebP magic, and renamed into place;
 * anything else removes the temporary file. Downloads and inline images both
 * save through it. */
#ifndef DALLE_IMAGE_FILE_H
#define DALLE_IMAGE_FILE_H

#include <stddef.h>
#include <stdio.h>

/* Enough of an image's first bytes to tell PNG, JPEG and WebP apart. */
#define DALLE_MAGIC_BYTES 12

typedef struct dalle_image_file {
    char *path;      /* where the image goes */
    char *temp_path; /* the temporary file; NULL once removed or renamed */
    FILE *file;
    size_t bytes;
    unsigned char magic[DALLE_MAGIC_BYTES];
    size_t magic_len;
    const char *problem; /* why it was not saved: static text, first cause only */
    int not_image;       /* the bytes, not the file, were at fault */
} dalle_image_file;

/* Creates the temporary file. Returns 0, or -1 with a message in `error`
 * (and nothing left on disk). Free with dalle_image_file_free either way. */
int dalle_image_file_open(dalle_image_file *f, const char *path, char *error, size_t error_size);
/* Returns 0, or -1 when the bytes could not be written (f->problem says so). */
int dalle_image_file_write(dalle_image_file *f, const void *data, size_t len);
/* Checks the magic, closes and renames into place. Returns 0 when saved;
 * -1 when the temporary file was removed instead (f->problem says why). */
int dalle_image_file_commit(dalle_image_file *f);
/* Removes the temporary file, keeping the first problem recorded. */
void dalle_image_file_discard(dalle_image_file *f, const char *problem);
/* Discards what was not committed and frees the paths; safe to call twice. */
void dalle_image_file_free(dalle_image_file *f);

#endif
