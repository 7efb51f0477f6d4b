// Control plane micro-benchmarks, driven by bench/controlplane:
//   controlplane_bench info UNIX_SOCKET N      GET /info N times over one reused connection
//   controlplane_bench nodes COUNT              create COUNT local nodes in parallel (own
//                                               bridge, subnet and state dir), time until each
//                                               engine answers over TLS, then remove them
// Prints one JSON object.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "controlplane/engine/engine_client.h"
#include "controlplane/nodes/local_driver.h"

using namespace musketeer;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "info" && argc == 4) {
    int n = 0;
    if (!absl::SimpleAtoi(argv[3], &n)) return 2;
    engine::Endpoint endpoint;
    endpoint.path = argv[2];  // kUnix by default
    engine::EngineClient client(endpoint);
    if (auto s = client.Info(); !s.ok()) {
      std::cerr << s.status() << "\n";
      return 1;
    }
    const auto start = Clock::now();
    for (int i = 0; i < n; ++i) {
      if (!client.Info().ok()) return 1;
    }
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    std::cout << "{\"calls\": " << n << ", \"seconds\": " << s
              << ", \"calls_per_second\": " << n / s << "}\n";
    return 0;
  }
  if (mode == "nodes" && argc == 3) {
    int count = 0;
    if (!absl::SimpleAtoi(argv[2], &count) || count < 1 || count > 50) return 2;
    const std::string root = absl::StrCat("/tmp/mk-bench-", getpid());
    auto ca = pki::Authority::OpenOrCreate(root + "/ca", "bench");
    auto client = (*ca)->IssueClient(root + "/client", "bench");
    nodes::LocalDriverConfig config;
    config.state_dir = root + "/state";
    config.run_dir = "/run/mkb" + std::to_string(getpid() % 10000);
    config.bridge = "mkb" + std::to_string(getpid() % 10000);
    config.subnet = "10.213.220.0/24";
    auto driver = nodes::LocalDriver::Create(config, **ca, *client);
    if (!driver.ok()) return 1;
    std::vector<double> seconds(count);
    std::vector<std::thread> threads;
    const auto start = Clock::now();
    bool ok = true;
    for (int i = 0; i < count; ++i) {
      threads.emplace_back([&, i] {
        auto t0 = Clock::now();
        auto n = (*driver)->Create(absl::StrCat("bench", i), nullptr);
        if (!n.ok()) {
          std::cerr << n.status() << "\n";
          ok = false;
        }
        seconds[i] = std::chrono::duration<double>(Clock::now() - t0).count();
      });
    }
    for (auto& t : threads) t.join();
    const double all = std::chrono::duration<double>(Clock::now() - start).count();
    for (const auto& n : (*driver)->List()) (void)(*driver)->Remove(n.name);
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
    std::filesystem::remove_all(config.run_dir, ec);
    double slowest = 0;
    for (double s : seconds) slowest = std::max(slowest, s);
    std::cout << "{\"nodes\": " << count << ", \"all_ready_seconds\": " << all
              << ", \"slowest_node_seconds\": " << slowest << "}\n";
    return ok ? 0 : 1;
  }
  std::cerr << "usage: controlplane_bench info SOCKET N | nodes COUNT\n";
  return 2;
}
