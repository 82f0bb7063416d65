// arkwire.hpp: a header-only C++17 wrapper over arkwire.h. Handles are
// std::unique_ptr with the library's free functions as deleters; every
// arkwire_result is finished by an RAII guard once its bytes are copied
// out; failures are arkwire::error exceptions carrying the arkwire_status,
// the gRPC code and the error kind. User code never calls a _free or
// _finish function.
#ifndef ARKWIRE_HPP
#define ARKWIRE_HPP

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "arkwire.h"

namespace arkwire {

/// A failed call: the status code, the gRPC code, whose failure it is, and
/// the library's message.
class error : public std::runtime_error {
public:
    error(arkwire_status code, const std::string &what, std::uint32_t grpc_code = 0,
          arkwire_error_kind kind = ARKWIRE_ERROR_LOCAL)
        : std::runtime_error(what.empty() ? std::string(arkwire_status_str(code))
                                          : std::string(arkwire_status_str(code)) + ": " + what),
          code_(code),
          grpc_code_(grpc_code),
          kind_(kind) {}
    arkwire_status code() const noexcept { return code_; }
    std::uint32_t grpc_code() const noexcept { return grpc_code_; }
    arkwire_error_kind kind() const noexcept { return kind_; }

private:
    arkwire_status code_;
    std::uint32_t grpc_code_;
    arkwire_error_kind kind_;
};

namespace detail {
struct session_free {
    void operator()(arkwire_session *s) const noexcept { arkwire_session_free(s); }
};
struct server_free {
    void operator()(arkwire_server *s) const noexcept { arkwire_server_free(s); }
};
inline void check(arkwire_status s, const char *what = "") {
    if (s != ARKWIRE_OK) throw error(s, what);
}
/// Finishes one operation's result when it goes out of scope.
class finisher {
public:
    finisher(arkwire_session *s, const arkwire_result &r) noexcept : s_(s), op_(r.op) {}
    ~finisher() { arkwire_session_finish(s_, op_); }
    finisher(const finisher &) = delete;
    finisher &operator=(const finisher &) = delete;

private:
    arkwire_session *s_;
    std::uint32_t op_;
};
}  // namespace detail

/// Where a submitted request stands.
struct request_status {
    arkwire_request_state state;
    std::string msg;
    bool is_error;
};

/// An Arkouda session over one connection (not thread-safe; movable).
class session {
public:
    static session connect(const std::string &addr, const std::string &user,
                           const std::string &token = "", std::uint32_t timeout_ms = 0) {
        arkwire_session *raw = nullptr;
        detail::check(arkwire_session_connect(addr.c_str(), user.c_str(), token.c_str(),
                                              timeout_ms, &raw),
                      addr.c_str());
        return session(raw);
    }

    /// Replaces a closed connection (after an `error` with code
    /// ARKWIRE_CLOSED); throws ARKWIRE_CONNECTION_FAILED while the proxy is down.
    void reconnect() {
        detail::check(arkwire_session_reconnect(s_.get()), arkwire_session_last_error(s_.get()));
    }

    /// Whether the connection is up: what the socket says, and with
    /// `ping_ms` also a PING answered within that time.
    bool alive(std::uint32_t ping_ms = 0) {
        return arkwire_session_check(s_.get(), ping_ms) == ARKWIRE_OK;
    }

    /// Bounds each following call to `ms` milliseconds (0: the config's).
    void set_deadline(std::uint32_t ms) { arkwire_session_set_deadline(s_.get(), ms); }

    /// Blocking pattern: Arkouda's reply text.
    std::string call(const std::string &cmd, const std::string &args = "") {
        arkwire_result r;
        arkwire_status st = arkwire_session_call(s_.get(), cmd.c_str(), args.c_str(), &r);
        detail::finisher done(s_.get(), r);
        fail_unless(st, r);
        return std::string(r.msg, r.msg_len);
    }

    /// Polling pattern.
    std::string call_polling(const std::string &cmd, const std::string &args = "") {
        arkwire_result r;
        arkwire_status st = arkwire_session_call_polling(s_.get(), cmd.c_str(), args.c_str(), &r);
        detail::finisher done(s_.get(), r);
        fail_unless(st, r);
        return std::string(r.msg, r.msg_len);
    }

