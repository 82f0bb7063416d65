/* The C ABI when the network fails, played against a real `arkwire serve`
 * that tests/ffi_failure.rs starts, kills and restarts.
 *
 *   failure session HOST:PORT   socket tier (the harness kills the server
 *                               mid-call and while idle, and restarts it)
 *   failure conn HOST PORT      sans-IO tier over this program's own socket
 *   failure seed HOST PORT      two sans-IO connections with the default
 *                               seed against `arkwire serve --mode async`
 *   failure bench HOST:PORT     one call the harness kills the server under;
 *                               prints the CLOCK_REALTIME of the failure
 *
 * A line "STEP name" asks the harness to act; where the program must wait
 * for it, it reads one line from stdin. Exit status 0: every check passed.
 */
#define _POSIX_C_SOURCE 200809L
#include <arkwire.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__,        \
                    __LINE__, #cond);                                     \
            fprintf(stderr, __VA_ARGS__);                                 \
            fputc('\n', stderr);                                          \
            failures++;                                                   \
        }                                                                 \
    } while (0)

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

/* Says what the harness should do now; with `wait`, blocks until it is done. */
static void step(const char *name, int wait) {
    printf("STEP %s\n", name);
    fflush(stdout);
    if (wait) {
        char line[64];
        if (!fgets(line, sizeof line, stdin)) {
            fprintf(stderr, "the harness went away during %s\n", name);
            exit(2);
        }
    }
}

/* ---------------------------------------------------------------- sessions */

static arkwire_status call(arkwire_session *s, const char *cmd, const char *args,
                           arkwire_result *r) {
    arkwire_status st = arkwire_session_call(s, cmd, args, r);
    CHECK(st == r->status, "the result carries the status");
    CHECK(r->msg != NULL && r->msg[r->msg_len] == '\0', "msg NUL-terminated");
    return st;
}

/* A call whose failure must carry the status, code and kind given. */
static void expect_failure(arkwire_session *s, const char *cmd, const char *args,
                           arkwire_status status, uint32_t grpc_code,
                           arkwire_error_kind kind, double within_s) {
    arkwire_result r;
    double t0 = now_s();
    arkwire_status st = call(s, cmd, args, &r);
    double took = now_s() - t0;
    CHECK(st == status, "%s: %s (%s), wanted %s", cmd, arkwire_status_str(st), r.msg,
          arkwire_status_str(status));
    CHECK(r.grpc_code == grpc_code, "%s: gRPC %u, wanted %u", cmd, r.grpc_code, grpc_code);
    CHECK(r.error_kind == kind, "%s: error kind %u, wanted %u", cmd, r.error_kind, kind);
    CHECK(took < within_s, "%s: took %.3f s, limit %.3f s", cmd, took, within_s);
    CHECK(arkwire_session_last_error(s)[0] != '\0', "%s: a last error", cmd);
    arkwire_session_finish(s, r.op);
}

static void expect_ok(arkwire_session *s, const char *cmd, const char *args, const char *reply) {
    arkwire_result r;
    arkwire_status st = call(s, cmd, args, &r);
    CHECK(st == ARKWIRE_OK, "%s: %s: %s", cmd, arkwire_status_str(st), r.msg);
    if (reply) CHECK(strcmp(r.msg, reply) == 0, "%s: %s", cmd, r.msg);
    CHECK(r.grpc_code == 0 && r.error_kind == ARKWIRE_ERROR_NONE, "%s: no error", cmd);
    arkwire_session_finish(s, r.op);
}

static arkwire_session *open_session(const char *addr, uint32_t reconnects) {
    arkwire_session_config c;
    arkwire_session_config_init(&c);
    CHECK(c.connect_timeout_ms == 5000 && c.call_timeout_ms == 30000, "defaults");
    c.call_timeout_ms = 30000;          /* the dead call's deadline: far away */
    c.keepalive_interval_ms = 1000;
    c.keepalive_timeout_ms = 1000;
    c.reconnect_attempts = reconnects;
    c.reconnect_backoff_ms = 50;
    c.reconnect_max_backoff_ms = 400;
    arkwire_session *s = NULL;
    arkwire_status st = arkwire_session_open(addr, "edge-7", NULL, &c, &s);
    if (st != ARKWIRE_OK) {
        fprintf(stderr, "open %s: %s\n", addr, arkwire_status_str(st));
        exit(1);
    }
    return s;
}

