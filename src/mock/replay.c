/* Replay mode (--replay): submit and poll replies recorded from the real
 * service by the client's record mode, loaded from a JSON-lines file and sent
 * back in order, with the recorded job ids and image URLs made the mock's. */
#include "replay.h"

#include "jobs.h"
#include "json_in.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Curl hands the client final replies only, so a recorded 1xx is a broken
 * file; and a 1xx sent as the answer would leave the client waiting. */
#define REPLAY_STATUS_MIN 200UL
#define REPLAY_STATUS_MAX 599UL
#define SUCCESS_MIN 200
#define SUCCESS_MAX 299
#define CONTENT_TYPE_MAX 256
#define LINE_BLOCK 4096
#define ARRAY_MIN_CAP 8
#define NO_JOB SIZE_MAX
#define QUOTED_MAX 60

typedef struct recorded_reply {
    unsigned status;
    char *content_type;                 /* NULL: application/json */
    char retry_after[REPLY_HEADER_MAX]; /* empty: none */
    json_value body;                    /* the JSON body, or the body_text string */
    int is_text;                        /* body_text: sent as body.text, unchanged */
    size_t job;                         /* a 2xx submit's recorded job, else NO_JOB */
} recorded_reply;

typedef struct recorded_job {
    char *id; /* NULL: the submit reply was recorded without one */
    size_t id_len;
    char **images; /* every URL its lines read, each once */
    size_t *image_lens;
    size_t image_count;
    size_t image_cap;
    recorded_reply *polls; /* in file order */
    size_t poll_count;
    size_t poll_cap;
} recorded_job;

typedef struct recording {
    recorded_reply *submits; /* with a reply, in file order */
    size_t submit_count;
    size_t submit_cap;
    recorded_job *jobs;
    size_t job_count;
    size_t job_cap;
} recording;

/* While loading: the recording, the job ids hashed to their index + 1, and
 * where the error goes. */
typedef struct loader {
    recording *rec;
    size_t *slots;
    size_t slot_cap; /* a power of two, or 0 */
    const char *path;
    size_t line;
    char *error;
    size_t error_size;
} loader;

/* Written once before the server starts and only read after, so requests
 * read it unlocked; only the submit cursor changes. */
static recording loaded;
static int active;
static pthread_mutex_t cursor_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t next_submit;

static int load_error(loader *l, const char *format, ...) __attribute__((format(printf, 2, 3)));

static int load_error(loader *l, const char *format, ...)
{
    char what[REPLAY_ERROR_MAX];
    va_list args;
    va_start(args, format);
    vsnprintf(what, sizeof what, format, args);
    va_end(args);
    if (l->line)
        snprintf(l->error, l->error_size, "--replay '%s': line %zu: %s", l->path, l->line, what);
    else
        snprintf(l->error, l->error_size, "--replay '%s': %s", l->path, what);
    return -1;
}

static void free_reply(recorded_reply *reply)
{
    free(reply->content_type);
    json_free(&reply->body);
}

static void free_recording(recording *rec)
{
    for (size_t i = 0; i < rec->submit_count; i++)
        free_reply(&rec->submits[i]);
    for (size_t i = 0; i < rec->job_count; i++) {
        recorded_job *job = &rec->jobs[i];
        for (size_t k = 0; k < job->image_count; k++)
            free(job->images[k]);
        for (size_t k = 0; k < job->poll_count; k++)
            free_reply(&job->polls[k]);
        free(job->images);
        free(job->image_lens);
        free(job->polls);
        free(job->id);
    }
    free(rec->submits);
    free(rec->jobs);
    memset(rec, 0, sizeof *rec);
}

static size_t *slot_for(loader *l, const char *id, size_t len)
{
    size_t mask = l->slot_cap - 1;
    for (size_t i = (size_t)mock_hash(id, len) & mask;; i = (i + 1) & mask) {
        size_t *slot = &l->slots[i];
        const recorded_job *job;
        if (*slot == 0) return slot;
        job = &l->rec->jobs[*slot - 1];
        if (job->id_len == len && memcmp(job->id, id, len) == 0) return slot;
    }
}

/* Keeps the table at most half full, so a free slot always ends a probe. */
static void grow_slots(loader *l)
{
    size_t old_cap = l->slot_cap;
    size_t *old = l->slots;
    l->slot_cap = old_cap ? old_cap * 2 : ARRAY_MIN_CAP;
    l->slots = mock_calloc(l->slot_cap, sizeof *l->slots);
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i] == 0) continue;
        const recorded_job *job = &l->rec->jobs[old[i] - 1];
        *slot_for(l, job->id, job->id_len) = old[i];
    }
    free(old);
}

