// HTTP/1.1 transport of the judge server on Boost.Beast: keep-alive, a graceful shutdown
// that lets in-flight requests (running judgings included) get their replies, and limits
// on everything a client can make the server hold:
// - memory: the request line and header fields (431), the connection's read buffer, which
//   also bounds a chunk-size line with its extensions and the trailer fields (431; Beast's
//   header_limit does not cover those), chunk extensions per request (400), bodies (413),
//   and the bodies all connections hold together while they arrive (503);
// - the token is checked on the headers, before any body is read: an unauthenticated body
//   is never buffered, and bodies of routes that use none are dropped unread;
// - time: a deadline for a request's header, one for its body (408), an idle timeout;
// - descriptors: a soft connection cap below RLIMIT_NOFILE, so that judgings (files,
//   pipes) keep theirs. At the cap, or on EMFILE/ENFILE from accept, the connection idle
//   the longest (a keep-alive connection waiting for its next request) is closed to make
//   room, so that /ping and judgings still get in (judge_http_connections_shed_total
//   counts these); only when no connection is idle is a new one turned away (503 and
//   close at the cap) or accepting paused (at the fd limit) instead of a spinning loop.
// Refusals are answered in the service's JSON envelope {"err": ..., "data": "what was
// wrong"}, then the connection is closed after a bounded lingering read.
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
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "judge_server/judge_service.h"

namespace judge {

struct HttpServerOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 8090;  // 0 picks a free port
  // Bodies of routes that use them (POST /judge), read only once the token checked out.
  uint64_t body_limit = 8 << 20;
  // Bodies of every other route are read and dropped, up to this.
  uint64_t discard_body_limit = 64 << 10;
  // The request line and header fields together.
  uint32_t header_limit = 16 << 10;
  // A connection's read buffer: a chunk-size line with its extensions, and all trailer
  // fields together, must fit in it.
  size_t read_buffer_limit = 32 << 10;
  // All chunk extensions of one request together.
  size_t chunk_extensions_limit = 4 << 10;
  // Body bytes held by all connections together while they are received (the per-request
  // limit times the connection cap would be far more); past it: 503 with Retry-After.
  int64_t body_memory_limit = 128 << 20;
  // Open connections; at it a new one takes the place of the longest-idle one, or, with
  // none idle, gets a 503 and is closed at once.
  int max_connections = 1024;
  // Waiting for the next request on an open connection, and writing a reply.
  std::chrono::seconds idle_timeout{60};
  // From a request's first byte to the end of its header.
  std::chrono::seconds header_timeout{10};
  // From the end of the header to the end of the body.
  std::chrono::seconds body_timeout{30};
  // Pause before accepting again after accept failed for want of descriptors or memory.
  std::chrono::milliseconds accept_backoff{100};
};

// The default connection cap: RLIMIT_NOFILE minus headroom for the server's own
// descriptors (per thread: epoll, eventfd, timerfd, acceptor) and the judge slots' (per
// run: three pipes, test-case files, the compiler's files), never below half the limit,
// at most 4096 (each connection may hold up to read_buffer_limit + header_limit).
int DefaultMaxConnections(int slots, int threads);

// Runs `io` until it stops or runs out of work. A handler that throws is logged and the
// loop goes on: one request's failure must not end the server or other connections.
void RunIoContext(boost::asio::io_context& io);

class HttpServer {
 public:
  // REQUIRES: each context is run by exactly one thread (through RunIoContext).
  HttpServer(std::vector<boost::asio::io_context*> contexts, JudgeService& service,
             HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts accepting; returns the bound port.
  absl::StatusOr<uint16_t> Start();
  // Stops accepting; connections close after their current reply.
  void BeginShutdown();
  bool shutting_down() const { return shutting_down_.load(); }
  // Requests read whose reply is not yet written.
  int64_t in_flight() const { return in_flight_.load(); }
  // Connections open now.
  int connections() const { return shared_->connections.load(); }

 private:
  class Session;
  struct IdleSessions;
  struct Listener;
  void Accept(Listener& listener);
  void Admit(Listener& listener, boost::asio::ip::tcp::socket socket);
  // Closes the connection idle the longest: on `here`'s thread if it has one (kHere), else
  // on the thread with the most, posted there (kElsewhere; `then_here` is posted back to
  // `here` once it is done). kNone when no connection is idle. Runs on `here`'s thread.
  enum class Shed { kNone, kHere, kElsewhere };
  Shed ShedIdle(Listener& here, std::function<void()> then_here = nullptr);
  bool ShedOldest(IdleSessions& idle);  // on the thread that owns `idle`
  void WarnShedding(Listener& listener, std::string_view why);

  JudgeService& service_;
  const HttpServerOptions options_;
  const std::string busy_reply_;  // the canned 503 for connections past the cap
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<int64_t> in_flight_{0};
  // Counts shared with the sessions, which may outlive the server in a destroyed io_context.
  struct Shared {
    std::atomic<int> connections{0};
    std::atomic<int64_t> body_bytes{0};  // held by bodies being received
  };
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
};

}  // namespace judge

#endif  // JUDGE_SERVER_HTTP_SERVER_H_