    /// Fire-and-forget: the request id.
    std::string submit(const std::string &cmd, const std::string &args = "") {
        arkwire_result r;
        arkwire_status st = arkwire_session_submit(s_.get(), cmd.c_str(), args.c_str(), &r);
        detail::finisher done(s_.get(), r);
        fail_unless(st, r);
        return std::string(r.request_id, r.request_id_len);
    }

    /// A binary command (Arkouda's `send_binary_message`, or a string
    /// command when `payload` is empty) that expects a binary reply: the
    /// reply's bytes. An Arkouda ERROR (an `Error:` frame included) throws.
    std::vector<std::uint8_t> call_binary(const std::string &cmd, const std::string &args,
                                          const std::vector<std::uint8_t> &payload,
                                          std::int32_t size = -1, bool polling = false) {
        arkwire_result r;
        arkwire_status st =
            arkwire_session_command(s_.get(), cmd.c_str(), args.c_str(), size, payload.data(),
                                    payload.size(), true, polling, &r);
        detail::finisher done(s_.get(), r);
        fail_unless(st, r);
        return std::vector<std::uint8_t>(r.payload, r.payload + r.payload_len);
    }

    /// One status query.
    request_status status(const std::string &request_id) {
        arkwire_result r;
        arkwire_status st = arkwire_session_status(s_.get(), request_id.c_str(), &r);
        detail::finisher done(s_.get(), r);
        fail_unless(st, r);
        return {r.state, std::string(r.msg, r.msg_len), r.error_kind == ARKWIRE_ERROR_ARKOUDA};
    }

private:
    explicit session(arkwire_session *s) : s_(s) {}

    static void fail_unless(arkwire_status st, const arkwire_result &r) {
        if (st != ARKWIRE_OK) throw error(st, std::string(r.msg, r.msg_len), r.grpc_code, r.error_kind);
    }

    std::unique_ptr<arkwire_session, detail::session_free> s_;
};

/// What a server handler sees.
struct request {
    std::string_view user, token, cmd, args;
};

/// A handler's answer: Arkouda's reply text, or an Arkouda ERROR.
struct reply {
    std::string msg;
    bool is_error = false;
};

/// A server whose handler runs on its event-loop thread (one thread).
/// Exceptions thrown by the handler answer the call with gRPC INTERNAL.
class server {
public:
    using handler = std::function<reply(const request &)>;

    static server start(const std::string &listen_addr, handler h) {
        auto state = std::make_unique<handler>(std::move(h));
        arkwire_server *raw = nullptr;
        detail::check(arkwire_server_start(listen_addr.c_str(), &server::trampoline, state.get(),
                                           &raw),
                      listen_addr.c_str());
        return server(raw, std::move(state));
    }

    std::uint16_t port() const {
        std::uint16_t p = 0;
        detail::check(arkwire_server_port(s_.get(), &p));
        return p;
    }

private:
    server(arkwire_server *s, std::unique_ptr<handler> h) : h_(std::move(h)), s_(s) {}

    static std::string_view field(arkwire_status (*get)(const arkwire_request *, const char **,
                                                        size_t *),
                                  const arkwire_request *req) {
        const char *data = nullptr;
        std::size_t len = 0;
        detail::check(get(req, &data, &len));
        return std::string_view(data, len);
    }

    static arkwire_status trampoline(const arkwire_request *req, arkwire_reply_builder *builder,
                                     void *userdata) noexcept {
        try {
            auto &h = *static_cast<handler *>(userdata);
            request r{field(arkwire_request_user, req), field(arkwire_request_token, req),
                      field(arkwire_request_cmd, req), field(arkwire_request_args, req)};
            reply out = h(r);
            return arkwire_reply_builder_set_msg(builder, out.msg.data(), out.msg.size(),
                                                 out.is_error ? 1 : 0);
        } catch (...) {
            return ARKWIRE_INTERNAL;  // no exception crosses into the library
        }
    }

    // Declared first so it is destroyed last: the server stops before its handler goes.
    std::unique_ptr<handler> h_;
    std::unique_ptr<arkwire_server, detail::server_free> s_;
};

}  // namespace arkwire

#endif  // ARKWIRE_HPP
