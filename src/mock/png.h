/* A small PNG "drawn from the prompt", written by hand (signature, IHDR,
 * stored-deflate IDAT, IEND) so the mock needs neither libpng nor zlib. */
#ifndef DALLE_MOCK_PNG_H
#define DALLE_MOCK_PNG_H

#include "util.h"

/* The image is the requested size scaled down by this much: 1024x1024 → 64x64. */
#define PNG_SCALE_DOWN 16

/* Appends a width x height RGB PNG whose colours depend on the prompt. */
void png_from_prompt(const char *prompt, size_t prompt_len, unsigned width, unsigned height,
                     mock_buf *out);

#endif
