/*
 * datacenter_server.c: a data-center endpoint in C. It serves the Arkouda
 * gRPC proxy protocol with arkwire_server_start and answers the commands an
 * edge device sends: handshake, normal, prep_retraining, retraining.
 *
 * Prints "datacenter: listening on 127.0.0.1:PORT" and serves until its
 * standard input closes; then it stops the server and exits 0.
 *
 *   cc -std=c11 -Iinclude bindings/c/datacenter_server.c target/release/libarkwire.a -lpthread -ldl -lm
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "arkwire.h"

/* Shared between main and the server's event-loop thread: guarded. */
struct stats {
    pthread_mutex_t lock;
    unsigned long handled;
};

static int is(const char *s, size_t len, const char *word) {
    return len == strlen(word) && memcmp(s, word, len) == 0;
}

/* Runs on the server's event-loop thread. */
static arkwire_status handle(const arkwire_request *req, arkwire_reply_builder *reply,
                             void *userdata) {
    struct stats *stats = userdata;
    const char *user, *cmd, *args;
    size_t user_len, cmd_len, args_len;
    arkwire_status s;
    if ((s = arkwire_request_user(req, &user, &user_len)) != ARKWIRE_OK ||
        (s = arkwire_request_cmd(req, &cmd, &cmd_len)) != ARKWIRE_OK ||
        (s = arkwire_request_args(req, &args, &args_len)) != ARKWIRE_OK) {
        return s;
    }
    pthread_mutex_lock(&stats->lock);
    stats->handled++;
    pthread_mutex_unlock(&stats->lock);

    char msg[512];
    int n;
    int is_error = 0;
    int u = (int)user_len, a = (int)args_len;
    if (is(cmd, cmd_len, "handshake")) {
        n = snprintf(msg, sizeof msg, "{\"device\": \"%.*s\", \"accepted\": true}", u, user);
    } else if (is(cmd, cmd_len, "normal")) {
        n = snprintf(msg, sizeof msg, "{\"retrain\": false, \"received\": %zu}", args_len);
    } else if (is(cmd, cmd_len, "prep_retraining")) {
        n = snprintf(msg, sizeof msg,
                     "{\"retrain\": true, \"checkpoint\": \"/checkpoints/%.*s/latest.ckpt\"}", u,
                     user);
    } else if (is(cmd, cmd_len, "retraining")) {
        n = snprintf(msg, sizeof msg,
                     "{\"retrain\": true, \"status\": \"scheduled\", "
                     "\"checkpoint\": \"/checkpoints/%.*s/epoch-%.*s.ckpt\"}",
                     u, user, a, args);
    } else {
        n = snprintf(msg, sizeof msg, "Unrecognized command: %.*s", (int)cmd_len, cmd);
        is_error = 1;
    }
    if (n < 0 || (size_t)n >= sizeof msg) {
        return ARKWIRE_BUFFER_TOO_SMALL;
    }
    return arkwire_reply_builder_set_msg(reply, msg, (size_t)n, is_error);
}

int main(void) {
    struct stats stats = {.handled = 0};
    pthread_mutex_init(&stats.lock, NULL);
    arkwire_server *server = NULL;
    arkwire_status s = arkwire_server_start("127.0.0.1:0", handle, &stats, &server);
    if (s != ARKWIRE_OK) {
        fprintf(stderr, "datacenter: cannot start: %s\n", arkwire_status_str(s));
        return 1;
    }
    uint16_t port = 0;
    if ((s = arkwire_server_port(server, &port)) != ARKWIRE_OK) {
        fprintf(stderr, "datacenter: %s\n", arkwire_status_str(s));
        arkwire_server_free(server);
        return 1;
    }
    printf("datacenter: listening on 127.0.0.1:%u\n", (unsigned)port);
    fflush(stdout);

    char buf[256];
    while (fread(buf, 1, sizeof buf, stdin) > 0) {
    }
    arkwire_server_free(server); /* stops the loop: no callback runs after this */

    pthread_mutex_lock(&stats.lock);
    fprintf(stderr, "datacenter: handled %lu requests\n", stats.handled);
    pthread_mutex_unlock(&stats.lock);
    pthread_mutex_destroy(&stats.lock);
    return 0;
}
