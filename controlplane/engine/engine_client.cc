#include "controlplane/engine/engine_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace musketeer::engine {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;

namespace {
constexpr uint64_t kMaxResponseBytes = 256ull << 20;

bool IsStaleConnectionError(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}
}  // namespace

absl::StatusOr<Endpoint> Endpoint::Parse(const std::string& url) {
  Endpoint e;
  if (url.rfind("unix://", 0) == 0) {
    e.kind = Kind::kUnix;
    e.path = url.substr(7);
    if (e.path.empty() || e.path[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat("endpoint '", url, "': unix:// needs an absolute socket path, e.g. unix:///var/run/docker.sock"));
    }
    return e;
  }
  if (url.rfind("tcp://", 0) == 0) {
    std::string rest = url.substr(6);
    auto colon = rest.rfind(':');
    int port = 0;
    if (colon == std::string::npos || colon == 0 || !absl::SimpleAtoi(rest.substr(colon + 1), &port) ||
        port <= 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("endpoint '", url, "': expected tcp://HOST:PORT, e.g. tcp://10.213.0.2:2376"));
    }
    e.kind = Kind::kTcp;
    e.host = rest.substr(0, colon);
    e.port = static_cast<uint16_t>(port);
    return e;
  }
  return absl::InvalidArgumentError(absl::StrCat("endpoint '", url, "': use unix:///path or tcp://host:port"));
}

std::string Endpoint::ToString() const {
  return kind == Kind::kUnix ? "unix://" + path : absl::StrCat("tcp://", host, ":", port);
}

absl::Status StatusFromHttp(int status, const std::string& body, const std::string& what) {
  if (status >= 200 && status < 300) return absl::OkStatus();
  std::string message = body;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    if (const json::value* m = v.as_object().if_contains("message"); m && m->is_string()) {
      message = std::string(m->as_string());
    }
  }
  if (message.size() > 1024) message.resize(1024);
  message = absl::StrCat(what, ": ", message, " (HTTP ", status, ")");
  switch (status) {
    case 400: return absl::InvalidArgumentError(message);
    case 401:
    case 403: return absl::PermissionDeniedError(message);
    case 404: return absl::NotFoundError(message);
    case 409: return absl::AlreadyExistsError(message);
    case 406:  // e.g. "node is not part of a swarm"
    case 412: return absl::FailedPreconditionError(message);
    case 503: return absl::UnavailableError(message);
    default: return status >= 500 ? absl::InternalError(message) : absl::UnknownError(message);
  }
}

bool VersionLess(const std::string& a, const std::string& b) {
  std::vector<std::string> x = absl::StrSplit(a, '.'), y = absl::StrSplit(b, '.');
  for (size_t i = 0; i < std::max(x.size(), y.size()); ++i) {
    int xi = 0, yi = 0;
    if (i < x.size()) (void)absl::SimpleAtoi(x[i], &xi);
    if (i < y.size()) (void)absl::SimpleAtoi(y[i], &yi);
    if (xi != yi) return xi < yi;
  }
  return false;
}

// One socket and the io_context that drives it; every operation runs with a deadline
// by running the context for at most that long.
class EngineClient::Connection {
 public:
  explicit Connection(const Endpoint& endpoint) : endpoint_(endpoint) {}

  absl::Status Connect(std::chrono::milliseconds deadline) {
    beast::error_code result = asio::error::would_block;
    if (endpoint_.kind == Endpoint::Kind::kUnix) {
      unix_.emplace(io_);
      unix_->async_connect(unix_socket::endpoint(endpoint_.path),
                           [&](beast::error_code ec) { result = ec; });
    } else {
      tcp_.emplace(io_);
      beast::error_code ec;
      auto address = asio::ip::make_address(endpoint_.host, ec);
      if (ec) return absl::InvalidArgumentError(absl::StrCat("engine host '", endpoint_.host, "' is not an IP address"));
      tcp_->async_connect(tcp::endpoint(address, endpoint_.port), [&](beast::error_code e) { result = e; });
    }
    if (!RunFor(deadline)) {
      return absl::DeadlineExceededError(absl::StrCat("connecting to the engine at ", endpoint_.ToString(), " timed out; is dockerd running and reachable?"));
    }
    if (result) {
      return absl::UnavailableError(absl::StrCat("cannot connect to the engine at ", endpoint_.ToString(), ": ", result.message(), "; is dockerd running there?"));
    }
    return absl::OkStatus();
  }

  // One request and its response. `stale` is set when the failure looks like a
  // connection the daemon had already closed (worth one retry on a fresh one).
  absl::StatusOr<HttpResult> Exchange(http::request<http::string_body>& req,
                                      std::chrono::milliseconds deadline, bool* stale) {
    *stale = false;
    return endpoint_.kind == Endpoint::Kind::kUnix ? ExchangeOn(*unix_, req, deadline, stale)
                                                   : ExchangeOn(*tcp_, req, deadline, stale);
  }

 private:
  // Runs the context until the work is done or the deadline passes (then cancels).
  bool RunFor(std::chrono::milliseconds deadline) {
    io_.restart();
    io_.run_for(deadline);
    if (!io_.stopped()) {
      Close();
      io_.restart();
      io_.run();  // let the cancelled handlers finish
      return false;
    }
    return true;
  }

  void Close() {
    beast::error_code ignored;
    if (unix_) unix_->close(ignored);
    if (tcp_) tcp_->close(ignored);
  }

