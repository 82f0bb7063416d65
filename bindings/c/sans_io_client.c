/*
 * sans_io_client.c: the sans-IO tier (arkwire_conn_*) driven by a C program
 * that owns its socket (POSIX, poll(2)) and its clock (CLOCK_MONOTONIC),
 * the way firmware would drive it.
 *
 *   sans_io_client HOST PORT      (against `arkwire serve`)
 *
 * Runs connect, ruok, an echo whose reply carries JSON escapes, and an
 * unknown command (an Arkouda ERROR). Exits 0 when every answer is right.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "arkwire.h"

static uint64_t now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

static int dial(const char *host, const char *port) {
    struct addrinfo hints, *res, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0) {
        return -1;
    }
    int fd = -1;
    for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

/* The transmit buffer: static, as on a device. */
static uint8_t out_buf[ARKWIRE_MIN_TRANSMIT_BUFFER];
static uint8_t in_buf[16384];

/* Sends everything the connection has queued. */
static int flush(arkwire_conn *conn, int fd) {
    for (;;) {
        size_t n = 0;
        if (arkwire_conn_transmit(conn, out_buf, sizeof out_buf, &n) != ARKWIRE_OK) {
            return -1;
        }
        if (n == 0) {
            return 0;
        }
        for (size_t off = 0; off < n;) {
            ssize_t w = write(fd, out_buf + off, n - off);
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                return -1;
            }
            off += (size_t)w;
        }
    }
}

/* Moves bytes and time until operation `op` completes. */
static int drive(arkwire_conn *conn, int fd, uint32_t op) {
    uint64_t give_up = now_us() + 20u * 1000000u;
    for (;;) {
        if (flush(conn, fd) != 0) {
            return -1;
        }
        uint32_t done;
        while (arkwire_conn_poll_event(conn, &done) == ARKWIRE_OK) {
            if (done == op) {
                return flush(conn, fd);
            }
        }
        uint64_t now = now_us();
        if (now > give_up) {
            fprintf(stderr, "sans-io: operation %u timed out\n", (unsigned)op);
            return -1;
        }
        int timeout_ms = 1000;
        uint64_t at;
        if (arkwire_conn_poll_timeout(conn, &at) == ARKWIRE_OK) {
            uint64_t wait = at > now ? (at - now + 999) / 1000 : 0;
            timeout_ms = wait < 1000 ? (int)wait : 1000;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
        int r = poll(&pfd, 1, timeout_ms);
        if (r < 0 && errno != EINTR) {
            return -1;
        }
        if (r > 0) {
            ssize_t n = read(fd, in_buf, sizeof in_buf);
            if (n <= 0) {
                fprintf(stderr, "sans-io: the server closed the connection\n");
                return -1;
            }
            arkwire_status s = arkwire_conn_recv(conn, in_buf, (size_t)n, now_us());
            if (s != ARKWIRE_OK) {
                fprintf(stderr, "sans-io: %s\n", arkwire_conn_last_error(conn));
                return -1;
            }
        }
        arkwire_conn_handle_timeout(conn, now_us());
    }
}

/* Runs one blocking call; returns its status and copies the text to `msg`. */
static arkwire_status run(arkwire_conn *conn, int fd, const char *cmd, const char *args,
                          char *msg, size_t cap) {
    uint32_t op;
    arkwire_status s = arkwire_conn_call(conn, cmd, args, now_us(), &op);
    if (s != ARKWIRE_OK) {
        return s;
    }
    if (drive(conn, fd, op) != 0) {
        return ARKWIRE_CONNECTION_FAILED;
    }
    arkwire_outcome o;
    s = arkwire_conn_outcome(conn, op, &o);
    /* o.msg is not NUL-terminated and lives until arkwire_conn_finish. */
    snprintf(msg, cap, "%.*s", (int)o.msg_len, o.msg);
    printf("sans-io: %-8s -> [%s] %s\n", cmd, arkwire_status_str(s), msg);
    arkwire_conn_finish(conn, op);
    return s;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: sans_io_client HOST PORT\n");
        return 2;
    }
    int fd = dial(argv[1], argv[2]);
    if (fd < 0) {
        fprintf(stderr, "sans-io: cannot connect to %s:%s\n", argv[1], argv[2]);
        return 1;
    }
    char authority[300];
    snprintf(authority, sizeof authority, "%s:%s", argv[1], argv[2]);
    arkwire_conn_config config;
    arkwire_conn_config_init(&config);
    config.authority = authority;
    config.user = "sensor-3";
    config.seed = now_us();
    config.now_us = now_us();
    arkwire_conn *conn = NULL;
    arkwire_status s = arkwire_conn_new(&config, &conn);
    if (s != ARKWIRE_OK) {
        fprintf(stderr, "sans-io: %s\n", arkwire_status_str(s));
        close(fd);
        return 1;
    }

    int failures = 0;
    char msg[1024];
    if (run(conn, fd, "connect", "", msg, sizeof msg) != ARKWIRE_OK ||
        strcmp(msg, "connected to arkouda server tcp://*:5555") != 0) {
        failures++;
    }
    if (run(conn, fd, "ruok", "", msg, sizeof msg) != ARKWIRE_OK || strcmp(msg, "imok") != 0) {
        failures++;
    }
    const char *escaped = "tab\there \"quoted\" back\\slash";
    if (run(conn, fd, "echo", escaped, msg, sizeof msg) != ARKWIRE_OK ||
        strcmp(msg, escaped) != 0) {
        failures++;
    }
    if (run(conn, fd, "bogus", "", msg, sizeof msg) != ARKWIRE_ARKOUDA_ERROR ||
        strcmp(msg, "Unrecognized command: bogus") != 0) {
        failures++;
    }
    uint32_t op;
    if (arkwire_conn_call(NULL, "ruok", "", 0, &op) != ARKWIRE_NULL_ARGUMENT ||
        arkwire_conn_finish(conn, 12345) != ARKWIRE_NOT_FOUND) {
        failures++;
    }

    arkwire_conn_free(conn);
    close(fd);
    if (failures != 0) {
        fprintf(stderr, "sans-io: %d check(s) failed\n", failures);
        return 1;
    }
    printf("sans-io: all checks passed\n");
    return 0;
}
