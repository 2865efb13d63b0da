/* The job store: ids, the way from submitted to done, what each poll sees,
 * which finished jobs still owe their callback, and what each job cost and
 * sent (its GETs, its callback POSTs and how they ended). */
#include "jobs.h"

#include "chaos.h"
#include "json_out.h"
#include "png.h"
#include "shapes.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define JOB_ID_MAX 24
/* Hex ids are 12 digits: 48 bits, scrambled so they look random. */
#define HEX_ID_BITS 48
#define HEX_ID_MASK ((UINT64_C(1) << HEX_ID_BITS) - 1)
#define FIRST_NUMERIC_ID 1001UL
#define JOBS_MIN_CAP 16
#define NOT_REPLAYED SIZE_MAX

typedef struct callback_outcome {
    long status;       /* the receiver's answer, or 0 */
    const char *error; /* when there was none: why */
    double ended_at;   /* mock_now() when it ended: the receiver had it by then */
} callback_outcome;

typedef struct job {
    char id[JOB_ID_MAX];
    size_t index; /* in `jobs` */
    enum mock_shape shape;
    long long created; /* unix seconds */
    unsigned long polls_needed;
    unsigned long polls_answered; /* pending replies given so far */
    unsigned long gets;           /* every GET of /sdk/art/{id} */
    uint64_t ready_at_ms;
    int done;
    int failed;
    enum callback_fault callback_fault;
    unsigned long callback_late_ms;
    uint64_t callback_due_ms; /* set when done */
    unsigned callbacks_left;  /* POSTs not yet started */
    int callback_in_flight;   /* one POST started and not yet ended */
    callback_outcome outcomes[CALLBACK_SENDS_MAX];
    unsigned outcome_count;
    char *prompt;
    size_t prompt_len;
    unsigned width;
    unsigned height;
    char *image_b64; /* the b64 shape's succeeded jobs only */
    char *callback_url;
    size_t recording; /* the recorded job it replays, or NOT_REPLAYED */
} job;

static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static job **jobs;
static size_t job_count;
static size_t job_cap;
static char *public_base;
/* Bumped by every reset, so a callback ending after it touches no job. */
static unsigned long generation;
/* No job before this index owes a callback POST that is not in flight. */
static size_t owed_from;
/* Every job before this index is done. */
static size_t done_from;
/* Neither counter restarts on reset, so an id is never given twice. */
static uint64_t hex_sequence;
static unsigned long next_numeric_id = FIRST_NUMERIC_ID;

/* Each step is a bijection on 48 bits, so distinct sequence numbers always
 * give distinct ids. */
static uint64_t scramble48(uint64_t x)
{
    x &= HEX_ID_MASK;
    x ^= x >> 23;
    x = (x * UINT64_C(0x5DEECE66D)) & HEX_ID_MASK;
    x ^= x >> 17;
    x = (x * UINT64_C(0x9E3779B97F4B)) & HEX_ID_MASK;
    x ^= x >> 21;
    return x;
}

void jobs_start(void)
{
    pthread_mutex_lock(&jobs_lock);
    hex_sequence = ((uint64_t)time(NULL) << 16) ^ (uint64_t)getpid();
    pthread_mutex_unlock(&jobs_lock);
}

void jobs_set_public_base(const char *base)
{
    pthread_mutex_lock(&jobs_lock);
    free(public_base);
    public_base = mock_strdup(base);
    pthread_mutex_unlock(&jobs_lock);
}

static job *find_job(const char *id)
{
    for (size_t i = 0; i < job_count; i++)
        if (strcmp(jobs[i]->id, id) == 0) return jobs[i];
    return NULL;
}

/* Sizes are "WxH"; the rules have already checked the value. */
static void image_size(const char *size, unsigned *width, unsigned *height)
{
    char *end;
    unsigned long w = strtoul(size, &end, 10);
    unsigned long h = *end == 'x' ? strtoul(end + 1, NULL, 10) : w;
    *width = (unsigned)w;
    *height = (unsigned)h;
}

static void image_url(const job *j, mock_buf *out)
{
    buf_printf(out, "%s/images/%s.png", public_base ? public_base : "", j->id);
}

static void render(const job *j, enum job_phase phase, mock_buf *out)
{
    mock_buf url = {0};
    shape_job fields;
    image_url(j, &url);
    fields.id = j->id;
    fields.image_url = url.data;
    fields.image_b64 = j->image_b64;
    fields.prompt = j->prompt;
    fields.prompt_len = j->prompt_len;
    fields.created = j->created;
    fields.reason = JOB_FAIL_REASON;
    shape_render(j->shape, phase, &fields, out);
    buf_free(&url);
}

static void render_done(const job *j, mock_buf *out)
{
    render(j, j->failed ? PHASE_FAILED : PHASE_SUCCEEDED, out);
}

