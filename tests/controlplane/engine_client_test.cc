// The Engine API client against a scripted HTTP server on a unix socket: version
// negotiation, chunked bodies, error bodies and their codes, deadlines, a server that
// closes mid-response, connection reuse.
#include "controlplane/engine/engine_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <set>
#include <mutex>
#include <thread>

namespace musketeer::engine {
namespace {

using ::testing::HasSubstr;

// Serves each request with whatever `respond(request_head)` returns as raw bytes;
// an empty answer closes the connection, "HANG" answers nothing, an answer ending in
// "<<close>>" is written and then the connection closed, and one ending in "<<hold>>" is
// written and the connection then kept open without another byte.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<std::string(const std::string&)> respond)
      : respond_(std::move(respond)) {
    path_ = ::testing::TempDir() + "/engine-" + std::to_string(getpid()) + "-" +
            std::to_string(counter_++) + ".sock";
    unlink(path_.c_str());
    fd_ = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd_, 8) != 0)
      abort();
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
    {
      std::lock_guard lock(mu_);
      for (int c : open_) shutdown(c, SHUT_RDWR);
    }
    for (auto& t : connections_) t.join();
    unlink(path_.c_str());
  }
  Endpoint endpoint() const { return *Endpoint::Parse("unix://" + path_); }
  int accepts() const { return accepts_; }
  std::vector<std::string> targets() {
    std::lock_guard lock(mu_);
    return targets_;
  }

 private:
  // Each connection is served by a thread of its own, as dockerd does.
  void Serve() {
    while (true) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++accepts_;
      std::lock_guard lock(mu_);
      open_.insert(c);
      connections_.emplace_back([this, c] { ServeConnection(c); });
    }
  }
  void ServeConnection(int c) {
    {
      std::string buf;
      char chunk[4096];
      while (true) {
        size_t end = buf.find("\r\n\r\n");
        if (end == std::string::npos) {
          ssize_t n = read(c, chunk, sizeof(chunk));
          if (n <= 0) break;
          buf.append(chunk, n);
          continue;
        }
        std::string head = buf.substr(0, end);
        buf.erase(0, end + 4);
        {
          std::lock_guard lock(mu_);
          targets_.push_back(head.substr(0, head.find("\r\n")));
        }
        std::string answer = respond_(head);
        if (answer == "HANG") {
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
          break;
        }
        if (answer.empty()) break;
        const std::string kHold = "<<hold>>";  // write, then keep the connection open and quiet
        if (answer.size() >= kHold.size() &&
            answer.compare(answer.size() - kHold.size(), kHold.size(), kHold) == 0) {
          answer.resize(answer.size() - kHold.size());
          (void)!write(c, answer.data(), answer.size());
          while (read(c, chunk, sizeof(chunk)) > 0) {
          }
          break;
        }
        const std::string kClose = "<<close>>";
        bool close_after =
            answer.size() >= kClose.size() &&
            answer.compare(answer.size() - kClose.size(), kClose.size(), kClose) == 0;
        if (close_after) answer.resize(answer.size() - kClose.size());
        (void)!write(c, answer.data(), answer.size());
        if (close_after) break;
      }
    }
    std::lock_guard lock(mu_);
    open_.erase(c);
    close(c);
  }

  static inline std::atomic<int> counter_{0};
  std::function<std::string(const std::string&)> respond_;
  std::string path_;
  int fd_;
  std::thread thread_;
  std::atomic<int> accepts_{0};
  std::mutex mu_;
  std::vector<std::string> targets_;
  std::set<int> open_;
  std::vector<std::thread> connections_;
};

