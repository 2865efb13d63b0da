/* The command line: parsing and checking every option, and --help. */
#include "options.h"

#include "../rules.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --help, in sections: one string would exceed what ISO C promises to hold. */
static const char usage_options[] =
    "Usage: dalle-mock [OPTION]...\n"
    "An offline imitation of the aiRight DALL-E service, for tests.\n"
    "\n"
    "Options:\n"
    "  --host ADDR        address to listen on (default 127.0.0.1)\n"
    "  --port N           port to listen on; 0 picks a free one (default 0)\n"
    "  --api-key KEY      the only x-api-key accepted (default: any non-empty key;\n"
    "                     a missing key is always 401)\n"
    "  --polls N          pending poll replies a job gives before it is done (default 2)\n"
    "  --delay-ms N       least time from submit to done, in ms (default 0)\n"
    "  --shape NAME       response shape (default plain; see Shapes)\n"
    "  --fault SPEC       queue a fault at startup; repeatable (see Faults)\n"
    "  --chaos PERCENT    give a random fault to PERCENT% of service requests (0-100,\n"
    "                     default 0; see Chaos)\n"
    "  --chaos-seed N     seed of the chaos faults, 0-4294967295 (default: from the\n"
    "                     time and process id)\n"
    "  --public-url URL   base of image URLs (default http://HOST:PORT)\n"
    "  --port-file PATH   once listening, write the port and a newline to PATH\n"
    "                     (written to PATH.tmp, then renamed)\n"
    "  --watch-pid PID    exit when process PID no longer exists (checked every 200 ms)\n"
    "  --single-thread    serve every connection from one thread, the least CPU (for\n"
    "                     load tests and benchmarks); refuses faults that sleep\n"
    "                     (delay_ms, stall, trickle) and chaos. Default: a thread per\n"
    "                     connection\n"
    "  --replay PATH      answer submits and polls with the replies recorded in PATH\n"
    "                     by the client's record mode, ids and image URLs made the\n"
    "                     mock's; posts no callbacks (see Replay)\n"
    "  --callback-fault NAMES\n"
    "                     give new jobs' callbacks a fault: none, or a list of\n"
    "                     never, late, twice, garbage, other_shape joined by ',',\n"
    "                     one drawn per job (default none; see Callbacks)\n"
    "  --callback-fault-percent PERCENT\n"
    "                     the share of new jobs given one of them (0-100, default\n"
    "                     100: every job)\n"
    "  --callback-late-ms N\n"
    "                     how long after its job is done the late fault POSTs, in\n"
    "                     ms (default 1000)\n"
    "  --callback-timeout-ms N\n"
    "                     longest a callback POST may take, in ms (default 5000)\n"
    "  --callback-connections N\n"
    "                     callback POSTs in flight at once, each on its own\n"
    "                     connection, 1-1024 (default 256)\n"
    "  --callback-cacert PATH\n"
    "                     verify https callback URLs against the CA certificates\n"
    "                     in PATH instead of the system's\n"
    "  --quiet            no log lines on stderr\n"
    "  --help             show this help and exit\n"
    "  --version          show the version and exit\n"
    "\n"
    "Once listening it prints one line: dalle-mock listening on http://HOST:PORT\n"
    "SIGINT or SIGTERM stops it (exit 0). Bad options exit 2.\n"
    "\n";

