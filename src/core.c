/* dalle.core: the Lua binding. Exposes the rules check, and a client object
 * that owns one transport and one schedule and turns finished transfers and
 * due timers into plain event tables in step(). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "append_file.h"
#include "base64.h"
#include "callbacks.h"
#include "compat.h"
#include "image_file.h"
#include "receiver.h"
#include "rules.h"
#include "schedule.h"
#include "transport.h"

#define CLIENT_MT "dalle.core.client"
#define APPEND_MT "dalle.core.append_file"
/* Room for a one-line reason a file or an inline image failed. */
#define PROBLEM_SIZE 256
#define MAX_SERVICE_HEADERS 32
#define MAX_FORM_FIELDS 16
/* step() never blocks longer than this at once, so a long wait still
 * notices the clock (and a client closed from a signal handler). */
#define MAX_STEP_WAIT_MS 1000

typedef struct append_handle {
    int fd; /* -1 once closed */
} append_handle;

typedef struct client {
    dalle_transport transport;
    dalle_schedule schedule;
    dalle_callbacks callbacks; /* the tokens of callbacks expected, and what arrived */
    dalle_receiver *receiver;  /* NULL until listen() */
    long long next_id;
    dalle_transfer *handing; /* being turned into a table; freed if that throws */
    int open;
    int pollfd_given; /* someone may watch the descriptor: keep its wake timer */
} client;

/* ---- rules ---------------------------------------------------------------- */

static int invalid(lua_State *L, const char *field, const char *message)
{
    lua_pushnil(L);
    lua_pushstring(L, message);
    lua_pushstring(L, field);
    return 3;
}

static void set_string(lua_State *L, const char *key, const char *value)
{
    if (!value) return;
    lua_pushstring(L, value);
    lua_setfield(L, -2, key);
}

/* The form a submit sends for checked params: {name, value, ...}. */
static void push_form(lua_State *L, const dalle_params *params)
{
    int n = 0;
    lua_createtable(L, 2 * DALLE_FORM_FIELD_COUNT, 0);
    for (size_t i = 0; i < DALLE_FORM_FIELD_COUNT; i++) {
        size_t len = 0;
        const char *value = dalle_form_value(params, i, &len);
        if (!value) continue;
        lua_pushstring(L, dalle_form_fields[i]);
        lua_rawseti(L, -2, ++n);
        lua_pushlstring(L, value, len);
        lua_rawseti(L, -2, ++n);
    }
}

/* validate(opts [, default_callback]) -> params, form | nil, message, field:
 * form is the submit's multipart form as {name, value, ...}. */
static int l_validate(lua_State *L)
{
    dalle_params params;
    dalle_rules_error err;
    luaL_checktype(L, 1, LUA_TTABLE);
    memset(&params, 0, sizeof params);

    lua_pushnil(L);
    while (lua_next(L, 1)) {
        const char **slot = NULL;
        char message[DALLE_RULES_MESSAGE_MAX];
        if (lua_type(L, -2) == LUA_TSTRING) slot = dalle_params_slot(&params, lua_tostring(L, -2));
        if (!slot) {
            if (lua_type(L, -2) != LUA_TSTRING) {
                snprintf(message, sizeof message,
                         "option names must be strings (got a %s key; allowed: %s)",
                         luaL_typename(L, -2), DALLE_OPTION_LIST);
                return invalid(L, "?", message);
            }
            snprintf(message, sizeof message, "unknown option '%.60s' (allowed: %s)",
                     lua_tostring(L, -2), DALLE_OPTION_LIST);
            return invalid(L, lua_tostring(L, -2), message);
        }
        if (lua_type(L, -1) != LUA_TSTRING) {
            snprintf(message, sizeof message, "option '%s' must be a string (got %s)",
                     lua_tostring(L, -2), luaL_typename(L, -1));
            return invalid(L, lua_tostring(L, -2), message);
        }
        *slot = lua_tostring(L, -1);
        if (slot == &params.prompt) params.prompt_len = lua_rawlen(L, -1);
        lua_pop(L, 1);
    }
    if (!params.callback && lua_type(L, 2) == LUA_TSTRING) params.callback = lua_tostring(L, 2);

    if (dalle_rules_check(&params, &err) != 0) return invalid(L, err.field, err.message);

    lua_createtable(L, 0, 8);
    lua_pushlstring(L, params.prompt, params.prompt_len);
    lua_setfield(L, -2, "prompt");
    set_string(L, "model", params.model);
    set_string(L, "size", params.size);
    set_string(L, "quality", params.quality);
    set_string(L, "style", params.style);
    set_string(L, "callback", params.callback);
    set_string(L, "model_id", params.rule->model_id);
    set_string(L, "path", params.rule->path);
    push_form(L, &params);
    return 2;
}

