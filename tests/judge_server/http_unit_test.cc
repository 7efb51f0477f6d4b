// The pure parts of the judge server's transport hardening: the reply-output cap, the
// connection-cap default, the event loop that survives a throwing handler, the probe's
// address choice.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <future>
#include <stdexcept>
#include <thread>

#include "judge_server/healthcheck.h"
#include "judge_server/http_server.h"
#include "judge_server/judge_service.h"
#include "judge_server/watchdog.h"

namespace judge {
namespace {

using ::testing::HasSubstr;
namespace json = boost::json;

JudgeOutcome Outputs(const std::vector<std::string>& outputs) {
  JudgeOutcome o;
  o.verdict = Verdict::kAccepted;
  int i = 0;
  for (const auto& out : outputs) {
    CaseResult c;
    c.test_case = std::to_string(++i);
    c.verdict = Verdict::kAccepted;
    c.run.stdout_data = out;
    o.cases.push_back(c);
  }
  return o;
}

TEST(ReplyOutputCapTest, UnderTheCapEveryOutputIsWhole) {
  auto v = json::parse(RenderOutcome(Outputs({"3\n", "7\n"}), true, "h", false, 100)).as_object();
  EXPECT_EQ(v["output_truncated"], false);
  EXPECT_FALSE(v.contains("output_message"));
  EXPECT_EQ(v["data"].as_array()[1].as_object()["output"], "7\n");
  EXPECT_EQ(v["data"].as_array()[1].as_object()["output_truncated"], false);
}

TEST(ReplyOutputCapTest, CutsWhereTheBudgetEndsAndSaysSo) {
  std::string body =
      RenderOutcome(Outputs({std::string(600, 'a'), std::string(600, 'b'), std::string(600, 'c')}),
                    true, "h", false, 1000);
  auto v = json::parse(body).as_object();
  auto cases = v["data"].as_array();
  EXPECT_EQ(cases[0].as_object()["output"].as_string().size(), 600u);
  EXPECT_EQ(cases[0].as_object()["output_truncated"], false);
  EXPECT_EQ(cases[1].as_object()["output"].as_string().size(), 400u);
  EXPECT_EQ(cases[1].as_object()["output_truncated"], true);
  EXPECT_EQ(cases[2].as_object()["output"], "");
  EXPECT_EQ(cases[2].as_object()["output_truncated"], true);
  EXPECT_EQ(v["output_truncated"], true);
  EXPECT_THAT(std::string(v["output_message"].as_string()), HasSubstr("--max-reply-output"));
}

TEST(ReplyOutputCapTest, CountsBytesAsSentOnceEscaped) {
  // 1000 NUL bytes are 6000 bytes of JSON; a 600-byte budget holds 100 of them.
  std::string body = RenderOutcome(Outputs({std::string(1000, '\0')}), true, "h", false, 600);
  auto c = json::parse(body).as_object()["data"].as_array()[0].as_object();
  EXPECT_EQ(c["output"].as_string().size(), 100u);
  EXPECT_LT(body.size(), 600u + 1024u);
  // Quotes and newlines take two bytes each.
  body = RenderOutcome(Outputs({std::string(100, '"')}), true, "h", false, 101);
  EXPECT_EQ(
      json::parse(body).as_object()["data"].as_array()[0].as_object()["output"].as_string().size(),
      50u);
}

TEST(ReplyOutputCapTest, NeverSplitsAUtf8Character) {
  // "é" is two bytes: a budget of 5 fits "ab" and one "é" (4 bytes), not half of the next.
  std::string body = RenderOutcome(Outputs({"ab\xc3\xa9\xc3\xa9"}), true, "h", false, 5);
  EXPECT_EQ(json::parse(body).as_object()["data"].as_array()[0].as_object()["output"],
            "ab\xc3\xa9");
}

TEST(ReplyOutputCapTest, WithoutOutputRequestedNothingChanges) {
  auto v = json::parse(RenderOutcome(Outputs({"3\n"}), false, "h", false, 1)).as_object();
  EXPECT_TRUE(v["data"].as_array()[0].as_object()["output"].is_null());
  EXPECT_FALSE(v.contains("output_truncated"));
}

class NofileLimit {
 public:
  explicit NofileLimit(rlim_t soft) {
    getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit rl = saved_;
    rl.rlim_cur = std::min(soft, saved_.rlim_max);
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  ~NofileLimit() { setrlimit(RLIMIT_NOFILE, &saved_); }

 private:
  rlimit saved_{};
};

TEST(DefaultMaxConnectionsTest, LeavesHeadroomBelowTheFdLimit) {
  {
    NofileLimit limit(1024);
    int cap = DefaultMaxConnections(/*slots=*/2, /*threads=*/2);
    EXPECT_EQ(cap, 1024 - (32 + 4 * 2 + 16 * 2));
  }
  {
    NofileLimit limit(100);  // headroom would take most of it: keep half for connections
    EXPECT_EQ(DefaultMaxConnections(4, 4), 50);
  }
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_max >= 1 << 20) {
    NofileLimit limit(1 << 20);
    EXPECT_EQ(DefaultMaxConnections(2, 2), 4096);
  }
}

TEST(RunIoContextTest, AThrowingHandlerIsLoggedAndTheLoopGoesOn) {
  boost::asio::io_context io;
  int ran = 0;
  boost::asio::post(io, [&] { ++ran; });
  boost::asio::post(io, [] { throw std::length_error("field value too large"); });
  boost::asio::post(io, [&] { ++ran; });
  boost::asio::post(io, [] { throw 42; });
  boost::asio::post(io, [&] { ++ran; });
  RunIoContext(io);
  EXPECT_EQ(ran, 3);
}

// The image's liveness check: a running event loop is never reported, a stuck one is, once.
TEST(WatchdogTest, ReportsOnlyTheContextThatStopsRunningHandlers) {
  boost::asio::io_context alive, stuck;
  auto alive_guard = boost::asio::make_work_guard(alive);
  auto stuck_guard = boost::asio::make_work_guard(stuck);
  std::thread alive_thread([&] { alive.run(); });
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::thread stuck_thread([&] { stuck.run(); });
  boost::asio::post(stuck, [released] { released.wait(); });  // a handler that never returns
  std::promise<std::pair<size_t, Watchdog::Clock::duration>> reported;
  auto report = reported.get_future();
  std::atomic<int> calls{0};
  {
    Watchdog dog({&alive, &stuck}, std::chrono::milliseconds(300),
                 [&](size_t i, Watchdog::Clock::duration silent) {
                   if (calls++ == 0) reported.set_value({i, silent});
                 },
                 std::chrono::milliseconds(50));
    ASSERT_EQ(report.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    auto [index, silent] = report.get();
    EXPECT_EQ(index, 1u);
    EXPECT_GE(silent, std::chrono::milliseconds(300));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(calls.load(), 1);
  release.set_value();
  alive_guard.reset();
  stuck_guard.reset();
  alive.stop();
  stuck.stop();
  alive_thread.join();
  stuck_thread.join();
}

TEST(WatchdogTest, BusyButRunningLoopsAreNotStalls) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  std::atomic<bool> stop{false};
  // A steady stream of 20 ms handlers: slow, but each posted beat still gets its turn.
  std::function<void()> busy = [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!stop) boost::asio::post(io, busy);
  };
  boost::asio::post(io, busy);
  std::atomic<int> calls{0};
  {
    Watchdog dog({&io}, std::chrono::milliseconds(500),
                 [&](size_t, Watchdog::Clock::duration) { ++calls; },
                 std::chrono::milliseconds(50));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  }
  EXPECT_EQ(calls.load(), 0);
  stop = true;
  guard.reset();
  io.stop();
  t.join();
}

TEST(HealthcheckTest, ProbesLoopbackForWildcardAddresses) {
  EXPECT_EQ(ProbeAddressFor("0.0.0.0"), "127.0.0.1");
  EXPECT_EQ(ProbeAddressFor(""), "127.0.0.1");
  EXPECT_EQ(ProbeAddressFor("::"), "::1");
  EXPECT_EQ(ProbeAddressFor("10.0.0.5"), "10.0.0.5");
  EXPECT_FALSE(ProbeHealthz("not-an-address", 1, std::chrono::milliseconds(100)).ok());
}

}  // namespace
}  // namespace judge
