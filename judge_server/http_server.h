// HTTP/1.1 transport of the judge server on Boost.Beast: keep-alive, a request body
// limit, idle timeouts, and a graceful shutdown that lets in-flight requests (running
// judgings included) get their replies.
// Threading, as nginx does it: one single-threaded io_context per thread, each with
// its own SO_REUSEPORT acceptor, so that the kernel spreads connections and no lock is
// shared between threads on the request path.
#ifndef JUDGE_SERVER_HTTP_SERVER_H_
#define JUDGE_SERVER_HTTP_SERVER_H_

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "judge_server/judge_service.h"

namespace judge {

struct HttpServerOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 8090;  // 0 picks a free port
  uint64_t body_limit = 8 << 20;
  std::chrono::seconds idle_timeout{60};
};

class HttpServer {
 public:
  // REQUIRES: each context is run by exactly one thread.
  HttpServer(std::vector<boost::asio::io_context*> contexts, JudgeService& service,
             HttpServerOptions options);
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts accepting; returns the bound port.
  absl::StatusOr<uint16_t> Start();
  // Stops accepting; connections close after their current reply.
  void BeginShutdown();
  bool shutting_down() const { return shutting_down_.load(); }
  // Requests read whose reply is not yet written.
  int64_t in_flight() const { return in_flight_.load(); }

 private:
  class Session;
  void Accept(boost::asio::ip::tcp::acceptor& acceptor);

  JudgeService& service_;
  const HttpServerOptions options_;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<int64_t> in_flight_{0};
};

}  // namespace judge

#endif  // JUDGE_SERVER_HTTP_SERVER_H_
