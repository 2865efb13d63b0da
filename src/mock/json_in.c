/* Reading JSON (the replay file): a strict parser into a small tree, member
 * lookup, and writing a tree back out with some values replaced. */
#include "json_in.h"

#include "json_out.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ITEMS_MIN_CAP 4
#define HEX_DIGITS_PER_ESCAPE 4
#define HIGH_SURROGATE_FIRST 0xD800u
#define LOW_SURROGATE_FIRST 0xDC00u
#define SURROGATE_END 0xE000u
#define SUPPLEMENTARY_FIRST 0x10000u

typedef struct parser {
    const char *text;
    size_t len;
    size_t pos;
    json_error *error;
} parser;

static int fail(parser *p, const char *format, ...) __attribute__((format(printf, 2, 3)));

static int fail(parser *p, const char *format, ...)
{
    va_list args;
    p->error->offset = p->pos + 1;
    va_start(args, format);
    vsnprintf(p->error->message, sizeof p->error->message, format, args);
    va_end(args);
    return -1;
}

/* Names the byte at the parser's position for a message. */
static int fail_unexpected(parser *p, const char *wanted)
{
    unsigned char c;
    if (p->pos >= p->len) return fail(p, "the text ends where %s should be", wanted);
    c = (unsigned char)p->text[p->pos];
    if (c > 0x20 && c < 0x7F) return fail(p, "'%c' where %s should be", c, wanted);
    return fail(p, "byte 0x%02X where %s should be", c, wanted);
}

static void skip_space(parser *p)
{
    while (p->pos < p->len && (p->text[p->pos] == ' ' || p->text[p->pos] == '\t' ||
                               p->text[p->pos] == '\n' || p->text[p->pos] == '\r'))
        p->pos++;
}

static int is_digit(parser *p)
{
    return p->pos < p->len && p->text[p->pos] >= '0' && p->text[p->pos] <= '9';
}