static const char usage_routes[] =
    "Service routes (under any path prefix, e.g. /nft-market-backend-service):\n"
    "  POST .../sdk/models/dall-e   submit; multipart/form-data or urlencoded fields\n"
    "                               modelId (70), prompt, callback, model, size, quality,\n"
    "                               style; needs x-api-key. 401 bad key, 413 fields over\n"
    "                               64 KiB, 415 other body types, 400 {\"message\",\"field\"}\n"
    "                               for a bad or unknown field. A prompt containing\n"
    "                               [fail] makes the job fail.\n"
    "  GET  .../sdk/art/ID          the job's state; needs x-api-key; 404 if unknown\n"
    "  GET  .../images/ID.png       the image of a succeeded job: a PNG of the size it\n"
    "                               asked for, bands in colours drawn from the prompt\n"
    "  A job is done once it has answered --polls pending polls and --delay-ms has\n"
    "  passed; its result is then POSTed (application/json) to its callback URL.\n"
    "\n"
    "Any other path is a 404, and is logged in /_mock/requests like the above.\n"
    "\n"
    "Control routes (never logged in /_mock/requests, never faulted):\n"
    "  POST /_mock/callback         record the body as a received callback; {\"ok\":true}\n"
    "  GET  /_mock/callbacks        [{\"content_type\":..,\"body\":\"<raw body>\"},...]\n"
    "  GET  /_mock/requests         [{\"method\",\"path\",\"headers\",\"fields\",\"status\"},...]\n"
    "                               every other request in arrival order; status 0 when\n"
    "                               closed without a reply\n"
    "  GET  /_mock/jobs             [{\"id\":\"ID\",\"prompt\",\"state\",\"polls\",\"gets\",\n"
    "                               \"callback_fault\",\"callbacks_pending\",\"callbacks\"},...]\n"
    "                               every job created since start or reset, in creation\n"
    "                               order; the id is a string in every shape, state is\n"
    "                               pending, succeeded or failed, polls the pending\n"
    "                               polls it answered, gets every GET of its\n"
    "                               /sdk/art/ID, faulted ones too (see Callbacks)\n"
    "  POST /_mock/reset            clear jobs, logs, callbacks and faults; restore the\n"
    "                               startup configuration and zero chaos_faults\n"
    "  POST /_mock/config?polls=N&delay_ms=N&shape=NAME&api_key=K&chaos=P&chaos_seed=N\n"
    "                    &callback_fault=NAMES&callback_fault_percent=P\n"
    "                    &callback_late_ms=N&callback_timeout_ms=N\n"
    "                    &callback_connections=N&callback_hold=1|0\n"
    "                               change any of these (api_key= accepts any key again;\n"
    "                               chaos_seed= restarts the chaos draws); replies with\n"
    "                               the configuration and \"chaos_faults\":N, the chaos\n"
    "                               faults drawn since start or reset. Jobs keep the\n"
    "                               settings they were submitted under (the callback\n"
    "                               timeout, connections and hold apply to every POST\n"
    "                               not yet started)\n"
    "  POST /_mock/fault?SPEC       queue a fault, e.g. /_mock/fault?on=poll&status=503\n"
    "\n";

static const char usage_shapes[] =
    "Shapes (submit reply / pending poll / done poll and callback / failed):\n"
    "  plain     {\"id\":\"ID\",\"status\":\"pending\"} / \"processing\" /\n"
    "            {\"id\":..,\"status\":\"succeeded\",\"images\":[URL]} / \"failed\",\"error\"\n"
    "  numeric   {\"id\":1001,\"status\":\"queued\"} / \"processing\" /\n"
    "            {\"id\":1001,\"status\":\"completed\",\"url\":URL} / \"failed\",\"error\"\n"
    "  data      {\"data\":{\"jobId\":\"ID\",\"state\":\"QUEUED\"}} / \"IN_PROGRESS\" /\n"
    "            \"COMPLETED\",\"imageUrl\":URL / \"FAILED\",\"message\"\n"
    "  nested    {\"result\":{\"data\":{\"_id\":\"ID\",\"status\":\"Starting\"}}} / \"Processing\" "
    "/\n"
    "            \"Done\",\"output\":[URL] / \"Failed\",\"reason\"\n"
    "  bare      \"ID\" / {\"taskId\":\"ID\",\"state\":\"running\"} /\n"
    "            \"finished\",\"images\":[{\"url\":URL}] / \"error\",\"msg\"\n"
    "  nostatus  {\"request_id\":\"ID\"} / {\"request_id\":\"ID\"} /\n"
    "            {\"request_id\":\"ID\",\"image_url\":URL} / \"status\":\"failed\",\"error\"\n"
    "  mystery   like plain, but pending polls say \"status\":\"warming_up\"\n"
    "  openai    {\"id\":\"ID\"} / {\"id\":\"ID\",\"status\":\"in_progress\"} /\n"
    "            {\"created\":SECONDS,\"id\":\"ID\",\"data\":[{\"url\":URL,\n"
    "            \"revised_prompt\":\"A detailed rendering of: PROMPT\"}]} (OpenAI's\n"
    "            Images API reply, plus the id) / \"failed\",\"error\":{\"message\"}\n"
    "  b64       like openai, with \"b64_json\":BASE64 (the PNG) in place of \"url\"\n"
    "\n";

