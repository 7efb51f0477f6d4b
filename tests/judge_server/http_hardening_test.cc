// The judge server's HTTP transport under attack, as a real process on loopback: every
// attack class of issue 9's HTTP half (trailers and chunk extensions without bound, bodies
// read before the token, no connection cap, EMFILE spinning, unbounded output in replies)
// plus slow clients, /healthz under a full queue, --healthcheck and a fuzz run of malformed
// requests. After each attack the server must be alive, answer /ping, and its memory must
// have stayed bounded (VmHWM of the server process).
// Needs root (the server refuses to start otherwise).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/judge_server/server_process.h"

namespace judge::testing {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace json = boost::json;

// ---- A raw HTTP client: bytes exactly as written, deadlines on everything. ----

struct RawReply {
  int status = 0;  // 0: closed (or timed out) before a status line
  std::string head;
  std::string body;
};

class Conn {
 public:
  explicit Conn(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd_);
      fd_ = -1;
      return;
    }
    int on = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~Conn() { Close(); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool ok() const { return fd_ >= 0; }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }

  // Sends all of `data`; false if the peer closed or `timeout` passed first.
  bool Send(std::string_view data, std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = Clock::now() + timeout;
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
      if (!Wait(POLLOUT, deadline)) return false;
    }
    return true;
  }

  // Reads one reply (skipping interim 1xx); status 0 if the connection closed first.
  RawReply ReadReply(std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      RawReply r;
      size_t end;
      while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
        if (!Fill(deadline)) return r;
      }
      r.head = buf_.substr(0, end + 4);
      buf_.erase(0, end + 4);
      if (r.head.rfind("HTTP/1.", 0) != 0 || r.head.size() < 12) return r;
      r.status = std::atoi(r.head.c_str() + 9);
      if (r.status >= 100 && r.status < 200) continue;
      size_t length = 0;
      std::string lower = r.head;
      for (char& c : lower) c = static_cast<char>(std::tolower(c));
      if (auto p = lower.find("\r\ncontent-length:"); p != std::string::npos) {
        length = std::strtoul(lower.c_str() + p + 17, nullptr, 10);
      }
      while (buf_.size() < length) {
        if (!Fill(deadline)) {
          r.status = 0;
          return r;
        }
      }
      r.body = buf_.substr(0, length);
      buf_.erase(0, length);
      return r;
    }
  }

  // Reads an interim "100 Continue": the server has the request's header and waits for its
  // body, so the connection is busy (never shed as idle) until the body comes.
  bool ReadContinue(std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = Clock::now() + timeout;
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return false;
    }
    if (buf_.rfind("HTTP/1.1 100", 0) != 0) return false;
    buf_.erase(0, end + 4);
    return true;
  }

  // Reads and keeps everything until the peer closes; false if `timeout` passed first.
  bool ReadUntilClose(std::chrono::milliseconds timeout, std::string* out = nullptr) {
    auto deadline = Clock::now() + timeout;
    while (Fill(deadline)) {
    }
    if (out) *out = buf_;
    return closed_;
  }

  bool closed() const { return closed_; }

 private:
  bool Wait(short events, Clock::time_point deadline) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, events, 0};
      int n = poll(&p, 1, static_cast<int>(left.count()));
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) return false;
    }
  }
  // Appends what arrives; false once closed, reset or past the deadline.
  bool Fill(Clock::time_point deadline) {
    if (closed_) return false;
    char chunk[65536];
    for (;;) {
      ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n > 0) {
        buf_.append(chunk, static_cast<size_t>(n));
        return true;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        closed_ = true;  // EOF or reset: both count as closed by the server
        return false;
      }
      if (!Wait(POLLIN, deadline)) return false;
    }
  }

  int fd_ = -1;
  std::string buf_;
  bool closed_ = false;
};

// A request the server answers with 100 Continue and then waits on for its 5-byte body
// ("hello"); /ping reads and drops it.
constexpr std::string_view kBusyRequest =
    "GET /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";

// ---- The server process as the kernel sees it. ----

int64_t StatusKb(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1));
  }
  return -1;
}
int64_t RssMb(pid_t pid) { return StatusKb(pid, "VmRSS") / 1024; }
int64_t PeakRssMb(pid_t pid) { return StatusKb(pid, "VmHWM") / 1024; }

// utime + stime of every thread of the process, in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int OpenFds(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

// True when every byte sent over loopback to or from `port` has been read by its receiver
// (/proc/net/tcp: no tx_queue on the clients' side, no rx_queue on the server's).
bool AllSentBytesRead(int port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string slot, local, remote, state, queues;
    f >> slot >> local >> remote >> state >> queues;
    const int local_port = std::stoi(local.substr(local.find(':') + 1), nullptr, 16);
    const int remote_port = std::stoi(remote.substr(remote.find(':') + 1), nullptr, 16);
    const long tx = std::stol(queues.substr(0, queues.find(':')), nullptr, 16);
    const long rx = std::stol(queues.substr(queues.find(':') + 1), nullptr, 16);
    if ((local_port == port && rx != 0) || (remote_port == port && tx != 0)) return false;
  }
  return true;
}

