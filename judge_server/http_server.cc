#include "judge_server/http_server.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <iostream>
#include <list>
#include <memory>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"

namespace judge {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// A request body that is kept (routes that use it) or only counted and dropped (the
// rest, so that a body nobody reads is never buffered).
struct RequestBody {
  struct value_type {
    std::string data;
    bool keep = true;
    // Kept bytes count against a budget shared by all connections; `counted` is what
    // this body has added (the session gives it back), `over_budget` says why put failed.
    std::atomic<int64_t>* budget = nullptr;
    int64_t budget_limit = 0;
    int64_t* counted = nullptr;
    bool* over_budget = nullptr;
  };

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, beast::error_code& ec) {
      length_ = length.value_or(0);
      ec = {};
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      ec = {};
      const std::size_t n = beast::buffer_bytes(buffers);
      if (!body_.keep) return n;
      if (body_.budget != nullptr) {
        const int64_t add = static_cast<int64_t>(n);
        if (body_.budget->fetch_add(add) + add > body_.budget_limit) {
          body_.budget->fetch_sub(add);
          *body_.over_budget = true;
          ec = http::error::body_limit;
          return 0;
        }
        *body_.counted += add;
      }
      // Memory only once bytes arrive: announcing 8 MB and sending nothing costs nothing.
      // (The parser has checked the length against the body limit.)
      if (body_.data.empty() && length_ > 0) body_.data.reserve(length_);
      for (auto b : beast::buffers_range_ref(buffers)) {
        body_.data.append(static_cast<const char*>(b.data()), b.size());
      }
      return n;
    }

    void finish(beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
    std::uint64_t length_ = 0;
  };
};

bool IsHttpParseError(const beast::error_code& ec) {
  return ec.category() == make_error_code(http::error::bad_method).category();
}

bool OutOfDescriptors(const beast::error_code& ec) {
  namespace errc = boost::system::errc;
  return ec == errc::too_many_files_open || ec == errc::too_many_files_open_in_system;
}

// accept() failures that the next accept() would repeat at once.
bool OutOfResources(const beast::error_code& ec) {
  namespace errc = boost::system::errc;
  return ec == errc::too_many_files_open || ec == errc::too_many_files_open_in_system ||
         ec == errc::no_buffer_space || ec == errc::not_enough_memory;
}

std::string BusyReply(int max_connections) {
  std::string body =
      absl::StrCat(R"({"err":"ServerBusy","data":"too many open connections (the cap is )",
                   max_connections, R"(, server flag --max-connections); retry after a moment"})");
  return absl::StrCat(
      "HTTP/1.1 503 Service Unavailable\r\nServer: judge_server\r\n"
      "Content-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n"
      "Content-Length: ",
      body.size(), "\r\n\r\n", body);
}

// After refusing a request whose body may still be on its way, the server reads and drops
// what comes for this long before it closes: closing with unread data sends a reset, which
// can destroy the refusal before the client has read it.
constexpr auto kLingerTime = std::chrono::seconds(2);

}  // namespace

int DefaultMaxConnections(int slots, int threads) {
  constexpr int kMaxDefault = 4096;
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return kMaxDefault;
  const int64_t nofile = static_cast<int64_t>(rl.rlim_cur);
  const int64_t headroom = 32 + 4 * int64_t{threads} + 16 * int64_t{slots};
  const int64_t cap = std::max(nofile - headroom, nofile / 2);
  return static_cast<int>(std::clamp<int64_t>(cap, 1, kMaxDefault));
}

void RunIoContext(asio::io_context& io) {
  for (;;) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {
      std::cerr << "judge_server: a handler threw (" << e.what()
                << "); its connection is dropped and the server carries on" << std::endl;
    } catch (...) {
      std::cerr << "judge_server: a handler threw a non-standard exception; its connection is "
                   "dropped and the server carries on"
                << std::endl;
    }
  }
}

