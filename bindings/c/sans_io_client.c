/*
 * sans_io_client.c: the sans-IO tier (arkwire_conn_*) driven by a C program
 * that owns its socket (POSIX, poll(2)) and its clock (CLOCK_MONOTONIC),
 * the way firmware would drive it.
 *
 *   sans_io_client HOST PORT      (against `arkwire serve`)
 *
 * The connection is built in place in memory the program owns
 * (arkwire_conn_size, arkwire_conn_init), for 4 operations at a time and
 * messages of up to 4 KiB. Runs connect, ruok, an
 * echo whose reply carries JSON escapes, and an unknown command (an Arkouda
 * ERROR); then several operations at once, whose results each keep their
 * own reply until finished. Exits 0 when every answer is right.
 *
 * Where TLS goes. The library's sans-IO tier has no TLS of its own (its
 * bytes are the plaintext HTTP/2 stream): a device wraps them in its own
 * TLS stack, between the socket and the connection:
 *
 *     socket  <->  TLS stack (tls_handshake, tls_read, tls_write)  <->
 *     arkwire_conn_recv / arkwire_conn_transmit  <->  operations
 *
 * The three tls_* hooks below are plain pass-through here (this program
 * talks to a plaintext `arkwire serve`). With mbedTLS (or wolfSSL, or a
 * secure element's stack) they become its handshake, read and write; the
 * rest of the program does not change. See the comment above the hooks.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
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

/*
 * The TLS layer: the only functions that touch the socket's bytes.
 * Pass-through here. For TLS with mbedTLS, say (a sketch, not compiled):
 *
 *   setup, once:  mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT,
 *                     MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
 *                 mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
 *                 mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
 *                 static const char *alpn[] = {"h2", NULL};
 *                 mbedtls_ssl_conf_alpn_protocols(&conf, alpn);  (required:
 *                     `arkwire serve --tls-*` speaks only h2)
 *                 mbedtls_ssl_conf_own_cert(&conf, &cert, &key);  (mutual
 *                     TLS: the device key may live in a secure element)
 *                 mbedtls_ssl_setup(&ssl, &conf);
 *                 mbedtls_ssl_set_hostname(&ssl, host);  (the name the
 *                     proxy's certificate must carry; also SNI)
 *                 mbedtls_ssl_set_bio(&ssl, &fd, send_cb, recv_cb, NULL);
 *   tls_handshake: loop on mbedtls_ssl_handshake(&ssl) until 0, then check
 *                  mbedtls_ssl_get_alpn_protocol(&ssl) is "h2";
 *   tls_write:     mbedtls_ssl_write(&ssl, buf, n);
 *   tls_read:      mbedtls_ssl_read(&ssl, buf, cap) (WANT_READ: nothing yet);
 *   tls_pending:   mbedtls_ssl_get_bytes_avail(&ssl): plaintext the TLS
 *                  stack already decrypted, which poll(2) cannot see.
 *
 * The handshake runs before the first arkwire_conn_transmit: the HTTP/2
 * preface must not reach the socket in the clear. A TLS failure is the
 * connection's end: call arkwire_conn_eof (or arkwire_conn_close) so every
 * operation in flight fails with ARKWIRE_CLOSED.
 */
static int tls_handshake(int fd, const char *host) {
    (void)fd;
    (void)host;
    return 0; /* plaintext: nothing to agree on */
}

static ssize_t tls_write(int fd, const uint8_t *buf, size_t n) { return write(fd, buf, n); }

static ssize_t tls_read(int fd, uint8_t *buf, size_t cap) { return read(fd, buf, cap); }

