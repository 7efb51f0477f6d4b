// The musketeer CLI's shared pieces: argument parsing, flag values, and table output.
#include <gtest/gtest.h>

#include <iostream>
#include <sstream>

#include "clients/musketeer/cli.h"

namespace musketeer::cli {
namespace {

TEST(ReportTest, ExitThreeOnlyWhenMusketeerdItselfCouldNotBeReached) {
  // No trailers: the transport failed (musketeerd down, wrong endpoint).
  EXPECT_EQ(Report(grpc::Status(grpc::StatusCode::UNAVAILABLE, "failed to connect")),
            kUnreachable);
  EXPECT_EQ(Report(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no token")), kUnreachable);
  // musketeerd answered UNAVAILABLE: a node's engine did not answer it.
  grpc::ClientContext ctx;  // no call made: no trailers, nothing marked
  EXPECT_EQ(Answered(ctx, grpc::Status(grpc::StatusCode::UNAVAILABLE, "x")).error_details(), "");
  EXPECT_EQ(Report(grpc::Status(grpc::StatusCode::UNAVAILABLE, "images/load: broken pipe",
                                "musketeer-answered")),
            kFailed);
  EXPECT_EQ(Report(grpc::Status(grpc::StatusCode::NOT_FOUND, "no such service")), kFailed);
}

TEST(ArgsTest, SeparatesFlagsBooleansAndPositionals) {
  Args a({"--name", "web", "-d", "--env=A=1", "img", "-e", "B=2", "cmd"}, {"-d"});
  ASSERT_EQ(a.error(), "");
  EXPECT_EQ(a.Get("--name"), "web");
  EXPECT_TRUE(a.Has("-d"));
  EXPECT_EQ(a.Get("--env"), "A=1");
  EXPECT_EQ(a.All("-e"), std::vector<std::string>{"B=2"});
  EXPECT_EQ(a.positional(), (std::vector<std::string>{"img", "cmd"}));
  EXPECT_EQ(a.Get("--missing", "fallback"), "fallback");
}

TEST(ArgsTest, RepeatedFlagsKeepEveryValueInOrder) {
  Args a({"--node", "w1", "--node", "w2", "--node=w3"}, {});
  EXPECT_EQ(a.All("--node"), (std::vector<std::string>{"w1", "w2", "w3"}));
}

TEST(ArgsTest, WithoutInterspersingEverythingAfterThePositionalIsTheCommand) {
  Args a({"--name", "x", "img", "sh", "-c", "--flag"}, {}, /*interspersed=*/false);
  ASSERT_EQ(a.error(), "");
  EXPECT_EQ(a.positional(), (std::vector<std::string>{"img", "sh", "-c", "--flag"}));
  Args dashes({"-d", "--", "--not-a-flag"}, {"-d"});
  EXPECT_EQ(dashes.positional(), std::vector<std::string>{"--not-a-flag"});
}

TEST(ArgsTest, AFlagWithoutItsValueIsAnError) {
  Args a({"node", "--driver"}, {});
  EXPECT_EQ(a.error(), "flag --driver needs a value");
}

TEST(FlagValuesTest, DurationsInMilliseconds) {
  struct Case {
    std::string text;
    uint32_t ms;
  };
  for (const Case& c :
       std::vector<Case>{{"500ms", 500},
                         {"2s", 2000},
                         {"1.5m", 90000},
                         {"3", 3000},
                         {"0.25s", 250},
                         {"1m30s", 90000},  // Go durations, as docker's flags take them
                         {"1h", 3600000},
                         {"1h2m3s4ms", 3723004},
                         {"1500us", 1}}) {
    uint32_t ms = 0;
    EXPECT_TRUE(ParseDurationMs(c.text, &ms)) << c.text;
    EXPECT_EQ(ms, c.ms) << c.text;
  }
  for (const std::string bad : {"", "s", "5y", "ms", "-1s", "1m30", "1h-2m", "5000h"}) {
    uint32_t ms = 7;
    EXPECT_FALSE(ParseDurationMs(bad, &ms)) << bad;
  }
}

TEST(FlagValuesTest, SizesInPowersOf1024) {
  struct Case {
    std::string text;
    int64_t bytes;
  };
  for (const Case& c : std::vector<Case>{
           {"4096", 4096}, {"1k", 1024}, {"512M", 512 << 20}, {"1.5g", 1610612736}, {"10b", 10}}) {
    int64_t bytes = 0;
    EXPECT_TRUE(ParseBytes(c.text, &bytes)) << c.text;
    EXPECT_EQ(bytes, c.bytes) << c.text;
  }
  for (const std::string bad : {"", "M", "5Q", "1kb"}) {
    int64_t bytes = 0;
    EXPECT_FALSE(ParseBytes(bad, &bytes)) << bad;
  }
}

TEST(FlagValuesTest, KeyValuePairsSplitAtTheFirstEquals) {
  EXPECT_EQ(SplitKeyValue("K=V"), std::make_pair(std::string("K"), std::string("V")));
  EXPECT_EQ(SplitKeyValue("K"), std::make_pair(std::string("K"), std::string()));
  EXPECT_EQ(SplitKeyValue("K=a=b"), std::make_pair(std::string("K"), std::string("a=b")));
}

TEST(FlagValuesTest, DetachAndForceTakeEitherSpelling) {
  EXPECT_TRUE(Detach(Args({"-d"}, {"-d"})));
  EXPECT_TRUE(Detach(Args({"--detach"}, {"--detach"})));
  EXPECT_FALSE(Detach(Args({"x"}, {})));
  EXPECT_TRUE(Force(Args({"-f"}, {"-f"})));
  EXPECT_TRUE(Force(Args({"--force"}, {"--force"})));
  EXPECT_FALSE(Force(Args({}, {})));
}

TEST(FlagValuesTest, AFlagTheCommandDoesNotTakeIsNamedNotIgnored) {
  const std::string usage = "--name NAME [--replicas N] [-p|--publish PUB:TARGET] [-a|--all] IMAGE";
  const std::vector<std::string> booleans = {"-d", "--detach", "-a", "--all"};
  auto unknown = [&](std::vector<std::string> argv) {
    return UnknownFlag(Args(argv, booleans, /*interspersed=*/false), usage, booleans);
  };
  EXPECT_EQ(unknown({"--name", "web", "-p", "80:80", "--publish=81:81", "-d", "img"}), "");
  EXPECT_EQ(unknown({"--endpoint", "h:1", "--format", "json", "--name", "web", "img"}), "")
      << "the global flags";
  EXPECT_EQ(unknown({"--name", "web", "--replica", "3", "img"}), "--replica") << "a typo";
  EXPECT_EQ(unknown({"--mount", "type=bind", "--name", "web", "img"}), "--mount");
  EXPECT_EQ(unknown({"--name", "web", "img", "--mount", "x"}), "")
      << "after the image: the command's own arguments";
}

TEST(OutputTest, TablesPadColumnsToTheWidestCell) {
  std::ostringstream captured;
  std::streambuf* old = std::cout.rdbuf(captured.rdbuf());
  PrintTable({"NAME", "STATE"}, {{"manager1", "running"}, {"w", "stopped"}});
  std::cout.rdbuf(old);
  EXPECT_EQ(captured.str(),
            "NAME       STATE\n"
            "manager1   running\n"
            "w          stopped\n");
}

TEST(OutputTest, ProgressBarsFillInProportion) {
  EXPECT_EQ(Bar(0, 4, 10), "[>         ]");
  EXPECT_EQ(Bar(2, 4, 10), "[=====>    ]");
  EXPECT_EQ(Bar(4, 4, 10), "[==========]");
  EXPECT_EQ(Bar(0, 0, 4), "[====]");
}

TEST(OutputTest, JsonIsChosenByTheFormatFlag) {
  EXPECT_TRUE(Json(Args({"--format", "json"}, {})));
  EXPECT_FALSE(Json(Args({"--format", "table"}, {})));
  EXPECT_FALSE(Json(Args({}, {})));
}

}  // namespace
}  // namespace musketeer::cli