static void push_choices(lua_State *L, const char *const *list, const char *key)
{
    lua_newtable(L);
    for (int i = 0; i < DALLE_RULES_MAX_CHOICES && list[i]; i++) {
        lua_pushstring(L, list[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, key);
}

/* rules() -> { {name=, model_id=, path=, sizes=, qualities=, styles=,
 *               prompt_max_chars=}, ... } in table order */
static int l_rules(lua_State *L)
{
    const dalle_model_rule *rule;
    lua_newtable(L);
    for (size_t i = 0; (rule = dalle_rules_at(i)); i++) {
        lua_newtable(L);
        set_string(L, "name", rule->name);
        set_string(L, "model_id", rule->model_id);
        set_string(L, "path", rule->path);
        push_choices(L, rule->sizes, "sizes");
        push_choices(L, rule->qualities, "qualities");
        push_choices(L, rule->styles, "styles");
        lua_pushinteger(L, (lua_Integer)rule->prompt_max_chars);
        lua_setfield(L, -2, "prompt_max_chars");
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

static int l_is_http_url(lua_State *L)
{
    lua_pushboolean(L, dalle_is_http_url(luaL_checkstring(L, 1)));
    return 1;
}

static int l_now(lua_State *L)
{
    lua_pushnumber(L, dalle_now());
    return 1;
}

/* ---- client --------------------------------------------------------------- */

static client *check_client(lua_State *L)
{
    client *c = luaL_checkudata(L, 1, CLIENT_MT);
    if (!c->open) luaL_error(L, "attempt to use a closed dalle client");
    return c;
}

static void close_client(client *c)
{
    if (!c->open) return;
    c->open = 0;
    dalle_transport_release(&c->transport, c->handing);
    c->handing = NULL;
    dalle_transport_watch_other(&c->transport, -1);
    dalle_receiver_stop(c->receiver);
    c->receiver = NULL;
    dalle_transport_free(&c->transport);
    dalle_schedule_free(&c->schedule);
    dalle_callbacks_free(&c->callbacks);
}

static const char *opt_string(lua_State *L, int table, const char *key)
{
    const char *value;
    lua_getfield(L, table, key);
    value = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1); /* the string stays alive in the argument table */
    return value;
}

static double opt_number(lua_State *L, int table, const char *key)
{
    double value;
    lua_getfield(L, table, key);
    value = lua_type(L, -1) == LUA_TNUMBER ? (double)lua_tonumber(L, -1) : 0;
    lua_pop(L, 1);
    return value;
}

static long seconds_to_ms(double seconds)
{
    if (!(seconds > 0)) return 0;
    if (seconds > 86400.0 * 365) return 86400L * 365 * 1000;
    return (long)ceil(seconds * 1000.0);
}

/* new{max_transfers=, connect_timeout=, low_speed_time=, user_agent=,
 *     ca_file=, ca_path=, service_headers={...}} -> client | nil, message:
 * what every request of the client shares. */
static int l_new(lua_State *L)
{
    dalle_settings settings;
    const char *service_headers[MAX_SERVICE_HEADERS];
    lua_Integer max_transfers;
    client *c;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "max_transfers");
    max_transfers = luaL_optinteger(L, -1, DALLE_DEFAULT_MAX_TRANSFERS);
    lua_pop(L, 1);
    luaL_argcheck(L, max_transfers >= 1 && max_transfers <= DALLE_MAX_TRANSFERS_LIMIT, 1,
                  "max_transfers out of range");
    memset(&settings, 0, sizeof settings);
    settings.max_transfers = (size_t)max_transfers;
    settings.connect_timeout_ms = seconds_to_ms(opt_number(L, 1, "connect_timeout"));
    settings.low_speed_time_s = (long)ceil(opt_number(L, 1, "low_speed_time"));
    settings.user_agent = opt_string(L, 1, "user_agent");
    settings.ca_file = opt_string(L, 1, "ca_file");
    settings.ca_path = opt_string(L, 1, "ca_path");
    lua_getfield(L, 1, "service_headers");
    if (lua_istable(L, -1)) {
        size_t n = lua_rawlen(L, -1);
        luaL_argcheck(L, n <= MAX_SERVICE_HEADERS, 1, "too many service_headers");
        for (size_t i = 0; i < n; i++) {
            lua_rawgeti(L, -1, (int)i + 1);
            luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, 1, "service_headers must be strings");
            /* The settings table keeps the string alive until the call ends
             * (a number, converted on the stack, would not be). */
            service_headers[i] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
        settings.service_headers = service_headers;
        settings.service_header_count = n;
    }
    c = dalle_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    luaL_setmetatable(L, CLIENT_MT);
    if (dalle_transport_init(&c->transport, &settings) != 0) {
        dalle_transport_free(&c->transport);
        lua_pushnil(L);
        lua_pushstring(L, "libcurl, or epoll where it is used, could not be initialised");
        return 2;
    }
    dalle_schedule_init(&c->schedule);
    dalle_callbacks_init(&c->callbacks);
    c->open = 1;
    return 1;
}

static double earliest(double a, double b)
{
    return a < 0 || (b >= 0 && b < a) ? b : a;
}

/* When the next timer is due (dalle_now() clock; < 0: none): ours,
 * libcurl's or the receiver's, whichever comes first, or now when queued
 * transfers can start. */
static double next_due(const client *c)
{
    double due =
        earliest(dalle_schedule_next(&c->schedule), dalle_transport_curl_due(&c->transport));
    if (dalle_transport_has_startable(&c->transport)) return dalle_now();
    return c->receiver ? earliest(due, dalle_receiver_due(c->receiver)) : due;
}

/* Keeps pollfd readable-on-time for loops that watch only the descriptor:
 * its wake timer stands at next_due(). Until pollfd() was asked for, nobody
 * watches, and the syscalls are saved. */
static int arm_wake(client *c)
{
    if (!c->pollfd_given) return 0;
    return dalle_transport_wake_at(&c->transport, next_due(c));
}

/* request({url=, to_service=, fields={name, value, ...}, file=, max_body=,
 *          keep_headers=}, timeout) -> id, queued | nil, message:
 * to_service sends the client's service_headers; keep_headers puts the
 * reply's content_type and retry_after_text in its event; queued means it
 * waits for a free transfer slot, and its timeout has not started. */
static int l_request(lua_State *L)
{
    client *c = check_client(L);
    dalle_field fields[MAX_FORM_FIELDS];
    dalle_request req;
    char error[CURL_ERROR_SIZE];
    long long id;
    int started;

    luaL_checktype(L, 2, LUA_TTABLE);
    memset(&req, 0, sizeof req);
    req.url = opt_string(L, 2, "url");
    luaL_argcheck(L, req.url != NULL, 2, "url is required");
    req.file_path = opt_string(L, 2, "file");
    req.timeout_ms = seconds_to_ms((double)luaL_checknumber(L, 3));
    req.max_body = (size_t)opt_number(L, 2, "max_body");

    lua_getfield(L, 2, "keep_headers");
    req.keep_headers = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 2, "to_service");
    req.to_service = lua_toboolean(L, -1);
    lua_getfield(L, 2, "fields");
    if (lua_istable(L, -1)) {
        size_t n = lua_rawlen(L, -1);
        luaL_argcheck(L, n % 2 == 0, 2, "form fields are name, value pairs");
        luaL_argcheck(L, n / 2 <= MAX_FORM_FIELDS, 2, "too many form fields");
        for (size_t i = 0; i < n / 2; i++) {
            lua_rawgeti(L, -1, (int)(2 * i + 1));
            lua_rawgeti(L, -2, (int)(2 * i + 2));
            luaL_argcheck(L, lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING, 2,
                          "form fields must be strings");
            fields[i].name = lua_tostring(L, -2);
            fields[i].value = lua_tolstring(L, -1, &fields[i].value_len);
            /* The fields table keeps both strings alive until the call ends. */
            lua_pop(L, 2);
        }
        req.fields = fields;
        req.field_count = n / 2;
    }

    id = ++c->next_id;
    started = dalle_transport_start(&c->transport, id, &req, error, sizeof error);
    if (started < 0) {
        lua_pushnil(L);
        lua_pushstring(L, error);
        return 2;
    }
    arm_wake(c);
    lua_pushinteger(L, (lua_Integer)id);
    lua_pushboolean(L, started == DALLE_QUEUED);
    return 2;
}

/* timer(seconds) -> id: an event with this id comes out of step() then. */
static int l_timer(lua_State *L)
{
    client *c = check_client(L);
    double seconds = luaL_checknumber(L, 2);
    long long id = ++c->next_id;
    if (dalle_schedule_add(&c->schedule, dalle_now() + (seconds > 0 ? seconds : 0), id) != 0)
        return luaL_error(L, "out of memory");
    arm_wake(c);
    lua_pushinteger(L, (lua_Integer)id);
    return 1;
}

/* cancel(id) -> canceled, sent: `sent` says whether a canceled request may
 * have reached the server (false while it was queued or connecting). */
static int l_cancel(lua_State *L)
{
    client *c = check_client(L);
    long long id = (long long)luaL_checkinteger(L, 2);
    int sent = 0;
    /* Timers are looked up by hash, transfers by walking the running list
     * and queue: most cancels are of timers (deadline alarms). */
    lua_pushboolean(L, dalle_schedule_cancel(&c->schedule, id) ||
                           dalle_transport_cancel(&c->transport, id, &sent));
    lua_pushboolean(L, sent);
    return 2;
}

/* Why a transfer failed below HTTP, in the words the Lua side maps to error
 * kinds. "unsent" means the request provably never reached the service. */
static const char *failure_of(const dalle_transfer *tr)
{
    switch (tr->result) {
    case CURLE_OK:
        return NULL;
    case CURLE_OPERATION_TIMEDOUT:
        return tr->request_sent ? "timeout" : "unsent";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
        return tr->request_sent ? "network" : "unsent";
    case CURLE_WRITE_ERROR:
        if (tr->too_large) return "too_large";
        return tr->image.problem ? "file" : "network";
    default:
        return "network";
    }
}

/* A finished transfer as the table the Lua side reads: id, status, body and
 * elapsed always; the rest only when they apply. Sized to what it holds, as
 * one is made for every reply. */
static void push_transfer_event(lua_State *L, dalle_transfer *tr)
{
    const char *failure = failure_of(tr);
    int fields = 4 + (tr->retry_after >= 0) + (failure ? 3 : 0) +
                 (tr->file_state != DALLE_FILE_NONE ? 2 : 0) + (tr->keep_headers ? 2 : 0);
    lua_createtable(L, 0, fields);
    lua_pushinteger(L, (lua_Integer)tr->id);
    lua_setfield(L, -2, "id");
    lua_pushinteger(L, (lua_Integer)tr->status);
    lua_setfield(L, -2, "status");
    lua_pushlstring(L, tr->body ? tr->body : "", tr->body_len);
    lua_setfield(L, -2, "body");
    lua_pushnumber(L, tr->elapsed);
    lua_setfield(L, -2, "elapsed");
    if (tr->retry_after >= 0) {
        lua_pushnumber(L, tr->retry_after);
        lua_setfield(L, -2, "retry_after");
    }
    if (failure) {
        set_string(L, "failure", failure);
        set_string(L, "error", tr->error);
        lua_pushboolean(L, tr->request_sent);
        lua_setfield(L, -2, "sent");
    }
    if (tr->file_state == DALLE_FILE_SAVED) {
        set_string(L, "file", "saved");
    } else if (tr->file_state == DALLE_FILE_DISCARDED) {
        set_string(L, "file", "discarded");
        set_string(L, "file_problem", tr->image.problem);
    }
    if (tr->keep_headers) {
        if (tr->content_type[0]) set_string(L, "content_type", tr->content_type);
        if (tr->retry_after_text[0]) set_string(L, "retry_after_text", tr->retry_after_text);
    }
}

/* Seconds until the first timer (ours or libcurl's), or < 0 when none. */
static double next_timer_in(const client *c)
{
    double due = next_due(c), left;
    if (due < 0) return -1.0;
    left = due - dalle_now();
    return left > 0 ? left : 0;
}

static int wait_budget_ms(const client *c, double timeout)
{
    double wait = timeout, next = dalle_schedule_next(&c->schedule);
    if (c->receiver) next = earliest(next, dalle_receiver_due(c->receiver));
    if (next >= 0 && next - dalle_now() < wait) wait = next - dalle_now();
    if (wait <= 0) return 0;
    if (wait * 1000.0 > MAX_STEP_WAIT_MS) return MAX_STEP_WAIT_MS;
    return (int)ceil(wait * 1000.0);
}

/* Moves what is done (transfers, callbacks, then due timers) into the events table at
 * the top of the stack; returns how many. */
static int collect(lua_State *L, client *c, int count)
{
    long long timer_id;
    dalle_transfer *tr;
    dalle_callback *arrival;
    while ((tr = dalle_transport_next_done(&c->transport))) {
        c->handing = tr;
        push_transfer_event(L, tr);
        lua_rawseti(L, -2, ++count);
        c->handing = NULL;
        dalle_transport_release(&c->transport, tr);
    }
    while ((arrival = dalle_callbacks_next(&c->callbacks))) {
        lua_createtable(L, 0, 4);
        lua_pushinteger(L, (lua_Integer)arrival->id);
        lua_setfield(L, -2, "id");
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "callback");
        lua_pushnumber(L, arrival->arrived_at);
        lua_setfield(L, -2, "at");
        lua_pushlstring(L, arrival->body, arrival->body_len);
        lua_setfield(L, -2, "body");
        dalle_callbacks_taken(&c->callbacks, arrival);
        lua_rawseti(L, -2, ++count);
    }
    while (dalle_schedule_pop_due(&c->schedule, dalle_now(), &timer_id)) {
        lua_createtable(L, 0, 2);
        lua_pushinteger(L, (lua_Integer)timer_id);
        lua_setfield(L, -2, "id");
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "timer");
        lua_rawseti(L, -2, ++count);
    }
    return count;
}

