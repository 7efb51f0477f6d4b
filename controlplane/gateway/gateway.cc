#include "controlplane/gateway/gateway.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "controlplane/gateway/web_assets.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace musketeer::gateway {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
namespace beast = boost::beast;
namespace gp = google::protobuf;
using tcp = net::ip::tcp;

namespace {

constexpr char kPackage[] = "musketeer.v1.";
constexpr size_t kMaxBody = 8 << 20;  // a compose file or a build request, never an image
constexpr auto kReadTimeout = std::chrono::seconds(30);
constexpr auto kIdleTimeout = std::chrono::seconds(60);
constexpr auto kWriteTimeout = std::chrono::seconds(30);
// A unary call may take as long as the API lets it (a `wait: true` deploy, a rolling update):
// the connection's deadline waits for it instead of cutting it at kWriteTimeout (a browser
// would then send the POST again). The call itself gets the same deadline.
constexpr auto kCallTimeout = std::chrono::minutes(15);
constexpr auto kKeepalive = std::chrono::seconds(15);

// Scripts, styles, images and connections from this origin only; no inline script, no
// framing, no forms posting elsewhere.
constexpr char kCsp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const char* CodeName(grpc::StatusCode code) {
  static const char* kNames[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i <= 16 ? kNames[i] : "UNKNOWN";
}

std::string ErrorJson(grpc::StatusCode code, const std::string& message) {
  boost::json::object o;
  o["code"] = static_cast<int>(code);
  o["status"] = CodeName(code);
  o["message"] = message;
  return boost::json::serialize(o);
}

// A read method: reachable with GET as well (no method a GET reaches changes anything).
bool IsRead(const gp::MethodDescriptor& m) {
  const std::string& n = m.name();
  return absl::StartsWith(n, "Get") || absl::StartsWith(n, "List") ||
         absl::StartsWith(n, "Watch") || absl::EndsWith(n, "Logs") || n == "WhoAmI";
}

// The resource-style aliases: GET path pattern -> service, method, the field {name} fills.
struct Alias {
  std::vector<std::string> parts;  // "*" matches one segment
  const char* service;
  const char* method;
  const char* field;  // for the "*" segment
};
const std::vector<Alias>& Aliases() {
  static const std::vector<Alias> kAliases = {
      {{"nodes"}, "Nodes", "ListNodes", nullptr},
      {{"nodes", "*"}, "Nodes", "GetNode", "name"},
      {{"services"}, "Services", "ListServices", nullptr},
      {{"services", "*"}, "Services", "GetService", "name"},
      {{"services", "*", "tasks"}, "Services", "ListTasks", "service"},
      {{"services", "*", "logs"}, "Services", "ServiceLogs", "name"},
      {{"networks"}, "Networks", "ListNetworks", nullptr},
      {{"images"}, "Images", "ListImages", nullptr},
      {{"stacks"}, "Stacks", "ListStacks", nullptr},
      {{"swarm"}, "SwarmApi", "GetSwarm", nullptr},
      {{"audit"}, "Access", "ListAudit", nullptr},
      {{"tokens"}, "Access", "ListTokens", nullptr},
      {{"watch"}, "ClusterWatch", "Watch", nullptr},
      {{"whoami"}, "Session", "WhoAmI", nullptr},
  };
  return kAliases;
}

std::string PercentDecode(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() &&
               std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The query's fields as a JSON object for `type`: values typed by the field they fill.
absl::StatusOr<boost::json::object> QueryToJson(absl::string_view query,
                                                const gp::Descriptor& type) {
  boost::json::object o;
  if (query.empty()) return o;
  for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    const size_t eq = pair.find('=');
    const std::string key = PercentDecode(pair.substr(0, eq));
    const std::string value =
        eq == absl::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1));
    const gp::FieldDescriptor* f = type.FindFieldByName(key);
    if (f == nullptr) f = type.FindFieldByCamelcaseName(key);
    if (f == nullptr || f->is_map() || f->type() == gp::FieldDescriptor::TYPE_MESSAGE)
      return absl::InvalidArgumentError(absl::StrCat("query parameter '", key.substr(0, 64),
                                                     "' is not a plain field of ", type.full_name(),
                                                     "; POST the request as JSON instead"));
    boost::json::value v;
    switch (f->cpp_type()) {
      case gp::FieldDescriptor::CPPTYPE_BOOL:
        if (value != "true" && value != "false" && value != "1" && value != "0" && !value.empty())
          return absl::InvalidArgumentError(
              absl::StrCat("query parameter '", key, "': use true or false"));
        v = value.empty() || value == "true" || value == "1";
        break;
      case gp::FieldDescriptor::CPPTYPE_STRING:
      case gp::FieldDescriptor::CPPTYPE_ENUM:
        v = value;
        break;
      default:
        v = value;  // numbers as strings: the JSON mapping accepts them and checks them
    }
    if (f->is_repeated()) {
      auto& arr = o[f->json_name()];
      if (!arr.is_array()) arr = boost::json::array();
      arr.as_array().push_back(v);
    } else {
      o[f->json_name()] = v;
    }
  }
  return o;
}

