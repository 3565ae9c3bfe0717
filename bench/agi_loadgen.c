/*
 * agi_loadgen: plays Asterisk's side of FastAGI against a server, as fast as one core allows.
 *
 * Keeps CONCURRENCY calls open. Each call connects, sends a realistic agi_* header block, answers
 * every command line at once (echoing GET FULL VARIABLE's argument, "key 1" for STREAM FILE and
 * WAIT FOR DIGIT, "200 result=1" otherwise) and counts the call complete when the server closes.
 * Measures, after WARMUP seconds, for DURATION seconds: calls, command turnaround (our reply sent
 * -> next command received) and time from connect to the first command. Then starts no new call and
 * lets the open ones finish (2 s at most) before printing one JSON line: a server that is measured
 * again later (bench/ab_agi.py) is not left with hundreds of calls cut off mid-command, the early
 * close that freezes panoramisk's FastAGI server.
 *
 *   agi_loadgen PORT CONCURRENCY DURATION_S [WARMUP_S]
 *
 * Built by bench/run_agi.py with: cc -O2 -o agi_loadgen agi_loadgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 8192
#define HIST 200000 /* microsecond buckets: 0 .. 200 ms */

typedef struct {
    int fd;
    int headers_sent;
    int commands;
    uint64_t started_us;
    uint64_t replied_us;
    size_t len;
    char buf[BUF];
} call_t;

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t turnaround[HIST + 1], first_cmd[HIST + 1];
static uint64_t n_turnaround, n_first, calls_done, commands_done, errors;
static int measuring, draining, active;
static char headers[2048];
static size_t headers_len;
static struct sockaddr_in target;
static int epfd;

static void record(uint64_t *hist, uint64_t *count, uint64_t us) {
    if (!measuring) return;
    hist[us > HIST ? HIST : us]++;
    (*count)++;
}

static uint64_t percentile(uint64_t *hist, uint64_t count, double p) {
    uint64_t want = (uint64_t)(count * p), seen = 0;
    for (int i = 0; i <= HIST; i++) {
        seen += hist[i];
        if (seen > want) return (uint64_t)i;
    }
    return HIST;
}

static void start_call(call_t *call) {
    call->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (call->fd < 0) { perror("socket"); exit(1); }
    int one = 1;
    setsockopt(call->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    call->headers_sent = 0;
    call->commands = 0;
    call->len = 0;
    call->started_us = now_us();
    active++;
    if (connect(call->fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
        errors++;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = call};
    epoll_ctl(epfd, EPOLL_CTL_ADD, call->fd, &ev);
}

static void end_call(call_t *call, int ok) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, call->fd, NULL);
    close(call->fd);
    if (ok && measuring) calls_done++;
    if (!ok && measuring) errors++;
    active--;
    if (!draining) start_call(call);
}

static void reply(call_t *call, const char *line) {
    char out[512];
    int n;
    if (strncmp(line, "GET FULL VARIABLE", 17) == 0) {
        const char *q1 = strchr(line, '"');
        const char *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
        int len = (q1 && q2) ? (int)(q2 - q1 - 1) : 0;
        n = snprintf(out, sizeof out, "200 result=1 (%.*s)\n", len, q1 ? q1 + 1 : "");
    } else if (strncmp(line, "STREAM FILE", 11) == 0) {
        n = snprintf(out, sizeof out, "200 result=49 endpos=4000\n");
    } else if (strncmp(line, "WAIT FOR DIGIT", 14) == 0) {
        n = snprintf(out, sizeof out, "200 result=49\n");
    } else if (strncmp(line, "GET VARIABLE", 12) == 0) {
        n = snprintf(out, sizeof out, "200 result=0\n");
    } else {
        n = snprintf(out, sizeof out, "200 result=1\n");
    }
    if (write(call->fd, out, (size_t)n) != n) errors++;
    call->replied_us = now_us();
}

