/*
 * tls_session.c: the socket tier over TLS (arkwire_tls_config_*,
 * arkwire_session_open_tls).
 *
 *   tls_session TLS_ADDR MTLS_ADDR CA_FILE CERT_FILE KEY_FILE
 *
 * TLS_ADDR is `arkwire serve --tls-cert ... --tls-key ...`; MTLS_ADDR the
 * same with `--tls-client-ca`, which requires a client certificate; CA_FILE
 * signed both proxies' certificates (for 127.0.0.1 and localhost);
 * CERT_FILE/KEY_FILE are a client certificate that proxy accepts.
 *
 * 1. Bad input is a typed status and a last error: PEM without a
 *    certificate, a key that is not one, a file that is not there, a
 *    server name that is no name.
 * 2. Server authentication: calls over TLS; a server name the proxy's
 *    certificate does not carry is ARKWIRE_TLS_FAILED, and the reason says
 *    it was the certificate.
 * 3. Mutual TLS: without a client certificate ARKWIRE_TLS_FAILED; with one
 *    given as files, or as PEM in memory, calls go through.
 *
 * Exits 0 when every answer is what it should be.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arkwire.h"

static int failures = 0;

#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (!(cond)) {                                    \
            fprintf(stderr, "tls: FAILED %s: ", #cond);   \
            fprintf(stderr, __VA_ARGS__);                 \
            fprintf(stderr, "\n");                        \
            failures++;                                   \
        }                                                 \
    } while (0)

/* The whole file at `path`, NUL-terminated, its length in *len; NULL when
 * it cannot be read. The caller frees it. */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (f == NULL) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n) {
            buf[n] = '\0';
            *len = (size_t)n;
        } else {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

/* Opens a TLS session to addr; on failure returns NULL and the status in *st. */
static arkwire_session *open_tls(const char *addr, const arkwire_tls_config *tls,
                                 arkwire_status *st) {
    arkwire_session_config c;
    arkwire_session *s = NULL;
    arkwire_session_config_init(&c);
    c.connect_timeout_ms = 5000;
    c.call_timeout_ms = 10000;
    *st = arkwire_session_open_tls(addr, "kjyost", NULL, &c, tls, &s);
    if (*st != ARKWIRE_OK) {
        printf("tls: open %s: %s: %s\n", addr, arkwire_status_str(*st),
               arkwire_session_open_last_error());
    }
    return s;
}

/* One echo call of `args` on s; returns 1 when the reply is `args`. */
static int echo(arkwire_session *s, const char *args) {
    arkwire_result r;
    arkwire_status st = arkwire_session_call(s, "echo", args, &r);
    int ok = st == ARKWIRE_OK && r.kind == ARKWIRE_RESULT_REPLY && strcmp(r.msg, args) == 0;
    if (ok) {
        printf("tls: echo -> %.*s\n", (int)r.msg_len, r.msg);
    } else {
        fprintf(stderr, "tls: echo: %s (%s)\n", arkwire_status_str(st), r.msg);
    }
    arkwire_session_finish(s, r.op);
    return ok;
}

int main(int argc, char **argv) {
    const char *tls_addr, *mtls_addr, *ca_file, *cert_file, *key_file;
    arkwire_tls_config *tls = NULL;
    arkwire_session *s;
    arkwire_status st;
    char *cert_pem, *key_pem;
    size_t cert_len = 0, key_len = 0;
    static const char not_pem[] = "this is not PEM";

    if (argc != 6) {
        fprintf(stderr, "usage: %s TLS_ADDR MTLS_ADDR CA_FILE CERT_FILE KEY_FILE\n", argv[0]);
        return 2;
    }
    tls_addr = argv[1];
    mtls_addr = argv[2];
    ca_file = argv[3];
    cert_file = argv[4];
    key_file = argv[5];
    cert_pem = slurp(cert_file, &cert_len);
    key_pem = slurp(key_file, &key_len);
    CHECK(cert_pem != NULL && key_pem != NULL, "cannot read %s or %s", cert_file, key_file);
    if (cert_pem == NULL || key_pem == NULL) return 1;

    CHECK(arkwire_tls_config_new(NULL) == ARKWIRE_NULL_ARGUMENT, "NULL out-pointer");
    CHECK(arkwire_tls_config_new(&tls) == ARKWIRE_OK, "new");

    /* 1. Bad input: a typed status, a last error saying what. */
    st = arkwire_tls_config_set_ca_pem(tls, (const uint8_t *)not_pem, sizeof not_pem - 1);
    CHECK(st == ARKWIRE_INVALID_ARGUMENT && strstr(arkwire_tls_config_last_error(tls), "CA"),
          "CA without a certificate: %s: %s", arkwire_status_str(st),
          arkwire_tls_config_last_error(tls));
    printf("tls: bad CA PEM: %s\n", arkwire_tls_config_last_error(tls));
    st = arkwire_tls_config_set_ca_file(tls, "/nonexistent/ca.pem");
    CHECK(st == ARKWIRE_INVALID_ARGUMENT &&
              strstr(arkwire_tls_config_last_error(tls), "/nonexistent/ca.pem"),
          "missing CA file: %s: %s", arkwire_status_str(st), arkwire_tls_config_last_error(tls));
    st = arkwire_tls_config_set_client_cert_pem(tls, (const uint8_t *)cert_pem, cert_len,
                                                (const uint8_t *)not_pem, sizeof not_pem - 1);
    CHECK(st == ARKWIRE_INVALID_ARGUMENT && strstr(arkwire_tls_config_last_error(tls), "key"),
          "bad key: %s: %s", arkwire_status_str(st), arkwire_tls_config_last_error(tls));
    printf("tls: bad key PEM: %s\n", arkwire_tls_config_last_error(tls));
    st = arkwire_tls_config_set_server_name(tls, "not a name!");
    CHECK(st == ARKWIRE_INVALID_ARGUMENT, "bad server name: %s", arkwire_status_str(st));
    CHECK(arkwire_tls_config_set_ca_pem(NULL, NULL, 0) == ARKWIRE_NULL_ARGUMENT, "NULL config");
    /* No CA yet: the session cannot open. */
    s = open_tls(tls_addr, tls, &st);
    CHECK(s == NULL && st == ARKWIRE_INVALID_ARGUMENT &&
              strstr(arkwire_session_open_last_error(), "no CA"),
          "open without a CA: %s", arkwire_status_str(st));

    /* 2. Server authentication. The name defaults to the host, 127.0.0.1. */
    st = arkwire_tls_config_set_ca_file(tls, ca_file);
    CHECK(st == ARKWIRE_OK && arkwire_tls_config_last_error(tls)[0] == '\0', "CA file: %s",
          arkwire_tls_config_last_error(tls));
    s = open_tls(tls_addr, tls, &st);
    CHECK(s != NULL && st == ARKWIRE_OK, "open: %s", arkwire_status_str(st));
    CHECK(arkwire_session_open_last_error()[0] == '\0', "last error after success");
    if (s != NULL) {
        CHECK(echo(s, "over TLS"), "echo over TLS");
        CHECK(echo(s, "twice on one session"), "second echo");
        arkwire_session_free(s);
    }
    CHECK(arkwire_tls_config_set_server_name(tls, "localhost") == ARKWIRE_OK, "localhost");
    s = open_tls(tls_addr, tls, &st);
    CHECK(s != NULL && echo(s, "by name"), "open as localhost: %s", arkwire_status_str(st));
    arkwire_session_free(s);
    CHECK(arkwire_tls_config_set_server_name(tls, "elsewhere.example") == ARKWIRE_OK, "name");
    s = open_tls(tls_addr, tls, &st);
    CHECK(s == NULL && st == ARKWIRE_TLS_FAILED &&
              strstr(arkwire_session_open_last_error(), "certificate"),
          "wrong server name: %s: %s", arkwire_status_str(st), arkwire_session_open_last_error());
    CHECK(arkwire_tls_config_set_server_name(tls, NULL) == ARKWIRE_OK, "clear the name");

    /* 3. Mutual TLS: refused without a client certificate... */
    s = open_tls(mtls_addr, tls, &st);
    CHECK(s == NULL && st == ARKWIRE_TLS_FAILED &&
              strstr(arkwire_session_open_last_error(), "certificate"),
          "no client certificate: %s: %s", arkwire_status_str(st),
          arkwire_session_open_last_error());
    /* ...served with one from files... */
    st = arkwire_tls_config_set_client_cert_files(tls, cert_file, key_file);
    CHECK(st == ARKWIRE_OK, "cert files: %s", arkwire_tls_config_last_error(tls));
    s = open_tls(mtls_addr, tls, &st);
    CHECK(s != NULL && echo(s, "proven by file"), "mTLS from files: %s", arkwire_status_str(st));
    arkwire_session_free(s);
    /* ...or from memory; the config may go before the session. */
    st = arkwire_tls_config_set_client_cert_pem(tls, (const uint8_t *)cert_pem, cert_len,
                                                (const uint8_t *)key_pem, key_len);
    CHECK(st == ARKWIRE_OK, "cert PEM: %s", arkwire_tls_config_last_error(tls));
    s = open_tls(mtls_addr, tls, &st);
    arkwire_tls_config_free(tls);
    arkwire_tls_config_free(NULL);
    CHECK(s != NULL && echo(s, "proven from memory"), "mTLS from memory: %s",
          arkwire_status_str(st));
    arkwire_session_free(s);

    free(cert_pem);
    free(key_pem);
    if (failures == 0) printf("tls: all checks passed\n");
    return failures == 0 ? 0 : 1;
}