// GET /ping on a fresh connection answers 200 within a few seconds.
bool PingAnswers(int port) {
  Conn c(port);
  if (!c.ok()) return false;
  if (!c.Send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")) return false;
  return c.ReadReply(5000ms).status == 200;
}

// Polls (bounded) until a fresh connection's /ping answers.
bool PingAnswersWithin(int port, std::chrono::seconds limit) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (PingAnswers(port)) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

void ExpectAliveAndBounded(const ServerProcess& server, int64_t peak_mb_limit) {
  EXPECT_TRUE(server.Alive()) << "the server died";
  EXPECT_TRUE(PingAnswers(server.port())) << "/ping does not answer";
  int64_t peak = PeakRssMb(server.pid());
  EXPECT_GE(peak, 0);
  EXPECT_LE(peak, peak_mb_limit) << "server peak RSS " << peak << " MB";
}

std::string Token() { return TokenHeader(); }

std::string ErrOf(const RawReply& r) {
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("err"))
    return "<no envelope: " + r.body + ">";
  const auto& err = v.as_object().at("err");
  return err.is_string() ? std::string(err.as_string()) : "<null>";
}

// The transport's limits are server flags and its memory is read from /proc by pid: both
// need the server as a process of this host, not the image JUDGE_TEST_IMAGE names.
class HttpHardeningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* image = getenv("JUDGE_TEST_IMAGE"); image != nullptr && *image) {
      GTEST_SKIP() << "runs against a server process, not JUDGE_TEST_IMAGE";
    }
  }
};

// The server's peak RSS right after start, plus this, bounds every attack below: the
// attacks send 10 to 240 MB, so any buffering without bound shows.
constexpr int64_t kSlackMb = 48;

// ---- 1. Trailers, chunk extensions, headers: bounded, answered, never fatal. ----