  template <class Socket>
  absl::StatusOr<HttpResult> ExchangeOn(Socket& socket, http::request<http::string_body>& req,
                                        std::chrono::milliseconds deadline, bool* stale) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBytes);
    beast::error_code result = asio::error::would_block;
    size_t read_bytes = 0;
    http::async_write(socket, req, [&](beast::error_code ec, size_t) {
      if (ec) {
        result = ec;
        return;
      }
      http::async_read(socket, buffer_, parser, [&](beast::error_code e, size_t n) {
        result = e;
        read_bytes = n;
      });
    });
    if (!RunFor(deadline)) {
      return absl::DeadlineExceededError(absl::StrCat(std::string(req.method_string()), " ", std::string(req.target()), " on ", endpoint_.ToString(), ": no answer within ", deadline.count(), " ms"));
    }
    if (result) {
      *stale = read_bytes == 0 && IsStaleConnectionError(result);
      Close();
      return absl::UnavailableError(absl::StrCat(std::string(req.method_string()), " ", std::string(req.target()), " on ", endpoint_.ToString(), ": ", result.message()));
    }
    HttpResult out;
    out.status = parser.get().result_int();
    out.body = std::move(parser.get().body());
    if (!parser.get().keep_alive()) Close();
    return out;
  }

  const Endpoint endpoint_;
  asio::io_context io_{1};
  std::optional<unix_socket::socket> unix_;
  std::optional<tcp::socket> tcp_;
  beast::flat_buffer buffer_;

 public:
  bool is_open() const { return (unix_ && unix_->is_open()) || (tcp_ && tcp_->is_open()); }
};

EngineClient::EngineClient(Endpoint endpoint, std::chrono::milliseconds default_deadline)
    : endpoint_(std::move(endpoint)), default_deadline_(default_deadline) {}

EngineClient::~EngineClient() = default;

absl::StatusOr<HttpResult> EngineClient::Raw(const std::string& method, const std::string& target,
                                             const std::string& body,
                                             std::chrono::milliseconds deadline) {
  std::lock_guard lock(mu_);
  return RawLocked(method, target, body, deadline.count() ? deadline : default_deadline_);
}

absl::StatusOr<HttpResult> EngineClient::RawLocked(const std::string& method,
                                                   const std::string& target,
                                                   const std::string& body,
                                                   std::chrono::milliseconds deadline) {
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  if (req.method() == http::verb::unknown) {
    return absl::InvalidArgumentError(absl::StrCat("unknown HTTP method '", method, "'"));
  }
  req.set(http::field::host, endpoint_.kind == Endpoint::Kind::kUnix ? "docker" : endpoint_.host);
  req.set(http::field::user_agent, "musketeerd");
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  req.keep_alive(true);
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool fresh = connection_ == nullptr || !connection_->is_open();
    if (fresh) {
      connection_ = std::make_unique<Connection>(endpoint_);
      if (absl::Status s = connection_->Connect(deadline); !s.ok()) {
        connection_.reset();
        return s;
      }
    }
    bool stale = false;
    auto result = connection_->Exchange(req, deadline, &stale);
    // Retry only what is safe to repeat: a POST the daemon may have seen is not.
    const bool idempotent = req.method() == http::verb::get || req.method() == http::verb::head;
    if (result.ok() || fresh || !stale || !idempotent) return result;
    connection_.reset();  // the daemon closed the idle connection: once more, fresh
  }
  return absl::UnavailableError("unreachable");
}

absl::StatusOr<std::string> EngineClient::ApiVersionLocked() {
  if (!api_version_.empty()) return api_version_;
  auto r = RawLocked("GET", "/version", "", default_deadline_);
  if (!r.ok()) return r.status();
  if (absl::Status s = StatusFromHttp(r->status, r->body, "GET /version"); !s.ok()) return s;
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  const json::value* version = (!ec && v.is_object()) ? v.as_object().if_contains("ApiVersion") : nullptr;
  if (version == nullptr || !version->is_string()) {
    return absl::FailedPreconditionError(absl::StrCat("the engine at ", endpoint_.ToString(), " answered /version without ApiVersion; is it a Docker Engine?"));
  }
  std::string theirs(version->as_string());
  api_version_ = VersionLess(theirs, kMaxApiVersion) ? theirs : kMaxApiVersion;
  return api_version_;
}

absl::Status EngineClient::Ping() {
  auto r = Raw("GET", "/_ping", "", {});
  if (!r.ok()) return r.status();
  return StatusFromHttp(r->status, r->body, "GET /_ping on " + endpoint_.ToString());
}

absl::StatusOr<std::string> EngineClient::ApiVersion() {
  std::lock_guard lock(mu_);
  return ApiVersionLocked();
}

absl::StatusOr<json::value> EngineClient::Call(const std::string& method, const std::string& path,
                                               const json::value* body,
                                               std::chrono::milliseconds deadline) {
  std::lock_guard lock(mu_);
  auto version = ApiVersionLocked();
  if (!version.ok()) return version.status();
  const std::string what = absl::StrCat(method, " ", path, " on ", endpoint_.ToString());
  auto r = RawLocked(method, absl::StrCat("/v", *version, path), body ? json::serialize(*body) : "",
                     deadline.count() ? deadline : default_deadline_);
  if (!r.ok()) return r.status();
  if (absl::Status s = StatusFromHttp(r->status, r->body, what); !s.ok()) return s;
  if (r->body.empty()) return json::value(nullptr);
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  if (ec) return absl::InternalError(absl::StrCat(what, ": the engine answered with invalid JSON"));
  return v;
}

}  // namespace musketeer::engine
