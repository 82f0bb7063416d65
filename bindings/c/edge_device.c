/*
 * edge_device.c: an edge device in C on the socket tier (arkwire_session_*).
 *
 *   edge_device DATACENTER_ADDR PROXY_ADDR
 *
 * 1. To the data center (datacenter_server.c): handshake, normal,
 *    prep_retraining and retraining requests, and one unknown command.
 * 2. To an Arkouda proxy (`arkwire serve --mode async`): connect and ruok
 *    (blocking), a polled echo, and a submit followed by status queries.
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
    arkwire_reply *reply = NULL;
    arkwire_status st = polling ? arkwire_session_call_polling(s, cmd, args, &reply)
                                : arkwire_session_call(s, cmd, args, &reply);
    if (st != ARKWIRE_OK) {
        fprintf(stderr, "edge: %s: %s (%s)\n", cmd, arkwire_status_str(st),
                arkwire_session_last_error(s));
        return 0;
    }
    const char *msg = NULL;
    size_t len = 0;
    int ok = arkwire_reply_msg(reply, &msg, &len) == ARKWIRE_OK && strstr(msg, want) != NULL;
    printf("edge: %-16s -> %.*s\n", cmd, (int)len, msg);
    arkwire_reply_free(reply);
    return ok;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
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
    arkwire_reply *reply = NULL;
    st = arkwire_session_call(dc, "selfdestruct", "", &reply);
    CHECK(st == ARKWIRE_ARKOUDA_ERROR && reply == NULL, "unknown command: %s",
          arkwire_status_str(st));
    CHECK(strstr(arkwire_session_last_error(dc), "Unrecognized command: selfdestruct") != NULL,
          "last error: %s", arkwire_session_last_error(dc));
    /* A NULL argument is a code, not a crash. */
    CHECK(arkwire_session_call(dc, NULL, "", &reply) == ARKWIRE_NULL_ARGUMENT, "NULL cmd");
    arkwire_session_free(dc);

    /* 2. The Arkouda proxy. */
    arkwire_session *px = NULL;
    st = arkwire_session_connect(argv[2], "edge-7", "secret-token", 10000, &px);
    if (st != ARKWIRE_OK) {
        fprintf(stderr, "edge: cannot reach the proxy: %s\n", arkwire_status_str(st));
        return 1;
    }
    CHECK(call(px, 0, "connect", "", "connected to arkouda server"), "connect");
    CHECK(call(px, 0, "ruok", "", "imok"), "ruok");
    CHECK(call(px, 1, "echo", "polled \"quoted\" reading", "polled \"quoted\" reading"),
          "polling");

    char *id = NULL;
    st = arkwire_session_submit(px, "sleep", "20", &id);
    CHECK(st == ARKWIRE_OK && id != NULL && strlen(id) == 32, "submit: %s (%s)",
          arkwire_status_str(st), arkwire_session_last_error(px));
    if (id != NULL) {
        printf("edge: submitted       -> %s\n", id);
        int finished = 0;
        for (int i = 0; i < 200 && !finished; i++) {
            arkwire_status_view view;
            st = arkwire_session_status(px, id, &view);
            if (st != ARKWIRE_OK) {
                CHECK(0, "status: %s", arkwire_status_str(st));
                break;
            }
            if (view.state == ARKWIRE_STATE_FINISHED) {
                printf("edge: status          -> FINISHED %.*s\n", (int)view.msg_len, view.msg);
                CHECK(strcmp(view.msg, "slept") == 0 && !view.is_error, "result %s", view.msg);
                finished = 1;
            } else {
                sleep_ms(10);
            }
        }
        CHECK(finished, "the submitted request never finished");
        arkwire_string_free(id);
    }
    arkwire_session_free(px);

    if (failures != 0) {
        fprintf(stderr, "edge: %d check(s) failed\n", failures);
        return 1;
    }
    printf("edge: all checks passed\n");
    return 0;
}