static size_t add_job(recording *rec)
{
    if (rec->job_count == rec->job_cap) {
        rec->job_cap = rec->job_cap ? rec->job_cap * 2 : ARRAY_MIN_CAP;
        rec->jobs = mock_realloc(rec->jobs, rec->job_cap * sizeof *rec->jobs);
    }
    memset(&rec->jobs[rec->job_count], 0, sizeof rec->jobs[0]);
    return rec->job_count++;
}

/* The recorded job with this id, added on its first line. */
static size_t job_by_id(loader *l, const char *id, size_t len)
{
    size_t *slot;
    size_t index;
    if ((l->rec->job_count + 1) * 2 > l->slot_cap) grow_slots(l);
    slot = slot_for(l, id, len);
    if (*slot) return *slot - 1;
    index = add_job(l->rec);
    l->rec->jobs[index].id = mock_strndup(id, len);
    l->rec->jobs[index].id_len = len;
    *slot = index + 1;
    return index;
}

static void add_image(recorded_job *job, const char *url, size_t len)
{
    for (size_t i = 0; i < job->image_count; i++)
        if (job->image_lens[i] == len && memcmp(job->images[i], url, len) == 0) return;
    if (job->image_count == job->image_cap) {
        job->image_cap = job->image_cap ? job->image_cap * 2 : ARRAY_MIN_CAP;
        job->images = mock_realloc(job->images, job->image_cap * sizeof *job->images);
        job->image_lens = mock_realloc(job->image_lens, job->image_cap * sizeof *job->image_lens);
    }
    job->images[job->image_count] = mock_strndup(url, len);
    job->image_lens[job->image_count++] = len;
}

static int has_control_byte(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F) return 1;
    return 0;
}

static int read_status(loader *l, const json_value *status, unsigned *out)
{
    unsigned long number;
    if (status->type != JSON_NUMBER ||
        mock_parse_ulong(status->text, REPLAY_STATUS_MAX, &number) != 0 ||
        number < REPLAY_STATUS_MIN)
        return load_error(l, "\"status\" is not a number from %lu to %lu", REPLAY_STATUS_MIN,
                          REPLAY_STATUS_MAX);
    *out = (unsigned)number;
    return 0;
}

/* content_type and retry_after become headers: one line each, bounded. */
static int read_headers(loader *l, const json_value *line, recorded_reply *reply)
{
    const json_value *type = json_get(line, "content_type");
    const json_value *retry = json_get(line, "retry_after");
    if (type && type->type != JSON_NULL) {
        if (type->type != JSON_STRING || type->len == 0 || type->len > CONTENT_TYPE_MAX ||
            has_control_byte(type->text, type->len))
            return load_error(l, "\"content_type\" is not a one-line string of 1 to %d bytes",
                              CONTENT_TYPE_MAX);
        reply->content_type = mock_strndup(type->text, type->len);
    }
    if (retry && retry->type != JSON_NULL) {
        if ((retry->type != JSON_STRING && retry->type != JSON_NUMBER) ||
            retry->len >= sizeof reply->retry_after || has_control_byte(retry->text, retry->len))
            return load_error(l,
                              "\"retry_after\" is not a one-line string or number under %d bytes",
                              REPLY_HEADER_MAX);
        memcpy(reply->retry_after, retry->text, retry->len);
        reply->retry_after[retry->len] = '\0';
    }
    return 0;
}

static int read_body(loader *l, json_value *line, const char *call, recorded_reply *reply)
{
    int has_body = json_get(line, "body") != NULL;
    const json_value *text = json_get(line, "body_text");
    if (has_body && text)
        return load_error(l, "both \"body\" and \"body_text\": a reply has one or the other");
    if (!has_body && !text)
        return load_error(l, "a %s line with a \"status\" but no \"body\" or \"body_text\"", call);
    if (text && text->type != JSON_STRING) return load_error(l, "\"body_text\" is not a string");
    reply->is_text = text != NULL;
    json_take(line, has_body ? "body" : "body_text", &reply->body);
    return 0;
}

/* The recorded job a line names, or NO_JOB. */
static int read_job(loader *l, const json_value *line, size_t *job_index)
{
    const json_value *job = json_get(line, "job");
    *job_index = NO_JOB;
    if (!job || job->type == JSON_NULL) return 0;
    if ((job->type != JSON_STRING && job->type != JSON_NUMBER) || job->len == 0)
        return load_error(l, "\"job\" is not a non-empty string or a number");
    *job_index = job_by_id(l, job->text, job->len);
    return 0;
}

