#include "judge_server/http_server.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"

namespace judge {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class HttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer& server)
      : stream_(std::move(socket)), server_(server), idle_timer_(stream_.get_executor()) {}

  void Start() {
    WatchIdle();
    Read();
  }

 private:
  // One timer per connection that checks for inactivity, instead of arming a timer for
  // every read and write (which costs a timer-queue update per request).
  void WatchIdle() {
    idle_timer_.expires_after(server_.options_.idle_timeout / 2);
    idle_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || !self->stream_.is_open()) return;
      if (!self->busy_ && std::chrono::steady_clock::now() - self->last_activity_ >
                              self->server_.options_.idle_timeout) {
        return self->Close();
      }
      self->WatchIdle();
    });
  }

  void Read() {
    busy_ = false;
    last_activity_ = std::chrono::steady_clock::now();
    parser_.emplace();
    parser_->body_limit(server_.options_.body_limit);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      ++server_.in_flight_;
      keep_alive_ = false;
      HttpReply r;
      r.status = 413;
      r.body = absl::StrCat(R"({"err":"JudgeClientError","data":"request body exceeds )",
                            server_.options_.body_limit, R"( bytes"})");
      return Write(std::move(r));
    }
    if (ec) return Close();  // end of stream, timeout, reset, garbage
    ++server_.in_flight_;
    busy_ = true;  // a judging may take long: not idle
    const auto& req = parser_->get();
    keep_alive_ = req.keep_alive() && !server_.shutting_down();
    head_ = req.method() == http::verb::head;
    HttpRequestView view;
    view.method = req.method_string();
    view.target = req.target();
    if (auto it = req.find("X-Judge-Server-Token"); it != req.end()) view.token = it->value();
    view.body = std::move(parser_->get().body());
    // Most routes answer inside Handle, on this connection's thread: write at once. A
    // judging answers later from a slot thread: hop back onto this connection's context.
    const std::thread::id handler_thread = std::this_thread::get_id();
    std::optional<HttpReply> immediate;
    bool returned = false;  // read only on handler_thread
    server_.service_.Handle(std::move(view), [self = shared_from_this(), handler_thread, &immediate,
                                              &returned](HttpReply reply) {
      if (std::this_thread::get_id() == handler_thread && !returned) {
        immediate = std::move(reply);
        return;
      }
      asio::post(self->stream_.get_executor(),
                 [self, reply = std::move(reply)]() mutable { self->Write(std::move(reply)); });
    });
    returned = true;
    if (immediate) Write(*std::move(immediate));
  }

  void Write(HttpReply reply) {
    // Writing counts as activity from now: a reader that stalls the write past the idle
    // timeout is dropped.
    busy_ = false;
    last_activity_ = std::chrono::steady_clock::now();
    res_.emplace();
    http::response<http::string_body>* res = &*res_;
    res->version(11);
    res->result(static_cast<http::status>(reply.status));
    res->set(http::field::server, "judge_server");
    res->set(http::field::content_type, reply.content_type);
    if (reply.retry_after_seconds > 0)
      res->set(http::field::retry_after, std::to_string(reply.retry_after_seconds));
    if (!reply.allow.empty()) res->set(http::field::allow, reply.allow);
    if (server_.shutting_down()) keep_alive_ = false;
    res->keep_alive(keep_alive_);
    res->body() = std::move(reply.body);
    res->prepare_payload();
    if (head_) res->body().clear();  // Content-Length stays that of the GET
    http::async_write(stream_, *res, [self = shared_from_this()](beast::error_code ec, size_t) {
      --self->server_.in_flight_;
      if (ec || !self->keep_alive_) return self->Close();
      self->Read();
    });
  }

  void Close() {
    beast::error_code ignored;
    stream_.shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close(ignored);
    idle_timer_.cancel();
  }

  tcp::socket stream_;
  HttpServer& server_;
  asio::steady_timer idle_timer_;
  std::chrono::steady_clock::time_point last_activity_;
  bool busy_ = false;  // a request is being handled (a judging may take long)
  std::optional<http::response<http::string_body>> res_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = true;
  bool head_ = false;
};

HttpServer::HttpServer(std::vector<asio::io_context*> contexts, JudgeService& service,
                       HttpServerOptions options)
    : service_(service), options_(std::move(options)) {
  for (asio::io_context* io : contexts) {
    acceptors_.push_back(std::make_unique<tcp::acceptor>(*io));
  }
}

absl::StatusOr<uint16_t> HttpServer::Start() {
  beast::error_code ec;
  auto address = asio::ip::make_address(options_.address, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("bad listen address ", options_.address));
  tcp::endpoint endpoint(address, options_.port);
  for (auto& acceptor : acceptors_) {
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) {
      int on = 1;
      if (setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) {
        ec.assign(errno, boost::system::system_category());
      }
    }
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.address, ":",
                                                 options_.port, ": ", ec.message(),
                                                 " (is another server on that port? use --port)"));
    }
    endpoint.port(acceptor->local_endpoint().port());  // port 0: the others join the first
  }
  for (auto& acceptor : acceptors_) Accept(*acceptor);
  return endpoint.port();
}

void HttpServer::Accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([this, &acceptor](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      std::make_shared<Session>(std::move(socket), *this)->Start();
    }
    Accept(acceptor);
  });
}

void HttpServer::BeginShutdown() {
  shutting_down_ = true;
  for (auto& acceptor : acceptors_) {
    asio::post(acceptor->get_executor(), [a = acceptor.get()] {
      beast::error_code ignored;
      a->close(ignored);
    });
  }
}

}  // namespace judge
