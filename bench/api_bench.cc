// Unary latency and throughput of the musketeer API under concurrency.
//   api_bench ENDPOINT CA TOKEN THREADS SECONDS ListNodes|GetService:NAME|ListTasks:NAME|GetVersion [RATE]
// (GetVersion reads nothing of the cluster: the floor, the token's check and gRPC's own cost.)
// THREADS callers each call in a loop (closed loop: the latency then includes the wait for a
// core when the machine is saturated), or, with RATE (calls/s over all callers), each caller
// calls on a fixed schedule and a call's latency counts from when it was due (so a slow call
// also charges the calls it delayed: no coordinated omission).
// Prints one JSON object: calls, errors, calls_per_second, p50_ms, p99_ms, rate. With SLOW_MS=N
// in the environment, also each call slower than N ms and when it was due (to find stalls).
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace pb = ::musketeer::v1;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  // As musketeerd: Debian's Abseil records every lock in a debug lock graph (gRPC takes
  // several per call), a cost of the caller's that would count in every latency here.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (argc != 7 && argc != 8) {
    std::cerr
        << "usage: api_bench ENDPOINT CA TOKEN THREADS SECONDS "
           "ListNodes|GetService:NAME|ListTasks:NAME|GetVersion [RATE]\n";
    return 2;
  }
  const double rate = argc == 8 ? std::stod(argv[7]) : 0;
  std::ifstream ca_in(argv[2]);
  std::stringstream ca;
  ca << ca_in.rdbuf();
  const std::string token = argv[3], method = argv[6];
  const int threads = std::stoi(argv[4]);
  const double seconds = std::stod(argv[5]);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca.str();
  auto channel = grpc::CreateChannel(argv[1], grpc::SslCredentials(ssl));
  std::vector<std::vector<double>> latencies(threads);
  std::atomic<int> errors{0};
  // SLOW_MS=N: each call slower than N ms is printed with when it was due.
  const double slow_ms = getenv("SLOW_MS") ? std::atof(getenv("SLOW_MS")) : 0;
  const auto begin = Clock::now();
  const auto end = begin + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto nodes = pb::Nodes::NewStub(channel);
      auto services = pb::Services::NewStub(channel);
      auto session = pb::Session::NewStub(channel);
      // Paced: caller t is due at start + (t + k * threads) / rate.
      const auto period = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(rate > 0 ? threads / rate : 0));
      auto due = Clock::now() + period * t / std::max(threads, 1);
      while (Clock::now() < end) {
        if (rate > 0) {
          std::this_thread::sleep_until(due);
          if (Clock::now() >= end) break;
        }
        grpc::ClientContext ctx;
        ctx.AddMetadata("authorization", "Bearer " + token);
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        const auto start = rate > 0 ? due : Clock::now();
        due += period;
        grpc::Status s;
        const std::string service = method.substr(method.find(':') + 1);
        if (method == "GetVersion") {
          pb::Version out;
          s = session->GetVersion(&ctx, {}, &out);
        } else if (method == "ListNodes") {
          pb::ListNodesResponse out;
          s = nodes->ListNodes(&ctx, {}, &out);
        } else if (method.starts_with("ListTasks:")) {
          pb::ListTasksRequest req;
          req.set_service(service);
          req.set_page_size(1000);
          pb::ListTasksResponse out;
          s = services->ListTasks(&ctx, req, &out);
        } else {
          pb::GetServiceRequest req;
          req.set_name(service);
          pb::Service out;
          s = services->GetService(&ctx, req, &out);
        }
        if (!s.ok()) ++errors;
        latencies[t].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        if (slow_ms > 0 && latencies[t].back() > slow_ms)  // when the stalls come, and how long
          std::cerr << "slow: " << latencies[t].back() << " ms, due at "
                    << std::chrono::duration<double>(start - begin).count() << " s\n";
      }
    });
  }
  for (auto& w : workers) w.join();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0
                       : all[std::min(all.size() - 1, static_cast<size_t>(p / 100 * all.size()))];
  };
  std::cout << "{\"method\": \"" << method << "\", \"threads\": " << threads
            << ", \"calls\": " << all.size() << ", \"errors\": " << errors
            << ", \"calls_per_second\": " << all.size() / seconds << ", \"p50_ms\": " << pct(50)
            << ", \"p99_ms\": " << pct(99) << ", \"rate\": " << rate << "}\n";
  return errors == 0 ? 0 : 1;
}
