/* The PNG "drawn from the prompt" that a succeeded job serves: the size the
 * job asked for, bands of prompt colours, deflated with zlib. */
#ifndef DALLE_MOCK_PNG_H
#define DALLE_MOCK_PNG_H

#include "util.h"

/* Appends a width x height RGB PNG whose colours and bands depend on the
 * prompt; the same prompt and size always give the same bytes. */
void png_from_prompt(const char *prompt, size_t prompt_len, unsigned width, unsigned height,
                     mock_buf *out);

#endif