// One resolved call: which method, with which request (as JSON).
struct Route {
  const gp::MethodDescriptor* method = nullptr;
  std::string request_json;
};

}  // namespace

struct Gateway::State {
  GatewayOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<ssl::context> tls;
  net::io_context ioc;
  std::unique_ptr<tcp::acceptor> acceptor;
  uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<int> connections{0};
  std::thread acceptor_thread, watchdog_thread;
  gp::DynamicMessageFactory factory{gp::DescriptorPool::generated_pool()};
  std::mutex factory_mu;  // DynamicMessageFactory::GetPrototype is not thread-safe

  // Open sockets and when each must have made progress (the watchdog shuts them down
  // after that: blocking reads and writes then return).
  std::mutex conns_mu;
  std::map<int, std::chrono::steady_clock::time_point> deadlines;

  void SetDeadline(int fd, std::chrono::steady_clock::duration d) {
    std::lock_guard lock(conns_mu);
    deadlines[fd] = std::chrono::steady_clock::now() + d;
  }
  void Forget(int fd) {
    std::lock_guard lock(conns_mu);
    deadlines.erase(fd);
  }
  std::unique_ptr<gp::Message> New(const gp::Descriptor* d) {
    std::lock_guard lock(factory_mu);
    return std::unique_ptr<gp::Message>(factory.GetPrototype(d)->New());
  }
};

namespace {

using State = Gateway::State;
using Request = http::request<http::string_body>;

void CommonHeaders(http::fields& h) {
  h.set("Content-Security-Policy", kCsp);
  h.set("X-Content-Type-Options", "nosniff");
  h.set("X-Frame-Options", "DENY");
  h.set("Referrer-Policy", "no-referrer");
  h.set(http::field::server, "musketeerd");
}

std::string CommonHeaderLines() {
  return absl::StrCat("Content-Security-Policy: ", kCsp,
                      "\r\nX-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n"
                      "Referrer-Policy: no-referrer\r\nServer: musketeerd\r\n");
}

template <class Stream>
class Connection {
 public:
  Connection(State& state, Stream& stream, int fd) : state_(state), stream_(stream), fd_(fd) {}

  void Serve() {
    beast::flat_buffer buffer;
    for (bool first = true;; first = false) {
      state_.SetDeadline(fd_, first ? kReadTimeout : kIdleTimeout);
      http::request_parser<http::string_body> parser;
      parser.body_limit(kMaxBody);
      parser.header_limit(16 * 1024);
      beast::error_code ec;
      http::read(stream_, buffer, parser, ec);
      if (ec == http::error::body_limit) {
        Reply(413, "application/json",
              ErrorJson(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("the body is larger than ", kMaxBody, " bytes")),
              false);
        return;
      }
      if (ec) {
        // The client closed (or the watchdog shut a silent connection): nothing to answer.
        // Anything else is a malformed request: say so, then close.
        const bool closed = ec == http::error::end_of_stream || ec == net::error::eof ||
                            ec == net::ssl::error::stream_truncated ||
                            ec == http::error::partial_message;
        if (!closed)
          Reply(400, "application/json",
                ErrorJson(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("bad HTTP request: ", ec.message())),
                false);
        return;
      }
      Request req = parser.release();
      state_.SetDeadline(fd_, kCallTimeout + std::chrono::seconds(30));
      if (!Handle(req) || !req.keep_alive()) return;
    }
  }