static const char usage_faults[] =
    "Faults: key=value pairs, joined by ',' in --fault and by '&' in /_mock/fault\n"
    "(so a --fault message cannot hold a comma). Queued first in, first out; each\n"
    "applies to the next COUNT requests it matches. Reset clears them all, startup\n"
    "ones included.\n"
    "  on=submit|poll|image|any   the service route it hits (default any)\n"
    "  count=N                    how many matching requests (default 1)\n"
    "and exactly one action:\n"
    "  status=CODE                reply CODE (200-599) with {\"message\":\"mock fault CODE\"}\n"
    "    retry_after=SECONDS        adds Retry-After: SECONDS\n"
    "    retry_after_date=1         adds Retry-After as an HTTP-date 2 s ahead\n"
    "    message=TEXT               replaces the message\n"
    "    location=URL               adds Location: URL (with a 3xx: a redirect)\n"
    "      e.g. --fault on=submit,status=429,retry_after=1,count=2\n"
    "           /_mock/fault?on=poll&status=503&retry_after_date=1&message=busy\n"
    "  delay_ms=N                 answer normally after N ms\n"
    "      e.g. --fault on=poll,delay_ms=500\n"
    "  stall=1                    never answer; close after stall_ms or at shutdown\n"
    "    stall_ms=N                 (default 30000)\n"
    "      e.g. --fault on=submit,stall=1,stall_ms=2000\n"
    "  trickle=1                  the normal answer, one byte every trickle_ms\n"
    "    trickle_ms=N               (default 200)\n"
    "      e.g. --fault on=image,trickle=1,trickle_ms=20\n"
    "  drop=1                     close the connection without a reply\n"
    "      e.g. --fault on=poll,drop=1\n"
    "  malformed=1                200 with the truncated JSON {\"id\": \"abc\", \"status\":\n"
    "      e.g. --fault on=submit,malformed=1\n"
    "  wrong_type=1               200 text/html <html>service unavailable</html>\n"
    "      e.g. --fault on=image,wrong_type=1\n"
    "  oversize=N                 200 with a JSON object padded with spaces to N bytes\n"
    "      e.g. --fault on=submit,oversize=100000\n"
    "  idle_close=1               the normal answer, with Connection: close\n"
    "      e.g. --fault on=poll,idle_close=1,count=3\n"
    "A faulted submit creates no job, except with delay_ms, stall, trickle and\n"
    "idle_close, which create it before answering (or not answering).\n"
    "\n";

static const char usage_replay[] =
    "Replay (--replay PATH): PATH holds JSON lines as the client's record mode writes\n"
    "them, one exchange a line: {\"call\":\"submit\"|\"poll\",\"status\":N,\"body\":JSON\n"
    "or \"body_text\":TEXT,\"job\":ID,\"images\":[URL,..],\"content_type\":..,\n"
    "\"retry_after\":..,...}. Lines of other calls, and lines with \"failure\" and no\n"
    "status (no reply was received), are skipped; other keys are ignored.\n"
    "  A submit that passes the x-api-key and form checks gets the next recorded\n"
    "  submit reply in file order, back to the first after the last (and after\n"
    "  /_mock/reset). A recorded 2xx creates a job with the mock's own id and the\n"
    "  prompt and size sent, standing for the recorded job; any other status creates\n"
    "  none. A poll of the job gets the recorded polls of that job in file order,\n"
    "  the last one again after the last; 404 if none were recorded.\n"
    "  Each reply goes out with its recorded status, content_type (default\n"
    "  application/json) and retry_after (as Retry-After). In a JSON body every\n"
    "  string (or number) equal to the recorded job id becomes the mock's id, and\n"
    "  every string equal to an image URL recorded for that job its\n"
    "  /images/ID.png URL; a body_text is sent as recorded.\n"
    "  Replayed jobs are done at once (their image downloads; /_mock/jobs says\n"
    "  succeeded), nothing is POSTed to callbacks, and --polls, --delay-ms and\n"
    "  --shape have no effect (but --shape numeric still gives numeric ids).\n"
    "  Faults and chaos apply as usual. A file that cannot be read, has no submit\n"
    "  with a reply, or has a line that is not such a record (not JSON, no call, a\n"
    "  status that is not 200-599, a reply with no body, ...) stops dalle-mock at\n"
    "  start (exit 2) with one line naming the file, the line and the problem.\n"
    "\n";

static const char usage_chaos[] =
    "Chaos: a submit, poll or image request that no queued fault matches gets, with\n"
    "a chance of PERCENT in 100 (--chaos, or chaos= in /_mock/config), one fault\n"
    "drawn at random from\n"
    "  status=500   status=503   status=429,retry_after=0   drop=1   malformed=1\n"
    "  stall=1,stall_ms=300   delay_ms=20   idle_close=1\n"
    "each with count=1, acting and logged as the same fault queued would. One\n"
    "generator seeded by --chaos-seed draws them all, so a client that sends its\n"
    "requests one at a time meets the same faults with the same seed.\n"
    "\n";

