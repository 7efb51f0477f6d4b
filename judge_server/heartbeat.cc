#include "judge_server/heartbeat.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "judge_server/compare.h"

namespace judge {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

struct Reply {
  int status = 0;
  std::string body;
};

// The source address the kernel picks for packets to `to`: connecting a UDP socket sends
// nothing, it only chooses the route.
absl::StatusOr<std::string> LocalAddressToward(const asio::ip::address& to) {
  asio::io_context io;
  asio::ip::udp::socket socket(io);
  boost::system::error_code ec;
  socket.open(to.is_v4() ? asio::ip::udp::v4() : asio::ip::udp::v6(), ec);
  if (!ec) socket.connect(asio::ip::udp::endpoint(to, 9), ec);
  asio::ip::udp::endpoint local;
  if (!ec) local = socket.local_endpoint(ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("no route to ", to.to_string(), " for {ip}: ", ec.message()));
  }
  asio::ip::address a = local.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  }
  return a.to_string();
}

// POST with one deadline for connect, write and read.
absl::StatusOr<Reply> Post(const tcp::resolver::results_type& endpoints, const HttpUrl& url,
                           const std::string& body, const std::string& token,
                           std::chrono::milliseconds timeout) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  http::request<http::string_body> req(http::verb::post, url.target, 11);
  req.set(http::field::host, url.port == "80" ? url.host : url.host + ":" + url.port);
  req.set(http::field::user_agent, "judge_server");
  req.set(http::field::content_type, "application/json");
  req.set("X-JUDGE-SERVER-TOKEN", token);
  req.keep_alive(false);
  req.body() = body;
  req.prepare_payload();
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1 << 20);
  boost::system::error_code result;
  stream.expires_after(timeout);
  stream.async_connect(endpoints, [&](boost::system::error_code ec, const tcp::endpoint&) {
    if (ec) {
      result = ec;
      return;
    }
    http::async_write(stream, req, [&](boost::system::error_code ec, size_t) {
      if (ec) {
        result = ec;
        return;
      }
      http::async_read(stream, buffer, parser,
                       [&](boost::system::error_code ec, size_t) { result = ec; });
    });
  });
  io.run();
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  if (result) return absl::UnavailableError(result.message());
  return Reply{static_cast<int>(parser.get().result_int()), parser.get().body()};
}

}  // namespace

absl::StatusOr<HttpUrl> ParseHttpUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  const absl::string_view u(url.data(), url.size());
  if (absl::StartsWithIgnoreCase(u, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", std::string(url),
                     "': https is not supported for the heartbeat; use the backend's plain http "
                     "address inside the cluster (OnlineJudge's is http://oj-backend:8000/api/"
                     "judge_server_heartbeat/)"));
  }
  if (!absl::StartsWithIgnoreCase(u, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", std::string(url), "' is not an http:// URL"));
  }
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  HttpUrl out;
  out.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (out.target[0] == '?') out.target = "/" + out.target;
  if (authority.find('@') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", std::string(url), "': user information in the URL is not supported"));
  }
  std::string_view host = authority, port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("'", std::string(url), "': unclosed '['"));
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return absl::InvalidArgumentError(absl::StrCat("'", std::string(url), "': bad host"));
      }
      port = after.substr(1);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("'", std::string(url), "' names no host"));
  }
  int port_number = 80;
  if (!port.empty() && (!absl::SimpleAtoi(std::string(port), &port_number) || port_number < 1 ||
                        port_number > 65535)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", std::string(url), "': port must be 1-65535"));
  }
  out.host = std::string(host);
  out.port = std::to_string(port_number);
  return out;
}

absl::Status CheckServiceUrlTemplate(std::string_view service_url) {
  std::string filled = ExpandServiceUrl(service_url, "127.0.0.1", "host", 8090);
  if (filled.find_first_of("{}") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("SERVICE_URL '", std::string(service_url),
                     "' has an unknown placeholder; use {ip}, {hostname} or {port}"));
  }
  if (auto u = ParseHttpUrl(filled); !u.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("SERVICE_URL: ", std::string(u.status().message())));
  }
  return absl::OkStatus();
}

std::string ExpandServiceUrl(std::string_view service_url, std::string_view ip,
                             std::string_view hostname, uint16_t port) {
  std::string host = ip.find(':') != std::string_view::npos
                         ? absl::StrCat("[", std::string(ip), "]")
                         : std::string(ip);
  return absl::StrReplaceAll(
      std::string(service_url),
      {{"{ip}", host}, {"{hostname}", std::string(hostname)}, {"{port}", absl::StrCat(port)}});
}

