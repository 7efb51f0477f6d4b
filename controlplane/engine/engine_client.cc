#include "controlplane/engine/engine_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
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
      return absl::InvalidArgumentError(absl::StrCat(
          "endpoint '", url,
          "': unix:// needs an absolute socket path, e.g. unix:///var/run/docker.sock"));
    }
    return e;
  }
  if (url.rfind("tcp://", 0) == 0) {
    std::string rest = url.substr(6);
    auto colon = rest.rfind(':');
    int port = 0;
    if (colon == std::string::npos || colon == 0 ||
        !absl::SimpleAtoi(rest.substr(colon + 1), &port) || port <= 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat(
          "endpoint '", url, "': expected tcp://HOST:PORT, e.g. tcp://10.213.0.2:2376"));
    }
    e.kind = Kind::kTcp;
    e.host = rest.substr(0, colon);
    e.port = static_cast<uint16_t>(port);
    return e;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("endpoint '", url, "': use unix:///path or tcp://host:port"));
}

std::string Endpoint::ToString() const {
  return kind == Kind::kUnix ? "unix://" + path : absl::StrCat("tcp://", host, ":", port);
}

absl::Status StatusFromHttp(int status, const std::string& body, const std::string& what) {
  // 304: the Engine's "nothing to do" (starting a running container) is a success too.
  if ((status >= 200 && status < 300) || status == 304) return absl::OkStatus();
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
    case 400:
      return absl::InvalidArgumentError(message);
    case 401:
    case 403:
      return absl::PermissionDeniedError(message);
    case 404:
      return absl::NotFoundError(message);
    case 409:
      return absl::AlreadyExistsError(message);
    case 406:  // e.g. "node is not part of a swarm"
    case 412:
      return absl::FailedPreconditionError(message);
    case 503:
      return absl::UnavailableError(message);
    default:
      return status >= 500 ? absl::InternalError(message) : absl::UnknownError(message);
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

// One socket (unix, TCP or TLS over TCP) and the io_context that drives it; every
// operation runs with a deadline by running the context for at most that long.
class EngineClient::Connection {
 public:
  using SslStream = asio::ssl::stream<tcp::socket>;

  explicit Connection(const Endpoint& endpoint) : endpoint_(endpoint) {}

  absl::Status Connect(std::chrono::milliseconds deadline) {
    const std::string where = endpoint_.ToString();
    auto with_hint = [&](absl::Status s) {
      if (s.ok()) return s;
      return absl::Status(s.code(), absl::StrCat(s.message(), "; is dockerd running there?"));
    };
    if (endpoint_.kind == Endpoint::Kind::kUnix) {
      unix_.emplace(io_);
      return with_hint(
          Op([&](auto done) { unix_->async_connect(unix_socket::endpoint(endpoint_.path), done); },
             deadline, absl::StrCat("connecting to the engine at ", where)));
    }
    beast::error_code ec;
    auto address = asio::ip::make_address(endpoint_.host, ec);
    if (ec)
      return absl::InvalidArgumentError(
          absl::StrCat("engine host '", endpoint_.host, "' is not an IP address"));
    tcp::socket* socket;
    if (endpoint_.tls) {
      if (absl::Status s = MakeSslContext(); !s.ok()) return s;
      ssl_.emplace(io_, *ssl_context_);
      ssl_->set_verify_callback(asio::ssl::host_name_verification(endpoint_.host));
      socket = &ssl_->next_layer();
    } else {
      tcp_.emplace(io_);
      socket = &*tcp_;
    }
    if (absl::Status s = Op(
            [&](auto done) { socket->async_connect(tcp::endpoint(address, endpoint_.port), done); },
            deadline, absl::StrCat("connecting to the engine at ", where));
        !s.ok()) {
      return with_hint(s);
    }
    socket->set_option(tcp::no_delay(true));
    if (!ssl_) return absl::OkStatus();
    absl::Status s =
        Op([&](auto done) { ssl_->async_handshake(asio::ssl::stream_base::client, done); },
           deadline, absl::StrCat("TLS handshake with ", where));
    if (!s.ok()) {
      return absl::UnavailableError(absl::StrCat(
          s.message(), "; the engine's certificate must be signed by ", endpoint_.tls->ca,
          " and name ", endpoint_.host, ", and it must accept ours (regenerate-certs fixes both)"));
    }
    return s;
  }

  // One request and its response. `stale` is set when the failure looks like a
  // connection the daemon had already closed (worth one retry on a fresh one).
  absl::StatusOr<HttpResult> Exchange(http::request<http::string_body>& req,
                                      std::chrono::milliseconds deadline, bool* stale) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBytes);
    const std::string what = Describe(req.method_string(), req.target());
    absl::Status s = Op(
        [&](auto done) { WithStream([&](auto& stream) { http::async_write(stream, req, done); }); },
        deadline, what);
    if (s.ok()) {
      s = Op(
          [&](auto done) {
            WithStream([&](auto& stream) { http::async_read(stream, buffer_, parser, done); });
          },
          deadline, what);
    }
    *stale = !s.ok() && last_bytes_ == 0 && IsStaleConnectionError(last_error_);
    if (!s.ok()) return s;
    HttpResult out;
    out.status = parser.get().result_int();
    out.body = std::move(parser.get().body());
    if (!parser.get().keep_alive()) Close();
    return out;
  }

  // The streaming half: headers (chunked when there is an upload), the upload, then the
  // response header. The body is then read with ReadSome.
  absl::StatusOr<int> StartStream(http::request<http::empty_body>& req, const BodySource* upload,
                                  std::chrono::milliseconds idle) {
    const std::string what = Describe(req.method_string(), req.target());
    http::request_serializer<http::empty_body> header(req);
    if (auto s = Op(
            [&](auto done) {
              WithStream([&](auto& st) { http::async_write_header(st, header, done); });
            },
            idle, what);
        !s.ok()) {
      return s;
    }
    if (upload != nullptr) {
      std::vector<char> chunk(kStreamChunk);
      for (;;) {
        auto n = (*upload)(chunk.data(), chunk.size());
        if (!n.ok()) return n.status();
        if (*n == 0) break;
        auto piece = http::make_chunk(asio::buffer(chunk.data(), *n));
        if (auto s = Op(
                [&](auto done) {
                  WithStream([&](auto& st) { asio::async_write(st, piece, done); });
                },
                idle, what);
            !s.ok()) {
          return s;
        }
      }
      auto last = http::make_chunk_last();
      if (auto s = Op(
              [&](auto done) { WithStream([&](auto& st) { asio::async_write(st, last, done); }); },
              idle, what);
          !s.ok()) {
        return s;
      }
    }
    stream_parser_.emplace();
    stream_parser_->body_limit(boost::none);
    if (auto s = Op(
            [&](auto done) {
              WithStream(
                  [&](auto& st) { http::async_read_header(st, buffer_, *stream_parser_, done); });
            },
            idle, what);
        !s.ok()) {
      return s;
    }
    what_ = what;
    return stream_parser_->get().result_int();
  }

  absl::StatusOr<size_t> ReadSome(char* buf, size_t cap, std::chrono::milliseconds idle,
                                  const std::function<bool()>* cancelled) {
    // A read may consume only framing (chunk headers): go on until bytes or the end.
    while (!stream_parser_->is_done()) {
      auto& body = stream_parser_->get().body();
      body.data = buf;
      body.size = cap;
      absl::Status s = Op(
          [&](auto done) {
            WithStream(
                [&](auto& st) { http::async_read_some(st, buffer_, *stream_parser_, done); });
          },
          idle, what_, cancelled);
      if (!s.ok()) return s;
      if (size_t n = cap - stream_parser_->get().body().size; n > 0) return n;
    }
    return 0;
  }

  bool is_open() const {
    return (unix_ && unix_->is_open()) || (tcp_ && tcp_->is_open()) ||
           (ssl_ && ssl_->next_layer().is_open());
  }

 private:
  static constexpr size_t kStreamChunk = 64 * 1024;

  std::string Describe(beast::string_view method, beast::string_view target) const {
    return absl::StrCat(std::string(method), " ", std::string(target), " on ",
                        endpoint_.ToString());
  }

  absl::Status MakeSslContext() {
    ssl_context_.emplace(asio::ssl::context::tls_client);
    ssl_context_->set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    ssl_context_->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    beast::error_code ec;
    ssl_context_->load_verify_file(endpoint_.tls->ca, ec);
    if (ec)
      return absl::FailedPreconditionError(
          absl::StrCat("cannot load the CA ", endpoint_.tls->ca, ": ", ec.message()));
    ssl_context_->use_certificate_chain_file(endpoint_.tls->cert, ec);
    if (ec)
      return absl::FailedPreconditionError(absl::StrCat("cannot load the client certificate ",
                                                        endpoint_.tls->cert, ": ", ec.message()));
    // The key's path goes into the message, never its contents.
    ssl_context_->use_private_key_file(endpoint_.tls->key, asio::ssl::context::pem, ec);
    if (ec)
      return absl::FailedPreconditionError(
          absl::StrCat("cannot load the client key ", endpoint_.tls->key, ": ", ec.message()));
    return absl::OkStatus();
  }

  template <class F>
  void WithStream(F&& f) {
    if (unix_) return f(*unix_);
    if (ssl_) return f(*ssl_);
    f(*tcp_);
  }

  // Starts one async operation through `start(handler)` and runs it to completion or the
  // deadline; with `cancelled`, that is asked twice a second and ends the wait when true.
  // Failures close the connection (its state is unknown afterwards).
  template <class Start>
  absl::Status Op(Start start, std::chrono::milliseconds deadline, const std::string& what,
                  const std::function<bool()>* cancelled = nullptr) {
    struct Done {
      Connection* c;
      void operator()(beast::error_code ec) const { c->last_error_ = ec; }
      void operator()(beast::error_code ec, size_t n) const {
        c->last_error_ = ec;
        c->last_bytes_ = n;
      }
      void operator()(beast::error_code ec, const tcp::endpoint&) const { c->last_error_ = ec; }
    };
    last_error_ = asio::error::would_block;
    last_bytes_ = 0;
    start(Done{this});
    io_.restart();
    const auto until = std::chrono::steady_clock::now() + deadline;
    bool gave_up = false;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      io_.run_for(cancelled != nullptr
                      ? std::min<std::chrono::milliseconds>(left, std::chrono::milliseconds(500))
                      : left);
      if (io_.stopped()) break;
      if (cancelled != nullptr && (*cancelled)()) {
        gave_up = true;
        break;
      }
    }
    if (!io_.stopped()) {
      Close();
      io_.restart();
      io_.run();  // let the cancelled handlers finish
      if (gave_up) return absl::CancelledError(absl::StrCat(what, ": the caller went away"));
      return absl::DeadlineExceededError(
          absl::StrCat(what, ": no answer within ", deadline.count(), " ms"));
    }
    if (last_error_ && last_error_ != http::error::need_buffer) {
      const std::string reason = last_error_.message();
      Close();
      return absl::UnavailableError(absl::StrCat(what, ": ", reason));
    }
    return absl::OkStatus();
  }

  void Close() {
    beast::error_code ignored;
    if (unix_) unix_->close(ignored);
    if (tcp_) tcp_->close(ignored);
    if (ssl_) ssl_->next_layer().close(ignored);
  }

  const Endpoint endpoint_;
  asio::io_context io_{1};
  std::optional<asio::ssl::context> ssl_context_;
  std::optional<unix_socket::socket> unix_;
  std::optional<tcp::socket> tcp_;
  std::optional<SslStream> ssl_;
  beast::flat_buffer buffer_;
  beast::error_code last_error_;
  size_t last_bytes_ = 0;
  std::optional<http::response_parser<http::buffer_body>> stream_parser_;
  std::string what_;
};