// The connections of one io_context waiting for their next request, idle the longest
// first. The list is touched only on that context's thread; other threads read `size` and
// `asked` to pick where to shed. Shared with the sessions, which may outlive the server.
struct HttpServer::IdleSessions {
  std::list<Session*> sessions;
  std::atomic<int> size{0};
  std::atomic<int> asked{0};  // sheds posted here by other threads that have not run yet
};

class HttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer& server, std::shared_ptr<IdleSessions> idle)
      : stream_(std::move(socket)),
        server_(server),
        options_(server.options_),
        shared_(server.shared_),
        idle_(std::move(idle)),
        timer_(stream_.get_executor()),
        buffer_(options_.read_buffer_limit) {
    on_chunk_header_ = [this](std::uint64_t, beast::string_view extensions, beast::error_code& ec) {
      extension_bytes_ += extensions.size();
      if (extension_bytes_ > options_.chunk_extensions_limit) {
        extensions_too_large_ = true;
        ec = http::error::bad_chunk_extension;
      }
    };
  }
  ~Session() {
    SetIdle(false);
    ReleaseBody();
    --shared_->connections;
  }

  void Start() { ReadRequest(); }

  // Closes an idle connection to make room for a new one.
  void Shed() { Close(); }

 private:
  // Where the connection is; each phase but kHandling has a deadline.
  enum class Phase { kIdle, kHeader, kBody, kHandling, kWriting, kLingering };

  // One timer per connection, re-armed only when a phase needs an earlier deadline than
  // the one it is armed for: under keep-alive load that is about once per header_timeout,
  // not once per request.
  void SetPhase(Phase phase, Clock::duration limit) {
    phase_ = phase;
    SetIdle(phase == Phase::kIdle);
    timed_out_ = false;
    deadline_ = limit.count() > 0 ? Clock::now() + limit : Clock::time_point::max();
    if (deadline_ < armed_) Arm(deadline_);
  }

  void Arm(Clock::time_point at) {
    armed_ = at;
    timer_.expires_at(at);  // cancels the wait armed before, if any
    timer_.async_wait([self = shared_from_this(), at](beast::error_code ec) {
      if (ec || at != self->armed_ || self->closed_) return;
      self->armed_ = Clock::time_point::max();
      self->OnTimer();
    });
  }

  void OnTimer() {
    if (Clock::now() < deadline_) {
      if (deadline_ != Clock::time_point::max()) Arm(deadline_);
      return;
    }
    switch (phase_) {
      case Phase::kHeader:
      case Phase::kBody: {
        // End the read; its handler answers 408.
        timed_out_ = true;
        beast::error_code ignored;
        stream_.cancel(ignored);
        return;
      }
      case Phase::kHandling:
        return;
      case Phase::kIdle:
      case Phase::kWriting:
      case Phase::kLingering:
        return Close();
    }
  }

  // Keeps this connection in its thread's idle list exactly while it waits for a request.
  void SetIdle(bool idle) {
    if (idle == idle_position_.has_value()) return;
    if (idle) {
      idle_position_ = idle_->sessions.insert(idle_->sessions.end(), this);
    } else {
      idle_->sessions.erase(*idle_position_);
      idle_position_.reset();
    }
    idle_->size.store(static_cast<int>(idle_->sessions.size()), std::memory_order_relaxed);
  }

  // Gives back what the current body counted against the shared budget.
  void ReleaseBody() {
    shared_->body_bytes -= body_counted_;
    body_counted_ = 0;
  }

  void ReadRequest() {
    ReleaseBody();
    parser_.emplace();
    parser_->header_limit(options_.header_limit);
    // The largest limit, so that a Content-Length past every limit fails on the header;
    // narrowed to the route's once the header is in.
    parser_->body_limit(options_.body_limit);
    body_limit_ = options_.body_limit;
    parser_->on_chunk_header(on_chunk_header_);
    extension_bytes_ = 0;
    extensions_too_large_ = false;
    over_budget_ = false;
    method_.clear();
    target_.clear();
    head_ = false;
    if (buffer_.size() > 0) {  // a pipelined request is already here
      SetPhase(Phase::kHeader, options_.header_timeout);
      return ParseHeader();
    }
    // Wait for the first byte ourselves, so that the header deadline starts from it and an
    // idle keep-alive connection is under the idle timeout instead.
    SetPhase(Phase::kIdle, options_.idle_timeout);
    const size_t room = std::min<size_t>(4096, buffer_.max_size() - buffer_.size());
    stream_.async_read_some(buffer_.prepare(room),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->buffer_.commit(n);
                              if (ec) return self->Close();  // closed, reset, idle timeout
                              self->SetPhase(Phase::kHeader, self->options_.header_timeout);
                              self->ParseHeader();
                            });
  }

  // Parses what the buffer holds; reads on only if the header is not complete yet (most
  // requests arrive whole in one read, and this skips an asynchronous round).
  void ParseHeader() {
    beast::error_code ec;
    const size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == http::error::need_more) return ReadHeader();
    if (!ec && !parser_->is_header_done()) return ReadHeader();
    OnHeader(ec);
  }

  void ReadHeader() {
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadFailed(ec);
    auto& req = parser_->get();
    method_ = std::string(req.method_string());
    target_ = std::string(req.target());
    keep_alive_ = req.keep_alive() && !server_.shutting_down();
    head_ = req.method() == http::verb::head;
    std::string_view token;
    if (auto it = req.find("X-Judge-Server-Token"); it != req.end()) token = it->value();
    // Decide on the headers alone, before a byte of the body is read.
    JudgeService::HeadCheck check = server_.service_.CheckHead(method_, target_, token);
    if (check.reject) return Answer(std::move(*check.reject));
    body_limit_ = check.reads_body ? options_.body_limit : options_.discard_body_limit;
    if (auto length = parser_->content_length(); length && *length > body_limit_) {
      return Refuse(413, BodyLimitMessage());
    }
    parser_->body_limit(body_limit_);  // for chunked bodies, counted as chunks arrive
    RequestBody::value_type& body = req.body();
    body.keep = check.reads_body;
    body.budget = &shared_->body_bytes;
    body.budget_limit = options_.body_memory_limit;
    body.counted = &body_counted_;
    body.over_budget = &over_budget_;
    if (parser_->is_done()) return OnRequest();
    if (auto it = req.find(http::field::expect);
        it != req.end() && beast::iequals(it->value(), "100-continue")) {
      // The client waits for this before it sends the body.
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      SetPhase(Phase::kWriting, options_.idle_timeout);
      return asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                               [self = shared_from_this()](beast::error_code ec, size_t) {
                                 if (ec) return self->Close();
                                 self->ReadBody();
                               });
    }
    ReadBody();
  }

  void ReadBody() {
    SetPhase(Phase::kBody, options_.body_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->OnReadFailed(ec);
                       self->OnRequest();
                     });
  }

  std::string BodyLimitMessage() const {
    return absl::StrCat("request body exceeds ", body_limit_, " bytes, the limit for ",
                        method_.empty() ? "requests" : method_ + " " + target_.substr(0, 100));
  }

  void OnReadFailed(beast::error_code ec) {
    const bool in_body = phase_ == Phase::kBody;
    if (timed_out_) {
      return Refuse(408, in_body ? absl::StrCat("request body not received within ",
                                                options_.body_timeout.count(), " s")
                                 : absl::StrCat("request header not received within ",
                                                options_.header_timeout.count(), " s"));
    }
    if (over_budget_) {
      HttpReply reply = server_.service_.TransportError(
          503,
          absl::StrCat("request bodies being received take ", options_.body_memory_limit,
                       " bytes, the server's limit; retry after a moment"),
          method_, target_);
      reply.retry_after_seconds = 1;
      return Answer(std::move(reply));
    }
    if (extensions_too_large_) {
      return Refuse(400, absl::StrCat("chunk extensions exceed ", options_.chunk_extensions_limit,
                                      " bytes in one request"));
    }
    if (ec == http::error::header_limit || (ec == http::error::buffer_overflow && !in_body)) {
      return Refuse(431, absl::StrCat("request line and header fields exceed ",
                                      options_.header_limit, " bytes"));
    }
    if (ec == http::error::buffer_overflow) {
      return Refuse(431, absl::StrCat("a chunk-size line with its extensions, or the trailer "
                                      "fields, exceed ",
                                      options_.read_buffer_limit, " bytes"));
    }
    if (ec == http::error::body_limit) return Refuse(413, BodyLimitMessage());
    if (ec == http::error::end_of_stream || ec == http::error::partial_message) return Close();
    if (IsHttpParseError(ec)) return Refuse(400, absl::StrCat("malformed request: ", ec.message()));
    Close();  // reset, aborted, or another transport error: nobody to answer
  }

  // A request refused before it was whole: answer, then close (what follows on the
  // connection cannot be trusted to start a request).
  void Refuse(int status, std::string message) {
    Answer(server_.service_.TransportError(status, message, method_, target_));
  }

  // Answers without handling the request; closes afterwards unless the request is whole.
  void Answer(HttpReply reply) {
    ++server_.in_flight_;
    if (!parser_->is_done()) {
      keep_alive_ = false;
      linger_ = true;
    }
    Write(std::move(reply));
  }

  void OnRequest() {
    ++server_.in_flight_;
    SetPhase(Phase::kHandling, Clock::duration::zero());  // a judging may take long
    auto& req = parser_->get();
    HttpRequestView view;
    view.method = method_;
    view.target = target_;
    if (auto it = req.find("X-Judge-Server-Token"); it != req.end()) view.token = it->value();
    view.body = std::move(req.body().data);
    ReleaseBody();  // the body is the service's now, under its queue bound
    // Most routes answer inside Handle, on this connection's thread: write at once. A
    // judging answers later from a slot thread: hop back onto this connection's context.
    struct Pending {
      const std::thread::id thread = std::this_thread::get_id();
      bool in_handle = true;  // read and written only on `thread`
      std::optional<HttpReply> immediate;
      std::atomic<bool> replied{false};
    };
    auto pending = std::make_shared<Pending>();
    auto done = [self = shared_from_this(), pending](HttpReply reply) {
      if (pending->replied.exchange(true)) return;  // exactly one reply, whatever happens
      if (std::this_thread::get_id() == pending->thread && pending->in_handle) {
        pending->immediate = std::move(reply);
        return;
      }
      asio::post(self->stream_.get_executor(),
                 [self, reply = std::move(reply)]() mutable { self->Write(std::move(reply)); });
    };
    try {
      server_.service_.Handle(std::move(view), done);
    } catch (const std::exception& e) {
      std::cerr << "judge_server: " << method_ << " " << target_.substr(0, 200)
                << " threw: " << e.what() << std::endl;
      if (!pending->replied.exchange(true)) {
        keep_alive_ = false;
        pending->immediate = server_.service_.TransportError(
            500, "the server failed on this request", method_, target_);
      }
    }
    pending->in_handle = false;
    if (pending->immediate) Write(*std::move(pending->immediate));
  }

  void Write(HttpReply reply) {
    if (closed_) {
      --server_.in_flight_;
      return;
    }
    SetPhase(Phase::kWriting, options_.idle_timeout);  // a reader that stalls is dropped
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
      self->res_.reset();
      if (ec) return self->Close();
      if (!self->keep_alive_) return self->linger_ ? self->Linger() : self->Close();
      self->ReadRequest();
    });
  }

  // Half-closes, then reads and drops input (bounded in time) until the client closes.
  void Linger() {
    beast::error_code ignored;
    stream_.shutdown(tcp::socket::shutdown_send, ignored);
    SetPhase(Phase::kLingering, kLingerTime);
    parser_.reset();  // what the request held is released now, not when the client leaves
    ReleaseBody();
    buffer_.clear();
    Drain();
  }

  void Drain() {
    stream_.async_read_some(buffer_.prepare(buffer_.max_size()),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Close();
                              self->Drain();
                            });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    SetIdle(false);
    beast::error_code ignored;
    stream_.shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close(ignored);
    timer_.cancel();
  }

  tcp::socket stream_;
  HttpServer& server_;
  const HttpServerOptions& options_;
  const std::shared_ptr<Shared> shared_;
  const std::shared_ptr<IdleSessions> idle_;
  std::optional<std::list<Session*>::iterator> idle_position_;  // set while in idle_
  asio::steady_timer timer_;
  Phase phase_ = Phase::kIdle;
  Clock::time_point deadline_ = Clock::time_point::max();
  Clock::time_point armed_ = Clock::time_point::max();
  bool timed_out_ = false;
  bool closed_ = false;

  beast::flat_buffer buffer_;  // bounded: read_buffer_limit
  std::optional<http::request_parser<RequestBody>> parser_;
  std::function<void(std::uint64_t, beast::string_view, beast::error_code&)> on_chunk_header_;
  size_t extension_bytes_ = 0;
  bool extensions_too_large_ = false;
  int64_t body_counted_ = 0;  // this body's share of shared_->body_bytes
  bool over_budget_ = false;
  uint64_t body_limit_ = 0;  // in force for the request being read
  std::string method_, target_;

  std::optional<http::response<http::string_body>> res_;
  bool keep_alive_ = true;
  bool head_ = false;
  bool linger_ = false;
};

