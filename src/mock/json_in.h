/* Reading JSON (the replay file): a strict parser into a small tree, member
 * lookup, and writing a tree back out with some values replaced. */
#ifndef DALLE_MOCK_JSON_IN_H
#define DALLE_MOCK_JSON_IN_H

#include "util.h"

/* Deeper values are refused rather than parsed by ever deeper recursion. */
#define JSON_DEPTH_MAX 256
#define JSON_ERROR_MAX 128

enum json_type {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
};

typedef struct json_value {
    enum json_type type;
    /* A string's decoded bytes (escapes undone; may hold NUL) or a number as
     * written; NUL-terminated either way. NULL for the other types. */
    char *text;
    size_t len;
    /* An object member's decoded name, else NULL. */
    char *name;
    size_t name_len;
    /* The items of an array, the members of an object, in order. */
    struct json_value *items;
    size_t count;
} json_value;

typedef struct json_error {
    size_t offset; /* 1-based byte where the text went wrong */
    char message[JSON_ERROR_MAX];
} json_error;

/* Parses `len` bytes that must hold exactly one value (whitespace around it
 * allowed). Returns 0, or -1 with `error` set and nothing to free. Strings
 * are taken as bytes: only \u escapes are checked as UTF-16. */
int json_parse(const char *text, size_t len, json_value *out, json_error *error);
void json_free(json_value *value);

/* The first member of `object` called `name`; NULL if it has none or is not
 * an object. */
const json_value *json_get(const json_value *object, const char *name);
/* Moves the first member of `object` called `name` into `out`, leaving null
 * in its place. Returns 0, or -1 (and `out` null) if there is none. */
int json_take(json_value *object, const char *name, json_value *out);
/* 1 when `value` is a string or number whose text is `len` bytes of `s`. */
int json_text_equals(const json_value *value, const char *s, size_t len);

/* Given a string or number of the tree, a C string to write in its place
 * (as a JSON string), or NULL to keep it. */
typedef const char *(*json_replace_fn)(void *cls, const json_value *value);
/* Writes `value` as compact JSON; `replace` may be NULL. */
void json_write(mock_buf *out, const json_value *value, json_replace_fn replace, void *cls);

#endif
