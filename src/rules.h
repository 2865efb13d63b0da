/* The aiRight request rules: which models exist, what each accepts, and the
 * check that turns a caller's options into a request the service will take.
 * Shared by the Lua core and dalle-mock, so both sides enforce one table. */
#ifndef DALLE_RULES_H
#define DALLE_RULES_H

#include <stddef.h>

#define DALLE_RULES_MAX_CHOICES 8
#define DALLE_RULES_FIELD_MAX 32
#define DALLE_RULES_MESSAGE_MAX 512
/* Longest URL we accept for a callback; the service publishes no limit. */
#define DALLE_RULES_URL_MAX 2048

/* One row per model: adding a model of the same protocol is a new row. */
typedef struct dalle_model_rule {
    const char *name;     /* value of the `model` field, e.g. "dall-e-3" */
    const char *model_id; /* value of the `modelId` field */
    const char *path;     /* submit path below the base URL */
    const char *sizes[DALLE_RULES_MAX_CHOICES];
    const char *qualities[DALLE_RULES_MAX_CHOICES]; /* empty: field not accepted */
    const char *styles[DALLE_RULES_MAX_CHOICES];    /* empty: field not accepted */
    size_t prompt_max_chars;                        /* counted in code points */
} dalle_model_rule;

/* A request as given (NULL means "not given") and, after a successful check,
 * as it will be sent: defaults filled, `rule` set. Strings are borrowed. */
typedef struct dalle_params {
    const char *prompt;
    size_t prompt_len; /* bytes; prompts may not contain NUL, but we check */
    const char *model;
    const char *size;
    const char *quality;
    const char *style;
    const char *callback;
    const dalle_model_rule *rule;
} dalle_params;

typedef struct dalle_rules_error {
    char field[DALLE_RULES_FIELD_MAX];
    char message[DALLE_RULES_MESSAGE_MAX];
} dalle_rules_error;

/* The model used when none is given. */
extern const char *const dalle_default_model;
extern const char *const dalle_default_size;

const dalle_model_rule *dalle_rules_find(const char *model);
/* NULL-terminated list of all rows, for documentation and iteration. */
const dalle_model_rule *dalle_rules_at(size_t index);

/* Checks every rule and fills defaults. Returns 0, or -1 with `err` naming the
 * field, the bad value and what is allowed. */
int dalle_rules_check(dalle_params *params, dalle_rules_error *err);

/* The request options a caller gives, each a dalle_params field. */
#define DALLE_OPTION_LIST "prompt, model, size, quality, style, callback"
/* The field of `params` that option `name` sets; NULL for any other name. */
const char **dalle_params_slot(dalle_params *params, const char *name);

/* The multipart form a submit sends, in this order: what the client sends
 * and what dalle-mock accepts. */
#define DALLE_FORM_FIELD_COUNT 7
#define DALLE_FORM_FIELD_LIST "callback, modelId, prompt, model, size, quality, style"
extern const char *const dalle_form_fields[DALLE_FORM_FIELD_COUNT];
/* The value form field `index` takes for checked params, and its length;
 * NULL when the field is not sent (quality and style with dall-e-2). */
const char *dalle_form_value(const dalle_params *params, size_t index, size_t *len);

/* Number of code points in valid UTF-8 without NUL, or -1 if it is not. */
long dalle_utf8_length(const char *s, size_t len);

/* 1 when `url` is an absolute http(s) URL with a host, else 0. */
int dalle_is_http_url(const char *url);

#endif
