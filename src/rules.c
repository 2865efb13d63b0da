/* The aiRight request rules as data, and the one check both the client and
 * dalle-mock apply to a request before it is sent or accepted. */
#include "rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DALLE_SUBMIT_PATH "/sdk/models/dall-e"
#define DALLE_MODEL_ID "70"
/* Value of a bad option quoted in a message is cut to this many bytes. */
#define QUOTED_VALUE_MAX 60

const char *const dalle_default_model = "dall-e-2";
const char *const dalle_default_size = "1024x1024";

/* Prompt limits are not published by aiRight; these are OpenAI's for the
 * same models (see README, "Not documented"). */
static const dalle_model_rule rules[] = {
    {"dall-e-2",
     DALLE_MODEL_ID,
     DALLE_SUBMIT_PATH,
     {"256x256", "512x512", "1024x1024"},
     {0},
     {0},
     1000},
    {"dall-e-3",
     DALLE_MODEL_ID,
     DALLE_SUBMIT_PATH,
     {"1024x1024", "1792x1024", "1024x1792"},
     {"standard", "hd"},
     {"vivid", "natural"},
     4000},
};

#define RULE_COUNT (sizeof rules / sizeof rules[0])

const char *const dalle_form_fields[DALLE_FORM_FIELD_COUNT] = {
    "callback", "modelId", "prompt", "model", "size", "quality", "style",
};

const char **dalle_params_slot(dalle_params *params, const char *name)
{
    if (strcmp(name, "prompt") == 0) return &params->prompt;
    if (strcmp(name, "model") == 0) return &params->model;
    if (strcmp(name, "size") == 0) return &params->size;
    if (strcmp(name, "quality") == 0) return &params->quality;
    if (strcmp(name, "style") == 0) return &params->style;
    if (strcmp(name, "callback") == 0) return &params->callback;
    return NULL;
}

const char *dalle_form_value(const dalle_params *params, size_t index, size_t *len)
{
    const char *name = index < DALLE_FORM_FIELD_COUNT ? dalle_form_fields[index] : NULL;
    const char *value;
    if (!name) return NULL;
    if (strcmp(name, "modelId") == 0) {
        value = params->rule ? params->rule->model_id : NULL;
    } else if (strcmp(name, "prompt") == 0) {
        *len = params->prompt_len;
        return params->prompt;
    } else {
        value = *dalle_params_slot((dalle_params *)params, name);
    }
    if (value) *len = strlen(value);
    return value;
}

const dalle_model_rule *dalle_rules_at(size_t index)
{
    return index < RULE_COUNT ? &rules[index] : NULL;
}

const dalle_model_rule *dalle_rules_find(const char *model)
{
    for (size_t i = 0; i < RULE_COUNT; i++)
        if (strcmp(rules[i].name, model) == 0) return &rules[i];
    return NULL;
}

long dalle_utf8_length(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    long count = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t extra;
        unsigned long cp;
        if (c == 0) return -1;
        if (c < 0x80) {
            i++;
            count++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return -1;
        }
        if (len - i <= extra) return -1;
        for (size_t k = 1; k <= extra; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return -1;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        /* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
        if ((extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return -1;
        i += extra + 1;
        count++;
    }
    return count;
}

static int starts_with_nocase(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != *prefix) return 0;
    }
    return 1;
}

static int is_host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '%';
}

int dalle_is_http_url(const char *url)
{
    const char *p;
    if (starts_with_nocase(url, "https://"))
        p = url + 8;
    else if (starts_with_nocase(url, "http://"))
        p = url + 7;
    else
        return 0;
    if (strlen(url) > DALLE_RULES_URL_MAX) return 0;
    for (const unsigned char *c = (const unsigned char *)url; *c; c++)
        if (*c <= 0x20 || *c == 0x7F) return 0;
    /* Optional user info is not allowed: a callback needs no credentials. */
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (!close || close == p + 1) return 0;
        for (const char *c = p + 1; c < close; c++)
            if (!(*c == ':' || *c == '.' || (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') ||
                  (*c >= 'A' && *c <= 'F')))
                return 0;
        p = close + 1;
    } else {
        const char *host = p;
        while (is_host_char((unsigned char)*p))
            p++;
        if (p == host) return 0;
    }
    if (*p == ':') {
        const char *port = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == port || p - port > 5) return 0;
    }
    return *p == '\0' || *p == '/' || *p == '?' || *p == '#';
}

static int list_contains(const char *const *list, const char *value)
{
    for (size_t i = 0; i < DALLE_RULES_MAX_CHOICES && list[i]; i++)
        if (strcmp(list[i], value) == 0) return 1;
    return 0;
}

static void list_join(const char *const *list, char *out, size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < DALLE_RULES_MAX_CHOICES && list[i]; i++) {
        int n = snprintf(out + used, out_size - used, "%s%s", i ? ", " : "", list[i]);
        if (n < 0 || (size_t)n >= out_size - used) return;
        used += (size_t)n;
    }
}