static size_t tls_pending(int fd) {
    (void)fd;
    return 0; /* plaintext: nothing buffered above the socket */
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
            /* Plaintext HTTP/2 from the library goes out through the TLS layer. */
            ssize_t w = tls_write(fd, out_buf + off, n - off);
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

/* Moves bytes and time until every operation of `ops` completed. */
static int drive_all(arkwire_conn *conn, int fd, const uint32_t *ops, size_t n) {
    uint64_t give_up = now_us() + 20u * 1000000u;
    size_t left = n;
    int seen[8] = {0};
    for (;;) {
        if (flush(conn, fd) != 0) {
            return -1;
        }
        uint32_t done;
        while (arkwire_conn_poll_event(conn, &done) == ARKWIRE_OK) {
            for (size_t i = 0; i < n; i++) {
                if (ops[i] == done && !seen[i]) {
                    seen[i] = 1;
                    left--;
                }
            }
        }
        if (left == 0) {
            return flush(conn, fd);
        }
        uint64_t now = now_us();
        if (now > give_up) {
            fprintf(stderr, "sans-io: %zu operation(s) timed out\n", left);
            return -1;
        }
        int timeout_ms = 1000;
        uint64_t at;
        /* ARKWIRE_NO_TIMER: no timer armed, wait for bytes alone. */
        if (arkwire_conn_poll_timeout(conn, &at) == ARKWIRE_OK) {
            uint64_t wait = at > now ? (at - now + 999) / 1000 : 0;
            timeout_ms = wait < 1000 ? (int)wait : 1000;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
        /* Bytes the TLS layer already holds are read without waiting. */
        int r = tls_pending(fd) > 0 ? 1 : poll(&pfd, 1, timeout_ms);
        if (r < 0 && errno != EINTR) {
            return -1;
        }
        if (r > 0) {
            /* The TLS layer's plaintext goes to the library. */
            ssize_t got = tls_read(fd, in_buf, sizeof in_buf);
            if (got <= 0) {
                fprintf(stderr, "sans-io: the server closed the connection\n");
                return -1;
            }
            arkwire_status s = arkwire_conn_recv(conn, in_buf, (size_t)got, now_us());
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
    if (drive_all(conn, fd, &op, 1) != 0) {
        return ARKWIRE_CONNECTION_FAILED;
    }
    arkwire_result r;
    s = arkwire_conn_outcome(conn, op, &r);
    /* r.msg is NUL-terminated and lives until arkwire_conn_finish(conn, op). */
    snprintf(msg, cap, "%s", r.msg);
    printf("sans-io: %-8s -> [%s] %s\n", cmd, arkwire_status_str(s), msg);
    arkwire_conn_finish(conn, op);
    return s;
}

/* Starts a blocking call without waiting; 0 when it did not start. */
static uint32_t start(arkwire_conn *conn, const char *cmd, const char *args) {
    uint32_t op = 0;
    if (arkwire_conn_call(conn, cmd, args, now_us(), &op) != ARKWIRE_OK) {
        fprintf(stderr, "sans-io: %s: %s\n", cmd, arkwire_conn_last_error(conn));
        return 0;
    }
    return op;
}

/* 1 when op's result is OK and its text is `want`. */
static int holds(const arkwire_result *r, const char *want) {
    if (r->status != ARKWIRE_OK || r->msg_len != strlen(want) || strcmp(r->msg, want) != 0) {
        fprintf(stderr, "sans-io: op %u holds [%s] \"%s\", not \"%s\"\n", (unsigned)r->op,
                arkwire_status_str(r->status), r->msg, want);
        return 0;
    }
    return 1;
}

/* Several operations at once: every result keeps its own reply until it is
 * finished, whatever is started, read or finished meanwhile. */
static int interleaved(arkwire_conn *conn, int fd) {
    const char *ta = "alpha \"A\"\n", *tb = "beta\tB \\", *tc = "gamma \"C\"";
    uint32_t ops[3];
    arkwire_result a, b, bad, c;
    int ok = 1;
    ops[0] = start(conn, "echo", ta);
    ops[1] = start(conn, "echo", tb);
    ops[2] = start(conn, "bogus", "");
    if (!ops[0] || !ops[1] || !ops[2] || drive_all(conn, fd, ops, 3) != 0) {
        return 0;
    }
    ok &= arkwire_conn_outcome(conn, ops[1], &b) == ARKWIRE_OK && holds(&b, tb);
    ok &= arkwire_conn_outcome(conn, ops[2], &bad) == ARKWIRE_ARKOUDA_ERROR &&
          bad.error_kind == ARKWIRE_ERROR_ARKOUDA &&
          strcmp(bad.msg, "Unrecognized command: bogus") == 0;
    ok &= arkwire_conn_outcome(conn, ops[0], &a) == ARKWIRE_OK && holds(&a, ta);
    /* Finish A, start and read C: B and the error still hold theirs. */
    arkwire_conn_finish(conn, ops[0]);
    uint32_t opc = start(conn, "echo", tc);
    if (!opc || drive_all(conn, fd, &opc, 1) != 0) {
        return 0;
    }
    ok &= arkwire_conn_outcome(conn, opc, &c) == ARKWIRE_OK && holds(&c, tc);
    ok &= holds(&b, tb);
    ok &= strcmp(bad.msg, "Unrecognized command: bogus") == 0;
    arkwire_conn_finish(conn, opc);
    ok &= holds(&b, tb);
    arkwire_conn_finish(conn, ops[1]);
    arkwire_conn_finish(conn, ops[2]);
    printf("sans-io: interleaved -> %s\n", ok ? "each result kept its own reply" : "FAILED");
    return ok;
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
    /* TLS (when the device has it) is agreed before any HTTP/2 byte moves. */
    if (tls_handshake(fd, argv[1]) != 0) {
        fprintf(stderr, "sans-io: TLS handshake with %s failed\n", argv[1]);
        close(fd);
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
    config.max_ops = 4;
    /* Buffer sizes the program chooses: requests and replies of up to 4 KiB,
     * 1 KiB of header scratch, HTTP/2's 4 KiB HPACK table. */
    config.max_message = 4096;
    config.scratch_size = 1024;
    config.decoder_table_size = 4096;
    /* The connection and all its buffers live in memory the program owns:
     * here one block from malloc, on a device a static array of at least
     * this size. arkwire_conn_init builds it in place, on this thread. */
    size_t size = 0;
    arkwire_status s = arkwire_conn_size(&config, &size);
    void *memory = s == ARKWIRE_OK ? malloc(size) : NULL;
    arkwire_conn *conn = NULL;
    if (memory == NULL || (s = arkwire_conn_init(memory, size, &config, &conn)) != ARKWIRE_OK) {
        fprintf(stderr, "sans-io: %s\n", arkwire_status_str(s));
        free(memory);
        close(fd);
        return 1;
    }
    printf("sans-io: connection in %zu bytes of the program's memory\n", size);
    arkwire_limits limits;
    memset(&limits, 0, sizeof limits);
    if (arkwire_conn_limits(conn, &limits) != ARKWIRE_OK || limits.max_request != 4096 ||
        limits.max_reply != 4096) {
        fprintf(stderr, "sans-io: limits %zu %zu\n", limits.max_request, limits.max_reply);
        arkwire_conn_free(conn);
        free(memory);
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
    if (!interleaved(conn, fd)) {
        failures++;
    }
    uint32_t op;
    if (arkwire_conn_call(NULL, "ruok", "", 0, &op) != ARKWIRE_NULL_ARGUMENT ||
        arkwire_conn_finish(conn, 12345) != ARKWIRE_NOT_FOUND ||
        arkwire_conn_poll_event(conn, &op) != ARKWIRE_NO_EVENT) {
        failures++;
    }

    /* Ends the connection; the memory is the program's again. */
    arkwire_conn_free(conn);
    free(memory);
    close(fd);
    if (failures != 0) {
        fprintf(stderr, "sans-io: %d check(s) failed\n", failures);
        return 1;
    }
    printf("sans-io: all checks passed\n");
    return 0;
}