/* The image URLs a line read, or NULL. */
static int read_images(loader *l, const json_value *line, const json_value **images)
{
    const json_value *list = json_get(line, "images");
    int strings;
    *images = NULL;
    /* lua-cjson writes an empty list as {}. */
    if (!list || list->type == JSON_NULL || (list->type == JSON_OBJECT && list->count == 0))
        return 0;
    strings = list->type == JSON_ARRAY;
    for (size_t i = 0; strings && i < list->count; i++)
        strings = list->items[i].type == JSON_STRING;
    if (!strings) return load_error(l, "\"images\" is not a list of strings");
    *images = list;
    return 0;
}

static void add_reply(recorded_reply **list, size_t *count, size_t *cap,
                      const recorded_reply *reply)
{
    if (*count == *cap) {
        *cap = *cap ? *cap * 2 : ARRAY_MIN_CAP;
        *list = mock_realloc(*list, *cap * sizeof **list);
    }
    (*list)[(*count)++] = *reply;
}

/* One record line: a submit or poll with a reply is kept, other calls and
 * transport failures are skipped. */
static int load_line(loader *l, json_value *line)
{
    const json_value *call, *status, *images;
    recorded_reply reply;
    size_t job;
    int is_submit;

    if (line->type != JSON_OBJECT) return load_error(l, "not a JSON object");
    call = json_get(line, "call");
    status = json_get(line, "status");
    if (!call || call->type != JSON_STRING) return load_error(l, "no \"call\" string");
    is_submit = json_text_equals(call, "submit", strlen("submit"));
    if (!is_submit && !json_text_equals(call, "poll", strlen("poll"))) return 0;
    if (!status) {
        if (json_get(line, "failure")) return 0;
        return load_error(l,
                          "a %s line with neither a reply (\"status\" and \"body\") nor "
                          "\"failure\"",
                          call->text);
    }
    if (read_job(l, line, &job) != 0 || read_images(l, line, &images) != 0) return -1;
    if (!is_submit && job == NO_JOB)
        return load_error(l, "a poll line without \"job\" (the id it polled)");

    memset(&reply, 0, sizeof reply);
    reply.job = NO_JOB;
    if (read_status(l, status, &reply.status) != 0 || read_headers(l, line, &reply) != 0 ||
        read_body(l, line, call->text, &reply) != 0) {
        free_reply(&reply);
        return -1;
    }
    /* A 2xx submit creates a job even when no id could be read from it. */
    if (is_submit && job == NO_JOB && reply.status >= SUCCESS_MIN && reply.status <= SUCCESS_MAX)
        job = add_job(l->rec);
    for (size_t i = 0; images && job != NO_JOB && i < images->count; i++)
        add_image(&l->rec->jobs[job], images->items[i].text, images->items[i].len);
    if (is_submit) {
        if (reply.status >= SUCCESS_MIN && reply.status <= SUCCESS_MAX) reply.job = job;
        add_reply(&l->rec->submits, &l->rec->submit_count, &l->rec->submit_cap, &reply);
    } else {
        recorded_job *recorded = &l->rec->jobs[job];
        add_reply(&recorded->polls, &recorded->poll_count, &recorded->poll_cap, &reply);
    }
    return 0;
}

static int is_blank(const mock_buf *line)
{
    for (size_t i = 0; i < line->len; i++)
        if (line->data[i] != ' ' && line->data[i] != '\t' && line->data[i] != '\r') return 0;
    return 1;
}

/* One line without its '\n'. Returns 1, 0 at the end of the file, or -1
 * when it is longer than REPLAY_LINE_MAX (the rest is left unread). */
static int read_line(FILE *file, mock_buf *line)
{
    char block[LINE_BLOCK];
    size_t used = 0, total = 0;
    int c;
    line->len = 0;
    while ((c = getc(file)) != EOF && c != '\n') {
        if (++total > REPLAY_LINE_MAX) return -1;
        block[used++] = (char)c;
        if (used == sizeof block) {
            buf_append(line, block, used);
            used = 0;
        }
    }
    buf_append(line, block, used);
    return c == EOF && total == 0 ? 0 : 1;
}

/* One line of the file, numbered l->line: blank, or a record. */
static int load_text(loader *l, const mock_buf *text, size_t *records)
{
    json_value line;
    json_error problem;
    int status;
    if (is_blank(text)) return 0;
    ++*records;
    if (json_parse(text->data, text->len, &line, &problem) != 0)
        return load_error(l, "not JSON: %s at byte %zu", problem.message, problem.offset);
    status = load_line(l, &line);
    json_free(&line);
    return status;
}

