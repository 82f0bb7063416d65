// example.cpp: a C++ data-center server and an edge session in one process,
// plus (given PROXY_ADDR) calls to an Arkouda proxy such as `arkwire serve`.
//
//   example [PROXY_ADDR]
#include <cstdio>
#include <string>

#include "arkwire.hpp"

int main(int argc, char **argv) {
    try {
        auto dc = arkwire::server::start("127.0.0.1:0", [](const arkwire::request &r) {
            if (r.cmd == "retraining") {
                return arkwire::reply{"{\"retrain\": true, \"checkpoint\": \"/checkpoints/" +
                                      std::string(r.user) + "/epoch-" + std::string(r.args) +
                                      ".ckpt\"}"};
            }
            return arkwire::reply{"Unrecognized command: " + std::string(r.cmd), true};
        });
        auto edge = arkwire::session::connect("127.0.0.1:" + std::to_string(dc.port()), "edge-cpp");
        std::string got = edge.call("retraining", "3");
        std::printf("c++: retraining -> %s\n", got.c_str());
        if (got.find("/checkpoints/edge-cpp/epoch-3.ckpt") == std::string::npos) return 1;
        try {
            edge.call("reboot");
            return 1;
        } catch (const arkwire::error &e) {
            std::printf("c++: reboot -> %s\n", e.what());
            if (e.code() != ARKWIRE_ARKOUDA_ERROR || e.kind() != ARKWIRE_ERROR_ARKOUDA) return 1;
            if (e.grpc_code() != 0) return 1;
        }
        if (argc > 1) {
            auto proxy = arkwire::session::connect(argv[1], "edge-cpp");
            if (!proxy.alive(1000)) return 1;
            // The reconnect pattern, for a command that may run twice: a
            // CLOSED connection is replaced and the call sent again; any
            // other error is the answer.
            std::string ok;
            for (int attempt = 0;; attempt++) {
                try {
                    ok = proxy.call("ruok");
                    break;
                } catch (const arkwire::error &e) {
                    if (e.code() != ARKWIRE_CLOSED || attempt == 3) throw;
                    std::fprintf(stderr, "c++: %s; reconnecting\n", e.what());
                    proxy.reconnect();
                }
            }
            std::printf("c++: ruok -> %s\n", ok.c_str());
            if (ok != "imok") return 1;
            // A binary command: the built-in backend keeps no arrays and says so.
            try {
                proxy.call_binary("array<int64,1>", "{}", {0xff, 0x00, 0x80});
                return 1;
            } catch (const arkwire::error &e) {
                std::printf("c++: array<int64,1> -> %s\n", e.what());
                if (e.code() != ARKWIRE_ARKOUDA_ERROR) return 1;
                if (std::string(e.what()).find("stores no arrays") == std::string::npos) return 1;
            }
        }
    } catch (const arkwire::error &e) {
        std::fprintf(stderr, "c++: %s\n", e.what());
        return 1;
    }
    std::printf("c++: all checks passed\n");
    return 0;
}