std::string Json(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

std::string VersionOr(const std::string& head, const std::string& answer,
                      const std::string& api = "1.43") {
  if (head.rfind("GET /version ", 0) == 0)
    return Json(200, R"({"ApiVersion":")" + api + R"(","Version":"24.0"})");
  return answer;
}

TEST(EndpointTest, ParsesUnixAndTcpAndRejectsTheRest) {
  EXPECT_EQ(Endpoint::Parse("unix:///var/run/docker.sock")->path, "/var/run/docker.sock");
  auto tcp = Endpoint::Parse("tcp://10.213.0.2:2376");
  ASSERT_TRUE(tcp.ok());
  EXPECT_EQ(tcp->host, "10.213.0.2");
  EXPECT_EQ(tcp->port, 2376);
  for (const char* bad : {"unix://relative", "tcp://host", "tcp://h:99999", "http://x:1", ""}) {
    auto e = Endpoint::Parse(bad);
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(EngineClientTest, NegotiatesDownToOurMaxAndPrefixesPaths) {
  ScriptedServer server(
      [](const std::string& head) { return VersionOr(head, Json(200, R"({"ID":"abc"})")); });
  EngineClient client(server.endpoint());
  auto info = client.Info();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->as_object().at("ID"), "abc");
  EXPECT_EQ(*client.ApiVersion(), "1.41");  // the daemon speaks 1.43, we speak 1.41
  EXPECT_THAT(server.targets(),
              ::testing::ElementsAre("GET /version HTTP/1.1", "GET /v1.41/info HTTP/1.1"));
  EXPECT_EQ(server.accepts(), 1) << "one connection, reused";
}

TEST(EngineClientTest, UsesAnOlderDaemonsVersion) {
  ScriptedServer server(
      [](const std::string& head) { return VersionOr(head, Json(200, "[]"), "1.40"); });
  EngineClient client(server.endpoint());
  ASSERT_TRUE(client.ListImages().ok());
  EXPECT_EQ(server.targets().back(), "GET /v1.40/images/json HTTP/1.1");
}

TEST(EngineClientTest, ReadsChunkedBodies) {
  ScriptedServer server([](const std::string& head) {
    return VersionOr(
        head,
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
        "5\r\n[{\"Id\r\n6\r\n\":\"x\"}\r\n1\r\n]\r\n0\r\n\r\n");
  });
  EngineClient client(server.endpoint());
  auto list = client.ListContainers();
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->as_array().at(0).as_object().at("Id"), "x");
}

TEST(EngineClientTest, MapsDaemonErrorsToStatusCodesWithTheMessage) {
  struct Case {
    int http;
    absl::StatusCode code;
  } cases[] = {
      {400, absl::StatusCode::kInvalidArgument}, {404, absl::StatusCode::kNotFound},
      {409, absl::StatusCode::kAlreadyExists},   {503, absl::StatusCode::kUnavailable},
      {500, absl::StatusCode::kInternal},        {403, absl::StatusCode::kPermissionDenied}};
  for (const Case& c : cases) {
    ScriptedServer server([&](const std::string& head) {
      return VersionOr(head, Json(c.http, R"({"message":"daemon says no"})"));
    });
    EngineClient client(server.endpoint());
    auto r = client.SwarmInspect();
    EXPECT_EQ(r.status().code(), c.code) << c.http;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("daemon says no"));
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("GET /swarm"));
  }
}

TEST(EngineClientTest, DeadlineExceededWhenTheDaemonDoesNotAnswer) {
  ScriptedServer server([](const std::string& head) { return VersionOr(head, "HANG"); });
  EngineClient client(server.endpoint(), std::chrono::milliseconds(2000));
  auto start = std::chrono::steady_clock::now();
  auto r = client.Call("GET", "/info", nullptr, std::chrono::milliseconds(100));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
}

TEST(EngineClientTest, ServerClosingMidResponseIsUnavailable) {
  ScriptedServer server([](const std::string& head) {
    return VersionOr(head, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\"<<close>>");
  });
  EngineClient client(server.endpoint(), std::chrono::milliseconds(5000));
  auto r = client.Info();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("GET /v1.41/info"));
}

TEST(EngineClientTest, NoDaemonIsUnavailableWithAHint) {
  EngineClient client(*Endpoint::Parse("unix:///nonexistent/docker.sock"));
  auto r = client.Info();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("is dockerd running"));
}