static void readable(call_t *call) {
    for (;;) {
        ssize_t got = read(call->fd, call->buf + call->len, BUF - 1 - call->len);
        if (got == 0) { end_call(call, call->commands > 0); return; }
        if (got < 0) {
            if (errno == EAGAIN) return;
            end_call(call, 0);
            return;
        }
        call->len += (size_t)got;
        call->buf[call->len] = 0;
        char *start = call->buf, *nl;
        while ((nl = memchr(start, '\n', call->len - (size_t)(start - call->buf))) != NULL) {
            *nl = 0;
            uint64_t t = now_us();
            if (call->commands == 0) record(first_cmd, &n_first, t - call->started_us);
            else record(turnaround, &n_turnaround, t - call->replied_us);
            call->commands++;
            if (measuring) commands_done++;
            reply(call, start);
            start = nl + 1;
        }
        size_t rest = call->len - (size_t)(start - call->buf);
        memmove(call->buf, start, rest);
        call->len = rest;
    }
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s PORT CONCURRENCY DURATION_S [WARMUP_S]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), concurrency = atoi(argv[2]);
    double duration = atof(argv[3]), warmup = argc > 4 ? atof(argv[4]) : 1.0;
    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);

    headers_len = (size_t)snprintf(headers, sizeof headers,
        "agi_network: yes\nagi_network_script: 112\nagi_request: agi://127.0.0.1:%d/112\n"
        "agi_channel: PJSIP/telco-112-0000002a\nagi_language: id\nagi_type: PJSIP\n"
        "agi_uniqueid: 1795968732.42\nagi_version: 22.10.1\nagi_callerid: 081234567890\n"
        "agi_calleridname: Budi Santoso\nagi_callingpres: 0\nagi_callingani2: 0\nagi_callington: 0\n"
        "agi_callingtns: 0\nagi_dnid: 112\nagi_rdnis: unknown\nagi_context: siaga-112\n"
        "agi_extension: 112\nagi_priority: 7\nagi_enhanced: 0.0\nagi_accountcode: \n"
        "agi_threadid: 140425161139904\n\n", port);

    memset(&target, 0, sizeof target);
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &target.sin_addr);
    epfd = epoll_create1(0);
    call_t *calls = calloc((size_t)concurrency, sizeof(call_t));
    for (int i = 0; i < concurrency; i++) start_call(&calls[i]);

    struct epoll_event events[512];
    uint64_t begin = now_us(), measure_from = begin + (uint64_t)(warmup * 1e6);
    uint64_t measure_to = measure_from + (uint64_t)(duration * 1e6), drain_to = 0;
    for (;;) {
        uint64_t t = now_us();
        if (!measuring && t >= measure_from) {
            measuring = 1;
            /* Tells the runner to sample the server's CPU now: the warm-up is not measured. */
            fprintf(stderr, "MEASURING\n");
            fflush(stderr);
        }
        if (t >= measure_to && !draining) {
            measuring = 0;
            draining = 1;
            drain_to = t + 2000000u;
        }
        if (draining && (active == 0 || t >= drain_to)) break;
        int n = epoll_wait(epfd, events, 512, 50);
        for (int i = 0; i < n; i++) {
            call_t *call = events[i].data.ptr;
            if (events[i].events & (EPOLLERR | EPOLLHUP) && !(events[i].events & EPOLLIN)) {
                end_call(call, 0);
                continue;
            }
            if ((events[i].events & EPOLLOUT) && !call->headers_sent) {
                if (write(call->fd, headers, headers_len) != (ssize_t)headers_len) { end_call(call, 0); continue; }
                call->headers_sent = 1;
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = call};
                epoll_ctl(epfd, EPOLL_CTL_MOD, call->fd, &ev);
            }
            if (events[i].events & EPOLLIN) readable(call);
        }
    }
    printf("{\"concurrency\": %d, \"seconds\": %.2f, \"calls\": %lu, \"calls_per_s\": %.1f, "
           "\"commands\": %lu, \"errors\": %lu, \"turnaround_p50_us\": %lu, \"turnaround_p99_us\": %lu, "
           "\"first_command_p50_us\": %lu, \"first_command_p99_us\": %lu}\n",
           concurrency, duration, calls_done, calls_done / duration, commands_done, errors,
           percentile(turnaround, n_turnaround, 0.50), percentile(turnaround, n_turnaround, 0.99),
           percentile(first_cmd, n_first, 0.50), percentile(first_cmd, n_first, 0.99));
    return 0;
}