std::string HeartbeatBody(const SystemSample& s, int cpu_core, std::string_view hostname,
                          std::string_view version, std::string_view service_url) {
  return json::serialize(json::object{{"hostname", hostname},
                                      {"judger_version", version},
                                      {"cpu_core", cpu_core},
                                      {"memory", s.memory_percent},
                                      {"cpu", s.cpu_percent},
                                      {"action", "heartbeat"},
                                      {"service_url", service_url}});
}

absl::Status CheckBackendReply(int http_status, std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  const json::value* error = o ? o->if_contains("error") : nullptr;
  if (error == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "HTTP ", http_status,
        ", not OnlineJudge's {\"error\", \"data\"} reply: ", std::string(body.substr(0, 200))));
  }
  if (!error->is_null()) {
    std::string data;
    if (const json::value* d = o->if_contains("data"); d && d->is_string()) {
      data = std::string(d->as_string());
    } else if (d) {
      data = json::serialize(*d);
    }
    return absl::PermissionDeniedError(
        absl::StrCat("the backend refused it (HTTP ", http_status, "): error ",
                     json::serialize(*error), ", data ", data,
                     data == "Invalid token" ? " (is TOKEN the same as OnlineJudge's "
                                               "JUDGE_SERVER_TOKEN?)"
                                             : ""));
  }
  return absl::OkStatus();
}

std::chrono::milliseconds HeartbeatDelay(int failures, std::chrono::milliseconds interval,
                                         std::chrono::milliseconds max_backoff) {
  auto delay = interval;
  for (int i = 0; i < failures && delay < max_backoff; ++i) delay *= 2;
  return std::max(interval, std::min(delay, max_backoff));
}

absl::Status CheckHeartbeatUrls(std::string_view backend_url, std::string_view service_url) {
  if (auto backend = ParseHttpUrl(backend_url); !backend.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("BACKEND_URL: ", std::string(backend.status().message())));
  }
  return CheckServiceUrlTemplate(service_url);
}

absl::StatusOr<std::unique_ptr<Heartbeat>> Heartbeat::Create(HeartbeatOptions options) {
  if (auto s = CheckHeartbeatUrls(options.backend_url, options.service_url); !s.ok()) return s;
  auto backend = ParseHttpUrl(options.backend_url);
  if (options.interval <= std::chrono::milliseconds(0)) {
    return absl::InvalidArgumentError("the heartbeat interval must be positive");
  }
  return std::unique_ptr<Heartbeat>(new Heartbeat(std::move(options), *std::move(backend)));
}

Heartbeat::Heartbeat(HeartbeatOptions options, HttpUrl backend)
    : options_(std::move(options)),
      backend_(std::move(backend)),
      token_sha256_(Sha256Hex(options_.token)),
      cpu_core_(static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))) {
  options_.token.assign(options_.token.size(), '\0');
  options_.token.clear();
}

Heartbeat::~Heartbeat() { Stop(); }

void Heartbeat::Start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
}

void Heartbeat::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::Status Heartbeat::BeatOnce() {
  asio::io_context io;
  tcp::resolver resolver(io);
  boost::system::error_code ec;
  auto endpoints = resolver.resolve(backend_.host, backend_.port, ec);
  if (ec || endpoints.empty()) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve ", backend_.host, ": ", ec ? ec.message() : "no address"));
  }
  auto ip = LocalAddressToward(endpoints.begin()->endpoint().address());
  if (!ip.ok()) return ip.status();
  const std::string service_url =
      ExpandServiceUrl(options_.service_url, *ip, options_.hostname, options_.port);
  auto reply = Post(
      endpoints, backend_,
      HeartbeatBody(sampler_.Get(), cpu_core_, options_.hostname, options_.version, service_url),
      token_sha256_, options_.timeout);
  if (!reply.ok()) return reply.status();
  return CheckBackendReply(reply->status, reply->body);
}

void Heartbeat::Loop() {
  int failures = 0;
  while (true) {
    absl::Status s = BeatOnce();
    if (s.ok()) {
      ++sent_;
      if (failures > 0) {
        std::cerr << "judge_server: heartbeat to " << options_.backend_url << " works again after "
                  << failures << " failure(s)" << std::endl;
      }
      failures = 0;
    } else {
      ++failed_;
      ++failures;
      auto next = HeartbeatDelay(failures, options_.interval, options_.max_backoff);
      // Logged with the same backoff as the retries, so a backend that is down for long
      // does not flood the log.
      std::cerr << "judge_server: heartbeat to " << options_.backend_url << " failed (" << failures
                << " in a row): " << s.message() << "; next try in "
                << std::chrono::duration<double>(next).count() << " s" << std::endl;
    }
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, HeartbeatDelay(failures, options_.interval, options_.max_backoff),
                     [this] { return stopping_; })) {
      return;
    }
  }
}

}  // namespace judge
