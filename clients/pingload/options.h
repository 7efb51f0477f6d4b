// pingload's command line: targets as URLs or HOST:PORT, durations with units, and the
// options wrk, hey and ab users expect (long and short forms, --name=value or --name value).
// Pure functions: no I/O, so they are tested table-driven.
#ifndef CLIENTS_PINGLOAD_OPTIONS_H_
#define CLIENTS_PINGLOAD_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pingload {

inline constexpr absl::string_view kVersion = "pingload 2.0";

// Where requests go: one URL (or HOST:PORT) from the command line.
struct Target {
  std::string host;   // name or address, without IPv6 brackets
  uint16_t port = 0;  // 80 when a URL names none
  std::string path;   // absolute, with the query string if any ("/ping?x=1")
  // The Host header value: host[:port] as given ("[::1]:8090", "example:80").
  std::string authority;
  bool operator==(const Target&) const = default;
};

struct Options {
  int connections = 16;
  int threads = 0;                   // 0 = one per core (decided by the caller)
  double duration_s = 10;            // the run's length; with --requests, an upper bound if given
  bool duration_set = false;         // --duration was given
  int64_t requests = 0;              // > 0: stop after exactly this many requests
  double rate = 0;                   // requests per second over all connections; 0 = closed loop
  double timeout_s = 5;              // per request (connect, send, answer)
  std::string path = "/ping";        // for targets given as HOST:PORT
  std::vector<std::string> headers;  // "Name: value", sent with every request
  // Scheduling policy of the load threads: SCHED_BATCH (true) keeps a woken load thread
  // from preempting whatever runs on its core, the server under test included.
  bool sched_batch = false;
  bool json = false;
  std::string svg;  // file for the latency-over-time picture; empty = none
  bool help = false;
  bool version = false;
  std::vector<Target> targets;
};

// "500ms", "4s", "1m", "1h", "1m30s", "250us", "1.5s"; a bare number is seconds.
// Returns seconds; InvalidArgument says what was wrong (empty, unknown unit, not positive).
absl::StatusOr<double> ParseDuration(absl::string_view text);

// "http://host[:port][/path][?query]", "host:port[/path]", "[::1]:port". A target without
// a path gets `default_path`. https, user info and ports outside 1..65535 are refused.
absl::StatusOr<Target> ParseTarget(absl::string_view text, absl::string_view default_path);

// "Name: value" (a token name, a value without CR or LF) -> the same, trimmed.
absl::StatusOr<std::string> ParseHeader(absl::string_view text);

// argv without the program name. An error is a usage error (exit 2): its message names the
// option or argument and what it takes. --help or --version set `help`/`version` and skip
// the check that a target was given.
absl::StatusOr<Options> ParseArgs(const std::vector<std::string>& args);

// The --help text: every option, its default, and examples.
std::string Usage();

}  // namespace pingload

#endif  // CLIENTS_PINGLOAD_OPTIONS_H_
