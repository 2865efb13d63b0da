/* The command line: parsing and checking every option, and --help. */
#ifndef DALLE_MOCK_OPTIONS_H
#define DALLE_MOCK_OPTIONS_H

#include "config.h"
#include "faults.h"

#include <sys/types.h>

#define MOCK_VERSION "0.1.0"
#define MOCK_DEFAULT_HOST "127.0.0.1"
#define MOCK_PORT_MAX 65535UL

typedef struct mock_options {
    const char *host;
    unsigned port; /* 0: pick a free port */
    mock_config config;
    mock_fault *faults;
    size_t fault_count;
    char *public_url; /* NULL: http://HOST:PORT; never ends with '/' */
    const char *port_file;
    pid_t watch_pid;              /* 0: none */
    const char *replay_path;      /* NULL: no replay */
    const char *callback_ca_file; /* NULL: the system's CA bundle */
    int quiet;
} mock_options;

enum options_result { OPTIONS_RUN, OPTIONS_EXIT_OK, OPTIONS_EXIT_USAGE };

/* Prints --help, --version or the error itself; the caller exits accordingly. */
enum options_result options_parse(int argc, char **argv, mock_options *options);
void options_free(mock_options *options);

#endif
