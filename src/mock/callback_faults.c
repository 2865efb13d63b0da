/* Callback faults: what may go wrong with a finished job's callback (never
 * sent, sent late, sent twice, a body that is not JSON, JSON of another
 * shape), their names, and the set of them a configuration allows. */
#include "callback_faults.h"

#include "json_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_QUOTED_MAX 40

static const char *const names[CALLBACK_FAULT_COUNT] = {
    "none", "never", "late", "twice", "garbage", "other_shape",
};

const char *callback_fault_name(enum callback_fault fault)
{
    return fault < CALLBACK_FAULT_COUNT ? names[fault] : "?";
}

static int find_fault(const char *name, size_t len)
{
    for (int i = CALLBACK_FAULT_NONE + 1; i < CALLBACK_FAULT_COUNT; i++)
        if (strlen(names[i]) == len && strncmp(names[i], name, len) == 0) return i;
    return -1;
}

int callback_faults_parse(const char *text, callback_fault_set *set, char *error, size_t error_size)
{
    callback_fault_set parsed = 0;
    const char *item = text;

    if (strcmp(text, "none") == 0) {
        *set = 0;
        return 0;
    }
    for (;;) {
        size_t len = strcspn(item, ",");
        int fault = find_fault(item, len);
        if (fault < 0) {
            snprintf(error, error_size,
                     "unknown callback fault '%.*s' (none, or a comma-separated list of: %s)",
                     (int)(len < NAME_QUOTED_MAX ? len : NAME_QUOTED_MAX), item,
                     CALLBACK_FAULT_LIST);
            return -1;
        }
        if (parsed & (1u << fault)) {
            snprintf(error, error_size, "callback fault %s is given twice", names[fault]);
            return -1;
        }
        parsed |= 1u << fault;
        if (!item[len]) break;
        item += len + 1;
    }
    *set = parsed;
    return 0;
}

unsigned callback_faults_count(callback_fault_set set)
{
    unsigned count = 0;
    for (int i = CALLBACK_FAULT_NONE + 1; i < CALLBACK_FAULT_COUNT; i++)
        count += (set >> i) & 1u;
    return count;
}

enum callback_fault callback_faults_nth(callback_fault_set set, unsigned n)
{
    for (int i = CALLBACK_FAULT_NONE + 1; i < CALLBACK_FAULT_COUNT; i++)
        if (((set >> i) & 1u) && n-- == 0) return (enum callback_fault)i;
    return CALLBACK_FAULT_NONE;
}

void callback_faults_json(callback_fault_set set, mock_buf *out)
{
    mock_buf list = {0};
    for (int i = CALLBACK_FAULT_NONE + 1; i < CALLBACK_FAULT_COUNT; i++)
        if ((set >> i) & 1u) buf_printf(&list, "%s%s", list.len ? "," : "", names[i]);
    json_cstring(out, list.len ? list.data : names[CALLBACK_FAULT_NONE]);
    buf_free(&list);
}

unsigned callback_fault_sends(enum callback_fault fault)
{
    switch (fault) {
    case CALLBACK_FAULT_NEVER:
        return 0;
    case CALLBACK_FAULT_TWICE:
        return CALLBACK_SENDS_MAX;
    default:
        return 1;
    }
}

void callback_fault_body(enum callback_fault fault, mock_buf *body)
{
    if (fault == CALLBACK_FAULT_GARBAGE) {
        /* A JSON object closes on its last byte, so any shorter prefix of one
         * is not JSON: it starts like the real body and then breaks off. */
        body->len /= 2;
        body->data[body->len] = '\0';
    } else if (fault == CALLBACK_FAULT_OTHER_SHAPE) {
        body->len = 0;
        buf_puts(body, CALLBACK_OTHER_SHAPE_BODY);
    }
}