namespace {
class HttpResponseStream : public ResponseStream {
 public:
  HttpResponseStream(std::unique_ptr<EngineClient::Connection>&& c, std::chrono::milliseconds idle)
      : connection_(std::move(c)), idle_(idle) {}
  absl::StatusOr<size_t> Read(char* buf, size_t cap) override {
    return connection_->ReadSome(buf, cap, idle_, cancelled() ? &cancelled() : nullptr);
  }

 private:
  std::unique_ptr<EngineClient::Connection> connection_;
  std::chrono::milliseconds idle_;
};
}  // namespace

absl::StatusOr<std::optional<std::string>> ResponseStream::ReadLine() {
  for (;;) {
    if (auto nl = pending_.find('\n'); nl != std::string::npos) {
      std::string line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      return std::optional<std::string>(std::move(line));
    }
    if (eof_) {
      if (pending_.empty()) return std::optional<std::string>();
      return std::optional<std::string>(std::exchange(pending_, {}));
    }
    char buf[16 * 1024];
    auto n = Read(buf, sizeof buf);
    if (!n.ok()) return n.status();
    if (*n == 0) eof_ = true;
    pending_.append(buf, *n);
  }
}

void LogDemuxer::Feed(std::string_view bytes) {
  buffer_.append(bytes);
  size_t pos = 0;
  while (buffer_.size() - pos >= 8) {
    const auto* h = reinterpret_cast<const unsigned char*>(buffer_.data() + pos);
    const uint32_t size =
        (uint32_t{h[4]} << 24) | (uint32_t{h[5]} << 16) | (uint32_t{h[6]} << 8) | h[7];
    if (buffer_.size() - pos - 8 < size) break;
    emit_(h[0], std::string_view(buffer_).substr(pos + 8, size));
    pos += 8 + size;
  }
  buffer_.erase(0, pos);
}