 private:
  // Writes a whole answer; whether the connection can serve another request.
  bool Reply(int status, const std::string& type, std::string body, bool keep_alive,
             const std::vector<std::pair<std::string, std::string>>& extra = {},
             bool head_only = false) {
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    CommonHeaders(res.base());
    res.set(http::field::content_type, type);
    res.set(http::field::cache_control, "no-store");
    for (const auto& [k, v] : extra) res.set(k, v);
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    beast::error_code ec;
    state_.SetDeadline(fd_, kWriteTimeout);
    if (head_only) {  // HEAD: the headers of the GET, Content-Length included
      http::response_serializer<http::string_body> sr{res};
      http::write_header(stream_, sr, ec);
    } else {
      http::write(stream_, res, ec);
    }
    return !ec && keep_alive;
  }
  bool ReplyError(grpc::StatusCode code, const std::string& message, bool keep_alive) {
    std::vector<std::pair<std::string, std::string>> extra;
    if (code == grpc::StatusCode::UNAUTHENTICATED) extra.push_back({"WWW-Authenticate", "Bearer"});
    return Reply(HttpStatusOf(code), "application/json", ErrorJson(code, message), keep_alive,
                 extra);
  }

  bool Handle(Request& req) {
    const std::string target(req.target());
    const size_t q = target.find('?');
    const std::string path = target.substr(0, q);
    const std::string query = q == std::string::npos ? "" : target.substr(q + 1);
    const bool keep = req.keep_alive();
    if (path == "/metrics") return Metrics(req);
    if (!absl::StartsWith(path, "/v1")) return Static(req, path);
    if (path == "/v1" || path == "/v1/") {
      if (req.method() != http::verb::get) return MethodNotAllowed("GET", keep);
      return Reply(200, "application/json", Index(), keep);
    }
    auto route = Resolve(req, path, query);
    if (!route.ok())
      return ReplyError(static_cast<grpc::StatusCode>(route.status().code()),
                        std::string(route.status().message()), keep);
    if (route->method == nullptr) return false;  // answered (405)
    return Call(req, *route);
  }

  // Prometheus' scrape: Session.GetMetrics's text as it is (a bearer token, as for the API:
  // Prometheus sends it with `authorization: {credentials_file: ...}`).
  bool Metrics(const Request& req) {
    const bool keep = req.keep_alive();
    if (req.method() != http::verb::get) return MethodNotAllowed("GET", keep);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (auto it = req.find(http::field::authorization); it != req.end())
      ctx.AddMetadata("authorization", std::string(it->value()));
    ::musketeer::v1::MetricsText out;
    grpc::Status status = ::musketeer::v1::Session::NewStub(state_.channel)
                              ->GetMetrics(&ctx, ::musketeer::v1::GetMetricsRequest(), &out);
    if (!status.ok()) return ReplyError(status.error_code(), status.error_message(), keep);
    return Reply(200, "text/plain; version=0.0.4; charset=utf-8", out.text(), keep);
  }

  bool MethodNotAllowed(const char* allow, bool keep) {
    return Reply(405, "application/json",
                 ErrorJson(grpc::StatusCode::INVALID_ARGUMENT,
                           absl::StrCat("use ", allow, " for this path")),
                 keep, {{"Allow", allow}});
  }

  bool Static(const Request& req, const std::string& path) {
    const WebAsset* asset = FindWebAsset(path == "/" ? "/index.html" : path);
    if (asset == nullptr)
      return ReplyError(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("no page at ", path.substr(0, 100),
                                     "; the API is under /v1 (GET /v1 lists it)"),
                        req.keep_alive());
    if (req.method() != http::verb::get && req.method() != http::verb::head)
      return MethodNotAllowed("GET", req.keep_alive());
    return Reply(200, asset->content_type, std::string(asset->data, asset->size), req.keep_alive(),
                 {}, req.method() == http::verb::head);
  }

