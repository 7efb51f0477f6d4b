#include "tests/judge_server/fake_online_judge.h"

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <future>
#include <memory>

#include "absl/strings/ascii.h"
#include "judge_server/compare.h"

namespace judge::testing {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// One request per connection, as the judge server's heartbeat sends it.
struct Exchange : std::enable_shared_from_this<Exchange> {
  explicit Exchange(tcp::socket s) : stream(std::move(s)) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  http::request<http::string_body> req;
  http::response<http::string_body> res;
};

}  // namespace

FakeOnlineJudge::FakeOnlineJudge(std::string token) : token_sha256_(Sha256Hex(token)) {
  Listen();
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(io_);
    io_.run();
  });
}

FakeOnlineJudge::~FakeOnlineJudge() {
  asio::post(io_, [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
  io_.stop();
  thread_.join();
}

std::string FakeOnlineJudge::url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + kPath;
}

void FakeOnlineJudge::Listen() {
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port_));
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen();
  port_ = acceptor_.local_endpoint().port();
  Accept();
}

void FakeOnlineJudge::Pause() {
  std::promise<void> done;
  asio::post(io_, [this, &done] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    done.set_value();
  });
  done.get_future().wait();
}

void FakeOnlineJudge::Resume() {
  std::promise<void> done;
  asio::post(io_, [this, &done] {
    acceptor_ = tcp::acceptor(io_);
    Listen();  // the same port again
    done.set_value();
  });
  done.get_future().wait();
}

void FakeOnlineJudge::Accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec) return;  // closed
    auto x = std::make_shared<Exchange>(std::move(socket));
    x->stream.expires_after(std::chrono::seconds(10));
    http::async_read(x->stream, x->buffer, x->req, [this, x](boost::system::error_code ec, size_t) {
      if (ec) return;
      RecordedHeartbeat h;
      h.target = std::string(x->req.target());
      for (const auto& f : x->req) {
        h.headers[absl::AsciiStrToLower(std::string(f.name_string()))] = std::string(f.value());
      }
      h.body = x->req.body();
      boost::system::error_code parse_error;
      auto v = boost::json::parse(h.body, parse_error);
      if (!parse_error && v.is_object()) h.json = v.as_object();
      const bool token_ok = h.headers["x-judge-server-token"] == token_sha256_;
      {
        std::lock_guard lock(mu_);
        heartbeats_.push_back(std::move(h));
      }
      x->res.version(11);
      x->res.result(http::status::ok);
      x->res.set(http::field::content_type, "application/json;charset=UTF-8");
      x->res.keep_alive(false);
      x->res.body() = token_ok ? R"({"error": null, "data": null})"
                               : R"({"error": "error", "data": "Invalid token"})";
      x->res.prepare_payload();
      http::async_write(x->stream, x->res, [x](boost::system::error_code, size_t) {
        boost::system::error_code ignored;
        x->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      });
    });
    Accept();
  });
}

std::vector<RecordedHeartbeat> FakeOnlineJudge::heartbeats() const {
  std::lock_guard lock(mu_);
  return heartbeats_;
}

bool FakeOnlineJudge::WaitFor(size_t n, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (heartbeats().size() >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return heartbeats().size() >= n;
}

}  // namespace judge::testing
