/* The job store: ids, the way from submitted to done, what each poll sees,
 * and which finished jobs still owe their callback. */
#include "jobs.h"

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

typedef struct job {
    char id[JOB_ID_MAX];
    enum mock_shape shape;
    long long created; /* unix seconds */
    unsigned long polls_needed;
    unsigned long polls_answered; /* pending replies given so far */
    uint64_t ready_at_ms;
    int done;
    int failed;
    int callback_owed;
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
    j->callback_owed = 1;
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
    jobs[job_count++] = j;
}

void jobs_create(const dalle_params *params, const mock_config *config, mock_buf *reply)
{
    job *j = new_job(params, config);
    j->failed = strstr(j->prompt, JOB_FAIL_MARKER) != NULL;
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

void jobs_advance(void)
{
    uint64_t now = mock_now_ms();
    pthread_mutex_lock(&jobs_lock);
    for (size_t i = 0; i < job_count; i++)
        refresh(jobs[i], now);
    pthread_mutex_unlock(&jobs_lock);
}

int jobs_take_callback(char **url, mock_buf *body)
{
    int taken = 0;
    pthread_mutex_lock(&jobs_lock);
    for (size_t i = 0; i < job_count && !taken; i++) {
        job *j = jobs[i];
        if (!j->callback_owed) continue;
        j->callback_owed = 0;
        *url = mock_strdup(j->callback_url);
        render_done(j, body);
        taken = 1;
    }
    pthread_mutex_unlock(&jobs_lock);
    return taken;
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
        buf_printf(out, ",\"state\":\"%s\",\"polls\":%lu}", state_name(j), j->polls_answered);
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