  std::string Index() {
    boost::json::array methods;
    const gp::FileDescriptor* file =
        gp::DescriptorPool::generated_pool()->FindFileByName("musketeer/v1/musketeer.proto");
    for (int s = 0; file != nullptr && s < file->service_count(); ++s) {
      const gp::ServiceDescriptor* svc = file->service(s);
      for (int m = 0; m < svc->method_count(); ++m) {
        const gp::MethodDescriptor* md = svc->method(m);
        boost::json::object o;
        o["service"] = svc->name();
        o["method"] = md->name();
        o["path"] = absl::StrCat("/v1/", svc->name(), "/", md->name());
        o["http"] = IsRead(*md) ? "GET or POST" : "POST";
        o["request"] = md->input_type()->full_name();
        o["response"] = md->output_type()->full_name();
        o["server_stream"] = md->server_streaming();
        methods.push_back(std::move(o));
      }
    }
    boost::json::object aliases;
    for (const auto& a : Aliases()) {
      std::string p = "/v1";
      for (const auto& part : a.parts)
        absl::StrAppend(&p, "/", part == "*" ? absl::StrCat("{", a.field, "}") : part);
      aliases[p] = absl::StrCat("/v1/", a.service, "/", a.method);
    }
    boost::json::object out;
    out["methods"] = std::move(methods);
    out["aliases"] = std::move(aliases);
    out["auth"] = "Authorization: Bearer <token>";
    out["json"] = "protobuf canonical JSON mapping (lowerCamelCase; proto names accepted)";
    return boost::json::serialize(out);
  }

  absl::StatusOr<Route> Resolve(const Request& req, const std::string& path,
                                const std::string& query) {
    std::vector<std::string> parts = absl::StrSplit(path.substr(4), '/', absl::SkipEmpty());
    for (auto& p : parts) p = PercentDecode(p);
    const gp::DescriptorPool* pool = gp::DescriptorPool::generated_pool();
    const gp::MethodDescriptor* method = nullptr;
    boost::json::object fields;
    const bool is_get = req.method() == http::verb::get;
    if (parts.size() == 2 && std::isupper(static_cast<unsigned char>(parts[0][0]))) {
      std::string service = parts[0];
      if (!absl::StartsWith(service, kPackage)) service = kPackage + service;
      const gp::ServiceDescriptor* svc = pool->FindServiceByName(service);
      if (svc != nullptr) method = svc->FindMethodByName(parts[1]);
      if (method == nullptr)
        return absl::NotFoundError(absl::StrCat("no API method ", parts[0].substr(0, 64), "/",
                                                parts[1].substr(0, 64),
                                                "; GET /v1 lists every method"));
      if (is_get && !IsRead(*method)) {
        MethodNotAllowed("POST", req.keep_alive());
        return Route{};
      }
      if (!is_get && req.method() != http::verb::post) {
        MethodNotAllowed(IsRead(*method) ? "GET, POST" : "POST", req.keep_alive());
        return Route{};
      }
    } else {
      const Alias* found = nullptr;
      std::string value;
      for (const auto& a : Aliases()) {
        if (a.parts.size() != parts.size()) continue;
        bool match = true;
        for (size_t i = 0; i < parts.size() && match; ++i) {
          if (a.parts[i] == "*")
            value = parts[i];
          else
            match = a.parts[i] == parts[i];
        }
        if (match) {
          found = &a;
          break;
        }
      }
      if (found == nullptr)
        return absl::NotFoundError(absl::StrCat("no API path ", path.substr(0, 100),
                                                "; GET /v1 lists every method and path"));
      if (!is_get) {
        MethodNotAllowed("GET", req.keep_alive());
        return Route{};
      }
      method = pool->FindMethodByName(absl::StrCat(kPackage, found->service, ".", found->method));
      if (method == nullptr) return absl::InternalError("alias without its method");
      if (found->field != nullptr) fields[found->field] = value;
    }
    if (method->client_streaming())
      return absl::UnimplementedError("client streams are not offered over HTTP");
    Route route;
    route.method = method;
    if (is_get) {
      auto q = QueryToJson(query, *method->input_type());
      if (!q.ok()) return q.status();
      for (auto& [k, v] : *q) fields[k] = v;
      route.request_json = boost::json::serialize(fields);
    } else {
      if (!query.empty())
        return absl::InvalidArgumentError("POST takes its request as a JSON body, not a query");
      route.request_json = req.body().empty() ? "{}" : req.body();
    }
    // EventSource-style resumption: Last-Event-ID is the revision last seen.
    if (auto it = req.find("Last-Event-ID"); it != req.end()) {
      if (method->input_type()->FindFieldByName("since_revision") != nullptr) {
        uint64_t rev = 0;
        if (!absl::SimpleAtoi(std::string(it->value()), &rev))
          return absl::InvalidArgumentError("Last-Event-ID: a revision (a number)");
        boost::json::error_code jec;
        auto v = boost::json::parse(route.request_json, jec);
        if (v.is_object() && !v.as_object().contains("sinceRevision") &&
            !v.as_object().contains("since_revision")) {
          v.as_object()["sinceRevision"] = std::to_string(rev);
          route.request_json = boost::json::serialize(v);
        }
      }
    }
    return route;
  }

