/* Fuzzes dalle-mock's JSON reader (what --replay reads a recorded session with): any input
 * parses or is refused at an offset inside it; what parses is written back out, and that text
 * parses again and writes the same bytes, with every string and number replaced too. */
#include "mock/json_in.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *replace_all(void *cls, const json_value *value)
{
    (void)cls;
    (void)value;
    return "replaced";
}

static void written(const json_value *value, json_replace_fn replace, mock_buf *out)
{
    memset(out, 0, sizeof *out);
    json_write(out, value, replace, NULL);
}

/* Parses `text` (which must parse), writes it, and checks the result is `text` itself. */
static void check_fixed_point(const mock_buf *text, json_replace_fn replace)
{
    json_value again;
    json_error error;
    mock_buf out;
    if (json_parse(text->data, text->len, &again, &error) != 0) abort();
    written(&again, replace, &out);
    if (out.len != text->len || memcmp(out.data, text->data, out.len) != 0) abort();
    buf_free(&out);
    json_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_value value;
    json_error error;
    mock_buf plain, replaced;
    if (json_parse((const char *)data, size, &value, &error) != 0) {
        if (error.offset < 1 || error.offset > size + 1) abort();
        if (memchr(error.message, '\0', sizeof error.message) == NULL) abort();
        return 0;
    }
    written(&value, NULL, &plain);
    written(&value, replace_all, &replaced);
    json_free(&value);
    check_fixed_point(&plain, NULL);
    check_fixed_point(&replaced, NULL);
    buf_free(&plain);
    buf_free(&replaced);
    return 0;
}
