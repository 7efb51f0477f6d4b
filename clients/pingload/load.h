// pingload's load engine: raw non-blocking sockets and one epoll loop per thread.
// Each thread owns its share of the connections and its own statistics (nothing shared on
// the per-request path except, with --requests, one atomic counter that makes the total
// exact). A connection sends one request, reads the whole answer, then sends the next
// (no pipelining, as wrk by default); with --rate each connection follows its own schedule
// and latency runs from the request's intended start (wrk2's coordinated-omission fix).
#ifndef CLIENTS_PINGLOAD_LOAD_H_
#define CLIENTS_PINGLOAD_LOAD_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "clients/pingload/histogram.h"
#include "clients/pingload/options.h"

namespace pingload {

struct TargetResult {
  std::string target;  // "host:port" as given
  std::string url;     // "http://host:port/path"
  int64_t ok = 0;      // 2xx answers
  int64_t errors = 0;  // everything else: non-2xx answers, connect/read/write errors, timeouts
  std::map<std::string, int64_t, std::less<>> errors_by_kind;
  // The "hostname" of each 2xx answer ("(none)" when the body has none).
  std::map<std::string, int64_t, std::less<>> hostnames;
};

struct LoadResult {
  std::vector<TargetResult> targets;  // in command-line order
  musketeer::Histogram latency;       // microseconds, every answered request
  // (seconds since start, latency in us) of every answer, when an SVG was asked for.
  std::vector<std::pair<double, double>> timeline;
  double seconds = 0;  // from the start to the last answer or error
  int threads = 0;
  int connections = 0;
};

// Resolves every target, then runs the load to completion on `threads` threads
// (REQUIRES: options parsed by ParseArgs, threads >= 1). InvalidArgument: a host does not
// resolve. Failures of requests are counted, not returned.
absl::StatusOr<LoadResult> RunLoad(const Options& options, int threads);

}  // namespace pingload

#endif  // CLIENTS_PINGLOAD_LOAD_H_