/* Runs the receiver when its descriptor turned readable or its time came. */
static int run_receiver(client *c)
{
    double due;
    if (!c->receiver) return 0;
    due = dalle_receiver_due(c->receiver);
    if (!c->transport.other_ready && (due < 0 || due > dalle_now())) return 0;
    c->transport.other_ready = 0;
    return dalle_receiver_run(c->receiver);
}

/* step([timeout]) -> events, active: waits at most `timeout` seconds (default
 * 0) for the first event; never busy-waits. */
static int l_step(lua_State *L)
{
    client *c = check_client(L);
    double timeout = luaL_optnumber(L, 2, 0);
    double deadline = dalle_now() + (timeout > 0 ? timeout : 0);
    int count;

    lua_newtable(L);
    /* step(0) is a host loop's turn: a bounded amount of work. */
    if (dalle_transport_wait(&c->transport, 0, timeout <= 0) != 0)
        return luaL_error(L, "curl multi failed");
    if (run_receiver(c) != 0) return luaL_error(L, "the callback receiver failed");
    count = collect(L, c, 0);
    while (count == 0) {
        double left = deadline - dalle_now();
        int wait_ms;
        if (left <= 0) break;
        wait_ms = wait_budget_ms(c, left);
        if (dalle_transport_wait(&c->transport, wait_ms, 0) != 0)
            return luaL_error(L, "curl multi failed");
        if (run_receiver(c) != 0) return luaL_error(L, "the callback receiver failed");
        count = collect(L, c, count);
    }
    if (arm_wake(c) != 0) return luaL_error(L, "could not arm the wake timer");
    lua_pushinteger(L, (lua_Integer)(c->transport.running_count + c->transport.queued_count +
                                     c->schedule.count));
    return 2;
}