  bool Call(const Request& req, const Route& route) {
    const bool keep = req.keep_alive();
    const gp::MethodDescriptor& md = *route.method;
    auto request = state_.New(md.input_type());
    gp::util::JsonParseOptions parse;
    parse.ignore_unknown_fields = false;
    if (auto s = gp::util::JsonStringToMessage(route.request_json, request.get(), parse); !s.ok())
      return ReplyError(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("the body is not a ", md.input_type()->full_name(),
                                     " in JSON: ", std::string(s.message()).substr(0, 300)),
                        keep);
    std::string bytes;
    request->SerializeToString(&bytes);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer in(&slice, 1);

    grpc::ClientContext ctx;
    if (!md.server_streaming()) ctx.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
    if (auto it = req.find(http::field::authorization); it != req.end())
      ctx.AddMetadata("authorization", std::string(it->value()));
    grpc::CompletionQueue cq;
    grpc::GenericStub stub(state_.channel);
    const std::string name = absl::StrCat("/", md.service()->full_name(), "/", md.name());
    auto call = stub.PrepareCall(&ctx, name, &cq);
    void* tag;
    bool ok;
    // One operation at a time: each Next below waits for the tag just started.
    auto wait = [&](std::chrono::steady_clock::duration limit) -> int {
      // 1: done ok, 0: done failed, -1: timed out
      auto r = cq.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + limit);
      if (r == grpc::CompletionQueue::TIMEOUT) return -1;
      return ok ? 1 : 0;
    };
    constexpr auto kForever = std::chrono::hours(24 * 365);
    call->StartCall(reinterpret_cast<void*>(1));
    bool sent = wait(kForever) == 1;
    if (sent) {
      call->WriteLast(in, grpc::WriteOptions(), reinterpret_cast<void*>(2));
      sent = wait(kForever) == 1;
    }
    auto finish = [&]() {
      grpc::Status status;
      call->Finish(&status, reinterpret_cast<void*>(4));
      while (wait(kForever) == -1) {
      }
      cq.Shutdown();
      while (cq.Next(&tag, &ok)) {
      }
      return status;
    };
    grpc::ByteBuffer out;
    auto to_json = [&](const grpc::ByteBuffer& buf, std::string* json) -> bool {
      std::string raw;
      std::vector<grpc::Slice> slices;
      if (!buf.Dump(&slices).ok()) return false;
      for (auto& sl : slices) raw.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
      auto msg = state_.New(md.output_type());
      if (!msg->ParseFromString(raw)) return false;
      gp::util::JsonPrintOptions print;
      print.always_print_primitive_fields = true;
      return gp::util::MessageToJsonString(*msg, json, print).ok();
    };

