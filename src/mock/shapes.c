/* The response shapes the mock answers in: each lays out the submit reply,
 * the poll replies and the callback body the way some real service might. */
#include "shapes.h"

#include "json_out.h"

#include <stdio.h>
#include <string.h>

static const char *const names[SHAPE_COUNT] = {
    "plain", "numeric", "data", "nested", "bare", "nostatus", "mystery",
};

const char *shape_name(enum mock_shape shape)
{
    return shape < SHAPE_COUNT ? names[shape] : "?";
}

int shape_parse(const char *name, enum mock_shape *shape)
{
    for (int i = 0; i < SHAPE_COUNT; i++) {
        if (strcmp(names[i], name) == 0) {
            *shape = (enum mock_shape)i;
            return 0;
        }
    }
    return -1;
}

void shape_names(char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < SHAPE_COUNT; i++) {
        int n = snprintf(out + used, size - used, "%s%s", i ? ", " : "", names[i]);
        if (n < 0 || (size_t)n >= size - used) return;
        used += (size_t)n;
    }
}

/* The status words of the flat shapes, per phase. */
typedef struct status_words {
    const char *submitted;
    const char *pending;
    const char *succeeded;
    const char *failed;
} status_words;

static const status_words plain_words = {"pending", "processing", "succeeded", "failed"};
static const status_words numeric_words = {"queued", "processing", "completed", "failed"};
/* An unknown status: clients must keep polling and report it in `raw`. */
static const status_words mystery_words = {"pending", "warming_up", "succeeded", "failed"};
static const status_words data_words = {"QUEUED", "IN_PROGRESS", "COMPLETED", "FAILED"};
static const status_words nested_words = {"Starting", "Processing", "Done", "Failed"};

static const char *word_for(const status_words *words, enum job_phase phase)
{
    switch (phase) {
    case PHASE_SUBMITTED:
        return words->submitted;
    case PHASE_PENDING:
        return words->pending;
    case PHASE_SUCCEEDED:
        return words->succeeded;
    case PHASE_FAILED:
        return words->failed;
    }
    return words->pending;
}

static void member(mock_buf *out, const char *name, const char *value)
{
    buf_printf(out, ",\"%s\":", name);
    json_cstring(out, value);
}

static void render_flat(const status_words *words, int numeric_id, enum job_phase phase,
                        const char *id, const char *image_url, const char *reason, mock_buf *out)
{
    buf_puts(out, "{\"id\":");
    if (numeric_id)
        buf_puts(out, id);
    else
        json_cstring(out, id);
    member(out, "status", word_for(words, phase));
    if (phase == PHASE_SUCCEEDED) {
        if (numeric_id) {
            member(out, "url", image_url);
        } else {
            buf_puts(out, ",\"images\":[");
            json_cstring(out, image_url);
            buf_puts(out, "]");
        }
    } else if (phase == PHASE_FAILED) {
        member(out, "error", reason);
    }
    buf_puts(out, "}");
}

static void render_data(enum job_phase phase, const char *id, const char *image_url,
                        const char *reason, mock_buf *out)
{
    buf_puts(out, "{\"data\":{\"jobId\":");
    json_cstring(out, id);
    member(out, "state", word_for(&data_words, phase));
    if (phase == PHASE_SUCCEEDED) member(out, "imageUrl", image_url);
    if (phase == PHASE_FAILED) member(out, "message", reason);
    buf_puts(out, "}}");
}

static void render_nested(enum job_phase phase, const char *id, const char *image_url,
                          const char *reason, mock_buf *out)
{
    buf_puts(out, "{\"result\":{\"data\":{\"_id\":");
    json_cstring(out, id);
    member(out, "status", word_for(&nested_words, phase));
    if (phase == PHASE_SUCCEEDED) {
        buf_puts(out, ",\"output\":[");
        json_cstring(out, image_url);
        buf_puts(out, "]");
    }
    if (phase == PHASE_FAILED) member(out, "reason", reason);
    buf_puts(out, "}}}");
}

static void render_bare(enum job_phase phase, const char *id, const char *image_url,
                        const char *reason, mock_buf *out)
{
    if (phase == PHASE_SUBMITTED) {
        json_cstring(out, id);
        return;
    }
    buf_puts(out, "{\"taskId\":");
    json_cstring(out, id);
    if (phase == PHASE_PENDING) {
        member(out, "state", "running");
    } else if (phase == PHASE_SUCCEEDED) {
        member(out, "state", "finished");
        buf_puts(out, ",\"images\":[{\"url\":");
        json_cstring(out, image_url);
        buf_puts(out, "}]");
    } else {
        member(out, "state", "error");
        member(out, "msg", reason);
    }
    buf_puts(out, "}");
}

static void render_nostatus(enum job_phase phase, const char *id, const char *image_url,
                            const char *reason, mock_buf *out)
{
    buf_puts(out, "{\"request_id\":");
    json_cstring(out, id);
    if (phase == PHASE_SUCCEEDED) member(out, "image_url", image_url);
    if (phase == PHASE_FAILED) {
        member(out, "status", "failed");
        member(out, "error", reason);
    }
    buf_puts(out, "}");
}

void shape_render(enum mock_shape shape, enum job_phase phase, const char *id,
                  const char *image_url, const char *reason, mock_buf *out)
{
    switch (shape) {
    case SHAPE_NUMERIC:
        render_flat(&numeric_words, 1, phase, id, image_url, reason, out);
        break;
    case SHAPE_DATA:
        render_data(phase, id, image_url, reason, out);
        break;
    case SHAPE_NESTED:
        render_nested(phase, id, image_url, reason, out);
        break;
    case SHAPE_BARE:
        render_bare(phase, id, image_url, reason, out);
        break;
    case SHAPE_NOSTATUS:
        render_nostatus(phase, id, image_url, reason, out);
        break;
    case SHAPE_MYSTERY:
        render_flat(&mystery_words, 0, phase, id, image_url, reason, out);
        break;
    case SHAPE_PLAIN:
    case SHAPE_COUNT:
        render_flat(&plain_words, 0, phase, id, image_url, reason, out);
        break;
    }
}