/* pollfd() -> fd | nil, message: readable whenever a transfer needs
 * attention or a timer is due; nil where the system has no such descriptor. */
static int l_pollfd(lua_State *L)
{
    client *c = check_client(L);
    int fd = dalle_transport_fd(&c->transport);
    if (fd < 0) {
        lua_pushnil(L);
        lua_pushstring(L, "this system has no epoll, so a client has no pollfd; drive it with "
                          "step(), at the latest after timeout() seconds");
        return 2;
    }
    c->pollfd_given = 1;
    if (arm_wake(c) != 0) return luaL_error(L, "could not arm the wake timer");
    lua_pushinteger(L, fd);
    return 1;
}

/* timeout() -> seconds until the next timer, or nil when there is none. */
static int l_timeout(lua_State *L)
{
    double left = next_timer_in(check_client(L));
    if (left < 0)
        lua_pushnil(L);
    else
        lua_pushnumber(L, left);
    return 1;
}

static int l_active(lua_State *L)
{
    client *c = check_client(L);
    lua_pushinteger(L, (lua_Integer)c->transport.running_count);
    lua_pushinteger(L, (lua_Integer)c->schedule.count);
    lua_pushinteger(L, (lua_Integer)c->transport.queued_count);
    return 3;
}

/* ---- callbacks ------------------------------------------------------------- */

