/* What one request-and-reply over a Unix stream socket costs on this
 * machine, between two processes that each block until the other writes:
 * the floor under any per-call cost of an auth daemon (a child's call is
 * one such round trip). Prints the wall time and the CPU time of both
 * processes per round trip, for a 600-byte request and a 20-byte reply
 * (about the size of a trivial Basic check's frames: 539 and 18 bytes for
 * curl's request), with both processes on CPU 0 (as the benchmark pins
 * Apache and, with it, the daemon processes it forks) and, on a machine
 * with two CPUs or more, on CPUs 0 and 1. Built and run by
 * scripts/benchmark.sh. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 100000
#define REQUEST 600
#define REPLY 20

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_seconds(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec
           + ru.ru_stime.tv_usec / 1e6;
}

/* Read exactly n bytes; 0 on end of file or error. */
static int read_all(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            return 0;
        got += (size_t)r;
    }
    return 1;
}

/* Run both processes on `caller_cpu` and `answerer_cpu`; 0 on success. */
static int measure(int caller_cpu, int answerer_cpu)
{
    int pair[2];
    char request[REQUEST], reply[REPLY];
    memset(request, 'q', sizeof request);
    memset(reply, 'a', sizeof reply);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) {
        perror("socketpair");
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        cpu_set_t cpus;
        CPU_ZERO(&cpus);
        CPU_SET(answerer_cpu, &cpus);
        sched_setaffinity(0, sizeof cpus, &cpus);
        close(pair[0]);
        while (read_all(pair[1], request, REQUEST))
            if (write(pair[1], reply, REPLY) != REPLY)
                break;
        _exit(0);
    }
    close(pair[1]);
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(caller_cpu, &cpus);
    sched_setaffinity(0, sizeof cpus, &cpus);
    double start = now(), cpu_start = cpu_seconds(RUSAGE_SELF);
    double other_start = cpu_seconds(RUSAGE_CHILDREN);
    for (int i = 0; i < ROUNDS; i++) {
        if (write(pair[0], request, REQUEST) != REQUEST || !read_all(pair[0], reply, REPLY)) {
            fprintf(stderr, "round trip %d failed\n", i);
            return 1;
        }
    }
    double wall = now() - start, cpu_self = cpu_seconds(RUSAGE_SELF) - cpu_start;
    close(pair[0]);
    waitpid(pid, NULL, 0);
    double cpu_other = cpu_seconds(RUSAGE_CHILDREN) - other_start;
    printf("one round trip over a Unix socket, processes on CPUs %d and %d, %d rounds: "
           "%.1f us wall, %.1f us CPU (caller %.1f + answerer %.1f)\n",
           caller_cpu, answerer_cpu, ROUNDS, wall / ROUNDS * 1e6,
           (cpu_self + cpu_other) / ROUNDS * 1e6, cpu_self / ROUNDS * 1e6,
           cpu_other / ROUNDS * 1e6);
    return 0;
}

int main(void)
{
    if (measure(0, 0) != 0)
        return 1;
    if (sysconf(_SC_NPROCESSORS_ONLN) >= 2 && measure(0, 1) != 0)
        return 1;
    return 0;
}