static void refresh(job *j, uint64_t now_ms)
{
    if (j->done || j->polls_answered < j->polls_needed || now_ms < j->ready_at_ms) return;
    j->done = 1;
    j->callback_due_ms =
        now_ms + (j->callback_fault == CALLBACK_FAULT_LATE ? j->callback_late_ms : 0);
    if (j->callbacks_left && j->index < owed_from) owed_from = j->index;
}

static job *new_job(const dalle_params *params, const mock_config *config)
{
    job *j = mock_calloc(1, sizeof *j);
    j->shape = config->shape;
    j->created = (long long)time(NULL);
    j->polls_needed = config->polls;
    j->ready_at_ms = mock_now_ms() + config->delay_ms;
    j->prompt = mock_strndup(params->prompt, params->prompt_len);
    j->prompt_len = params->prompt_len;
    j->callback_url = mock_strdup(params->callback);
    j->callback_late_ms = config->callback_late_ms;
    j->recording = NOT_REPLAYED;
    image_size(params->size, &j->width, &j->height);
    return j;
}

/* Gives the job its id and adds it to the store; call with the lock held. */
static void add_job(job *j)
{
    if (j->shape == SHAPE_NUMERIC)
        snprintf(j->id, sizeof j->id, "%lu", next_numeric_id++);
    else
        snprintf(j->id, sizeof j->id, "%012" PRIx64, scramble48(hex_sequence++));
    if (job_count == job_cap) {
        job_cap = job_cap ? job_cap * 2 : JOBS_MIN_CAP;
        jobs = mock_realloc(jobs, job_cap * sizeof *jobs);
    }
    j->index = job_count;
    jobs[job_count++] = j;
}

void jobs_create(const dalle_params *params, const mock_config *config, mock_buf *reply)
{
    job *j = new_job(params, config);
    j->failed = strstr(j->prompt, JOB_FAIL_MARKER) != NULL;
    j->callback_fault =
        chaos_draw_callback_fault(config->callback_fault_percent, config->callback_faults);
    j->callbacks_left = callback_fault_sends(j->callback_fault);
    /* Drawn here, outside the lock, rather than on every poll that shows it. */
    if (j->shape == SHAPE_B64 && !j->failed) {
        mock_buf png = {0}, b64 = {0};
        png_from_prompt(j->prompt, j->prompt_len, j->width, j->height, &png);
        base64_append(&b64, png.data, png.len);
        j->image_b64 = buf_take(&b64, NULL);
        buf_free(&png);
    }

    pthread_mutex_lock(&jobs_lock);
    add_job(j);
    refresh(j, mock_now_ms());
    render(j, PHASE_SUBMITTED, reply);
    pthread_mutex_unlock(&jobs_lock);
}

void jobs_create_replayed(const dalle_params *params, const mock_config *config, size_t recording,
                          mock_buf *id, mock_buf *url)
{
    job *j = new_job(params, config);
    j->recording = recording;
    /* Done, so its image downloads, but never owed a callback. */
    j->done = 1;
    pthread_mutex_lock(&jobs_lock);
    add_job(j);
    buf_puts(id, j->id);
    image_url(j, url);
    pthread_mutex_unlock(&jobs_lock);
}

int jobs_poll_replayed(const char *id, size_t *recording, unsigned long *polls_before,
                       mock_buf *url)
{
    job *j;
    int found;
    pthread_mutex_lock(&jobs_lock);
    j = find_job(id);
    found = j && j->recording != NOT_REPLAYED;
    if (found) {
        *recording = j->recording;
        *polls_before = j->polls_answered++;
        image_url(j, url);
    }
    pthread_mutex_unlock(&jobs_lock);
    return found ? 0 : -1;
}

int jobs_poll(const char *id, mock_buf *reply)
{
    job *j;
    pthread_mutex_lock(&jobs_lock);
    j = find_job(id);
    if (j) {
        refresh(j, mock_now_ms());
        if (j->done) {
            render_done(j, reply);
        } else {
            render(j, PHASE_PENDING, reply);
            j->polls_answered++;
        }
    }
    pthread_mutex_unlock(&jobs_lock);
    return j ? 0 : -1;
}

enum image_state jobs_image(const char *id, char **prompt, size_t *prompt_len, unsigned *width,
                            unsigned *height)
{
    enum image_state state = IMAGE_NO_JOB;
    job *j;
    pthread_mutex_lock(&jobs_lock);
    j = find_job(id);
    if (j && (!j->done || j->failed)) state = IMAGE_NOT_READY;
    if (j && j->done && !j->failed) {
        state = IMAGE_READY;
        *prompt = mock_strndup(j->prompt, j->prompt_len);
        *prompt_len = j->prompt_len;
        *width = j->width;
        *height = j->height;
    }
    pthread_mutex_unlock(&jobs_lock);
    return state;
}

void jobs_count_get(const char *id)
{
    job *j;
    pthread_mutex_lock(&jobs_lock);
    j = find_job(id);
    if (j) j->gets++;
    pthread_mutex_unlock(&jobs_lock);
}

