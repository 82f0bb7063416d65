/*
 * edge_device.c: an edge device in C on the socket tier (arkwire_session_*).
 *
 *   edge_device DATACENTER_ADDR PROXY_ADDR
 *
 * 1. To the data center (datacenter_server.c): handshake, normal,
 *    prep_retraining and retraining requests, and one unknown command.
 * 2. To an Arkouda proxy (`arkwire serve --mode async`): connect and ruok
 *    (blocking), a polled echo, and a submit followed by status queries,
 *    with several results kept at once: each still holds its own reply
 *    until its operation is finished.
 *
 * Exits 0 when every answer is what it should be.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arkwire.h"

static int failures = 0;

#define CHECK(cond, ...)                                    \
    do {                                                    \
        if (!(cond)) {                                      \
            fprintf(stderr, "edge: FAILED %s: ", #cond);    \
            fprintf(stderr, __VA_ARGS__);                   \
            fprintf(stderr, "\n");                          \
            failures++;                                     \
        }                                                   \
    } while (0)

/* Calls cmd and prints the reply; returns 1 when the reply contains `want`. */
static int call(arkwire_session *s, int polling, const char *cmd, const char *args,
                const char *want) {
    arkwire_result r;
    arkwire_status st = polling ? arkwire_session_call_polling(s, cmd, args, &r)
                                : arkwire_session_call(s, cmd, args, &r);
    int ok = st == ARKWIRE_OK && r.kind == ARKWIRE_RESULT_REPLY && strstr(r.msg, want) != NULL;
    if (st != ARKWIRE_OK) {
        fprintf(stderr, "edge: %s: %s (%s, gRPC code %u)\n", cmd, arkwire_status_str(st), r.msg,
                (unsigned)r.grpc_code);
    } else {
        printf("edge: %-16s -> %.*s\n", cmd, (int)r.msg_len, r.msg);
    }
    arkwire_session_finish(s, r.op);
    return ok;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* The error-handling pattern for a command that may run twice: CLOSED
 * means the connection is gone and the call may or may not have reached
 * the proxy; reconnect (backing off while the proxy is down) and send it
 * again. Any other failure is the answer: a gRPC code, an Arkouda ERROR,
 * a deadline. Commands that must not run twice stop at the first CLOSED. */
static arkwire_status call_idempotent(arkwire_session *s, const char *cmd, const char *args,
                                      arkwire_result *r) {
    int attempt;
    for (attempt = 0;; attempt++) {
        arkwire_status st = arkwire_session_call(s, cmd, args, r);
        if (st != ARKWIRE_CLOSED || attempt == 3) return st;
        fprintf(stderr, "edge: %s: %s (gRPC %u); reconnecting\n", cmd, r->msg,
                (unsigned)r->grpc_code);
        arkwire_session_finish(s, r->op);
        while (arkwire_session_reconnect(s) != ARKWIRE_OK && attempt++ < 3) {
            fprintf(stderr, "edge: %s\n", arkwire_session_last_error(s));
            sleep_ms(100L << attempt);
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: edge_device DATACENTER_ADDR PROXY_ADDR\n");
        return 2;
    }
    printf("edge: arkwire %s (header %s)\n", arkwire_version(), ARKWIRE_VERSION_STRING);
    CHECK(strcmp(arkwire_version(), ARKWIRE_VERSION_STRING) == 0, "library/header mismatch");

    /* 1. The data center. */
    arkwire_session *dc = NULL;
    arkwire_status st = arkwire_session_connect(argv[1], "edge-7", NULL, 10000, &dc);
    if (st != ARKWIRE_OK) {
        fprintf(stderr, "edge: cannot reach the data center: %s\n", arkwire_status_str(st));
        return 1;
    }
    CHECK(call(dc, 0, "handshake", "", "\"accepted\": true"), "handshake");
    CHECK(call(dc, 0, "normal", "[0.1, 0.2, 0.3]", "\"retrain\": false"), "normal");
    CHECK(call(dc, 0, "prep_retraining", "", "/checkpoints/edge-7/latest.ckpt"), "prep");
    CHECK(call(dc, 0, "retraining", "12", "epoch-12.ckpt"), "retraining");
    arkwire_result r;
    st = arkwire_session_call(dc, "selfdestruct", "", &r);
    CHECK(st == ARKWIRE_ARKOUDA_ERROR && r.status == st && r.error_kind == ARKWIRE_ERROR_ARKOUDA &&
              r.grpc_code == 0 && strcmp(r.msg, "Unrecognized command: selfdestruct") == 0,
          "unknown command: %s (%s)", arkwire_status_str(st), r.msg);
    CHECK(strstr(arkwire_session_last_error(dc), "Unrecognized command: selfdestruct") != NULL,
          "last error: %s", arkwire_session_last_error(dc));
    CHECK(arkwire_session_finish(dc, r.op) == ARKWIRE_OK, "finish");
    CHECK(arkwire_session_finish(dc, r.op) == ARKWIRE_NOT_FOUND, "finish twice");
    /* A NULL argument is a code, not a crash; the result belongs to no operation. */
    CHECK(arkwire_session_call(dc, NULL, "", &r) == ARKWIRE_NULL_ARGUMENT && r.op == 0,
          "NULL cmd");
    CHECK(strcmp(arkwire_session_last_error(dc), "a required argument was NULL") == 0,
          "last error after NULL: %s", arkwire_session_last_error(dc));
    arkwire_session_free(dc);

    /* 2. The Arkouda proxy. */
    arkwire_session *px = NULL;
    st = arkwire_session_connect(argv[2], "edge-7", "secret-token", 10000, &px);
    if (st != ARKWIRE_OK) {
        fprintf(stderr, "edge: cannot reach the proxy: %s\n", arkwire_status_str(st));
        return 1;
    }
    CHECK(call(px, 0, "connect", "", "connected to arkouda server"), "connect");
    /* Is the connection still up? (0: what the socket says; else a PING.) */
    CHECK(arkwire_session_check(px, 1000) == ARKWIRE_OK, "alive: %s", arkwire_session_last_error(px));
    st = call_idempotent(px, "ruok", "", &r);
    CHECK(st == ARKWIRE_OK && strcmp(r.msg, "imok") == 0, "ruok with reconnect: %s", r.msg);
    arkwire_session_finish(px, r.op);
    CHECK(call(px, 0, "ruok", "", "imok"), "ruok");
    CHECK(call(px, 1, "echo", "polled \"quoted\" reading", "polled \"quoted\" reading"),
          "polling");

    /* Results kept at once: A, B and a submit, then status queries. */
    arkwire_result a, b, sub;
    CHECK(arkwire_session_call(px, "echo", "alpha \"A\"", &a) == ARKWIRE_OK, "echo A");
    CHECK(arkwire_session_call(px, "echo", "beta\tB", &b) == ARKWIRE_OK, "echo B");
    st = arkwire_session_submit(px, "sleep", "20", &sub);
    CHECK(st == ARKWIRE_OK && sub.kind == ARKWIRE_RESULT_SUBMITTED && sub.request_id_len == 32 &&
              strlen(sub.request_id) == 32,
          "submit: %s (%s)", arkwire_status_str(st), sub.msg);
    if (st == ARKWIRE_OK) {
        printf("edge: submitted       -> %s\n", sub.request_id);
        int finished = 0;
        int i;
        for (i = 0; i < 200 && !finished; i++) {
            arkwire_result status;
            st = arkwire_session_status(px, sub.request_id, &status);
            if (st != ARKWIRE_OK) {
                CHECK(0, "status: %s", arkwire_status_str(st));
                arkwire_session_finish(px, status.op);
                break;
            }
            CHECK(strcmp(status.request_id, sub.request_id) == 0, "status id %s",
                  status.request_id);
            if (status.state == ARKWIRE_STATE_FINISHED) {
                printf("edge: status          -> FINISHED %.*s\n", (int)status.msg_len,
                       status.msg);
                CHECK(strcmp(status.msg, "slept") == 0 && status.error_kind == ARKWIRE_ERROR_NONE,
                      "result %s", status.msg);
                finished = 1;
            } else {
                sleep_ms(10);
            }
            arkwire_session_finish(px, status.op);
        }
        CHECK(finished, "the submitted request never finished");
    }
    /* Many calls later, A and B still hold their own replies. */
    CHECK(a.msg_len == strlen("alpha \"A\"") && strcmp(a.msg, "alpha \"A\"") == 0, "A now holds %s", a.msg);
    CHECK(b.msg_len == strlen("beta\tB") && strcmp(b.msg, "beta\tB") == 0, "B now holds %s", b.msg);
    arkwire_session_finish(px, a.op);
    arkwire_session_finish(px, sub.op);
    CHECK(strcmp(b.msg, "beta\tB") == 0, "B after finishing A: %s", b.msg);
    arkwire_session_finish(px, b.op);
    /* An over-long request id is refused before anything is sent. */
    st = arkwire_session_status(px, "0123456789012345678901234567890123456789", &r);
    CHECK(st == ARKWIRE_INVALID_ARGUMENT && r.op == 0, "long id: %s", arkwire_status_str(st));
    arkwire_session_free(px);

    if (failures != 0) {
        fprintf(stderr, "edge: %d check(s) failed\n", failures);
        return 1;
    }
    printf("edge: all checks passed\n");
    return 0;
}