/* listen{host=, port=, max_body=, max_connections=, seconds=, tls_cert=,
 *        tls_key=} -> port | nil, message: starts the callback receiver. */
static int l_listen(lua_State *L)
{
    client *c = check_client(L);
    dalle_receiver_settings settings;
    char error[DALLE_RECEIVER_ERROR_SIZE];
    luaL_checktype(L, 2, LUA_TTABLE);
    if (c->receiver) return luaL_error(L, "this client already listens for callbacks");
    memset(&settings, 0, sizeof settings);
    settings.host = opt_string(L, 2, "host");
    settings.port = (unsigned)opt_number(L, 2, "port");
    settings.max_body = (size_t)opt_number(L, 2, "max_body");
    settings.max_connections = (unsigned)opt_number(L, 2, "max_connections");
    settings.request_seconds = (unsigned)ceil(opt_number(L, 2, "seconds"));
    settings.tls_cert = opt_string(L, 2, "tls_cert");
    settings.tls_key = opt_string(L, 2, "tls_key");
    if (!settings.max_body) settings.max_body = DALLE_DEFAULT_MAX_BODY;
    c->receiver = dalle_receiver_start(&settings, &c->callbacks, error, sizeof error);
    if (!c->receiver) {
        lua_pushnil(L);
        lua_pushstring(L, error);
        return 2;
    }
    if (dalle_transport_watch_other(&c->transport, dalle_receiver_fd(c->receiver)) != 0) {
        dalle_receiver_stop(c->receiver);
        c->receiver = NULL;
        lua_pushnil(L);
        lua_pushliteral(L, "cannot watch the callback receiver's descriptor");
        return 2;
    }
    if (arm_wake(c) != 0) return luaL_error(L, "could not arm the wake timer");
    lua_pushinteger(L, (lua_Integer)dalle_receiver_port(c->receiver));
    return 1;
}