/* Quotes a caller's value safely: cut long values at a character boundary,
 * and show control bytes and bytes that are not UTF-8 as '?', so a message
 * is always one line of valid UTF-8. */
static void quote_value(const char *value, char *out, size_t out_size)
{
    size_t used = 0, len = strlen(value);
    for (size_t i = 0; i < len;) {
        size_t char_len = 1;
        /* The shortest slice that is one valid character, if any. */
        while (char_len < 4 && i + char_len <= len && dalle_utf8_length(value + i, char_len) != 1)
            char_len++;
        if (i + char_len > len || dalle_utf8_length(value + i, char_len) != 1) char_len = 0;
        if (used + (char_len ? char_len : 1) > QUOTED_VALUE_MAX || used + 4 + 3 >= out_size) {
            memcpy(out + used, "...", 3);
            used += 3;
            break;
        }
        unsigned char c = (unsigned char)value[i];
        if (char_len == 0 || c < 0x20 || c == 0x7F) {
            out[used++] = '?';
            i++;
        } else {
            memcpy(out + used, value + i, char_len);
            used += char_len;
            i += char_len;
        }
    }
    out[used] = '\0';
}

static int fail(dalle_rules_error *err, const char *field, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(dalle_rules_error *err, const char *field, const char *format, ...)
{
    va_list args;
    snprintf(err->field, sizeof err->field, "%s", field);
    va_start(args, format);
    vsnprintf(err->message, sizeof err->message, format, args);
    va_end(args);
    return -1;
}

static const char *const *choices_of(const dalle_model_rule *rule, const char *field)
{
    if (strcmp(field, "size") == 0) return rule->sizes;
    if (strcmp(field, "quality") == 0) return rule->qualities;
    return rule->styles;
}

/* "dall-e-2, dall-e-3": the models that accept `field` (all when NULL). */
static void models_accepting(const char *field, char *out, size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < RULE_COUNT; i++) {
        if (field && !choices_of(&rules[i], field)[0]) continue;
        int n = snprintf(out + used, out_size - used, "%s%s", used ? ", " : "", rules[i].name);
        if (n < 0 || (size_t)n >= out_size - used) return;
        used += (size_t)n;
    }
}

static int check_choice(dalle_rules_error *err, const dalle_model_rule *rule, const char *field,
                        const char *value)
{
    const char *const *allowed = choices_of(rule, field);
    char quoted[QUOTED_VALUE_MAX + 8];
    char choices[DALLE_RULES_MESSAGE_MAX / 2];
    if (list_contains(allowed, value)) return 0;
    quote_value(value, quoted, sizeof quoted);
    if (!allowed[0]) {
        models_accepting(field, choices, sizeof choices);
        return fail(err, field, "%s '%s' is not accepted by %s (%s is only for %s)", field, quoted,
                    rule->name, field, choices);
    }
    list_join(allowed, choices, sizeof choices);
    return fail(err, field, "invalid %s '%s' for %s (allowed: %s)", field, quoted, rule->name,
                choices);
}

int dalle_rules_check(dalle_params *params, dalle_rules_error *err)
{
    char quoted[QUOTED_VALUE_MAX + 8];
    const dalle_model_rule *rule;
    long chars;

    if (!params->model) params->model = dalle_default_model;
    rule = dalle_rules_find(params->model);
    if (!rule) {
        char choices[DALLE_RULES_MESSAGE_MAX / 2];
        models_accepting(NULL, choices, sizeof choices);
        quote_value(params->model, quoted, sizeof quoted);
        return fail(err, "model", "invalid model '%s' (allowed: %s)", quoted, choices);
    }
    params->rule = rule;

    if (!params->prompt || params->prompt_len == 0)
        return fail(err, "prompt", "prompt is required and must not be empty");
    chars = dalle_utf8_length(params->prompt, params->prompt_len);
    if (chars < 0) return fail(err, "prompt", "prompt must be valid UTF-8 text without NUL bytes");
    if ((size_t)chars > rule->prompt_max_chars)
        return fail(err, "prompt", "prompt is %ld characters; %s allows at most %zu", chars,
                    rule->name, rule->prompt_max_chars);

    if (!params->size) params->size = dalle_default_size;
    if (check_choice(err, rule, "size", params->size)) return -1;

    if (!params->quality && rule->qualities[0]) params->quality = rule->qualities[0];
    if (params->quality && check_choice(err, rule, "quality", params->quality)) return -1;
    if (!params->style && rule->styles[0]) params->style = rule->styles[0];
    if (params->style && check_choice(err, rule, "style", params->style)) return -1;

    if (!params->callback)
        return fail(err, "callback",
                    "callback is required: an absolute http(s) URL the service POSTs the "
                    "result to (give it in the options or the client config)");
    if (!dalle_is_http_url(params->callback)) {
        quote_value(params->callback, quoted, sizeof quoted);
        return fail(err, "callback",
                    "invalid callback '%s' (allowed: an absolute http:// or "
                    "https:// URL with a host)",
                    quoted);
    }
    return 0;
}