struct HttpServer::Listener {
  explicit Listener(asio::io_context& io) : acceptor(io), backoff(io) {}
  tcp::acceptor acceptor;
  asio::steady_timer backoff;
  Clock::time_point last_warning;
  Clock::time_point last_shed_warning;
  const std::shared_ptr<IdleSessions> idle = std::make_shared<IdleSessions>();
};

HttpServer::HttpServer(std::vector<asio::io_context*> contexts, JudgeService& service,
                       HttpServerOptions options)
    : service_(service),
      options_(std::move(options)),
      busy_reply_(BusyReply(options_.max_connections)) {
  for (asio::io_context* io : contexts) listeners_.push_back(std::make_unique<Listener>(*io));
}

HttpServer::~HttpServer() = default;

absl::StatusOr<uint16_t> HttpServer::Start() {
  beast::error_code ec;
  auto address = asio::ip::make_address(options_.address, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("bad listen address ", options_.address));
  tcp::endpoint endpoint(address, options_.port);
  for (auto& listener : listeners_) {
    tcp::acceptor& acceptor = listener->acceptor;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) {
      int on = 1;
      if (setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) {
        ec.assign(errno, boost::system::system_category());
      }
    }
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.address, ":",
                                                 options_.port, ": ", ec.message(),
                                                 " (is another server on that port? use --port)"));
    }
    endpoint.port(acceptor.local_endpoint().port());  // port 0: the others join the first
  }
  for (auto& listener : listeners_) Accept(*listener);
  return endpoint.port();
}

