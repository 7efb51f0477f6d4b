// pingload's pure parts, table-driven: durations, targets, headers, the command line, the
// response-head parser and plain-decimal numbers.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "clients/pingload/http_response.h"
#include "clients/pingload/options.h"
#include "clients/pingload/report.h"

namespace pingload {
namespace {

TEST(ParseDurationTest, AcceptsUnitsAndBareSeconds) {
  const struct {
    const char* text;
    double seconds;
  } cases[] = {
      {"500ms", 0.5},    {"4s", 4},     {"1m", 60}, {"1h", 3600},   {"1m30s", 90},
      {"250us", 250e-6}, {"1.5s", 1.5}, {"10", 10}, {"0.25", 0.25}, {"2m0.5s", 120.5},
  };
  for (const auto& c : cases) {
    absl::StatusOr<double> d = ParseDuration(c.text);
    ASSERT_TRUE(d.ok()) << c.text << ": " << d.status();
    EXPECT_DOUBLE_EQ(*d, c.seconds) << c.text;
  }
}

TEST(ParseDurationTest, RejectsWhatIsNotADurationSayingWhy) {
  const struct {
    const char* text;
    const char* message_part;
  } cases[] = {
      {"", "empty"},
      {"4x", "unknown unit 'x'"},
      {"s", "not a duration"},
      {"-1s", "not a duration"},
      {"0s", "not a positive duration"},
      {"0", "not a positive duration"},
      {"1m30", "mixes a bare number"},
      {"1..5s", "not a duration"},
      {"4 s", "unexpected ' '"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<double> d = ParseDuration(c.text);
    ASSERT_FALSE(d.ok()) << "'" << c.text << "' parsed as " << *d;
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(d.status().message().find(c.message_part), absl::string_view::npos)
        << "'" << c.text << "': " << d.status().message();
  }
}

TEST(ParseTargetTest, TakesUrlsAndHostPort) {
  const struct {
    const char* text;
    Target want;
  } cases[] = {
      {"http://127.0.0.1:18295/ping", {"127.0.0.1", 18295, "/ping", "127.0.0.1:18295"}},
      {"http://127.0.0.1:8090", {"127.0.0.1", 8090, "/default", "127.0.0.1:8090"}},
      {"http://127.0.0.1:8090/", {"127.0.0.1", 8090, "/", "127.0.0.1:8090"}},
      {"http://example.test/a/b?x=1&y=2", {"example.test", 80, "/a/b?x=1&y=2", "example.test"}},
      {"http://h:1?q", {"h", 1, "/?q", "h:1"}},
      {"http://h:2/p#frag", {"h", 2, "/p", "h:2"}},
      {"HTTP://H:3/P", {"H", 3, "/P", "H:3"}},
      {"http://[::1]:8090/ping", {"::1", 8090, "/ping", "[::1]:8090"}},
      {"http://[::1]/", {"::1", 80, "/", "[::1]"}},
      {"10.213.0.2:8090", {"10.213.0.2", 8090, "/default", "10.213.0.2:8090"}},
      {"localhost:65535/x", {"localhost", 65535, "/x", "localhost:65535"}},
      {"[::1]:9", {"::1", 9, "/default", "[::1]:9"}},
  };
  for (const auto& c : cases) {
    absl::StatusOr<Target> t = ParseTarget(c.text, "/default");
    ASSERT_TRUE(t.ok()) << c.text << ": " << t.status();
    EXPECT_EQ(t->host, c.want.host) << c.text;
    EXPECT_EQ(t->port, c.want.port) << c.text;
    EXPECT_EQ(t->path, c.want.path) << c.text;
    EXPECT_EQ(t->authority, c.want.authority) << c.text;
  }
}

TEST(ParseTargetTest, RejectsBadTargetsSayingWhy) {
  const struct {
    const char* text;
    const char* message_part;
  } cases[] = {
      {"https://h:443/", "https is not supported"},
      {"ftp://h/", "unknown scheme 'ftp'"},
      {"localhost", "neither a URL nor HOST:PORT"},
      {"h:0", "port '0' is not in 1..65535"},
      {"h:65536", "port '65536' is not in 1..65535"},
      {"h:http", "port 'http'"},
      {"h:+80", "port '+80'"},
      {"h:", "empty port"},
      {"http://:80/", "names no host"},
      {"http:///ping", "names no host"},
      {"http://u:p@h:80/", "user info"},
      {"::1:80", "IPv6 addresses in brackets"},
      {"http://[::1/", "unclosed '['"},
      {"http://[::1]x/", "junk after ']'"},
      {"http://h:1/a b", "space or control character"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<Target> t = ParseTarget(c.text, "/ping");
    ASSERT_FALSE(t.ok()) << c.text << " parsed";
    EXPECT_NE(t.status().message().find(c.message_part), absl::string_view::npos)
        << c.text << ": " << t.status().message();
    EXPECT_NE(t.status().message().find(c.text), absl::string_view::npos)
        << "the message names the target: " << t.status().message();
  }
}

TEST(ParseHeaderTest, NormalizesAndRejects) {
  EXPECT_EQ(*ParseHeader("X-Token:abc"), "X-Token: abc");
  EXPECT_EQ(*ParseHeader("  X-Token :  a b  "), "X-Token: a b");
  EXPECT_EQ(*ParseHeader("X-Empty:"), "X-Empty: ");
  EXPECT_EQ(*ParseHeader("Host: example:80"), "Host: example:80");
  const struct {
    const char* text;
    const char* message_part;
  } bad[] = {
      {"NoColon", "has no ':'"},
      {": v", "empty name"},
      {"Bad Name: v", "not allowed in names"},
      {"X: a\r\nInjected: 1", "line break"},
  };
  for (const auto& c : bad) {
    absl::StatusOr<std::string> h = ParseHeader(c.text);
    ASSERT_FALSE(h.ok()) << c.text;
    EXPECT_NE(h.status().message().find(c.message_part), absl::string_view::npos)
        << h.status().message();
  }
}

TEST(ParseArgsTest, LongShortAndEqualsFormsMeanTheSame) {
  const std::vector<std::vector<std::string>> spellings = {
      {"--connections", "64", "--duration", "4s", "--threads", "2", "--rate", "200", "--timeout",
       "500ms", "--header", "X-A: 1", "--json", "--svg", "o.svg", "http://h:1/p"},
      {"-c", "64", "-d", "4s", "-t", "2", "-R", "200", "-T", "500ms", "-H", "X-A: 1", "--json",
       "--svg", "o.svg", "http://h:1/p"},
      {"--connections=64", "--duration=4s", "--threads=2", "--rate=200", "--timeout=500ms",
       "--header=X-A: 1", "--json", "--svg=o.svg", "http://h:1/p"},
      {"-c64", "-d4s", "-t2", "-R200", "-T500ms", "-HX-A: 1", "http://h:1/p", "--json", "--svg",
       "o.svg"},
  };
  for (const auto& args : spellings) {
    absl::StatusOr<Options> o = ParseArgs(args);
    ASSERT_TRUE(o.ok()) << args[0] << ": " << o.status();
    EXPECT_EQ(o->connections, 64);
    EXPECT_DOUBLE_EQ(o->duration_s, 4);
    EXPECT_TRUE(o->duration_set);
    EXPECT_EQ(o->threads, 2);
    EXPECT_DOUBLE_EQ(o->rate, 200);
    EXPECT_DOUBLE_EQ(o->timeout_s, 0.5);
    EXPECT_EQ(o->headers, std::vector<std::string>{"X-A: 1"});
    EXPECT_TRUE(o->json);
    EXPECT_EQ(o->svg, "o.svg");
    ASSERT_EQ(o->targets.size(), 1u);
    EXPECT_EQ(o->targets[0].path, "/p");
  }
}

TEST(ParseArgsTest, DefaultsSeveralTargetsAndThePathOption) {
  absl::StatusOr<Options> o =
      ParseArgs({"-n", "1000", "10.0.0.1:80", "http://10.0.0.2:81/x", "--path", "/healthz"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->connections, 16);
  EXPECT_EQ(o->threads, 0);
  EXPECT_EQ(o->requests, 1000);
  EXPECT_FALSE(o->duration_set);
  EXPECT_DOUBLE_EQ(o->timeout_s, 5);
  ASSERT_EQ(o->targets.size(), 2u);
  EXPECT_EQ(o->targets[0].path, "/healthz") << "--path applies wherever it stands";
  EXPECT_EQ(o->targets[1].path, "/x") << "a URL's own path wins";

  absl::StatusOr<Options> dashes = ParseArgs({"-d", "1", "--", "-weird-host:80"});
  ASSERT_TRUE(dashes.ok()) << dashes.status();
  EXPECT_EQ(dashes->targets[0].host, "-weird-host");

  EXPECT_FALSE(o->sched_batch);
  EXPECT_FALSE(ParseArgs({"--sched", "normal", "h:1"})->sched_batch);
  EXPECT_TRUE(ParseArgs({"--sched=batch", "h:1"})->sched_batch);

  EXPECT_TRUE(ParseArgs({"--help"})->help);
  EXPECT_TRUE(ParseArgs({"-h"})->help);
  EXPECT_TRUE(ParseArgs({"--version"})->version);
  EXPECT_TRUE(ParseArgs({"-v"})->version);
}

TEST(ParseArgsTest, UsageErrorsSayWhatWasWrong) {
  const struct {
    std::vector<std::string> args;
    const char* message_part;
  } cases[] = {
      {{}, "give at least one target"},
      {{"-c", "0", "h:1"}, "--connections takes a whole number in 1..10000, not '0'"},
      {{"-c", "ten", "h:1"}, "not 'ten'"},
      {{"--connections"}, "--connections needs a value"},
      {{"-d", "4x", "h:1"}, "--duration: '4x': unknown unit 'x'"},
      {{"-d", "2h", "h:1"}, "--duration is at most 3600 s"},
      {{"-n", "-5", "h:1"}, "--requests takes a whole number"},
      {{"-t", "0", "h:1"}, "--threads takes a whole number in 1..256"},
      {{"--rate", "0", "h:1"}, "--rate takes requests per second"},
      {{"--rate", "fast", "h:1"}, "not 'fast'"},
      {{"--timeout", "0s", "h:1"}, "--timeout: '0s' is not a positive duration"},
      {{"-H", "nocolon", "h:1"}, "--header: header 'nocolon' has no ':'"},
      {{"--path", "ping", "h:1"}, "--path takes an absolute path"},
      {{"--frobnicate", "h:1"}, "unknown option '--frobnicate'"},
      {{"-x", "h:1"}, "unknown option '-x'"},
      {{"--json=yes", "h:1"}, "--json takes no value"},
      {{"--sched", "fifo", "h:1"}, "--sched takes batch or normal, not 'fifo'"},
      {{"http://127.0.0.1:18295/ping", "nonsense"}, "'nonsense' is neither a URL nor HOST:PORT"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<Options> o = ParseArgs(c.args);
    ASSERT_FALSE(o.ok()) << c.message_part;
    EXPECT_NE(o.status().message().find(c.message_part), absl::string_view::npos)
        << o.status().message();
  }
}

TEST(UsageTest, ListsEveryOption) {
  const std::string usage = Usage();
  for (const char* option : {"--connections", "--duration", "--requests",
                             "--rate",        "--threads",  "--timeout",
                             "--json",        "--svg",      "--header",
                             "--path",        "--sched",    "--help",
                             "--version",     "-c,",        "-d,",
                             "-n,",           "-R,",        "-t,",
                             "-T,",           "-H,",        "coordinated omission"}) {
    EXPECT_NE(usage.find(option), std::string::npos) << option;
  }
}

TEST(ParseHeadTest, FramingStatusAndKeepAlive) {
  using Body = ResponseHead::Body;
  const struct {
    std::string text;
    int status;
    Body body;
    size_t length;
    bool keep_alive;
  } cases[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 485\r\n\r\n", 200, Body::kLength, 485, true},
      {"HTTP/1.1 200 OK\r\ncontent-length:7\r\nConnection: close\r\n\r\n", 200, Body::kLength, 7,
       false},
      {"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n", 503, Body::kChunked, 0, true},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 200, Body::kChunked, 0, true},
      {"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", 200, Body::kUntilClose, 0, false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", 200, Body::kLength, 2, false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: Keep-Alive\r\n\r\n", 200, Body::kLength,
       2, true},
      {"HTTP/1.1 204 No Content\r\n\r\n", 204, Body::kNone, 0, true},
      {"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 304, Body::kNone, 0, true},
      {"HTTP/1.1 100 Continue\r\n\r\n", 100, Body::kNone, 0, true},
      {"HTTP/1.1 200\nContent-Length: 0\n\n", 200, Body::kLength, 0, true},
      {"HTTP/1.1 404 Not Found\r\nConnection: keep-alive, Upgrade\r\nContent-Length: 1\r\n\r\n",
       404, Body::kLength, 1, true},
  };
  for (const auto& c : cases) {
    ResponseHead head;
    absl::string_view error;
    const std::string with_body = c.text + "BODY";
    ASSERT_EQ(ParseHead(with_body, head, &error), Parse::kDone) << c.text << error;
    EXPECT_EQ(head.status, c.status) << c.text;
    EXPECT_EQ(head.body, c.body) << c.text;
    EXPECT_EQ(head.content_length, c.length) << c.text;
    EXPECT_EQ(head.keep_alive, c.keep_alive) << c.text;
    EXPECT_EQ(head.head_bytes, c.text.size()) << c.text;
    // Every proper prefix is incomplete, never an error.
    for (size_t n = 0; n < c.text.size(); ++n) {
      EXPECT_EQ(ParseHead(absl::string_view(c.text).substr(0, n), head, &error), Parse::kIncomplete)
          << c.text << " cut at " << n;
    }
  }
}

TEST(ParseHeadTest, RejectsMalformedHeads) {
  const struct {
    std::string text;
    const char* error;
  } cases[] = {
      {"SSH-2.0-OpenSSH\r\n", "not an HTTP response"},
      {"GARBAGE", "not an HTTP response"},
      {"HTTP/1.1 2000 OK\r\n\r\n", "malformed status line"},
      {"HTTP/1.1 abc OK\r\n\r\n", "malformed status line"},
      {"HTTP/2 200\r\n\r\n", "malformed status line"},
      {"HTTP/1.1 200 OK\r\nNoColonHere\r\n\r\n", "malformed header line"},
      {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
       "conflicting Content-Length headers"},
      {"HTTP/1.1 200 OK\r\nX: " + std::string(kMaxHeadBytes, 'a'), "response head over 64 KiB"},
  };
  for (const auto& c : cases) {
    ResponseHead head;
    absl::string_view error;
    ASSERT_EQ(ParseHead(c.text, head, &error), Parse::kInvalid) << c.text.substr(0, 60);
    EXPECT_EQ(error, c.error) << c.text.substr(0, 60);
  }
}

TEST(ParseChunkedTest, DecodesAndWaitsForTheEnd) {
  const std::string body = "4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
  std::string decoded;
  size_t consumed = 0;
  absl::string_view error;
  ASSERT_EQ(ParseChunked(body + "NEXT", &consumed, &decoded, &error), Parse::kDone);
  EXPECT_EQ(decoded, "Wikipedia in\r\n\r\nchunks.");
  EXPECT_EQ(consumed, body.size());
  for (size_t n = 0; n < body.size(); ++n) {
    decoded.clear();
    EXPECT_EQ(ParseChunked(absl::string_view(body).substr(0, n), &consumed, &decoded, &error),
              Parse::kIncomplete)
        << n;
  }
  decoded.clear();
  ASSERT_EQ(ParseChunked("0\r\nTrailer: x\r\n\r\n", &consumed, &decoded, &error), Parse::kDone);
  EXPECT_EQ(consumed, 17u);
  EXPECT_EQ(ParseChunked("zz\r\n", &consumed, &decoded, &error), Parse::kInvalid);
  EXPECT_EQ(error, "malformed chunk size");
  EXPECT_EQ(ParseChunked("2\r\nabX\r\n", &consumed, &decoded, &error), Parse::kInvalid);
  EXPECT_EQ(error, "chunk not followed by CRLF");
}

TEST(HostnameInTest, FindsTheValue) {
  const struct {
    const char* body;
    const char* host;
  } cases[] = {
      {R"({"action":"pong","hostname":"vm","x":1})", "vm"},
      {R"({"hostname" : "107c86328c40"})", "107c86328c40"},
      {R"({"hostname":"a\"b"})", R"(a\"b)"},
      {R"({"host":"x"})", ""},
      {R"({"hostname":12})", ""},
      {R"({"hostname":"unterminated)", ""},
      {"", ""},
  };
  for (const auto& c : cases) EXPECT_EQ(HostnameIn(c.body), c.host) << c.body;
  size_t at = 0;
  const absl::string_view body = R"({"action":"pong","hostname":"vm"})";
  EXPECT_EQ(HostnameIn(body, &at), "vm");
  EXPECT_EQ(body.substr(at, 15), R"("hostname":"vm")");
}

TEST(PlainNumberTest, NeverUsesExponents) {
  const struct {
    double v;
    int decimals;
    const char* want;
  } cases[] = {
      {4, 3, "4"},
      {29013.25, 1, "29013.2"},
      {29013.26, 1, "29013.3"},
      {1e12, 1, "1000000000000"},
      {0.05, 3, "0.05"},
      {1e-9, 3, "0"},
      {-0.0001, 1, "0"},
      {2.5, 0, "2"},
      {1.0 / 0.0, 1, "0"},
  };
  for (const auto& c : cases) EXPECT_EQ(PlainNumber(c.v, c.decimals), c.want) << c.v;
}

}  // namespace
}  // namespace pingload
