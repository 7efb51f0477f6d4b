// pingload: a bounded HTTP/1.1 load generator for /ping across several targets, driven like
// wrk, hey and ab. `pingload --help` lists the options; README.md documents the JSON.
#include <sys/resource.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "clients/pingload/load.h"
#include "clients/pingload/options.h"
#include "clients/pingload/report.h"

int main(int argc, char** argv) {
  using namespace pingload;
  absl::StatusOr<Options> parsed = ParseArgs(std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed.ok()) {
    std::cerr << "pingload: " << parsed.status().message() << "\n"
              << "usage: pingload [OPTIONS] URL...   (pingload --help lists the options)\n";
    return 2;
  }
  const Options& o = *parsed;
  if (o.help) {
    std::cout << Usage();
    return 0;
  }
  if (o.version) {
    std::cout << kVersion << "\n";
    return 0;
  }
  const int threads = o.threads > 0
                          ? o.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  absl::StatusOr<LoadResult> result = RunLoad(o, threads);
  if (!result.ok()) {
    std::cerr << "pingload: " << result.status().message() << "\n";
    return 2;
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  ProcessCost usage;
  usage.cpu_seconds =
      ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  usage.max_rss_kb = ru.ru_maxrss;
  std::cout << (o.json ? RenderJson(o, *result, usage) : RenderTable(o, *result, usage));
  if (!o.svg.empty()) {
    if (absl::Status s = WriteSvg(o.svg, *result); !s.ok()) {
      std::cerr << "pingload: " << s.message() << "\n";
      return 1;
    }
  }
  int64_t ok = 0;
  for (const TargetResult& t : result->targets) ok += t.ok;
  return ok > 0 ? 0 : 1;
}