    if (!md.server_streaming()) {
      int got = 0;
      if (sent) {
        call->Read(&out, reinterpret_cast<void*>(3));
        got = wait(kForever);
      }
      grpc::Status status = finish();
      if (!status.ok()) return ReplyError(status.error_code(), status.error_message(), keep);
      std::string json;
      if (got != 1 || !to_json(out, &json))
        return ReplyError(grpc::StatusCode::INTERNAL, "the answer could not be read", keep);
      return Reply(200, "application/json", json, keep);
    }

    // A server stream: Server-Sent Events. The HTTP status waits for the first message or
    // the end (an error before any message is an HTTP error), or for kKeepalive of silence.
    bool header_sent = false;
    bool client_gone = false;
    auto write_raw = [&](const std::string& s) {
      beast::error_code ec;
      state_.SetDeadline(fd_, kWriteTimeout);
      net::write(stream_, net::buffer(s), ec);
      if (ec) client_gone = true;
      return !ec;
    };
    auto send_header = [&] {
      header_sent = true;
      return write_raw(
          absl::StrCat("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                       "Cache-Control: no-store\r\nConnection: close\r\nX-Accel-Buffering: no\r\n",
                       CommonHeaderLines(), "\r\n"));
    };
    const gp::FieldDescriptor* revision = md.output_type()->FindFieldByName("revision");
    bool pending = false;  // a Read is outstanding
    auto start_read = [&] {
      call->Read(&out, reinterpret_cast<void*>(3));
      pending = true;
    };
    auto wait_read = [&](std::chrono::steady_clock::duration limit) {
      const int r = wait(limit);
      if (r != -1) pending = false;
      return r;
    };
    int got = 0;
    if (sent) {
      start_read();
      got = wait_read(kKeepalive);
    }
    while (!client_gone) {
      if (got == -1) {  // quiet: keep the connection (and any proxy) from timing out
        if (!header_sent) send_header();
        if (!client_gone) write_raw(": keepalive\n\n");
        if (client_gone) break;
        got = wait_read(kKeepalive);
        continue;
      }
      if (got == 0) break;  // the stream ended
      std::string json;
      if (!to_json(out, &json)) json = "{}";
      if (!header_sent && !send_header()) break;
      std::string event;
      if (revision != nullptr) {
        auto msg = state_.New(md.output_type());
        std::string raw;
        std::vector<grpc::Slice> slices;
        (void)out.Dump(&slices);
        for (auto& sl : slices) raw.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
        if (msg->ParseFromString(raw))
          absl::StrAppend(&event, "id: ", msg->GetReflection()->GetUInt64(*msg, revision), "\n");
      }
      absl::StrAppend(&event, "data: ", json, "\n\n");
      if (!write_raw(event)) break;
      start_read();
      got = wait_read(kKeepalive);
    }
    if (client_gone) {
      ctx.TryCancel();
      if (pending)  // the cancelled read completes before the call may finish
        while (wait(kForever) == -1) {
        }
    }
    grpc::Status status = finish();
    if (client_gone) return false;
    if (!header_sent) {
      if (!status.ok()) {
        ReplyError(status.error_code(), status.error_message(), false);
        return false;
      }
      if (!send_header()) return false;
    }
    write_raw(absl::StrCat(status.ok() ? "event: end\n" : "event: error\n", "data: ",
                           ErrorJson(status.error_code(), status.error_message()), "\n\n"));
    return false;  // Connection: close ends an event stream
  }

  State& state_;
  Stream& stream_;
  const int fd_;
};

void ServeSocket(std::shared_ptr<State> state, tcp::socket socket) {
  const int fd = socket.native_handle();
  state->SetDeadline(fd, kReadTimeout);
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  if (state->options.tls) {
    ssl::stream<tcp::socket> stream(std::move(socket), *state->tls);
    stream.handshake(ssl::stream_base::server, ec);
    if (!ec) Connection<ssl::stream<tcp::socket>>(*state, stream, fd).Serve();
    state->SetDeadline(fd, std::chrono::seconds(2));
    if (!ec) stream.shutdown(ec);
    state->Forget(fd);
    stream.next_layer().close(ec);
  } else {
    Connection<tcp::socket>(*state, socket, fd).Serve();
    state->Forget(fd);
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
  }
  state->connections--;
}