void HttpServer::Accept(Listener& l) {
  l.acceptor.async_accept([this, &l](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !l.acceptor.is_open()) return;
    if (OutOfDescriptors(ec)) {
      // Idle keep-alive connections give their descriptors up first, so that /ping and
      // judgings still get in; the pending connection waits in the backlog meanwhile.
      const Shed shed = ShedIdle(l, [this, &l] { Accept(l); });
      if (shed != Shed::kNone) {
        WarnShedding(l, ec.message());
        if (shed == Shed::kHere) Accept(l);  // the descriptor is free now
        return;
      }
    }
    if (OutOfResources(ec)) {
      // Nothing to shed: accepting again at once would fail again at once and spin a
      // core; the pending connections wait in the backlog until descriptors come back.
      auto now = Clock::now();
      if (now - l.last_warning > std::chrono::seconds(10)) {
        l.last_warning = now;
        std::cerr << "judge_server: accept: " << ec.message() << " with " << connections()
                  << " connections open, none idle; pausing accepts for "
                  << options_.accept_backoff.count()
                  << " ms at a time (raise RLIMIT_NOFILE or lower --max-connections)" << std::endl;
      }
      l.backoff.expires_after(options_.accept_backoff);
      l.backoff.async_wait([this, &l](beast::error_code e) {
        if (!e && l.acceptor.is_open()) Accept(l);
      });
      return;
    }
    if (!ec) Admit(l, std::move(socket));
    Accept(l);
  });
}

