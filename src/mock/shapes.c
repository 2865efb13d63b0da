/* The response shapes the mock answers in: each lays out the submit reply,
 * the poll replies and the callback body the way some real service might. */
#include "shapes.h"

#include "json_out.h"

#include <stdio.h>
#include <string.h>

static const char *const names[SHAPE_COUNT] = {
    "plain", "numeric", "data", "nested", "bare", "nostatus", "mystery", "openai", "b64",
};

/* dall-e-3 rewrites prompts and says how in revised_prompt; the mock's
 * rewrite keeps the prompt whole so a test can find it in the result. */
#define REVISED_PROMPT_PREFIX "A detailed rendering of: "

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
                        const shape_job *job, mock_buf *out)
{
    buf_puts(out, "{\"id\":");
    if (numeric_id)
        buf_puts(out, job->id);
    else
        json_cstring(out, job->id);
    member(out, "status", word_for(words, phase));
    if (phase == PHASE_SUCCEEDED) {
        if (numeric_id) {
            member(out, "url", job->image_url);
        } else {
            buf_puts(out, ",\"images\":[");
            json_cstring(out, job->image_url);
            buf_puts(out, "]");
        }
    } else if (phase == PHASE_FAILED) {
        member(out, "error", job->reason);
    }
    buf_puts(out, "}");
}

static void render_data(enum job_phase phase, const shape_job *job, mock_buf *out)
{
    buf_puts(out, "{\"data\":{\"jobId\":");
    json_cstring(out, job->id);
    member(out, "state", word_for(&data_words, phase));
    if (phase == PHASE_SUCCEEDED) member(out, "imageUrl", job->image_url);
    if (phase == PHASE_FAILED) member(out, "message", job->reason);
    buf_puts(out, "}}");
}

static void render_nested(enum job_phase phase, const shape_job *job, mock_buf *out)
{
    buf_puts(out, "{\"result\":{\"data\":{\"_id\":");
    json_cstring(out, job->id);
    member(out, "status", word_for(&nested_words, phase));
    if (phase == PHASE_SUCCEEDED) {
        buf_puts(out, ",\"output\":[");
        json_cstring(out, job->image_url);
        buf_puts(out, "]");
    }
    if (phase == PHASE_FAILED) member(out, "reason", job->reason);
    buf_puts(out, "}}}");
}

static void render_bare(enum job_phase phase, const shape_job *job, mock_buf *out)
{
    if (phase == PHASE_SUBMITTED) {
        json_cstring(out, job->id);
        return;
    }
    buf_puts(out, "{\"taskId\":");
    json_cstring(out, job->id);
    if (phase == PHASE_PENDING) {
        member(out, "state", "running");
    } else if (phase == PHASE_SUCCEEDED) {
        member(out, "state", "finished");
        buf_puts(out, ",\"images\":[{\"url\":");
        json_cstring(out, job->image_url);
        buf_puts(out, "}]");
    } else {
        member(out, "state", "error");
        member(out, "msg", job->reason);
    }
    buf_puts(out, "}");
}

static void render_nostatus(enum job_phase phase, const shape_job *job, mock_buf *out)
{
    buf_puts(out, "{\"request_id\":");
    json_cstring(out, job->id);
    if (phase == PHASE_SUCCEEDED) member(out, "image_url", job->image_url);
    if (phase == PHASE_FAILED) {
        member(out, "status", "failed");
        member(out, "error", job->reason);
    }
    buf_puts(out, "}");
}

/* OpenAI's Images API reply once done, with the id the job needs here (OpenAI
 * answers at once, so it has neither id nor status); inline=1 gives the
 * image as b64_json, as response_format=b64_json does. */
static void render_openai(enum job_phase phase, int inline_image, const shape_job *job,
                          mock_buf *out)
{
    mock_buf revised = {0};
    if (phase != PHASE_SUCCEEDED) {
        buf_puts(out, "{\"id\":");
        json_cstring(out, job->id);
        if (phase == PHASE_PENDING) member(out, "status", "in_progress");
        if (phase == PHASE_FAILED) {
            member(out, "status", "failed");
            buf_puts(out, ",\"error\":{\"message\":");
            json_cstring(out, job->reason);
            buf_puts(out, "}");
        }
        buf_puts(out, "}");
        return;
    }
    buf_printf(out, "{\"created\":%lld,\"id\":", job->created);
    json_cstring(out, job->id);
    buf_puts(out, ",\"data\":[{");
    if (inline_image) {
        buf_puts(out, "\"b64_json\":");
        json_cstring(out, job->image_b64);
    } else {
        buf_puts(out, "\"url\":");
        json_cstring(out, job->image_url);
    }
    buf_puts(&revised, REVISED_PROMPT_PREFIX);
    buf_append(&revised, job->prompt, job->prompt_len);
    buf_puts(out, ",\"revised_prompt\":");
    json_string(out, revised.data, revised.len);
    buf_puts(out, "}]}");
    buf_free(&revised);
}

void shape_render(enum mock_shape shape, enum job_phase phase, const shape_job *job, mock_buf *out)
{
    switch (shape) {
    case SHAPE_NUMERIC:
        render_flat(&numeric_words, 1, phase, job, out);
        break;
    case SHAPE_DATA:
        render_data(phase, job, out);
        break;
    case SHAPE_NESTED:
        render_nested(phase, job, out);
        break;
    case SHAPE_BARE:
        render_bare(phase, job, out);
        break;
    case SHAPE_NOSTATUS:
        render_nostatus(phase, job, out);
        break;
    case SHAPE_MYSTERY:
        render_flat(&mystery_words, 0, phase, job, out);
        break;
    case SHAPE_OPENAI:
        render_openai(phase, 0, job, out);
        break;
    case SHAPE_B64:
        render_openai(phase, 1, job, out);
        break;
    case SHAPE_PLAIN:
    case SHAPE_COUNT:
        render_flat(&plain_words, 0, phase, job, out);
        break;
    }
}