TEST_F(HttpHardeningTest, HugeTrailerFieldIsRefusedWithoutKillingTheServer) {
  ServerProcess server;
  const int64_t base = PeakRssMb(server.pid());
  // A bystander on a keep-alive connection must not notice.
  Conn bystander(server.port());
  ASSERT_TRUE(bystander.Send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(bystander.ReadReply().status, 200);

  const std::string trailer = "X-Big: " + std::string(70000, 'a') + "\r\n\r\n";
  // Without a token, on a public route: the body is parsed (and dropped).
  {
    Conn c(server.port());
    c.Send("GET /ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n" +
           trailer);
    RawReply r = c.ReadReply();
    EXPECT_THAT(r.status, AnyOf(400, 431)) << r.head;
    EXPECT_EQ(ErrOf(r), "JudgeClientError") << r.body;
  }
  // With the token, on POST /judge.
  {
    Conn c(server.port());
    c.Send("POST /judge HTTP/1.1\r\nHost: x\r\nX-Judge-Server-Token: " + Token() +
           "\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n" + trailer);
    EXPECT_THAT(c.ReadReply().status, AnyOf(400, 431));
  }
  // Many small trailer fields adding up past the limit.
  {
    std::string many;
    for (int i = 0; i < 5000; ++i) many += "X-T" + std::to_string(i) + ": v\r\n";
    Conn c(server.port());
    c.Send("GET /ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + many +
           "\r\n");
    EXPECT_THAT(c.ReadReply().status, AnyOf(400, 431));
  }
  ASSERT_TRUE(bystander.Send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(bystander.ReadReply().status, 200) << "a bystander connection was hurt";
  ExpectAliveAndBounded(server, base + kSlackMb);
}

// Streams `total` bytes of one endless chunk-extension (or trailer) line; stops when the
// server closes. Returns what the server answered.
RawReply StreamEndlessLine(int port, const std::string& head, size_t total) {
  Conn c(port);
  c.Send(head);
  const std::string block(64 << 10, 'e');
  for (size_t sent = 0; sent < total; sent += block.size()) {
    if (!c.Send(block, 2000ms)) break;
  }
  return c.ReadReply();
}

TEST_F(HttpHardeningTest, EndlessChunkExtensionsAndTrailersAreBounded) {
  ServerProcess server;
  const int64_t base = PeakRssMb(server.pid());
  const size_t kAttack = 100 << 20;
  const std::string auth = "X-Judge-Server-Token: " + Token() + "\r\n";
  const std::string chunked = "Transfer-Encoding: chunked\r\n\r\n";
  // One chunk line whose extension never ends, public route and authenticated route.
  RawReply r = StreamEndlessLine(server.port(),
                                 "GET /ping HTTP/1.1\r\nHost: x\r\n" + chunked + "1;ext=", kAttack);
  EXPECT_THAT(r.status, AnyOf(0, 400, 431)) << r.head;
  r = StreamEndlessLine(server.port(),
                        "POST /judge HTTP/1.1\r\nHost: x\r\n" + auth + chunked + "1;e=", kAttack);
  EXPECT_THAT(r.status, AnyOf(0, 400, 431)) << r.head;
  // A trailer field that never ends.
  r = StreamEndlessLine(
      server.port(),
      "POST /judge HTTP/1.1\r\nHost: x\r\n" + auth + chunked + "0\r\nX-T: ", kAttack);
  EXPECT_THAT(r.status, AnyOf(0, 400, 431)) << r.head;
  // Many chunks, each with a modest extension: the sum is capped too.
  {
    Conn c(server.port());
    c.Send("POST /judge HTTP/1.1\r\nHost: x\r\n" + auth + chunked);
    const std::string chunk = "1;x=" + std::string(3000, 'y') + "\r\na\r\n";
    for (int i = 0; i < 2000; ++i) {
      if (!c.Send(chunk, 2000ms)) break;
    }
    RawReply reply = c.ReadReply();
    EXPECT_EQ(reply.status, 400) << reply.head;
    EXPECT_THAT(reply.body, HasSubstr("chunk extension"));
  }
  ExpectAliveAndBounded(server, base + kSlackMb);
}

TEST_F(HttpHardeningTest, OversizedHeadersGet431) {
  ServerProcess server;
  const int64_t base = PeakRssMb(server.pid());
  {
    Conn c(server.port());
    c.Send("GET /ping HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(100000, 'h') + "\r\n\r\n");
    RawReply r = c.ReadReply();
    EXPECT_EQ(r.status, 431) << r.head;
    EXPECT_THAT(r.body, HasSubstr("header"));
    EXPECT_EQ(ErrOf(r), "JudgeClientError");
  }
  {
    std::string many;
    for (int i = 0; i < 10000; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
    Conn c(server.port());
    c.Send("GET /ping HTTP/1.1\r\nHost: x\r\n" + many + "\r\n");
    EXPECT_EQ(c.ReadReply().status, 431);
  }
  {
    Conn c(server.port());  // a request line of 1 MB
    c.Send("GET /" + std::string(1 << 20, 'p') + " HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(c.ReadReply().status, 431);
  }
  ExpectAliveAndBounded(server, base + kSlackMb);
}

// ---- 2. The token before the body; deadlines for slow headers and bodies. ----

TEST_F(HttpHardeningTest, TokenIsCheckedBeforeAnyBodyIsRead) {
  ServerProcess server;
  const int64_t base = PeakRssMb(server.pid());
  // 30 clients announce 8 MB bodies without (or with a wrong) token and send none of it:
  // each is refused on its headers alone.
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < 30; ++i) {
    conns.push_back(std::make_unique<Conn>(server.port()));
    std::string token = i % 2 ? "X-Judge-Server-Token: " + std::string(64, 'b') + "\r\n" : "";
    ASSERT_TRUE(conns.back()->Send("POST /judge HTTP/1.1\r\nHost: x\r\n" + token +
                                   "Content-Length: 8388608\r\n\r\n" + std::string(1 << 16, 'j')));
  }
  for (auto& c : conns) {
    RawReply r = c->ReadReply(5000ms);
    EXPECT_EQ(r.status, 401) << r.head;
    EXPECT_EQ(ErrOf(r), "TokenVerificationFailed");
  }
  // POST /ping is QingdaoU's heartbeat: it needs the token too; GET /ping does not.
  {
    Conn c(server.port());
    c.Send("POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
    EXPECT_EQ(c.ReadReply().status, 401);
    Conn d(server.port());
    d.Send("POST /ping HTTP/1.1\r\nHost: x\r\nX-Judge-Server-Token: " + Token() +
           "\r\nContent-Length: 2\r\n\r\n{}");
    EXPECT_EQ(d.ReadReply().status, 200);
  }
  // Expect: 100-continue gets its answer before the body is sent.
  {
    Conn c(server.port());
    c.Send("POST /judge HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n");
    EXPECT_EQ(c.ReadReply().status, 401);
    Conn d(server.port());
    d.Send("POST /judge HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nX-Judge-Server-Token: " +
           Token() + "\r\nContent-Length: 5\r\n\r\n");
    std::string got;
    d.ReadUntilClose(1000ms, &got);  // the interim reply, then the server waits for the body
    EXPECT_THAT(got, HasSubstr("HTTP/1.1 100 Continue"));
    d.Send("{oops");
    EXPECT_EQ(d.ReadReply().status, 400);
  }
  conns.clear();
  ExpectAliveAndBounded(server, base + kSlackMb);
}

TEST_F(HttpHardeningTest, StalledBodiesAndHeadersAreCutOffByDeadlines) {
  ServerProcess server({"--header-timeout", "1", "--body-timeout", "2"});
  const int64_t base = PeakRssMb(server.pid());
  // 30 authenticated clients send 1 MB of an 8 MB body and stall.
  std::vector<std::unique_ptr<Conn>> bodies;
  for (int i = 0; i < 30; ++i) {
    bodies.push_back(std::make_unique<Conn>(server.port()));
    ASSERT_TRUE(
        bodies.back()->Send("POST /judge HTTP/1.1\r\nHost: x\r\nX-Judge-Server-Token: " + Token() +
                            "\r\nContent-Length: 8388608\r\n\r\n" + std::string(1 << 20, 'j')));
  }
  // 30 slowloris clients send half a header and stall.
  std::vector<std::unique_ptr<Conn>> headers;
  for (int i = 0; i < 30; ++i) {
    headers.push_back(std::make_unique<Conn>(server.port()));
    ASSERT_TRUE(headers.back()->Send("GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  }
  EXPECT_TRUE(PingAnswers(server.port())) << "/ping must answer while they stall";
  for (auto& c : headers) {
    RawReply r = c->ReadReply(10000ms);
    EXPECT_EQ(r.status, 408) << r.head;
    EXPECT_TRUE(c->ReadUntilClose(5000ms)) << "a stalled header kept its connection";
  }
  for (auto& c : bodies) {
    RawReply r = c->ReadReply(10000ms);
    EXPECT_EQ(r.status, 408) << r.head;
    EXPECT_THAT(r.body, HasSubstr("body"));
    EXPECT_TRUE(c->ReadUntilClose(5000ms)) << "a stalled body kept its connection";
  }
  // What the stalled bodies held is released: the server is back near its idle size.
  EXPECT_LE(RssMb(server.pid()), base + 16);
  ExpectAliveAndBounded(server, base + kSlackMb);
}

TEST_F(HttpHardeningTest, BodiesTogetherStayUnderTheServersBodyMemory) {
  ServerProcess server({"--max-body-memory", "16777216"});
  const int64_t base = PeakRssMb(server.pid());
  const std::string head = "POST /judge HTTP/1.1\r\nHost: x\r\nX-Judge-Server-Token: " + Token() +
                           "\r\nContent-Length: 8388608\r\n\r\n";
  const std::string six_mb(6 << 20, 'j');
  // Two authenticated bodies of 6 MB each stall under the 16 MB budget ...
  std::vector<std::unique_ptr<Conn>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::make_unique<Conn>(server.port()));
    ASSERT_TRUE(held.back()->Send(head + six_mb));
  }
  // Wait (bounded) until the server has read all of both: 12 MB held.
  bool read_all = false;
  for (auto deadline = Clock::now() + 10s; !read_all && Clock::now() < deadline;) {
    read_all = AllSentBytesRead(server.port());
    if (!read_all) std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(read_all) << "the server did not read the held bodies";
  // ... so the next ones are turned away with 503 before they pass it, whatever they send.
  for (int i = 0; i < 3; ++i) {
    Conn c(server.port());
    c.Send(head + six_mb);
    RawReply r = c.ReadReply();
    EXPECT_EQ(r.status, 503) << r.head;
    EXPECT_THAT(r.head, HasSubstr("Retry-After: 1"));
    EXPECT_EQ(ErrOf(r), "ServerBusy");
  }
  EXPECT_LE(PeakRssMb(server.pid()), base + 16 + kSlackMb / 2);
  // When the stalled clients leave, their share comes back.
  held.clear();
  bool admitted = false;
  for (auto deadline = Clock::now() + 10s; !admitted && Clock::now() < deadline;) {
    Conn c(server.port());
    c.Send(head + std::string(8 << 20, 'x'));
    admitted = c.ReadReply().status == 400;  // read whole, then refused as bad JSON
    if (!admitted) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(admitted) << "the budget was not given back";
  ExpectAliveAndBounded(server, base + kSlackMb);
}

// ---- 3. Connection cap, shedding idle connections, and EMFILE. ----

// Connections busy with a request are never shed: with every one busy, connections past
// the cap are turned away.
TEST_F(HttpHardeningTest, ConnectionsPastTheCapAreTurnedAwayWhenNoneIsIdle) {
  ServerProcess server({"--threads", "1", "--max-connections", "20"});
  const int64_t base = PeakRssMb(server.pid());
  std::vector<std::unique_ptr<Conn>> held;
  for (int i = 0; i < 20; ++i) {
    held.push_back(std::make_unique<Conn>(server.port()));
    ASSERT_TRUE(held.back()->Send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_EQ(held.back()->ReadReply().status, 200) << "connection " << i;
    ASSERT_TRUE(held.back()->Send(kBusyRequest));
    ASSERT_TRUE(held.back()->ReadContinue()) << "connection " << i;
  }
  for (int i = 0; i < 10; ++i) {
    Conn extra(server.port());
    extra.Send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string got;
    EXPECT_TRUE(extra.ReadUntilClose(5000ms, &got)) << "a connection past the cap stayed open";
    if (!got.empty()) {
      EXPECT_THAT(got, HasSubstr("HTTP/1.1 503"));
    }
  }
  for (auto& c : held) {  // the 20 admitted connections still work
    ASSERT_TRUE(c->Send("hello"));
    EXPECT_EQ(c->ReadReply().status, 200);
  }
  held.resize(15);  // five leave: new connections get in again
  EXPECT_TRUE(PingAnswersWithin(server.port(), 10s));
  ExpectAliveAndBounded(server, base + kSlackMb);
}

// Opens `n` connections that never send a byte, then expects /ping to answer (polled with
// a deadline) and /metrics to count the idle connections shed to make room. Returns the
// connections, still open on this side.
std::vector<std::unique_ptr<Conn>> FloodWithIdleConnectionsAndPing(const ServerProcess& server,
                                                                   int n) {
  std::vector<std::unique_ptr<Conn>> idle;
  for (int i = 0; i < n; ++i) {
    idle.push_back(std::make_unique<Conn>(server.port()));
    EXPECT_TRUE(idle.back()->ok()) << "connection " << i;
  }
  EXPECT_TRUE(PingAnswersWithin(server.port(), 20s)) << "/ping fails behind idle connections";
  HttpResponse metrics = HttpRequest(server.port(), "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  const std::string kShed = "\njudge_http_connections_shed_total ";
  const size_t at = metrics.body.find(kShed);
  EXPECT_NE(at, std::string::npos) << metrics.body;
  if (at != std::string::npos) {
    EXPECT_GT(std::stoll(metrics.body.substr(at + kShed.size())), 0);
  }
  return idle;
}

// Idle keep-alive connections make room at the connection cap (issue 24: 450 idle
// connections to a server limited to 400 fds left /ping failing): /ping and judging go on,
// and the cap keeps the fds the judging needs.
TEST_F(HttpHardeningTest, IdleConnectionsAreShedSoPingAndJudgingGoOnAtTheFdLimit) {
  ServerProcess server({}, 400);
  const int64_t base = PeakRssMb(server.pid());
  auto idle = FloodWithIdleConnectionsAndPing(server, 450);
  HttpResponse judged = server.Judge(JudgeRequest(
      "c", "#include <stdio.h>\nint main(){int a,b;scanf(\"%d%d\",&a,&b);printf(\"%d\\n\",a+b);}",
      {{"1 2\n", "3\n"}}));
  EXPECT_EQ(judged.status, 200) << judged.body;
  EXPECT_EQ(judged.Json().as_object()["verdict"], "AC") << judged.body;
  EXPECT_LT(OpenFds(server.pid()), 400);
  ExpectAliveAndBounded(server, base + kSlackMb);
}

// With the cap above the fd limit (a misconfiguration) accept meets EMFILE: idle
// connections give their descriptors up there too.
TEST_F(HttpHardeningTest, IdleConnectionsAreShedOnEmfile) {
  ServerProcess server({"--threads", "1", "--max-connections", "1000"}, 128);
  const int64_t base = PeakRssMb(server.pid());
  auto idle = FloodWithIdleConnectionsAndPing(server, 200);
  ExpectAliveAndBounded(server, base + kSlackMb);
}

TEST_F(HttpHardeningTest, DefaultConnectionCapStaysBelowTheFdLimit) {
  // With 200 fds and no flag the server must keep headroom for the sandbox.
  ServerProcess server({"--threads", "1"}, 200);
  const int idle_fds = OpenFds(server.pid());  // no connection yet
  std::vector<std::unique_ptr<Conn>> held;
  for (int i = 0; i < 220; ++i) held.push_back(std::make_unique<Conn>(server.port()));
  // Poll (bounded) until each connection is either admitted (an fd in the server) or
  // turned away (closed by the server).
  int admitted = 0, turned_away = 0;
  for (auto deadline = Clock::now() + 10s; Clock::now() < deadline;) {
    turned_away = 0;
    for (auto& c : held) turned_away += c->ReadUntilClose(1ms) ? 1 : 0;
    admitted = OpenFds(server.pid()) - idle_fds;
    if (admitted + turned_away >= 220) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_GT(admitted, 50);
  EXPECT_GT(turned_away, 0);
  EXPECT_LT(OpenFds(server.pid()), 200 - 40) << "the cap leaves no headroom for the sandbox";
  held.clear();
  EXPECT_TRUE(PingAnswersWithin(server.port(), 10s));
  EXPECT_TRUE(server.Alive());
}

TEST_F(HttpHardeningTest, AcceptBacksOffOnEmfileAndRecovers) {
  // A cap above the fd limit on purpose: the acceptor meets EMFILE. Every connection has
  // begun a request, so none is idle and there is nothing to shed: accepting must pause.
  ServerProcess server({"--threads", "1", "--max-connections", "1000", "--header-timeout", "60"},
                       128);
  const int64_t base = PeakRssMb(server.pid());
  Conn early(server.port());  // admitted before the flood, busy through it
  ASSERT_TRUE(early.Send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(early.ReadReply().status, 200);
  ASSERT_TRUE(early.Send(kBusyRequest));
  ASSERT_TRUE(early.ReadContinue());
  std::vector<std::unique_ptr<Conn>> flood;
  for (int i = 0; i < 200; ++i) {
    flood.push_back(std::make_unique<Conn>(server.port()));
    flood.back()->Send("GET /ping HTTP/1.1\r\n");  // a header that never ends
  }
  auto deadline = Clock::now() + 5s;
  while (Clock::now() < deadline && OpenFds(server.pid()) < 120) std::this_thread::sleep_for(20ms);
  ASSERT_GE(OpenFds(server.pid()), 120) << "the flood did not reach the fd limit";
  // A behaviour bound, not a speed benchmark: a spinning accept loop burns ~2 s of CPU in
  // 2 s; backing off burns almost nothing.
  double before = CpuSeconds(server.pid());
  std::this_thread::sleep_for(2s);
  double used = CpuSeconds(server.pid()) - before;
  EXPECT_LT(used, 0.5) << "the accept loop spins on EMFILE";
  // The admitted connection still answers meanwhile.
  ASSERT_TRUE(early.Send("hello"));
  EXPECT_EQ(early.ReadReply().status, 200);
  flood.clear();
  EXPECT_TRUE(PingAnswersWithin(server.port(), 10s)) << "/ping dead after the fds came back";
  ExpectAliveAndBounded(server, base + kSlackMb);
}

// ---- 4. Output returned to clients is capped per reply. ----

TEST_F(HttpHardeningTest, ReturnedOutputIsCappedPerReplyAndSaysSo) {
  ServerProcess server({"--max-reply-output", "1000000"});
  // Four cases of 600 KB each: 2.4 MB of output against a 1 MB reply cap.
  auto request = JudgeRequest("c",
                              "#include <stdio.h>\n#include <string.h>\nint main(){static char "
                              "b[600000];memset(b,'a',sizeof b);fwrite(b,1,sizeof b,stdout);}",
                              {{"", "x"}, {"", "x"}, {"", "x"}, {"", "x"}}, 2000);
  request["output"] = true;
  request["max_output_size"] = 1 << 20;
  HttpResponse r = server.Judge(request);
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 500);
  EXPECT_LE(r.body.size(), 1000000u + 8192u);
  json::object reply = r.Json().as_object();
  EXPECT_EQ(reply["output_truncated"], true);
  EXPECT_THAT(std::string(reply["output_message"].as_string()), HasSubstr("--max-reply-output"));
  json::array cases = reply["data"].as_array();
  ASSERT_EQ(cases.size(), 4u);
  EXPECT_EQ(cases[0].as_object()["output"].as_string().size(), 600000u);
  EXPECT_EQ(cases[0].as_object()["output_truncated"], false);
  for (int i = 1; i < 4; ++i) EXPECT_EQ(cases[i].as_object()["output_truncated"], true) << i;
  // NUL bytes become \u0000 (six bytes each) in JSON: the cap counts what is sent.
  auto nul = JudgeRequest("c",
                          "#include <stdio.h>\nint main(){static char b[400000];fwrite(b,1,sizeof "
                          "b,stdout);}",
                          {{"", "x"}}, 2000);
  nul["output"] = true;
  nul["max_output_size"] = 1 << 20;
  r = server.Judge(nul);
  ASSERT_EQ(r.status, 200);
  EXPECT_LE(r.body.size(), 1000000u + 8192u);
  reply = r.Json().as_object();
  EXPECT_EQ(reply["data"].as_array()[0].as_object()["output_truncated"], true);
  // Under the cap nothing changes.
  auto small = JudgeRequest("c", "#include <stdio.h>\nint main(){puts(\"3\");}", {{"", "3"}});
  small["output"] = true;
  r = server.Judge(small);
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 500);
  reply = r.Json().as_object();
  // Once (under load, in a full ctest -j2) this reply had no output_truncated: say what it was.
  ASSERT_TRUE(reply["data"].is_array()) << r.body.substr(0, 500);
  EXPECT_EQ(reply["output_truncated"], false) << r.body.substr(0, 500);
  EXPECT_EQ(reply["data"].as_array()[0].as_object()["output"], "3\n");
  ExpectAliveAndBounded(server, 1 << 20);
}

// ---- 5. /healthz and /ping from the I/O path with every slot busy and the queue full. ----

TEST_F(HttpHardeningTest, HealthzAndPingAnswerWithEverySlotBusyAndTheQueueFull) {
  ServerProcess server({"--slots", "1", "--queue", "2"});
  auto slow =
      JudgeRequest("c", "#include <unistd.h>\nint main(){sleep(30);return 0;}", {{"", ""}}, 1000);
  slow["max_real_time"] = 2000;
  std::vector<std::future<HttpResponse>> pending;
  for (int i = 0; i < 3; ++i) {
    pending.push_back(std::async(std::launch::async, [&] { return server.Judge(slow); }));
  }
  // Wait (bounded) until one runs and two wait.
  bool full = false;
  for (auto deadline = Clock::now() + 10s; !full && Clock::now() < deadline;) {
    json::object p = HttpRequest(server.port(), "GET", "/ping").Json().as_object();
    full = p["running"] == 1 && p["queued"] == 2;
    if (!full) std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(full) << "the slot and the queue never filled";
  for (const char* path : {"/healthz", "/ping"}) {
    Conn c(server.port());
    c.Send(std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(c.ReadReply(3000ms).status, 200) << path << " did not answer while judging";
  }
  EXPECT_EQ(server.Judge(slow).status, 503);
  // --healthcheck, the image's HEALTHCHECK, agrees.
  std::string cmd = JudgeServerBinary() + " --healthcheck --port " + std::to_string(server.port()) +
                    " >/dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  for (auto& f : pending) EXPECT_EQ(f.get().status, 200);
  EXPECT_TRUE(server.Alive());
}

TEST_F(HttpHardeningTest, HealthcheckFlagExitsZeroOnlyForAHealthyServer) {
  ServerProcess server;
  auto run = [](const std::string& args) {
    int status = std::system(
        (JudgeServerBinary() + " --healthcheck " + args + " >/dev/null 2>&1 </dev/null").c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(run("--port " + std::to_string(server.port())), 0);
  EXPECT_EQ(run("--port=" + std::to_string(server.port())), 0);
  // JUDGE_PORT is what the image sets.
  EXPECT_EQ(std::system(("JUDGE_PORT=" + std::to_string(server.port()) + " " + JudgeServerBinary() +
                         " --healthcheck >/dev/null")
                            .c_str()),
            0);
  // Nothing listening: 1.
  int probe = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len);
  const int free_port = ntohs(addr.sin_port);
  close(probe);
  EXPECT_EQ(run("--port " + std::to_string(free_port)), 1);
  // Something that answers 503: 1.
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  addr.sin_port = 0;
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::thread answer([listener] {
    int c = accept(listener, nullptr, nullptr);
    char buf[1024];
    (void)!read(c, buf, sizeof(buf));
    const char reply[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
    (void)!write(c, reply, sizeof(reply) - 1);
    close(c);
  });
  EXPECT_EQ(run("--port " + std::to_string(ntohs(addr.sin_port))), 1);
  answer.join();
  close(listener);
}

// ---- Fuzz: many malformed requests, fixed seed, bounded time. ----

std::string Mutate(std::mt19937& rng, int port_token_kind) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto random_bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  };
  const std::string token = port_token_kind == 0 ? TokenHeader() : std::string(64, 'f');
  const std::vector<std::string> bases = {
      "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n",
      "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /metrics HTTP/1.0\r\n\r\n",
      "POST /judge HTTP/1.1\r\nHost: x\r\nX-Judge-Server-Token: " + token +
          "\r\nContent-Length: 23\r\n\r\n{\"language\":\"nope\",\"a\"}",
      "POST /judge HTTP/1.1\r\nHost: x\r\nX-Judge-Server-Token: " + token +
          "\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\n{\"x\":\r\n3\r\n1}\n\r\n0\r\nT: "
          "v\r\n\r\n",
      "POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
      "GET /languages HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  };
  std::string req = bases[pick(static_cast<int>(bases.size()))];
  switch (pick(12)) {
    case 0: {  // byte flips, insertions, deletions
      for (int i = 0, n = 1 + pick(8); i < n && !req.empty(); ++i) {
        size_t at = static_cast<size_t>(pick(static_cast<int>(req.size())));
        switch (pick(3)) {
          case 0:
            req[at] = static_cast<char>(rng());
            break;
          case 1:
            req.insert(at, random_bytes(1 + pick(16)));
            break;
          default:
            req.erase(at, 1 + pick(8));
        }
      }
      break;
    }
    case 1:  // bad methods
      req.replace(0, req.find(' '),
                  std::vector<std::string>{"G\x01T", "", "PO ST", "GETT", std::string(5000, 'M'),
                                           "\xff\xfe", "CONNECT", "TRACE"}[pick(8)]);
      break;
    case 2:  // huge, negative, conflicting Content-Length
      req = "POST /judge HTTP/1.1\r\nHost: x\r\nX-Judge-Server-Token: " + token +
            "\r\nContent-Length: " +
            std::vector<std::string>{"-1",
                                     "99999999999999999999999",
                                     "18446744073709551616",
                                     "1e9",
                                     "0x10",
                                     "5, 6",
                                     " ",
                                     "4\r\nContent-Length: 5",
                                     "8388609"}[pick(9)] +
            "\r\n\r\nabcd";
      break;
    case 3:  // broken chunk sizes
      req = "POST /judge HTTP/1.1\r\nHost: x\r\nX-Judge-Server-Token: " + token +
            "\r\nTransfer-Encoding: chunked\r\n\r\n" +
            std::vector<std::string>{"zz\r\nab\r\n0\r\n\r\n",
                                     "-5\r\nab\r\n0\r\n\r\n",
                                     "ffffffffffffffffff\r\nab\r\n",
                                     "3\r\nabcdef\r\n0\r\n\r\n",
                                     "3\nabc\n0\n\n",
                                     "1;" + std::string(40000, 'x') + "\r\na\r\n0\r\n\r\n",
                                     "800001\r\n" + std::string(1000, 'a')}[pick(7)];
      break;
    case 4:  // random bytes
      req = random_bytes(static_cast<size_t>(pick(4096)));
      break;
    case 5:  // a long header line
      req.insert(req.find("\r\n") + 2, "X-Long: " + std::string(8000 + pick(60000), 'L') + "\r\n");
      break;
    case 6: {  // many headers
      std::string many;
      for (int i = 0, n = 100 + pick(3000); i < n; ++i)
        many += "X-" + std::to_string(i) + ": v\r\n";
      req.insert(req.find("\r\n") + 2, many);
      break;
    }
    case 7:  // odd trailers
      req = "GET /ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" +
            std::vector<std::string>{"X: " + std::string(70000, 't') + "\r\n\r\n",
                                     "bad trailer\r\n\r\n", "Content-Length: 5\r\n\r\n",
                                     ": v\r\n\r\n", "X: a\r\n b\r\n\r\n"}[pick(5)];
      break;
    case 8:  // truncated anywhere
      req.resize(static_cast<size_t>(pick(static_cast<int>(req.size()) + 1)));
      break;
    case 9:  // bad versions and targets
      req = std::vector<std::string>{
          "GET /ping HTTP/9.9\r\n\r\n",       "GET /ping HTTP/1.1 x\r\n\r\n",
          "GET ping HTTP/1.1\r\n\r\n",        "GET /p\x00ng HTTP/1.1\r\n\r\n",
          "GET  /ping HTTP/1.1\r\n\r\n",      "GET /ping\r\n\r\n",
          "GET * HTTP/1.1\r\nHost: x\r\n\r\n"}[pick(7)];
      break;
    case 10:  // pipelined: a good request then garbage
      req = bases[0] + random_bytes(static_cast<size_t>(1 + pick(512)));
      break;
    default:  // both Transfer-Encoding and Content-Length, or an unknown encoding
      req = "POST /judge HTTP/1.1\r\nHost: x\r\nX-Judge-Server-Token: " + token +
            (pick(2) ? "\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"
                     : "\r\nTransfer-Encoding: gzip\r\n\r\nabc");
  }
  return req;
}

TEST_F(HttpHardeningTest, FuzzedMalformedRequestsNeverKillTheServer) {
  ServerProcess server({"--header-timeout", "2", "--body-timeout", "2"});
  const int64_t base = PeakRssMb(server.pid());
  std::mt19937 rng(20261125);
  const auto stop = Clock::now() + 20s;
  int sent = 0, answered = 0, closed_silently = 0;
  for (; sent < 2000 && Clock::now() < stop; ++sent) {
    std::string request = Mutate(rng, sent % 3);
    Conn c(server.port());
    ASSERT_TRUE(c.ok()) << "connect failed after " << sent << " requests";
    c.Send(request, 2000ms);
    c.ShutdownWrite();
    std::string got;
    ASSERT_TRUE(c.ReadUntilClose(10000ms, &got))
        << "request " << sent
        << " left its connection open: " << ::testing::PrintToString(request.substr(0, 200));
    if (got.empty()) {
      ++closed_silently;
      continue;
    }
    ++answered;
    ASSERT_EQ(got.rfind("HTTP/1.1 ", 0), 0u) << got.substr(0, 200);
    // Every reply on the connection: never a server error.
    for (size_t at = 0; (at = got.find("HTTP/1.1 ", at)) != std::string::npos; at += 9) {
      int status = std::atoi(got.c_str() + at + 9);
      EXPECT_TRUE(status >= 200 && status < 500)
          << "status " << status << " for " << ::testing::PrintToString(request.substr(0, 200));
    }
    if (sent % 100 == 0) {
      ASSERT_TRUE(server.Alive()) << "died after request " << sent;
    }
  }
  std::cout << "fuzz: " << sent << " requests, " << answered << " answered, " << closed_silently
            << " closed without a reply\n";
  EXPECT_GT(sent, 0);
  ExpectAliveAndBounded(server, base + kSlackMb);
}

}  // namespace
}  // namespace judge::testing