TEST(EngineClientTest, ReconnectsWhenTheDaemonClosedTheIdleConnection) {
  std::atomic<int> served{0};
  ScriptedServer server([&](const std::string& head) {
    // Answer, then announce close: the client must open a new connection next time.
    ++served;
    std::string body = head.rfind("GET /version ", 0) == 0 ? R"({"ApiVersion":"1.41"})" : "{}";
    return "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  });
  EngineClient client(server.endpoint());
  ASSERT_TRUE(client.Info().ok());
  ASSERT_TRUE(client.Info().ok());
  EXPECT_EQ(served, 3);
  EXPECT_EQ(server.accepts(), 3);
}

TEST(EngineClientTest, ASlowCallDoesNotHoldUpTheOthersAndIdleConnectionsAreReused) {
  std::atomic<bool> slow_answered{false};
  ScriptedServer server([&](const std::string& head) {
    if (head.rfind("GET /v1.41/slow ", 0) == 0) {
      std::this_thread::sleep_for(std::chrono::seconds(2));
      slow_answered = true;
    }
    return VersionOr(head, Json(200, "{}"));
  });
  EngineClient client(server.endpoint());
  ASSERT_TRUE(client.Info().ok());  // negotiates; leaves one idle connection
  std::thread slow([&] { EXPECT_TRUE(client.Call("GET", "/slow").ok()); });
  while (server.targets().size() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client.Info().ok());
  EXPECT_FALSE(slow_answered) << "the fast calls waited for the slow one";
  slow.join();
  EXPECT_EQ(server.accepts(), 2)
      << "the slow call took the idle connection, the fast ones shared one more";
  ASSERT_TRUE(client.Info().ok());
  EXPECT_EQ(server.accepts(), 2) << "both connections went back to the pool";
}

TEST(EngineClientTest, AFollowedStreamEndsWhenItsReaderGoesAwayThoughNothingArrives) {
  ScriptedServer server([](const std::string& head) {
    return VersionOr(head,
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n<<hold>>");
  });
  EngineClient client(server.endpoint());
  // Without the check the read would wait out this idle limit and end DEADLINE_EXCEEDED.
  auto stream =
      client.OpenStream("GET", "/services/x/logs?follow=1", nullptr, "", std::chrono::seconds(20));
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::atomic<bool> gone{false};
  (*stream)->set_cancelled([&] { return gone.load(); });
  char buf[64];
  auto n = (*stream)->Read(buf, sizeof buf);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(std::string(buf, *n), "hello");
  // Nothing more comes; the reader leaves. The read must end now, not after the idle limit.
  std::thread leave([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    gone = true;
  });
  auto r = (*stream)->Read(buf, sizeof buf);
  leave.join();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
}

TEST(VersionTest, ComparesNumerically) {
  EXPECT_TRUE(VersionLess("1.9", "1.41"));
  EXPECT_TRUE(VersionLess("1.40", "1.41"));
  EXPECT_FALSE(VersionLess("1.41", "1.41"));
  EXPECT_FALSE(VersionLess("1.43", "1.41"));
}

}  // namespace
}  // namespace musketeer::engine

namespace musketeer::engine {
namespace {

TEST(EngineClientTest, TellsItsObserverOfEveryExchangeAndItsOutcome) {
  ScriptedServer server([](const std::string& head) {
    if (head.find("/swarm") != std::string::npos)
      return VersionOr(head, Json(503, R"({"message":"no swarm"})"));
    return VersionOr(head, Json(200, "[]"));
  });
  std::vector<std::string> outcomes;
  std::mutex mu;
  EngineClient client(server.endpoint(), std::chrono::seconds(5),
                      [&](const char* outcome, double seconds) {
                        std::lock_guard lock(mu);
                        EXPECT_GE(seconds, 0);
                        outcomes.push_back(outcome);
                      });
  EXPECT_TRUE(client.ListImages().ok());
  EXPECT_FALSE(client.SwarmInspect().ok());
  // The version negotiation, the list, the refused inspect.
  EXPECT_EQ(outcomes, (std::vector<std::string>{"ok", "ok", "error"}));

  outcomes.clear();
  EngineClient gone(*Endpoint::Parse("unix:///nonexistent/docker.sock"), std::chrono::seconds(2),
                    [&](const char* outcome, double) { outcomes.push_back(outcome); });
  EXPECT_FALSE(gone.Ping().ok());
  EXPECT_EQ(outcomes, (std::vector<std::string>{"unreachable"}));
}

}  // namespace
}  // namespace musketeer::engine
