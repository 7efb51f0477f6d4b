// pingload's outputs: the table, the JSON object (numbers always in plain decimal, fields
// documented in README.md) and the SVG picture.
#ifndef CLIENTS_PINGLOAD_REPORT_H_
#define CLIENTS_PINGLOAD_REPORT_H_

#include <string>

#include "absl/status/status.h"
#include "clients/pingload/load.h"
#include "clients/pingload/options.h"

namespace pingload {

// What the process cost, from getrusage.
struct ProcessCost {
  double cpu_seconds = 0;
  long max_rss_kb = 0;
};

// `v` with at most `decimals` digits after the point, trailing zeros dropped, never in
// exponent form ("4", "29013.3", "0.05"); not-finite values become 0.
std::string PlainNumber(double v, int decimals);

std::string RenderJson(const Options& options, const LoadResult& result, const ProcessCost& cost);
std::string RenderTable(const Options& options, const LoadResult& result, const ProcessCost& cost);
// Latency over time (log scale) and the per-target replica tally.
absl::Status WriteSvg(const std::string& path, const LoadResult& result);

}  // namespace pingload

#endif  // CLIENTS_PINGLOAD_REPORT_H_