/* expect_callback() -> id, token: a fresh secret token; whatever is POSTed
 * to a path ending in it comes out of step() as {id=, callback=true, body=,
 * at=} (at: when it arrived, now()'s clock). */
static int l_expect_callback(lua_State *L)
{
    client *c = check_client(L);
    char token[DALLE_TOKEN_LEN + 1];
    long long id = ++c->next_id;
    if (dalle_callbacks_expect(&c->callbacks, id, token) != 0)
        return luaL_error(L, "cannot make a callback token (out of memory, or no random source)");
    lua_pushinteger(L, (lua_Integer)id);
    lua_pushlstring(L, token, DALLE_TOKEN_LEN);
    return 2;
}

/* forget_callback(id): its token ends; later POSTs to it are refused. */
static int l_forget_callback(lua_State *L)
{
    client *c = check_client(L);
    dalle_callbacks_forget(&c->callbacks, (long long)luaL_checkinteger(L, 2));
    return 0;
}

/* deliver_callback(path_or_token, body) -> true | nil: what the receiver
 * does with a POST, for an app that received it itself; nil when no job
 * waits on that token. */
static int l_deliver_callback(lua_State *L)
{
    client *c = check_client(L);
    size_t path_len, body_len;
    const char *path = luaL_checklstring(L, 2, &path_len);
    const char *body = luaL_checklstring(L, 3, &body_len);
    const char *token = dalle_callbacks_token_of(path, path_len);
    int filed = token ? dalle_callbacks_arrive(&c->callbacks, token, body, body_len) : -1;
    if (filed == -2) return luaL_error(L, "out of memory");
    if (filed != 0) {
        lua_pushnil(L);
        return 1;
    }
    if (arm_wake(c) != 0) return luaL_error(L, "could not arm the wake timer");
    lua_pushboolean(L, 1);
    return 1;
}

