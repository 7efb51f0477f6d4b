#include "judge_server/http_server.h"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"

namespace judge {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class HttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer& server)
      : stream_(std::move(socket)), server_(server) {}

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(server_.options_.body_limit);
    stream_.expires_after(server_.options_.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
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
    const auto& req = parser_->get();
    keep_alive_ = req.keep_alive() && !server_.shutting_down();
    head_ = req.method() == http::verb::head;
    HttpRequestView view;
    view.method = req.method_string();
    view.target = req.target();
    if (auto it = req.find("X-Judge-Server-Token"); it != req.end()) view.token = it->value();
    view.body = std::move(parser_->get().body());
    // A judging answers from a slot thread: hop back onto this connection's strand.
    server_.service_.Handle(std::move(view), [self = shared_from_this()](HttpReply reply) {
      asio::post(self->stream_.get_executor(),
                 [self, reply = std::move(reply)]() mutable { self->Write(std::move(reply)); });
    });
  }

  void Write(HttpReply reply) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(static_cast<http::status>(reply.status));
    res->set(http::field::server, "judge_server");
    res->set(http::field::content_type, reply.content_type);
    if (reply.retry_after_seconds > 0) res->set(http::field::retry_after, std::to_string(reply.retry_after_seconds));
    if (!reply.allow.empty()) res->set(http::field::allow, reply.allow);
    if (server_.shutting_down()) keep_alive_ = false;
    res->keep_alive(keep_alive_);
    res->body() = std::move(reply.body);
    res->prepare_payload();
    if (head_) res->body().clear();  // Content-Length stays that of the GET
    stream_.expires_after(std::chrono::seconds(30));
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        --self->server_.in_flight_;
                        if (ec || !self->keep_alive_) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  HttpServer& server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = true;
  bool head_ = false;
};

HttpServer::HttpServer(asio::io_context& io, JudgeService& service, HttpServerOptions options)
    : io_(io), service_(service), options_(std::move(options)), acceptor_(asio::make_strand(io)) {}

absl::StatusOr<uint16_t> HttpServer::Start() {
  beast::error_code ec;
  auto address = asio::ip::make_address(options_.address, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("bad listen address ", options_.address));
  tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.address, ":",
                                               options_.port, ": ", ec.message(),
                                               " (is another server on that port? use --port)"));
  }
  Accept();
  return acceptor_.local_endpoint().port();
}

void HttpServer::Accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      std::make_shared<Session>(std::move(socket), *this)->Start();
    }
    Accept();
  });
}

void HttpServer::BeginShutdown() {
  shutting_down_ = true;
  asio::post(acceptor_.get_executor(), [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
  });
}

}  // namespace judge