bool IsLoopback(const net::ip::address& a) { return a.is_loopback(); }

}  // namespace

int HttpStatusOf(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::CANCELLED:
      return 499;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    default:
      return 500;  // UNKNOWN, INTERNAL, DATA_LOSS
  }
}

Gateway::Gateway(std::shared_ptr<State> state) : state_(std::move(state)) {}

Gateway::~Gateway() { Stop(); }

uint16_t Gateway::port() const { return state_->port; }

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(GatewayOptions options,
                                                        std::shared_ptr<grpc::Channel> channel) {
  auto state = std::make_shared<State>();
  state->options = options;
  state->channel = std::move(channel);
  const size_t colon = options.listen.rfind(':');
  if (colon == std::string::npos)
    return absl::InvalidArgumentError(
        absl::StrCat("--http-listen: '", options.listen, "' is not HOST:PORT"));
  std::string host = options.listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  uint32_t port = 0;
  if (!absl::SimpleAtoi(options.listen.substr(colon + 1), &port) || port > 65535)
    return absl::InvalidArgumentError(
        absl::StrCat("--http-listen: '", options.listen, "': the port is not a number"));
  beast::error_code ec;
  auto address = net::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec)
    return absl::InvalidArgumentError(
        absl::StrCat("--http-listen: '", host, "' is not an IP address"));
  if (!options.tls && !IsLoopback(address))
    return absl::InvalidArgumentError(absl::StrCat(
        "--http-listen: plain HTTP is only offered on a loopback address (tokens would cross "
        "the network in clear); ",
        host, " is not one: leave TLS on"));
  if (options.tls) {
    state->tls = std::make_unique<ssl::context>(ssl::context::tls_server);
    state->tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                            ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                            ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    state->tls->use_certificate_chain(net::buffer(options.cert_pem), ec);
    if (!ec) state->tls->use_private_key(net::buffer(options.key_pem), ssl::context::pem, ec);
    if (ec)
      return absl::InvalidArgumentError(
          absl::StrCat("the gateway's certificate or key cannot be used: ", ec.message()));
  }
  state->acceptor = std::make_unique<tcp::acceptor>(state->ioc);
  tcp::endpoint endpoint(address, static_cast<uint16_t>(port));
  state->acceptor->open(endpoint.protocol(), ec);
  if (!ec) state->acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) state->acceptor->bind(endpoint, ec);
  if (!ec) state->acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen, ": ", ec.message(), " (in use?)"));
  state->port = state->acceptor->local_endpoint().port();

  state->acceptor_thread = std::thread([state] {
    while (!state->stopping) {
      beast::error_code ec;
      tcp::socket socket(state->ioc);
      state->acceptor->accept(socket, ec);
      if (ec) {
        if (state->stopping) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // EMFILE: let some go
        continue;
      }
      if (state->connections >= state->options.max_connections) {
        socket.close(ec);  // over the limit: refuse rather than queue without bound
        continue;
      }
      state->connections++;
      std::thread(ServeSocket, state, std::move(socket)).detach();
    }
  });
  state->watchdog_thread = std::thread([state] {
    while (!state->stopping) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      const auto now = std::chrono::steady_clock::now();
      std::lock_guard lock(state->conns_mu);
      for (auto& [fd, deadline] : state->deadlines) {
        if (now > deadline) {
          ::shutdown(fd, SHUT_RDWR);  // the blocked read or write returns; the thread ends
          deadline = std::chrono::steady_clock::time_point::max();
        }
      }
    }
  });
  return std::unique_ptr<Gateway>(new Gateway(std::move(state)));
}

void Gateway::Stop() {
  if (state_->stopping.exchange(true)) return;
  beast::error_code ec;
  // Wakes the blocked accept.
  ::shutdown(state_->acceptor->native_handle(), SHUT_RDWR);
  if (state_->acceptor_thread.joinable()) state_->acceptor_thread.join();
  state_->acceptor->close(ec);
  if (state_->watchdog_thread.joinable()) state_->watchdog_thread.join();
}

}  // namespace musketeer::gateway