static int l_close(lua_State *L)
{
    close_client(luaL_checkudata(L, 1, CLIENT_MT));
    return 0;
}

static int l_tostring(lua_State *L)
{
    client *c = luaL_checkudata(L, 1, CLIENT_MT);
    if (c->open)
        lua_pushfstring(L, "dalle.core.client (%d transfers)", (int)c->transport.running_count);
    else
        lua_pushliteral(L, "dalle.core.client (closed)");
    return 1;
}

/* ---- inline images --------------------------------------------------------- */

static int inline_failure(lua_State *L, const char *kind, const char *message)
{
    lua_pushnil(L);
    lua_pushstring(L, kind);
    lua_pushstring(L, message);
    return 3;
}

/* save_inline(data_url, path, max_bytes) -> true | nil, kind, message: an
 * inline image saved as a download is. kind is "decode" (not a base64 image
 * URL, or bad base64), "too_large" (over max_bytes) or "file". */
static int l_save_inline(lua_State *L)
{
    size_t url_len, payload_len, cap, decoded_len = 0;
    const char *url = luaL_checklstring(L, 1, &url_len);
    const char *path = luaL_checkstring(L, 2);
    lua_Number max_bytes = luaL_checknumber(L, 3);
    const char *payload;
    char problem[PROBLEM_SIZE];
    unsigned char *bytes;
    dalle_image_file image;
    int decoded, saved;
    luaL_argcheck(L, max_bytes >= 1, 3, "max_bytes must be at least 1");
    if (dalle_data_url_payload(url, url_len, &payload, &payload_len, problem, sizeof problem) != 0)
        return inline_failure(L, "decode", problem);
    cap = dalle_base64_max_decoded(payload_len);
    if ((lua_Number)cap > max_bytes) cap = (size_t)max_bytes;
    bytes = malloc(cap ? cap : 1);
    if (!bytes) return luaL_error(L, "out of memory");
    decoded = dalle_base64_decode(payload, payload_len, bytes, cap, &decoded_len, problem,
                                  sizeof problem);
    if (decoded == DALLE_BASE64_TOO_LARGE) {
        free(bytes);
        return inline_failure(L, "too_large", "the inline image is larger than max_image_bytes");
    }
    if (decoded != DALLE_BASE64_OK) {
        free(bytes);
        return inline_failure(L, "decode", problem);
    }
    if (dalle_image_file_open(&image, path, problem, sizeof problem) != 0) {
        free(bytes);
        dalle_image_file_free(&image);
        return inline_failure(L, "file", problem);
    }
    saved = dalle_image_file_write(&image, bytes, decoded_len) == 0 &&
            dalle_image_file_commit(&image) == 0;
    free(bytes);
    if (!saved) {
        int not_image = image.not_image;
        snprintf(problem, sizeof problem, "%s", image.problem ? image.problem : "not saved");
        dalle_image_file_free(&image);
        return inline_failure(L, not_image ? "decode" : "file", problem);
    }
    dalle_image_file_free(&image);
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- append files ---------------------------------------------------------- */

static append_handle *check_append(lua_State *L)
{
    append_handle *h = luaL_checkudata(L, 1, APPEND_MT);
    if (h->fd < 0) luaL_error(L, "attempt to use a closed append file");
    return h;
}

static int opt_flag(lua_State *L, int table, const char *key, int flag)
{
    int set;
    if (lua_isnoneornil(L, table)) return 0;
    lua_getfield(L, table, key);
    set = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return set ? flag : 0;
}

/* open_append(path [, {lock =, durable =}]) -> file | nil, message, why:
 * appends to `path`, created with mode 0600; `lock` holds an exclusive
 * lock while open (why is "locked" when another holder has it), `durable`
 * syncs the directory of a file it creates. */
static int l_open_append(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char error[PROBLEM_SIZE];
    int flags, fd;
    if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
    flags =
        opt_flag(L, 2, "lock", DALLE_APPEND_LOCK) | opt_flag(L, 2, "durable", DALLE_APPEND_DURABLE);
    append_handle *h = dalle_newuserdata(L, sizeof *h);
    h->fd = -1;
    luaL_setmetatable(L, APPEND_MT);
    fd = dalle_append_open(path, flags, error, sizeof error);
    if (fd < 0) {
        lua_pushnil(L);
        lua_pushstring(L, error);
        lua_pushstring(L, fd == DALLE_APPEND_LOCKED ? "locked" : "failed");
        return 3;
    }
    h->fd = fd;
    return 1;
}

/* file:write(text) -> true | nil, message */
static int l_append_write(lua_State *L)
{
    append_handle *h = check_append(L);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    char error[PROBLEM_SIZE];
    if (dalle_append_write(h->fd, text, len, error, sizeof error) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, error);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* file:sync() -> true | nil, message: waits until what was written is on
 * stable storage. */
static int l_append_sync(lua_State *L)
{
    append_handle *h = check_append(L);
    char error[PROBLEM_SIZE];
    if (dalle_append_sync(h->fd, error, sizeof error) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, error);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int l_append_close(lua_State *L)
{
    append_handle *h = luaL_checkudata(L, 1, APPEND_MT);
    if (h->fd >= 0) close(h->fd);
    h->fd = -1;
    return 0;
}

static int l_append_tostring(lua_State *L)
{
    append_handle *h = luaL_checkudata(L, 1, APPEND_MT);
    lua_pushstring(L, h->fd < 0 ? "dalle.core.append_file (closed)" : "dalle.core.append_file");
    return 1;
}

static const luaL_Reg append_methods[] = {
    {"write", l_append_write}, {"sync", l_append_sync}, {"close", l_append_close}, {NULL, NULL}};

static const luaL_Reg client_methods[] = {{"request", l_request},
                                          {"timer", l_timer},
                                          {"cancel", l_cancel},
                                          {"step", l_step},
                                          {"pollfd", l_pollfd},
                                          {"timeout", l_timeout},
                                          {"active", l_active},
                                          {"close", l_close},
                                          {"listen", l_listen},
                                          {"expect_callback", l_expect_callback},
                                          {"forget_callback", l_forget_callback},
                                          {"deliver_callback", l_deliver_callback},
                                          {NULL, NULL}};

static const luaL_Reg module_functions[] = {{"validate", l_validate},
                                            {"rules", l_rules},
                                            {"is_http_url", l_is_http_url},
                                            {"now", l_now},
                                            {"new", l_new},
                                            {"save_inline", l_save_inline},
                                            {"open_append", l_open_append},
                                            {NULL, NULL}};

/* A handle's metatable: its methods, and close as __gc (and __close on 5.4). */
static void define_handle(lua_State *L, const char *name, const luaL_Reg *methods,
                          lua_CFunction close, lua_CFunction tostring)
{
    if (luaL_newmetatable(L, name)) {
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, close);
        lua_setfield(L, -2, "__gc");
#if LUA_VERSION_NUM >= 504
        lua_pushcfunction(L, close);
        lua_setfield(L, -2, "__close");
#endif
        lua_pushcfunction(L, tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
}

int luaopen_dalle_core(lua_State *L)
{
    define_handle(L, CLIENT_MT, client_methods, l_close, l_tostring);
    define_handle(L, APPEND_MT, append_methods, l_append_close, l_append_tostring);
    luaL_newlib(L, module_functions);
    lua_pushliteral(L, LIBCURL_VERSION);
    lua_setfield(L, -2, "curl_version");
    lua_pushboolean(L, DALLE_POLLER_EPOLL);
    lua_setfield(L, -2, "has_pollfd");
    return 1;
}