void jobs_advance(void)
{
    uint64_t now = mock_now_ms();
    pthread_mutex_lock(&jobs_lock);
    /* Run on every tick: the done prefix is skipped rather than scanned. */
    while (done_from < job_count && jobs[done_from]->done)
        done_from++;
    for (size_t i = done_from; i < job_count; i++)
        refresh(jobs[i], now);
    pthread_mutex_unlock(&jobs_lock);
}

/* 1 while the job has a POST to start now or later; call with the lock held. */
static int owes_callback(const job *j)
{
    return j->done && j->callbacks_left > 0 && !j->callback_in_flight;
}

size_t jobs_take_callbacks(uint64_t now_ms, callback_send *out, size_t max, int *more)
{
    size_t taken = 0;
    *more = 0;
    pthread_mutex_lock(&jobs_lock);
    /* Jobs mostly finish in creation order, so the prefix that owes nothing
     * is skipped rather than scanned on every call. */
    while (owed_from < job_count && !owes_callback(jobs[owed_from]))
        owed_from++;
    for (size_t i = owed_from; i < job_count; i++) {
        job *j = jobs[i];
        if (!owes_callback(j) || now_ms < j->callback_due_ms) continue;
        if (taken == max) {
            *more = 1;
            break;
        }
        j->callbacks_left--;
        j->callback_in_flight = 1;
        out[taken].job.generation = generation;
        out[taken].job.index = i;
        out[taken].url = mock_strdup(j->callback_url);
        out[taken].body = (mock_buf){0};
        render_done(j, &out[taken].body);
        callback_fault_body(j->callback_fault, &out[taken].body);
        taken++;
    }
    pthread_mutex_unlock(&jobs_lock);
    return taken;
}

void jobs_callback_ended(job_ref ref, long status, const char *error)
{
    pthread_mutex_lock(&jobs_lock);
    if (ref.generation == generation && ref.index < job_count) {
        job *j = jobs[ref.index];
        j->callback_in_flight = 0;
        if (j->outcome_count < CALLBACK_SENDS_MAX) {
            j->outcomes[j->outcome_count].status = status;
            j->outcomes[j->outcome_count].error = error;
            j->outcomes[j->outcome_count].ended_at = mock_now();
            j->outcome_count++;
        }
        if (j->callbacks_left && j->index < owed_from) owed_from = j->index;
    }
    pthread_mutex_unlock(&jobs_lock);
}

static const char *state_name(const job *j)
{
    if (!j->done) return "pending";
    return j->failed ? "failed" : "succeeded";
}

void jobs_to_json(mock_buf *out)
{
    uint64_t now = mock_now_ms();
    pthread_mutex_lock(&jobs_lock);
    buf_puts(out, "[");
    for (size_t i = 0; i < job_count; i++) {
        job *j = jobs[i];
        /* As a poll would see it now, not as of the callback thread's last tick. */
        refresh(j, now);
        if (i) buf_puts(out, ",");
        buf_puts(out, "{\"id\":");
        json_cstring(out, j->id);
        buf_puts(out, ",\"prompt\":");
        json_string(out, j->prompt, j->prompt_len);
        buf_printf(out, ",\"state\":\"%s\",\"polls\":%lu,\"gets\":%lu", state_name(j),
                   j->polls_answered, j->gets);
        buf_puts(out, ",\"callback_fault\":");
        json_cstring(out, j->callback_fault == CALLBACK_FAULT_NONE
                              ? NULL
                              : callback_fault_name(j->callback_fault));
        buf_printf(out, ",\"callbacks_pending\":%u,\"callbacks\":[",
                   j->callbacks_left + (j->callback_in_flight ? 1u : 0u));
        for (unsigned k = 0; k < j->outcome_count; k++) {
            if (k) buf_puts(out, ",");
            if (j->outcomes[k].error) {
                buf_puts(out, "{\"error\":");
                json_cstring(out, j->outcomes[k].error);
            } else {
                buf_printf(out, "{\"status\":%ld", j->outcomes[k].status);
            }
            buf_printf(out, ",\"at\":%.6f}", j->outcomes[k].ended_at);
        }
        buf_puts(out, "]}");
    }
    buf_puts(out, "]");
    pthread_mutex_unlock(&jobs_lock);
}

static void free_job(job *j)
{
    free(j->prompt);
    free(j->image_b64);
    free(j->callback_url);
    free(j);
}

void jobs_clear(void)
{
    pthread_mutex_lock(&jobs_lock);
    for (size_t i = 0; i < job_count; i++)
        free_job(jobs[i]);
    job_count = 0;
    owed_from = 0;
    done_from = 0;
    generation++;
    pthread_mutex_unlock(&jobs_lock);
}

void jobs_stop(void)
{
    jobs_clear();
    pthread_mutex_lock(&jobs_lock);
    free(jobs);
    jobs = NULL;
    job_cap = 0;
    free(public_base);
    public_base = NULL;
    pthread_mutex_unlock(&jobs_lock);
}