static const char usage_callbacks[] =
    "Callbacks: once a job is done, its result (the done poll reply of its shape) is\n"
    "POSTed as application/json to its callback URL, at most --callback-connections\n"
    "POSTs at once, each ended after --callback-timeout-ms; what the receiver\n"
    "answered is recorded in /_mock/jobs, and nothing is retried. When submitted, a\n"
    "job is given, with a chance of --callback-fault-percent in 100, one fault drawn\n"
    "from --callback-fault (or callback_fault= in /_mock/config) by a generator\n"
    "seeded by --chaos-seed (apart from the chaos faults' own):\n"
    "  never        no POST; the job is done and answers polls as usual\n"
    "  late         the POST goes --callback-late-ms after the job is done\n"
    "  twice        the same POST again once the first has ended\n"
    "  garbage      the body cut off halfway, so not JSON\n"
    "  other_shape  " CALLBACK_OTHER_SHAPE_BODY "\n"
    "               (JSON with no id and no status)\n"
    "e.g. --callback-fault never,twice,garbage --callback-fault-percent 30\n"
    "     /_mock/config?callback_fault=late&callback_late_ms=250\n"
    "/_mock/config?callback_hold=1 holds every POST that falls due; callback_hold=0\n"
    "sends them all at once. In /_mock/jobs callback_fault is the job's fault (null:\n"
    "none), callbacks_pending the POSTs it has still to make or end, and callbacks\n"
    "one entry per POST ended: {\"status\":N}, the receiver's answer, or\n"
    "{\"error\":\"...\"} when there was none (refused, timed out, ...), each with\n"
    "\"at\", when it ended, in seconds of CLOCK_MONOTONIC.\n";

typedef struct option_spec {
    const char *name;
    int takes_value;
} option_spec;

static const option_spec option_specs[] = {
    {"host", 1},
    {"port", 1},
    {"api-key", 1},
    {"polls", 1},
    {"delay-ms", 1},
    {"shape", 1},
    {"fault", 1},
    {"chaos", 1},
    {"chaos-seed", 1},
    {"public-url", 1},
    {"port-file", 1},
    {"watch-pid", 1},
    {"quiet", 0},
    {"help", 0},
    {"version", 0},
    {"single-thread", 0},
    {"replay", 1},
    {"callback-fault", 1},
    {"callback-fault-percent", 1},
    {"callback-late-ms", 1},
    {"callback-timeout-ms", 1},
    {"callback-connections", 1},
    {"callback-cacert", 1},
};

static enum options_result usage_error(const char *format, ...)
    __attribute__((format(printf, 1, 2)));

static enum options_result usage_error(const char *format, ...)
{
    va_list args;
    fputs("dalle-mock: ", stderr);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputs("\nTry 'dalle-mock --help'.\n", stderr);
    return OPTIONS_EXIT_USAGE;
}

static const option_spec *find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof option_specs / sizeof option_specs[0]; i++)
        if (strlen(option_specs[i].name) == len && strncmp(option_specs[i].name, name, len) == 0)
            return &option_specs[i];
    return NULL;
}

static char *normalized_public_url(const char *url)
{
    char *copy = mock_strdup(url);
    size_t len = strlen(copy);
    while (len > 0 && copy[len - 1] == '/')
        copy[--len] = '\0';
    return copy;
}

static enum options_result apply_config_option(mock_options *options, const char *option,
                                               const char *key, const char *value)
{
    char error[MOCK_CONFIG_ERROR_MAX];
    if (config_apply(&options->config, key, value, error, sizeof error) == 0) return OPTIONS_RUN;
    return usage_error("--%s: %s", option, error);
}