/* Fails within 2 s although the call's deadline is 30 s. */
static double killed_mid_call(arkwire_session *s) {
    arkwire_result r;
    step("kill-mid-call", 0);
    double t0 = now_s();
    arkwire_status st = call(s, "sleep", "20000", &r);
    double took = now_s() - t0;
    CHECK(st == ARKWIRE_CLOSED, "mid-call: %s: %s", arkwire_status_str(st), r.msg);
    CHECK(r.error_kind == ARKWIRE_ERROR_TRANSPORT && r.grpc_code == 14, "mid-call: kind %u, gRPC %u",
          r.error_kind, r.grpc_code);
    CHECK(took < 2.0, "mid-call: failed after %.3f s", took);
    CHECK(strstr(r.msg, "closed") || strstr(r.msg, "reset"), "mid-call: the reason: %s", r.msg);
    printf("mid-call failure after %.3f s: %s\n", took, r.msg);
    arkwire_session_finish(s, r.op);
    return took;
}

static void session_tier(const char *addr) {
    arkwire_session *s = open_session(addr, 0);
    arkwire_limits lim;
    CHECK(arkwire_session_limits(s, &lim) == ARKWIRE_OK, "limits");
    CHECK(lim.max_request == 4194304 && lim.max_ops == 1 && lim.request_id_len == 32,
          "limits %zu %u", lim.max_request, lim.max_ops);
    expect_ok(s, "ruok", "", "imok");

    /* Sizes around the request limit, on a session already used. */
    size_t n = lim.max_args + 1;
    char *big = malloc(n + 2);
    memset(big, 'a', n + 1);
    big[n] = '\0';
    expect_failure(s, "cccccccccccccccc", big, ARKWIRE_RESOURCE_EXHAUSTED, 8, ARKWIRE_ERROR_LOCAL, 1.0);
    arkwire_result r;
    big[n - 1] = '\0'; /* exactly max_args: sent, and answered */
    arkwire_status st = call(s, "cccccccccccccccc", big, &r);
    CHECK(st == ARKWIRE_ARKOUDA_ERROR, "max_args: %s: %.80s", arkwire_status_str(st), r.msg);
    arkwire_session_finish(s, r.op);
    /* 5 MiB: refused at once, and the session goes on. */
    char *huge = malloc((5u << 20) + 1);
    memset(huge, 'x', 5u << 20);
    huge[5u << 20] = '\0';
    expect_failure(s, "echo", huge, ARKWIRE_RESOURCE_EXHAUSTED, 8, ARKWIRE_ERROR_LOCAL, 1.0);
    free(huge);
    free(big);
    expect_ok(s, "ruok", "", "imok");

    /* Errors a program can act on. */
    CHECK(arkwire_session_call(s, NULL, "", &r) == ARKWIRE_NULL_ARGUMENT, "NULL cmd");
    CHECK(r.op == 0 && r.status == ARKWIRE_NULL_ARGUMENT, "no operation");
    CHECK(arkwire_session_last_error(s)[0] != '\0', "last error after NULL_ARGUMENT");
    CHECK(arkwire_session_call(s, "echo", "\xff\xfe", &r) == ARKWIRE_INVALID_UTF8, "bad UTF-8");
    CHECK(arkwire_session_last_error(s)[0] != '\0', "last error after INVALID_UTF8");
    CHECK(arkwire_session_status(s, "0123456789abcdef0123456789abcdef0", &r) ==
              ARKWIRE_INVALID_ARGUMENT, "a 33-character id");
    arkwire_session_finish(s, r.op);
    CHECK(arkwire_session_submit(s, "ruok", "", &r) == ARKWIRE_BAD_REPLY, "submit to a sync proxy");
    CHECK(r.error_kind == ARKWIRE_ERROR_PROTOCOL, "submit: kind %u", r.error_kind);
    arkwire_session_finish(s, r.op);
    expect_failure(s, "bogus", "", ARKWIRE_ARKOUDA_ERROR, 0, ARKWIRE_ERROR_ARKOUDA, 5.0);
    /* A per-call deadline, tighter than the config's. */
    arkwire_session_set_deadline(s, 200);
    expect_failure(s, "sleep", "3000", ARKWIRE_DEADLINE_EXCEEDED, 4, ARKWIRE_ERROR_TIMEOUT, 1.5);
    arkwire_session_set_deadline(s, 0);
    /* Explicit-length args with a NUL inside. */
    st = arkwire_session_call_len(s, "echo", "a\0b", 3, &r);
    CHECK(st == ARKWIRE_OK && r.msg_len == 3 && memcmp(r.msg, "a\0b", 3) == 0, "call_len");
    arkwire_session_finish(s, r.op);

    /* Many results at once: each keeps its own reply until finished. */
    enum { MANY = 24 };
    arkwire_result kept[MANY];
    char want[MANY][32];
    for (int i = 0; i < MANY; i++) {
        snprintf(want[i], sizeof want[i], "reply number %d", i);
        CHECK(call(s, "echo", want[i], &kept[i]) == ARKWIRE_OK, "echo %d", i);
        if (i % 3 == 0) arkwire_session_finish(s, kept[i].op);
    }
    for (int i = 0; i < MANY; i++) {
        if (i % 3 == 0) continue;
        CHECK(strcmp(kept[i].msg, want[i]) == 0, "result %d holds %s", i, kept[i].msg);
        arkwire_session_finish(s, kept[i].op);
    }
    CHECK(arkwire_session_check(s, 1000) == ARKWIRE_OK, "alive: %s", arkwire_session_last_error(s));

    /* The server dies mid-call, then while idle. */
    killed_mid_call(s);
    expect_failure(s, "ruok", "", ARKWIRE_CLOSED, 14, ARKWIRE_ERROR_TRANSPORT, 0.5);
    CHECK(arkwire_session_check(s, 0) == ARKWIRE_CLOSED, "check after death");
    step("restart", 1);
    CHECK(arkwire_session_reconnect(s) == ARKWIRE_OK, "reconnect: %s", arkwire_session_last_error(s));
    expect_ok(s, "ruok", "", "imok");
    step("kill-idle", 1);
    expect_failure(s, "ruok", "", ARKWIRE_CLOSED, 14, ARKWIRE_ERROR_TRANSPORT, 0.5);
    expect_failure(s, "ruok", "", ARKWIRE_CLOSED, 14, ARKWIRE_ERROR_TRANSPORT, 0.5);
    CHECK(arkwire_session_reconnect(s) == ARKWIRE_CONNECTION_FAILED, "nobody listens");
    CHECK(strstr(arkwire_session_last_error(s), "refused") != NULL, "why: %s",
          arkwire_session_last_error(s));
    step("restart", 1);
    CHECK(arkwire_session_reconnect(s) == ARKWIRE_OK, "reconnect: %s", arkwire_session_last_error(s));
    expect_ok(s, "ruok", "", "imok");
    arkwire_session_free(s);

    /* Automatic reconnect: a server restarted while idle is not noticed by
     * the caller; one killed mid-call fails that call (not sent twice). */
    s = open_session(addr, 8);
    expect_ok(s, "ruok", "", "imok");
    step("kill-and-restart", 1);
    expect_ok(s, "ruok", "", "imok");
    step("kill-mid-call-and-restart", 0);
    double t0 = now_s();
    st = call(s, "sleep", "20000", &r);
    CHECK(st == ARKWIRE_CLOSED && now_s() - t0 < 2.0, "auto: mid-call %s", arkwire_session_last_error(s));
    arkwire_session_finish(s, r.op);
    expect_ok(s, "ruok", "", "imok");
    arkwire_session_free(s);
}