void HttpServer::Admit(Listener& l, tcp::socket socket) {
  if (shared_->connections.load() >= options_.max_connections) {
    // A shed on another thread lands a moment later: the cap is soft, and the headroom
    // below RLIMIT_NOFILE takes the difference.
    if (ShedIdle(l) != Shed::kNone) {
      WarnShedding(l, absl::StrCat("at the connection cap (", options_.max_connections, ")"));
    } else {
      // Turned away at once, without a session: the canned 503 if the socket takes it now.
      ssize_t ignored_n = ::send(socket.native_handle(), busy_reply_.data(), busy_reply_.size(),
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
      (void)ignored_n;
      beast::error_code ignored;
      socket.close(ignored);
      return;
    }
  }
  ++shared_->connections;
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::make_shared<Session>(std::move(socket), *this, l.idle)->Start();
}

HttpServer::Shed HttpServer::ShedIdle(Listener& here, std::function<void()> then_here) {
  if (ShedOldest(*here.idle)) return Shed::kHere;
  Listener* most_idle = nullptr;
  int most = 0;
  for (auto& other : listeners_) {
    if (other.get() == &here) continue;
    const int available = other->idle->size.load(std::memory_order_relaxed) -
                          other->idle->asked.load(std::memory_order_relaxed);
    if (available > most) {
      most = available;
      most_idle = other.get();
    }
  }
  if (most_idle == nullptr) return Shed::kNone;
  ++most_idle->idle->asked;
  asio::post(most_idle->acceptor.get_executor(),
             [this, most_idle, &here, then_here = std::move(then_here)] {
               --most_idle->idle->asked;
               ShedOldest(*most_idle->idle);  // none left by now: the next try sheds elsewhere
               if (then_here) asio::post(here.acceptor.get_executor(), then_here);
             });
  return Shed::kElsewhere;
}

bool HttpServer::ShedOldest(IdleSessions& idle) {
  if (idle.sessions.empty()) return false;
  idle.sessions.front()->Shed();  // leaves the list as it closes
  service_.metrics().CountConnectionShed();
  return true;
}

void HttpServer::WarnShedding(Listener& l, std::string_view why) {
  auto now = Clock::now();
  if (now - l.last_shed_warning < std::chrono::seconds(10)) return;
  l.last_shed_warning = now;
  std::cerr << "judge_server: " << why << " with " << connections()
            << " connections open: closing the longest-idle keep-alive connections to admit "
               "new ones (judge_http_connections_shed_total counts them; raise RLIMIT_NOFILE or "
               "--max-connections if this goes on)"
            << std::endl;
}

void HttpServer::BeginShutdown() {
  shutting_down_ = true;
  for (auto& listener : listeners_) {
    asio::post(listener->acceptor.get_executor(), [l = listener.get()] {
      beast::error_code ignored;
      l->acceptor.close(ignored);
      l->backoff.cancel();
    });
  }
}

}  // namespace judge