static enum options_result apply_option(mock_options *options, const char *name, const char *value)
{
    unsigned long number;
    if (strcmp(name, "host") == 0) {
        if (!*value) return usage_error("--%s: the address must not be empty", name);
        options->host = value;
    } else if (strcmp(name, "port") == 0) {
        if (mock_parse_ulong(value, MOCK_PORT_MAX, &number) != 0)
            return usage_error("--%s: '%s' is not a port number (0-65535)", name, value);
        options->port = (unsigned)number;
    } else if (strcmp(name, "api-key") == 0) {
        return apply_config_option(options, name, "api_key", value);
    } else if (strcmp(name, "polls") == 0) {
        return apply_config_option(options, name, "polls", value);
    } else if (strcmp(name, "delay-ms") == 0) {
        return apply_config_option(options, name, "delay_ms", value);
    } else if (strcmp(name, "shape") == 0) {
        return apply_config_option(options, name, "shape", value);
    } else if (strcmp(name, "chaos") == 0) {
        return apply_config_option(options, name, "chaos", value);
    } else if (strcmp(name, "chaos-seed") == 0) {
        return apply_config_option(options, name, "chaos_seed", value);
    } else if (strcmp(name, "callback-fault") == 0) {
        return apply_config_option(options, name, "callback_fault", value);
    } else if (strcmp(name, "callback-fault-percent") == 0) {
        return apply_config_option(options, name, "callback_fault_percent", value);
    } else if (strcmp(name, "callback-late-ms") == 0) {
        return apply_config_option(options, name, "callback_late_ms", value);
    } else if (strcmp(name, "callback-timeout-ms") == 0) {
        return apply_config_option(options, name, "callback_timeout_ms", value);
    } else if (strcmp(name, "callback-connections") == 0) {
        return apply_config_option(options, name, "callback_connections", value);
    } else if (strcmp(name, "callback-cacert") == 0) {
        FILE *file = fopen(value, "r");
        if (!file) return usage_error("--%s: cannot read '%s': %s", name, value, strerror(errno));
        fclose(file);
        options->callback_ca_file = value;
    } else if (strcmp(name, "fault") == 0) {
        mock_fault fault;
        fault_error error;
        if (fault_parse_spec(value, &fault, &error) != 0)
            return usage_error("--%s '%s': %s", name, value, error.message);
        options->faults =
            mock_realloc(options->faults, (options->fault_count + 1) * sizeof *options->faults);
        options->faults[options->fault_count++] = fault;
    } else if (strcmp(name, "public-url") == 0) {
        if (!dalle_is_http_url(value))
            return usage_error("--%s: '%s' is not an absolute http(s) URL", name, value);
        free(options->public_url);
        options->public_url = normalized_public_url(value);
    } else if (strcmp(name, "port-file") == 0) {
        if (!*value) return usage_error("--%s: the path must not be empty", name);
        options->port_file = value;
    } else if (strcmp(name, "watch-pid") == 0) {
        if (mock_parse_ulong(value, INT_MAX, &number) != 0 || number == 0)
            return usage_error("--%s: '%s' is not a process id", name, value);
        options->watch_pid = (pid_t)number;
    } else if (strcmp(name, "replay") == 0) {
        if (!*value) return usage_error("--%s: the path must not be empty", name);
        options->replay_path = value;
    } else if (strcmp(name, "quiet") == 0) {
        options->quiet = 1;
    } else if (strcmp(name, "single-thread") == 0) {
        options->config.single_thread = 1;
    } else if (strcmp(name, "help") == 0) {
        fputs(usage_options, stdout);
        fputs(usage_routes, stdout);
        fputs(usage_shapes, stdout);
        fputs(usage_faults, stdout);
        fputs(usage_replay, stdout);
        fputs(usage_chaos, stdout);
        fputs(usage_callbacks, stdout);
        return OPTIONS_EXIT_OK;
    } else if (strcmp(name, "version") == 0) {
        printf("dalle-mock %s\n", MOCK_VERSION);
        return OPTIONS_EXIT_OK;
    }
    return OPTIONS_RUN;
}

enum options_result options_parse(int argc, char **argv, mock_options *options)
{
    memset(options, 0, sizeof *options);
    options->host = MOCK_DEFAULT_HOST;
    config_defaults(&options->config);

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *name = arg + 2;
        const char *equals = strchr(arg, '=');
        size_t name_len = equals ? (size_t)(equals - name) : strlen(name);
        const option_spec *spec;
        const char *value = NULL;
        enum options_result result;

        if (strncmp(arg, "--", 2) != 0 || name_len == 0)
            return usage_error("unexpected argument '%s'", arg);
        spec = find_option(name, name_len);
        if (!spec) return usage_error("unknown option '%s'", arg);
        if (spec->takes_value) {
            if (equals)
                value = equals + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else
                return usage_error("--%s needs a value", spec->name);
        } else if (equals) {
            return usage_error("--%s takes no value", spec->name);
        }
        result = apply_option(options, spec->name, value);
        if (result != OPTIONS_RUN) return result;
    }
    if (options->config.single_thread) {
        for (size_t i = 0; i < options->fault_count; i++)
            if (fault_sleeps(&options->faults[i]))
                return usage_error("--fault: %s", MOCK_SINGLE_THREAD_NO_SLEEP);
        if (options->config.chaos_percent > 0)
            return usage_error("--chaos: %s", MOCK_SINGLE_THREAD_NO_SLEEP);
    }
    return OPTIONS_RUN;
}

void options_free(mock_options *options)
{
    free(options->faults);
    free(options->public_url);
    options->faults = NULL;
    options->public_url = NULL;
}