static void bench(const char *addr) {
    arkwire_session *s = open_session(addr, 0);
    arkwire_result r;
    expect_ok(s, "ruok", "", "imok");
    step("kill-mid-call", 0);
    arkwire_status st = call(s, "sleep", "20000", &r);
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    CHECK(st == ARKWIRE_CLOSED, "bench: %s", arkwire_status_str(st));
    printf("FAILED_AT_NS %lld%09ld\n", (long long)t.tv_sec, t.tv_nsec);
    arkwire_session_finish(s, r.op);
    arkwire_session_free(s);
}

/* ------------------------------------------------------------ sans-IO tier */

struct host {
    int fd;
    arkwire_conn *conn;
    unsigned char memory[1 << 20];
    unsigned char wire[ARKWIRE_MIN_TRANSMIT_BUFFER];
    int eof;
};

static struct host hosts[2];
static struct host *h = &hosts[0];

static int dial(const char *host, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void conn_open(const char *host, int port, uint64_t seed) {
    char authority[64];
    snprintf(authority, sizeof authority, "%s:%d", host, port);
    arkwire_conn_config c;
    arkwire_conn_config_init(&c);
    c.authority = authority;
    c.user = "edge-7";
    c.max_ops = 4;
    c.poll_interval_ms = 5;
    c.seed = seed;
    c.now_us = now_us();
    size_t size = 0;
    CHECK(arkwire_conn_size(&c, &size) == ARKWIRE_OK && size <= sizeof h->memory, "size %zu", size);
    h->fd = dial(host, port);
    h->eof = 0;
    CHECK(arkwire_conn_init(h->memory, sizeof h->memory, &c, &h->conn) == ARKWIRE_OK, "init");
}

static void conn_close(void) {
    arkwire_conn_free(h->conn);
    close(h->fd);
}

/* One turn: send, wait for bytes or the next timer (at most 50 ms), feed. */
static void turn(void) {
    size_t n;
    while (!h->eof && arkwire_conn_transmit(h->conn, h->wire, sizeof h->wire, &n) == ARKWIRE_OK && n) {
        size_t done = 0;
        while (done < n) {
            ssize_t w = send(h->fd, h->wire + done, n - done, MSG_NOSIGNAL);
            if (w <= 0) break;
            done += (size_t)w;
        }
        if (done < n) break;
    }
    uint64_t at;
    int wait_ms = 50;
    if (arkwire_conn_poll_timeout(h->conn, &at) == ARKWIRE_OK) {
        uint64_t t = now_us();
        wait_ms = at <= t ? 0 : (int)((at - t) / 1000 + 1);
        if (wait_ms > 50) wait_ms = 50;
    }
    struct pollfd p = {h->fd, POLLIN, 0};
    if (!h->eof && poll(&p, 1, wait_ms) > 0) {
        unsigned char buf[16384];
        ssize_t got = recv(h->fd, buf, sizeof buf, 0);
        if (got > 0) {
            arkwire_conn_recv(h->conn, buf, (size_t)got, now_us());
        } else {
            /* End of stream, or a reset: the connection is lost. */
            h->eof = 1;
            CHECK(arkwire_conn_recv(h->conn, NULL, 0, now_us()) == ARKWIRE_OK, "eof");
        }
    }
    arkwire_conn_handle_timeout(h->conn, now_us());
}

/* Runs until `op` completed; returns its status (and result). */
static arkwire_status await_op(uint32_t op, arkwire_result *r, double limit_s) {
    double t0 = now_s();
    for (;;) {
        arkwire_status st = arkwire_conn_outcome(h->conn, op, r);
        if (st != ARKWIRE_PENDING) return st;
        if (now_s() - t0 > limit_s) return ARKWIRE_PENDING;
        turn();
    }
}

static uint32_t start(const char *cmd, const char *args, size_t len) {
    uint32_t op = 0;
    arkwire_status st = arkwire_conn_call_len(h->conn, cmd, args, len, now_us(), &op);
    CHECK(st == ARKWIRE_OK, "start %s: %s: %s", cmd, arkwire_status_str(st),
          arkwire_conn_last_error(h->conn));
    return op;
}

static void conn_tier(const char *host, int port) {
    arkwire_result r, rb;
    conn_open(host, port, 7);
    arkwire_limits lim;
    CHECK(arkwire_conn_limits(h->conn, &lim) == ARKWIRE_OK, "limits");
    CHECK(lim.max_request == ARKWIRE_CONN_MAX_MESSAGE && lim.max_reply == ARKWIRE_CONN_MAX_MESSAGE &&
              lim.max_ops == 4, "limits %zu %zu %u", lim.max_request, lim.max_reply, lim.max_ops);

    /* Sizes around the limit while another call is in flight. */
    uint32_t sleeper = start("sleep", "200", 3);
    char *big = malloc(lim.max_args + 1);
    memset(big, 'a', lim.max_args + 1);
    uint32_t op = 0;
    CHECK(arkwire_conn_call_len(h->conn, "cccccccccccccccc", big, lim.max_args + 1, now_us(), &op) ==
              ARKWIRE_RESOURCE_EXHAUSTED && op == 0, "over the limit");
    CHECK(arkwire_conn_last_error(h->conn)[0] != '\0', "why");
    uint32_t at_limit = start("cccccccccccccccc", big, lim.max_args);
    free(big);
    CHECK(await_op(at_limit, &r, 10) == ARKWIRE_ARKOUDA_ERROR, "at the limit: %s", r.msg);
    CHECK(await_op(sleeper, &r, 10) == ARKWIRE_OK && strcmp(r.msg, "slept") == 0, "the neighbour: %s", r.msg);
    arkwire_conn_finish(h->conn, at_limit);
    arkwire_conn_finish(h->conn, sleeper);

    /* Replies stay put: read B, finish A, start C; B still holds its own. */
    uint32_t a = start("echo", "alpha", 5), b = start("echo", "bravo", 5);
    CHECK(await_op(a, &r, 10) == ARKWIRE_OK, "a");
    CHECK(await_op(b, &rb, 10) == ARKWIRE_OK, "b");
    arkwire_conn_finish(h->conn, a);
    uint32_t c = start("echo", "charlie-charlie", 15);
    CHECK(await_op(c, &r, 10) == ARKWIRE_OK, "c");
    CHECK(strcmp(rb.msg, "bravo") == 0, "b's buffer: %s", rb.msg);
    arkwire_conn_finish(h->conn, b);
    arkwire_conn_finish(h->conn, c);

    /* Misuse, reported as the header says. */
    CHECK(arkwire_conn_status(h->conn, "0123456789abcdef0123456789abcdef0", now_us(), &op) ==
              ARKWIRE_INVALID_ARGUMENT, "a 33-character id");
    CHECK(arkwire_conn_call(h->conn, NULL, "", now_us(), &op) == ARKWIRE_NULL_ARGUMENT, "NULL");
    CHECK(arkwire_conn_last_error(h->conn)[0] != '\0', "last error after NULL_ARGUMENT");
    CHECK(arkwire_conn_submit(h->conn, "ruok", "", now_us(), &op) == ARKWIRE_OK, "submit");
    CHECK(await_op(op, &r, 10) == ARKWIRE_BAD_REPLY && r.error_kind == ARKWIRE_ERROR_PROTOCOL,
          "submit to a sync proxy: %s", r.msg);
    arkwire_conn_finish(h->conn, op);

    /* The server dies with two calls in flight: both fail at once. */
    uint32_t x = start("sleep", "20000", 5), y = start("sleep", "20000", 5);
    for (int i = 0; i < 4; i++) turn(); /* the calls go out */
    step("kill-mid-call", 0);
    double t0 = now_s();
    arkwire_status sx = await_op(x, &r, 5);
    double took = now_s() - t0;
    CHECK(sx == ARKWIRE_CLOSED && r.error_kind == ARKWIRE_ERROR_TRANSPORT && r.grpc_code == 14,
          "x: %s: %s", arkwire_status_str(sx), r.msg);
    CHECK(took < 2.0, "noticed after %.3f s", took);
    printf("sans-IO mid-call failure after %.3f s: %s\n", took, r.msg);
    CHECK(arkwire_conn_outcome(h->conn, y, &r) == ARKWIRE_CLOSED, "y failed too");
    CHECK(arkwire_conn_call(h->conn, "ruok", "", now_us(), &op) == ARKWIRE_CLOSED, "refused after eof");
    CHECK(arkwire_conn_check(h->conn) == ARKWIRE_CLOSED, "check after eof");
    conn_close();

    /* Replaced after the restart. */
    step("restart", 1);
    conn_open(host, port, 8);
    op = start("ruok", "", 0);
    CHECK(await_op(op, &r, 10) == ARKWIRE_OK && strcmp(r.msg, "imok") == 0, "after restart: %s", r.msg);
    arkwire_conn_finish(h->conn, op);
    /* Graceful close: the GOAWAY goes out, then nothing. */
    CHECK(arkwire_conn_close(h->conn) == ARKWIRE_OK, "close");
    for (int i = 0; i < 10 && arkwire_conn_wants_transmit(h->conn); i++) turn();
    CHECK(arkwire_conn_check(h->conn) == ARKWIRE_CLOSED && !arkwire_conn_wants_transmit(h->conn), "closed");
    conn_close();
}

/* Two devices left with the default seed submit: each gets its own id and result. */
static void seed_case(const char *host, int port) {
    arkwire_result r;
    char ids[2][40];
    for (int i = 0; i < 2; i++) {
        h = &hosts[i];
        conn_open(host, port, 0);
        uint32_t op = 0;
        CHECK(arkwire_conn_submit(h->conn, "echo", i ? "device one" : "device zero", now_us(), &op) ==
                  ARKWIRE_OK, "submit");
        CHECK(await_op(op, &r, 10) == ARKWIRE_OK && r.kind == ARKWIRE_RESULT_SUBMITTED, "submitted");
        snprintf(ids[i], sizeof ids[i], "%s", r.request_id);
        arkwire_conn_finish(h->conn, op);
    }
    CHECK(strcmp(ids[0], ids[1]) != 0, "the same id twice: %s", ids[0]);
    for (int i = 0; i < 2; i++) {
        h = &hosts[i];
        const char *want = i ? "device one" : "device zero";
        int done = 0;
        for (int tries = 0; tries < 200 && !done; tries++) {
            uint32_t op = 0;
            CHECK(arkwire_conn_status(h->conn, ids[i], now_us(), &op) == ARKWIRE_OK, "status");
            CHECK(await_op(op, &r, 10) == ARKWIRE_OK, "status result");
            if (r.state == ARKWIRE_STATE_FINISHED) {
                CHECK(strcmp(r.msg, want) == 0, "device %d got %s", i, r.msg);
                done = 1;
            }
            arkwire_conn_finish(h->conn, op);
        }
        CHECK(done, "device %d finished", i);
        conn_close();
    }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    CHECK(strcmp(arkwire_version(), ARKWIRE_VERSION_STRING) == 0, "version %s", arkwire_version());
    if (argc == 3 && strcmp(argv[1], "session") == 0) {
        session_tier(argv[2]);
    } else if (argc == 3 && strcmp(argv[1], "bench") == 0) {
        bench(argv[2]);
    } else if (argc == 4 && strcmp(argv[1], "conn") == 0) {
        conn_tier(argv[2], atoi(argv[3]));
    } else if (argc == 4 && strcmp(argv[1], "seed") == 0) {
        seed_case(argv[2], atoi(argv[3]));
    } else {
        fprintf(stderr, "usage: failure session|bench HOST:PORT | failure conn|seed HOST PORT\n");
        return 2;
    }
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
