/* dalle-mock's main: options, listening, the announce line and port file,
 * waiting for a signal or the watched process, and an orderly shutdown. */
#include "callback.h"
#include "chaos.h"
#include "config.h"
#include "faults.h"
#include "jobs.h"
#include "options.h"
#include "records.h"
#include "replay.h"
#include "routes.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define WATCH_INTERVAL_MS 200
#define DELIBERATE_CLOSE_MESSAGE "Application reported internal error"
#define EXIT_USAGE 2
/* Thread per connection lets a fault sleep in one connection without
 * holding up the others; poll() holds at hundreds of connections (note 2).
 * --single-thread serves them all from the polling thread: no thread is made
 * per connection, and none competes with a client on the same machine. */
#define DAEMON_FLAGS                                                                               \
    (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL)
#define DAEMON_FLAGS_SINGLE_THREAD (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL)

/* MHD's own error log, less the line it writes whenever a handler ends a
 * connection on purpose: drop and stall faults do, and are logged already. */
static void log_daemon_error(void *cls, const char *format, va_list args)
{
    char line[512];
    (void)cls;
    vsnprintf(line, sizeof line, format, args);
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, DELIBERATE_CLOSE_MESSAGE, strlen(DELIBERATE_CLOSE_MESSAGE)) == 0) return;
    mock_log("libmicrohttpd: %s", line);
}

/* The first address `host` resolves to, with `port` set. */
static int resolve(const char *host, unsigned port, struct sockaddr_storage *address)
{
    struct addrinfo hints, *found = NULL;
    char service[16];
    int status;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(service, sizeof service, "%u", port);
    status = getaddrinfo(host, service, &hints, &found);
    if (status != 0) {
        fprintf(stderr, "dalle-mock: --host '%s': %s\nTry 'dalle-mock --help'.\n", host,
                gai_strerror(status));
        return -1;
    }
    memset(address, 0, sizeof *address);
    memcpy(address, found->ai_addr, found->ai_addrlen);
    freeaddrinfo(found);
    return 0;
}

/* Readers poll for the file, so it appears whole or not at all. */
static int write_port_file(const char *path, unsigned port)
{
    mock_buf temporary = {0};
    FILE *file;
    int ok;

    buf_printf(&temporary, "%s.tmp", path);
    file = fopen(temporary.data, "w");
    ok = file && fprintf(file, "%u\n", port) > 0;
    if (file && fclose(file) != 0) ok = 0;
    if (ok && rename(temporary.data, path) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, "dalle-mock: --port-file '%s': %s\n", path, strerror(errno));
        remove(temporary.data);
    }
    buf_free(&temporary);
    return ok ? 0 : -1;
}

static int watched_process_gone(pid_t pid)
{
    return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
}

/* Blocks until SIGINT/SIGTERM, or until the watched process is gone. */
static void wait_for_stop(const sigset_t *stop_signals, pid_t watch_pid)
{
    struct timespec interval = {0, WATCH_INTERVAL_MS * 1000000L};
    for (;;) {
        int signal_number = sigtimedwait(stop_signals, NULL, &interval);
        if (signal_number > 0) {
            mock_log("stopping on signal %d", signal_number);
            return;
        }
        if (watched_process_gone(watch_pid)) {
            mock_log("stopping: watched process %ld is gone", (long)watch_pid);
            return;
        }
    }
}

static const char *listen_url(const char *host, unsigned port, int ipv6, mock_buf *out)
{
    buf_free(out);
    buf_printf(out, ipv6 ? "http://[%s]:%u" : "http://%s:%u", host, port);
    return out->data;
}

/* Set before listening as well as after, so no request ever sees no base. */
static void set_default_base(const char *host, unsigned port, int ipv6)
{
    mock_buf base = {0};
    jobs_set_public_base(listen_url(host, port, ipv6, &base));
    buf_free(&base);
}

static void free_shared_state(void)
{
    jobs_stop();
    records_clear();
    faults_clear();
    replay_free();
}

int main(int argc, char **argv)
{
    mock_options options;
    struct sockaddr_storage address;
    sigset_t stop_signals;
    struct MHD_Daemon *daemon;
    const union MHD_DaemonInfo *info;
    unsigned port;
    unsigned int flags;
    int ipv6;
    int worker_started;
    int exit_code = 0;
    mock_buf url = {0};

    switch (options_parse(argc, argv, &options)) {
    case OPTIONS_EXIT_OK:
        options_free(&options);
        return 0;
    case OPTIONS_EXIT_USAGE:
        options_free(&options);
        return EXIT_USAGE;
    case OPTIONS_RUN:
        break;
    }
    if (resolve(options.host, options.port, &address) != 0) {
        options_free(&options);
        return EXIT_USAGE;
    }
    if (options.replay_path) {
        char error[REPLAY_ERROR_MAX];
        if (replay_load(options.replay_path, error, sizeof error) != 0) {
            fprintf(stderr, "dalle-mock: %s\n", error);
            options_free(&options);
            return EXIT_USAGE;
        }
    }
    ipv6 = address.ss_family == AF_INET6;
    mock_set_quiet(options.quiet);

    /* Before any thread exists: curl's global init is not thread-safe, and
     * every thread inherits the blocked signals, leaving them to sigtimedwait. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("dalle-mock: libcurl failed to initialise\n", stderr);
        replay_free();
        options_free(&options);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    config_start(&options.config);
    chaos_restart(options.config.chaos_seed);
    jobs_start();
    for (size_t i = 0; i < options.fault_count; i++)
        faults_push(&options.faults[i]);
    if (options.public_url)
        jobs_set_public_base(options.public_url);
    else
        set_default_base(options.host, options.port, ipv6);

    flags = (options.config.single_thread ? DAEMON_FLAGS_SINGLE_THREAD : DAEMON_FLAGS) |
            MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);
    daemon = MHD_start_daemon(flags, (uint16_t)options.port, NULL, NULL, routes_access, NULL,
                              MHD_OPTION_EXTERNAL_LOGGER, log_daemon_error, NULL,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&address,
                              MHD_OPTION_NOTIFY_COMPLETED, routes_completed, NULL, MHD_OPTION_END);
    if (!daemon) {
        fprintf(stderr, "dalle-mock: cannot listen on %s port %u\n", options.host, options.port);
        free_shared_state();
        curl_global_cleanup();
        options_free(&options);
        return 1;
    }
    info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    port = info ? info->port : options.port;
    if (!options.public_url) set_default_base(options.host, port, ipv6);

    worker_started = callback_worker_start(options.callback_ca_file) == 0;
    if (!worker_started) {
        fputs("dalle-mock: cannot start the callback thread\n", stderr);
        exit_code = 1;
    } else {
        printf("dalle-mock listening on %s\n", listen_url(options.host, port, ipv6, &url));
        fflush(stdout);
        if (options.port_file && write_port_file(options.port_file, port) != 0)
            exit_code = 1;
        else
            wait_for_stop(&stop_signals, options.watch_pid);
    }

    /* Sleeping faults and trickles see the stop flag within one sleep step,
     * so stopping the daemon does not wait out their full time. */
    mock_request_stop();
    MHD_stop_daemon(daemon);
    if (worker_started) callback_worker_join();
    free_shared_state();
    buf_free(&url);
    curl_global_cleanup();
    options_free(&options);
    return exit_code;
}