static void skip_digits(parser *p)
{
    while (is_digit(p))
        p->pos++;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, kept as written. */
static int parse_number(parser *p, json_value *out)
{
    size_t start = p->pos;
    if (p->text[p->pos] == '-') p->pos++;
    if (!is_digit(p)) return fail_unexpected(p, "a digit");
    if (p->text[p->pos] == '0')
        p->pos++;
    else
        skip_digits(p);
    if (p->pos < p->len && p->text[p->pos] == '.') {
        p->pos++;
        if (!is_digit(p)) return fail_unexpected(p, "a digit after the decimal point");
        skip_digits(p);
    }
    if (p->pos < p->len && (p->text[p->pos] == 'e' || p->text[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->text[p->pos] == '+' || p->text[p->pos] == '-')) p->pos++;
        if (!is_digit(p)) return fail_unexpected(p, "a digit in the exponent");
        skip_digits(p);
    }
    out->type = JSON_NUMBER;
    out->text = mock_strndup(p->text + start, p->pos - start);
    out->len = p->pos - start;
    return 0;
}

static int parse_hex4(parser *p, unsigned *unit)
{
    *unit = 0;
    for (int i = 0; i < HEX_DIGITS_PER_ESCAPE; i++, p->pos++) {
        char c = p->pos < p->len ? p->text[p->pos] : '\0';
        unsigned digit;
        if (c >= '0' && c <= '9')
            digit = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            digit = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            digit = (unsigned)(c - 'A' + 10);
        else
            return fail_unexpected(p, "a hex digit of a \\u escape");
        *unit = *unit * 16 + digit;
    }
    return 0;
}

static void put_utf8(mock_buf *out, unsigned code_point)
{
    unsigned char bytes[4];
    size_t n;
    if (code_point < 0x80) {
        bytes[0] = (unsigned char)code_point;
        n = 1;
    } else if (code_point < 0x800) {
        bytes[0] = (unsigned char)(0xC0 | (code_point >> 6));
        bytes[1] = (unsigned char)(0x80 | (code_point & 0x3F));
        n = 2;
    } else if (code_point < SUPPLEMENTARY_FIRST) {
        bytes[0] = (unsigned char)(0xE0 | (code_point >> 12));
        bytes[1] = (unsigned char)(0x80 | ((code_point >> 6) & 0x3F));
        bytes[2] = (unsigned char)(0x80 | (code_point & 0x3F));
        n = 3;
    } else {
        bytes[0] = (unsigned char)(0xF0 | (code_point >> 18));
        bytes[1] = (unsigned char)(0x80 | ((code_point >> 12) & 0x3F));
        bytes[2] = (unsigned char)(0x80 | ((code_point >> 6) & 0x3F));
        bytes[3] = (unsigned char)(0x80 | (code_point & 0x3F));
        n = 4;
    }
    buf_append(out, bytes, n);
}

/* After "\u": one escape, or a surrogate pair of two, as UTF-8. */
static int parse_unicode_escape(parser *p, mock_buf *out)
{
    size_t start = p->pos - 2; /* messages point at the backslash */
    unsigned unit, low;
    if (parse_hex4(p, &unit) != 0) return -1;
    if (unit >= LOW_SURROGATE_FIRST && unit < SURROGATE_END) {
        p->pos = start;
        return fail(p, "\\u%04X is the second half of a surrogate pair with no first", unit);
    }
    if (unit >= HIGH_SURROGATE_FIRST && unit < LOW_SURROGATE_FIRST) {
        if (p->pos + 2 > p->len || p->text[p->pos] != '\\' || p->text[p->pos + 1] != 'u') {
            p->pos = start;
            return fail(p, "\\u%04X is the first half of a surrogate pair with no second", unit);
        }
        p->pos += 2;
        if (parse_hex4(p, &low) != 0) return -1;
        if (low < LOW_SURROGATE_FIRST || low >= SURROGATE_END) {
            p->pos = start;
            return fail(p, "\\u%04X cannot follow \\u%04X (not a low surrogate)", low, unit);
        }
        unit = SUPPLEMENTARY_FIRST + ((unit - HIGH_SURROGATE_FIRST) << 10) +
               (low - LOW_SURROGATE_FIRST);
    }
    put_utf8(out, unit);
    return 0;
}

/* At the opening quote; decodes into `out`. */
static int parse_string_bytes(parser *p, mock_buf *out)
{
    p->pos++;
    for (;;) {
        size_t run = p->pos;
        unsigned char c;
        while (run < p->len && p->text[run] != '"' && p->text[run] != '\\' &&
               (unsigned char)p->text[run] >= 0x20)
            run++;
        buf_append(out, p->text + p->pos, run - p->pos);
        p->pos = run;
        if (p->pos >= p->len) return fail(p, "the text ends inside a string");
        c = (unsigned char)p->text[p->pos];
        if (c == '"') {
            p->pos++;
            return 0;
        }
        if (c < 0x20) return fail(p, "control byte 0x%02X inside a string (escape it)", c);
        p->pos++; /* the backslash */
        if (p->pos >= p->len) return fail(p, "the text ends inside an escape");
        c = (unsigned char)p->text[p->pos++];
        switch (c) {
        case '"':
        case '\\':
        case '/':
            buf_append(out, &c, 1);
            break;
        case 'b':
            buf_append(out, "\b", 1);
            break;
        case 'f':
            buf_append(out, "\f", 1);
            break;
        case 'n':
            buf_append(out, "\n", 1);
            break;
        case 'r':
            buf_append(out, "\r", 1);
            break;
        case 't':
            buf_append(out, "\t", 1);
            break;
        case 'u':
            if (parse_unicode_escape(p, out) != 0) return -1;
            break;
        default:
            p->pos--;
            return fail_unexpected(p, "an escape letter (\" \\ / b f n r t u)");
        }
    }
}

static int parse_string(parser *p, char **text, size_t *len)
{
    mock_buf decoded = {0};
    if (parse_string_bytes(p, &decoded) != 0) {
        buf_free(&decoded);
        return -1;
    }
    *text = buf_take(&decoded, len);
    return 0;
}

static int parse_value(parser *p, json_value *out, int depth);

/* A new zeroed item at the end of `container`, which json_free can always free. */
static json_value *add_item(json_value *container, size_t *cap)
{
    json_value *item;
    if (container->count == *cap) {
        *cap = *cap ? *cap * 2 : ITEMS_MIN_CAP;
        container->items = mock_realloc(container->items, *cap * sizeof *container->items);
    }
    item = &container->items[container->count++];
    memset(item, 0, sizeof *item);
    return item;
}

/* At '[' or '{'; the items or members up to the closing bracket. */
static int parse_container(parser *p, json_value *out, int depth)
{
    int is_object = p->text[p->pos] == '{';
    char close = is_object ? '}' : ']';
    size_t cap = 0;
    out->type = is_object ? JSON_OBJECT : JSON_ARRAY;
    if (depth >= JSON_DEPTH_MAX)
        return fail(p, "arrays and objects nested deeper than %d", JSON_DEPTH_MAX);
    p->pos++;
    skip_space(p);
    if (p->pos < p->len && p->text[p->pos] == close) {
        p->pos++;
        return 0;
    }
    for (;;) {
        json_value *item = add_item(out, &cap);
        skip_space(p);
        if (is_object) {
            if (p->pos >= p->len || p->text[p->pos] != '"')
                return fail_unexpected(p, "a member name in quotes");
            if (parse_string(p, &item->name, &item->name_len) != 0) return -1;
            skip_space(p);
            if (p->pos >= p->len || p->text[p->pos] != ':') return fail_unexpected(p, "':'");
            p->pos++;
        }
        if (parse_value(p, item, depth + 1) != 0) return -1;
        skip_space(p);
        if (p->pos < p->len && p->text[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->text[p->pos] == close) {
            p->pos++;
            return 0;
        }
        return fail_unexpected(p, is_object ? "',' or '}'" : "',' or ']'");
    }
}

static int parse_literal(parser *p, const char *word, enum json_type type, json_value *out)
{
    size_t len = strlen(word);
    if (p->len - p->pos < len || memcmp(p->text + p->pos, word, len) != 0)
        return fail_unexpected(p, "a value");
    p->pos += len;
    out->type = type;
    return 0;
}

static int parse_value(parser *p, json_value *out, int depth)
{
    skip_space(p);
    if (p->pos >= p->len) return fail_unexpected(p, "a value");
    switch (p->text[p->pos]) {
    case '{':
    case '[':
        return parse_container(p, out, depth);
    case '"':
        out->type = JSON_STRING;
        return parse_string(p, &out->text, &out->len);
    case 't':
        return parse_literal(p, "true", JSON_TRUE, out);
    case 'f':
        return parse_literal(p, "false", JSON_FALSE, out);
    case 'n':
        return parse_literal(p, "null", JSON_NULL, out);
    default:
        if (p->text[p->pos] == '-' || is_digit(p)) return parse_number(p, out);
        return fail_unexpected(p, "a value");
    }
}

int json_parse(const char *text, size_t len, json_value *out, json_error *error)
{
    parser p = {text, len, 0, error};
    memset(out, 0, sizeof *out);
    if (parse_value(&p, out, 0) == 0) {
        skip_space(&p);
        if (p.pos == len) return 0;
        fail_unexpected(&p, "the end of the text");
    }
    json_free(out);
    return -1;
}

void json_free(json_value *value)
{
    for (size_t i = 0; i < value->count; i++)
        json_free(&value->items[i]);
    free(value->items);
    free(value->text);
    free(value->name);
    memset(value, 0, sizeof *value);
}

static json_value *find_member(const json_value *object, const char *name)
{
    size_t len = strlen(name);
    if (object->type != JSON_OBJECT) return NULL;
    for (size_t i = 0; i < object->count; i++)
        if (object->items[i].name_len == len && memcmp(object->items[i].name, name, len) == 0)
            return &object->items[i];
    return NULL;
}

const json_value *json_get(const json_value *object, const char *name)
{
    return find_member(object, name);
}

int json_take(json_value *object, const char *name, json_value *out)
{
    json_value *member = find_member(object, name);
    memset(out, 0, sizeof *out);
    if (!member) return -1;
    /* The member keeps its name; only the value moves. */
    out->type = member->type;
    out->text = member->text;
    out->len = member->len;
    out->items = member->items;
    out->count = member->count;
    member->type = JSON_NULL;
    member->text = NULL;
    member->len = 0;
    member->items = NULL;
    member->count = 0;
    return 0;
}

int json_text_equals(const json_value *value, const char *s, size_t len)
{
    return (value->type == JSON_STRING || value->type == JSON_NUMBER) && value->len == len &&
           memcmp(value->text, s, len) == 0;
}

void json_write(mock_buf *out, const json_value *value, json_replace_fn replace, void *cls)
{
    const char *replacement = NULL;
    if (replace && (value->type == JSON_STRING || value->type == JSON_NUMBER))
        replacement = replace(cls, value);
    if (replacement) {
        json_cstring(out, replacement);
        return;
    }
    switch (value->type) {
    case JSON_NULL:
        buf_puts(out, "null");
        break;
    case JSON_FALSE:
        buf_puts(out, "false");
        break;
    case JSON_TRUE:
        buf_puts(out, "true");
        break;
    case JSON_NUMBER:
        buf_append(out, value->text, value->len);
        break;
    case JSON_STRING:
        json_string(out, value->text, value->len);
        break;
    case JSON_ARRAY:
    case JSON_OBJECT:
        buf_puts(out, value->type == JSON_ARRAY ? "[" : "{");
        for (size_t i = 0; i < value->count; i++) {
            if (i) buf_puts(out, ",");
            if (value->type == JSON_OBJECT) {
                json_string(out, value->items[i].name, value->items[i].name_len);
                buf_puts(out, ":");
            }
            json_write(out, &value->items[i], replace, cls);
        }
        buf_puts(out, value->type == JSON_ARRAY ? "]" : "}");
        break;
    }
}