EngineClient::EngineClient(Endpoint endpoint, std::chrono::milliseconds default_deadline,
                           CallObserver observer)
    : endpoint_(std::move(endpoint)),
      default_deadline_(default_deadline),
      observer_(std::move(observer)) {}

void EngineClient::Observe(const absl::Status& transport, int http_status,
                           std::chrono::steady_clock::time_point start) const {
  if (!observer_) return;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  observer_(!transport.ok() ? "unreachable" : http_status >= 400 ? "error" : "ok", seconds);
}

EngineClient::~EngineClient() = default;

std::unique_ptr<EngineClient::Connection> EngineClient::TakeIdle() {
  std::lock_guard lock(mu_);
  if (idle_.empty()) return nullptr;
  auto c = std::move(idle_.back());
  idle_.pop_back();
  return c;
}

void EngineClient::ReturnIdle(std::unique_ptr<Connection> c) {
  if (!c->is_open()) return;
  std::lock_guard lock(mu_);
  if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(c));
}

absl::StatusOr<HttpResult> EngineClient::Raw(const std::string& method, const std::string& target,
                                             const std::string& body,
                                             std::chrono::milliseconds deadline) {
  const auto start = std::chrono::steady_clock::now();
  auto r = RawUnobserved(method, target, body, deadline);
  Observe(r.status(), r.ok() ? r->status : 0, start);
  return r;
}

