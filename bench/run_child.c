/* run_child: runs one benchmark client and records what it cost, measured
 * the same way for every row (wall clock, user+sys CPU, peak RSS via wait4). */

/* Usage: run_child LIMIT_SECONDS STATS_FILE COMMAND [ARG]...
 * Writes "wall_s user_s sys_s maxrss_kib" to STATS_FILE and exits with the
 * command's status; a command still running after LIMIT_SECONDS is killed
 * (with everything it started) and run_child exits 124.
 * The CPU and RSS include the command's own children once it has waited for
 * them, so a shell loop is charged for the curl processes it runs. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_TIMED_OUT 124
#define EXIT_CANNOT_RUN 127

static volatile sig_atomic_t time_is_up;

static void on_alarm(int signo)
{
    (void)signo;
    time_is_up = 1;
}

static double seconds_of(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: run_child LIMIT_SECONDS STATS_FILE COMMAND [ARG]...\n");
        return 2;
    }
    unsigned limit = (unsigned)strtoul(argv[1], NULL, 10);
    const char *stats_path = argv[2];

    /* No SA_RESTART: the alarm must interrupt wait4 so the child can be killed. */
    struct sigaction alarm_action = {0};
    alarm_action.sa_handler = on_alarm;
    sigemptyset(&alarm_action.sa_mask);
    sigaction(SIGALRM, &alarm_action, NULL);

    double started = monotonic_seconds();
    pid_t child = fork();
    if (child < 0) {
        perror("run_child: fork");
        return EXIT_CANNOT_RUN;
    }
    if (child == 0) {
        /* Its own process group, so a timeout kills the curl processes of a
         * shell loop too. */
        setpgid(0, 0);
        execvp(argv[3], argv + 3);
        perror("run_child: exec");
        _exit(EXIT_CANNOT_RUN);
    }
    setpgid(child, child);
    alarm(limit);

    int status = 0;
    struct rusage usage;
    while (wait4(child, &status, 0, &usage) < 0) {
        if (errno != EINTR) {
            perror("run_child: wait4");
            return EXIT_CANNOT_RUN;
        }
        if (time_is_up) {
            fprintf(stderr, "run_child: %s still running after %u s; killed\n", argv[3], limit);
            kill(-child, SIGKILL);
        }
    }
    double wall = monotonic_seconds() - started;

    FILE *stats = fopen(stats_path, "w");
    if (!stats) {
        perror("run_child: cannot write the stats file");
        return EXIT_CANNOT_RUN;
    }
    fprintf(stats, "%.6f %.6f %.6f %ld\n", wall, seconds_of(usage.ru_utime),
            seconds_of(usage.ru_stime), usage.ru_maxrss);
    fclose(stats);

    if (time_is_up) return EXIT_TIMED_OUT;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    fprintf(stderr, "run_child: %s killed by signal %d\n", argv[3], WTERMSIG(status));
    return 128 + WTERMSIG(status);
}
