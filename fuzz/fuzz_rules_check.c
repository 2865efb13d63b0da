/* Fuzzes dalle_rules_check and dalle_rules_find: a refusal names a known field with a complete,
 * printable message; an acceptance is a request every rule allows, and stays accepted. */
#include "rules.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Input layout: one byte whose low six bits say which fields are given, then the fields in
 * field_names order separated by 0xFF, a byte that never occurs in valid UTF-8 and so costs
 * the prompt nothing. A field missing from the end of the input is not given. */
#define FIELD_SEPARATOR 0xFF

enum { PROMPT, MODEL, SIZE, QUALITY, STYLE, CALLBACK, FIELD_COUNT };

static const char *const field_names[FIELD_COUNT] = {"prompt",  "model", "size",
                                                     "quality", "style", "callback"};

typedef struct fuzz_fields {
    char *value[FIELD_COUNT]; /* NULL: not given */
    size_t len[FIELD_COUNT];
} fuzz_fields;

/* Each value gets its own exact-size buffer so ASan sees any overread; the prompt has no NUL
 * after it because the check must go by prompt_len alone. */
static void split_fields(const uint8_t *data, size_t size, fuzz_fields *fields)
{
    memset(fields, 0, sizeof *fields);
    if (size == 0) return;
    uint8_t given = data[0];
    size_t start = 1;
    for (int f = 0; f < FIELD_COUNT && start <= size; f++) {
        const uint8_t *separator = memchr(data + start, FIELD_SEPARATOR, size - start);
        size_t len = separator ? (size_t)(separator - (data + start)) : size - start;
        if (given & (1u << f)) {
            size_t terminator = f == PROMPT ? 0 : 1;
            fields->value[f] = malloc(len + terminator);
            if (fields->value[f]) {
                memcpy(fields->value[f], data + start, len);
                if (terminator) fields->value[f][len] = '\0';
                fields->len[f] = len;
            }
        }
        start += len + 1;
    }
}

static int in_list(const char *const *list, const char *value)
{
    for (size_t i = 0; i < DALLE_RULES_MAX_CHOICES && list[i]; i++)
        if (strcmp(list[i], value) == 0) return 1;
    return 0;
}

static int is_field_name(const char *field)
{
    for (int f = 0; f < FIELD_COUNT; f++)
        if (strcmp(field_names[f], field) == 0) return 1;
    return 0;
}

static void check_find(const char *model)
{
    const dalle_model_rule *rule = dalle_rules_find(model);
    if (rule && strcmp(rule->name, model) != 0) abort();
    for (size_t i = 0; dalle_rules_at(i); i++)
        if (strcmp(dalle_rules_at(i)->name, model) == 0 && rule != dalle_rules_at(i)) abort();
}

/* Poisoned beforehand, so a missing terminator shows up as a failed memchr. */
static void check_refusal(const dalle_rules_error *err)
{
    if (!memchr(err->field, '\0', sizeof err->field)) abort();
    if (!memchr(err->message, '\0', sizeof err->message)) abort();
    if (!is_field_name(err->field)) abort();
    size_t message_len = strlen(err->message);
    /* Control bytes from the caller's values must have been hidden, and a message that reaches
     * the end of its buffer has most likely been cut by vsnprintf. */
    if (message_len == 0 || message_len >= sizeof err->message - 1) abort();
    for (size_t i = 0; i < message_len; i++) {
        unsigned char c = (unsigned char)err->message[i];
        if (c < 0x20 || c == 0x7F) abort();
    }
}

static void check_acceptance(const dalle_params *params, const fuzz_fields *fields)
{
    const dalle_model_rule *rule = params->rule;
    if (!rule || !params->model || !params->size || !params->callback) abort();
    if (rule != dalle_rules_find(params->model)) abort();
    if (!in_list(rule->sizes, params->size)) abort();
    if (rule->qualities[0] ? !params->quality || !in_list(rule->qualities, params->quality)
                           : params->quality != NULL)
        abort();
    if (rule->styles[0] ? !params->style || !in_list(rule->styles, params->style)
                        : params->style != NULL)
        abort();
    if (strcmp(rule->name, "dall-e-2") == 0 && (params->quality || params->style)) abort();

    if (!params->prompt || params->prompt_len == 0) abort();
    long chars = dalle_utf8_length(params->prompt, params->prompt_len);
    if (chars < 1 || (size_t)chars > rule->prompt_max_chars) abort();
    if (!dalle_is_http_url(params->callback)) abort();

    /* Defaults fill gaps only: every value the caller gave is still the one sent. */
    const char *sent[FIELD_COUNT] = {params->prompt,  params->model, params->size,
                                     params->quality, params->style, params->callback};
    for (int f = 0; f < FIELD_COUNT; f++)
        if (fields->value[f] && sent[f] != fields->value[f]) abort();

    /* The filled request is itself valid and is not changed by a second check. */
    dalle_params again = *params;
    dalle_rules_error err;
    if (dalle_rules_check(&again, &err) != 0) abort();
    if (memcmp(&again, params, sizeof again) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_fields fields;
    split_fields(data, size, &fields);

    dalle_params params = {
        .prompt = fields.value[PROMPT],
        .prompt_len = fields.len[PROMPT],
        .model = fields.value[MODEL],
        .size = fields.value[SIZE],
        .quality = fields.value[QUALITY],
        .style = fields.value[STYLE],
        .callback = fields.value[CALLBACK],
    };
    dalle_rules_error err;
    memset(&err, 0xAA, sizeof err);

    if (fields.value[MODEL]) check_find(fields.value[MODEL]);

    int result = dalle_rules_check(&params, &err);
    if (result == -1)
        check_refusal(&err);
    else if (result == 0)
        check_acceptance(&params, &fields);
    else
        abort();

    for (int f = 0; f < FIELD_COUNT; f++)
        free(fields.value[f]);
    return 0;
}