absl::StatusOr<HttpResult> EngineClient::RawUnobserved(const std::string& method,
                                                       const std::string& target,
                                                       const std::string& body,
                                                       std::chrono::milliseconds deadline) {
  if (deadline.count() == 0) deadline = default_deadline_;
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
  // Each call has a connection to itself (an idle one when there is one), so a slow call
  // never holds up the others.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<Connection> connection = attempt == 0 ? TakeIdle() : nullptr;
    const bool fresh = connection == nullptr;
    if (fresh) {
      connection = std::make_unique<Connection>(endpoint_);
      if (absl::Status s = connection->Connect(deadline); !s.ok()) return s;
    }
    bool stale = false;
    auto result = connection->Exchange(req, deadline, &stale);
    if (result.ok()) {
      ReturnIdle(std::move(connection));
      return result;
    }
    // Retry only what is safe to repeat: a POST the daemon may have seen is not.
    const bool idempotent = req.method() == http::verb::get || req.method() == http::verb::head;
    if (fresh || !stale || !idempotent) return result;
    // The daemon closed the idle connection: once more, fresh.
  }
  return absl::UnavailableError("unreachable");
}

absl::StatusOr<std::unique_ptr<ResponseStream>> EngineClient::OpenStream(
    const std::string& method, const std::string& path, const BodySource* upload,
    const std::string& content_type, std::chrono::milliseconds idle) {
  auto v = ApiVersion();
  if (!v.ok()) return v.status();
  const std::string version = *v;
  http::request<http::empty_body> req(http::string_to_verb(method),
                                      absl::StrCat("/v", version, path), 11);
  req.set(http::field::host, endpoint_.kind == Endpoint::Kind::kUnix ? "docker" : endpoint_.host);
  req.set(http::field::user_agent, "musketeerd");
  if (upload != nullptr) {
    req.set(http::field::content_type, content_type);
    req.chunked(true);
  }
  req.keep_alive(false);
  const auto start = std::chrono::steady_clock::now();
  auto connection = std::make_unique<Connection>(endpoint_);
  if (absl::Status s = connection->Connect(idle); !s.ok()) {
    Observe(s, 0, start);
    return s;
  }
  auto status = connection->StartStream(req, upload, idle);
  // A stream counts once, when its status line came (the body may flow for minutes).
  Observe(status.status(), status.ok() ? *status : 0, start);
  if (!status.ok()) return status.status();
  auto stream = std::make_unique<HttpResponseStream>(std::move(connection), idle);
  if (*status < 200 || *status >= 300) {
    std::string body;
    char buf[4096];
    for (;;) {
      auto n = stream->Read(buf, sizeof buf);
      if (!n.ok() || *n == 0 || body.size() > 64 * 1024) break;
      body.append(buf, *n);
    }
    return StatusFromHttp(*status, body,
                          absl::StrCat(method, " ", path, " on ", endpoint_.ToString()));
  }
  return std::unique_ptr<ResponseStream>(std::move(stream));
}

