// The pure parts of the judge server's transport hardening: the reply-output cap, the
// connection-cap default, the event loop that survives a throwing handler, the probe's
// address choice.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <stdexcept>

#include "judge_server/healthcheck.h"
#include "judge_server/http_server.h"
#include "judge_server/judge_service.h"

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

TEST(HealthcheckTest, ProbesLoopbackForWildcardAddresses) {
  EXPECT_EQ(ProbeAddressFor("0.0.0.0"), "127.0.0.1");
  EXPECT_EQ(ProbeAddressFor(""), "127.0.0.1");
  EXPECT_EQ(ProbeAddressFor("::"), "::1");
  EXPECT_EQ(ProbeAddressFor("10.0.0.5"), "10.0.0.5");
  EXPECT_FALSE(ProbeHealthz("not-an-address", 1, std::chrono::milliseconds(100)).ok());
}

}  // namespace
}  // namespace judge