static int load_file(loader *l, FILE *file)
{
    mock_buf text = {0};
    size_t records = 0;
    int status = 0, got;

    while (status == 0 && (got = read_line(file, &text)) != 0) {
        if (++l->line > REPLAY_LINES_MAX)
            status = load_error(l, "the file has more than %d lines", REPLAY_LINES_MAX);
        else if (got < 0)
            status = load_error(l, "longer than %d bytes", REPLAY_LINE_MAX);
        else
            status = load_text(l, &text, &records);
    }
    buf_free(&text);
    if (status != 0) return status;
    l->line = 0;
    if (ferror(file)) return load_error(l, "cannot read: %s", strerror(errno));
    if (records == 0) return load_error(l, "the file is empty: nothing to replay");
    if (l->rec->submit_count == 0)
        return load_error(l, "no submit line with a reply (\"call\":\"submit\" and a \"status\"):"
                             " nothing to replay");
    return 0;
}

int replay_load(const char *path, char *error, size_t error_size)
{
    loader l = {&loaded, NULL, 0, path, 0, error, error_size};
    FILE *file = fopen(path, "rb");
    int status;
    if (!file) return load_error(&l, "cannot open: %s", strerror(errno));
    status = load_file(&l, file);
    fclose(file);
    free(l.slots);
    if (status != 0) {
        free_recording(&loaded);
        return -1;
    }
    active = 1;
    return 0;
}

int replay_active(void)
{
    return active;
}

/* What a recorded body's strings become: the recorded job id the mock's, the
 * recorded image URLs the mock's image URL of the job. */
typedef struct rewrite {
    const recorded_job *job; /* NULL: nothing to rewrite */
    const char *id;
    const char *image_url;
} rewrite;

static const char *rewrite_value(void *cls, const json_value *value)
{
    const rewrite *r = cls;
    if (!r->job) return NULL;
    if (r->job->id && json_text_equals(value, r->job->id, r->job->id_len)) return r->id;
    if (value->type != JSON_STRING) return NULL;
    for (size_t i = 0; i < r->job->image_count; i++)
        if (json_text_equals(value, r->job->images[i], r->job->image_lens[i])) return r->image_url;
    return NULL;
}

static void send_recorded(const recorded_reply *recorded, rewrite *r, mock_reply *reply)
{
    if (recorded->is_text)
        buf_append(&reply->body, recorded->body.text, recorded->body.len);
    else
        json_write(&reply->body, &recorded->body, rewrite_value, r);
    reply->status = recorded->status;
    reply->content_type = recorded->content_type ? recorded->content_type : "application/json";
    memcpy(reply->retry_after, recorded->retry_after, sizeof reply->retry_after);
}

void replay_submit(const dalle_params *params, const mock_config *config, mock_reply *reply)
{
    const recorded_reply *recorded;
    rewrite r = {NULL, NULL, NULL};
    mock_buf id = {0}, url = {0};

    pthread_mutex_lock(&cursor_lock);
    recorded = &loaded.submits[next_submit];
    next_submit = (next_submit + 1) % loaded.submit_count;
    pthread_mutex_unlock(&cursor_lock);

    if (recorded->job != NO_JOB) {
        jobs_create_replayed(params, config, recorded->job, &id, &url);
        r.job = &loaded.jobs[recorded->job];
        r.id = id.data;
        r.image_url = url.data;
    }
    send_recorded(recorded, &r, reply);
    buf_free(&id);
    buf_free(&url);
}

void replay_poll(const char *id, mock_reply *reply)
{
    size_t index;
    unsigned long before;
    mock_buf url = {0};
    const recorded_job *job;

    if (jobs_poll_replayed(id, &index, &before, &url) != 0) {
        reply_message(reply, MHD_HTTP_NOT_FOUND, NULL, "no job %.*s", QUOTED_MAX, id);
        return;
    }
    job = &loaded.jobs[index];
    if (job->poll_count == 0) {
        reply_message(reply, MHD_HTTP_NOT_FOUND, NULL,
                      "dalle-mock --replay: the recording has no poll of this job (recorded as "
                      "%.*s)",
                      QUOTED_MAX, job->id ? job->id : "a job whose submit reply gave no id");
    } else {
        rewrite r = {job, id, url.data};
        send_recorded(&job->polls[before < job->poll_count ? before : job->poll_count - 1], &r,
                      reply);
    }
    buf_free(&url);
}

void replay_restart(void)
{
    pthread_mutex_lock(&cursor_lock);
    next_submit = 0;
    pthread_mutex_unlock(&cursor_lock);
}

void replay_free(void)
{
    free_recording(&loaded);
    active = 0;
}