absl::StatusOr<std::string> EngineClient::ApiVersion() {
  {
    std::lock_guard lock(mu_);
    if (!api_version_.empty()) return api_version_;
  }
  // Two first calls may both negotiate; they agree.
  auto r = Raw("GET", "/version", "", {});
  if (!r.ok()) return r.status();
  if (absl::Status s = StatusFromHttp(r->status, r->body, "GET /version"); !s.ok()) return s;
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  const json::value* version =
      (!ec && v.is_object()) ? v.as_object().if_contains("ApiVersion") : nullptr;
  if (version == nullptr || !version->is_string()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the engine at ", endpoint_.ToString(),
                     " answered /version without ApiVersion; is it a Docker Engine?"));
  }
  std::string theirs(version->as_string());
  std::lock_guard lock(mu_);
  api_version_ = VersionLess(theirs, kMaxApiVersion) ? theirs : kMaxApiVersion;
  return api_version_;
}

absl::Status EngineClient::Ping(std::chrono::milliseconds deadline) {
  auto r = Raw("GET", "/_ping", "", deadline);
  if (!r.ok()) return r.status();
  return StatusFromHttp(r->status, r->body, "GET /_ping on " + endpoint_.ToString());
}

absl::StatusOr<json::value> EngineClient::Call(const std::string& method, const std::string& path,
                                               const json::value* body,
                                               std::chrono::milliseconds deadline) {
  auto version = ApiVersion();
  if (!version.ok()) return version.status();
  const std::string what = absl::StrCat(method, " ", path, " on ", endpoint_.ToString());
  auto r =
      Raw(method, absl::StrCat("/v", *version, path), body ? json::serialize(*body) : "", deadline);
  if (!r.ok()) return r.status();
  if (absl::Status s = StatusFromHttp(r->status, r->body, what); !s.ok()) return s;
  if (r->body.empty()) return json::value(nullptr);
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  if (ec) return absl::InternalError(absl::StrCat(what, ": the engine answered with invalid JSON"));
  return v;
}

}  // namespace musketeer::engine
