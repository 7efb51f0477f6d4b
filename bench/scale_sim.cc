// musketeerd's own costs as a cluster grows, without the machines: the control plane (live
// view, API, watch) over the fake engine with NODES nodes and TASKS tasks, served on a real
// gRPC server on loopback and called over it.
//   scale_sim NODES TASKS WATCHERS RATE SECONDS
// Measures: the live view's resync (reading nodes, services and tasks from the manager and
// publishing the snapshot: the fake answers from memory, so this is musketeer's part), the
// p50/p99 of ListNodes, GetService and ListTasks (one service's) paced at RATE calls/s in all
// (a call's latency counts from when it was due), beside GetVersion's (the floor: it reads
// nothing of the cluster) and gRPC's alone (a bare server in the same process, answering
// nothing or as many bytes as the node list), each with the CPU the serving process and the
// callers' process spent per call (the serving process's includes its background, measured
// alone while no call comes: the resyncs), the delay from a change (a scale) to its
// event at the last of WATCHERS ClusterWatch streams, and the RSS at the end and at its peak
// of the process serving them (the control plane and the fake swarm it reads; the callers
// run in a child process of their own, so their buffers are not counted). Prints one JSON
// object.
// Plain TCP on loopback: TLS adds the same per-call cost at every size.
#include <grpcpp/grpcpp.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/engine/fake_docker_engine.h"
#include "controlplane/server/api.h"
#include "controlplane/server/call_metrics.h"
#include "controlplane/server/watch_api.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace {
using namespace musketeer;
namespace pb = ::musketeer::v1;
using Clock = std::chrono::steady_clock;

// NODES running nodes at 10.X.Y.Z, made at once.
class SimDriver : public nodes::NodeDriver {
 public:
  explicit SimDriver(int count) {
    for (int i = 0; i < count; ++i) {
      nodes::Node n;
      n.name = absl::StrFormat("n%04d", i);
      n.driver = "local";
      n.ip = absl::StrCat("10.", 100 + i / 65536, ".", (i / 256) % 256, ".", i % 256 + 1);
      n.endpoint = *engine::Endpoint::Parse("unix:///sim/" + n.name);
      n.state = nodes::NodeState::kRunning;
      nodes_.push_back(n);
    }
  }
  const char* name() const override { return "local"; }
  absl::StatusOr<nodes::Node> Create(const std::string&, const nodes::RemoteSpec*) override {
    return absl::UnimplementedError("simulated nodes are made at start");
  }
  absl::Status Start(const std::string&) override { return absl::OkStatus(); }
  absl::Status Stop(const std::string&) override { return absl::OkStatus(); }
  absl::Status Kill(const std::string&) override { return absl::OkStatus(); }
  absl::Status Remove(const std::string&) override { return absl::OkStatus(); }
  absl::StatusOr<nodes::Node> Inspect(const std::string& name) override {
    for (const auto& n : nodes_)
      if (n.name == name) return n;
    return absl::NotFoundError(name);
  }
  std::vector<nodes::Node> List() override { return nodes_; }
  absl::Status RegenerateCerts(const std::string&) override { return absl::OkStatus(); }
  const std::vector<nodes::Node>& nodes() const { return nodes_; }

 private:
  std::vector<nodes::Node> nodes_;
};

long RssKb() {
  std::ifstream in("/proc/self/status");
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == "VmRSS:") {
      in >> value;
      return value;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

// VmHWM: the process's peak RSS.
long PeakRssKb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

// The anchors under the floor: gRPC alone, a server in this process (beside the control
// plane, so under the same load) whose GetVersion answers with no interceptor and no token
// check: a constant, or a string as long as the list read (metadata "bytes"), so that a
// list's cost can be told apart from moving its bytes through gRPC.
class BareSession final : public pb::Session::Service {
  grpc::Status GetVersion(grpc::ServerContext* ctx, const pb::GetVersionRequest*,
                          pb::Version* out) override {
    const auto bytes = ctx->client_metadata().find("bytes");
    if (bytes == ctx->client_metadata().end()) {
      out->set_version("bare");
    } else {
      const std::string size(bytes->second.data(), bytes->second.size());
      out->mutable_version()->assign(std::stoul(size), 'x');
    }
    return grpc::Status::OK;
  }
};

// Runs this program again with `args` and returns what it printed ("" when it failed).
std::string RunChild(const std::vector<std::string>& args) {
  int out[2];
  if (pipe(out) != 0) return "";
  std::vector<char*> argv{const_cast<char*>("scale_sim")};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; spawned == 0 && (n = read(out[0], buf, sizeof buf)) > 0;) text.append(buf, n);
  close(out[0]);
  int status = 0;
  if (spawned != 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0)
    return "";
  return text;
}

// CPU time (user and system) of process `pid` so far, in ms.
double CpuMs(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command's closing parenthesis: state is the 3rd, utime the 14th.
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i)
    if (i >= 14) ticks += std::stod(field);
  return 1000 * ticks / sysconf(_SC_CLK_TCK);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// The value of a sample line `name` in Prometheus text (0 when absent).
double Sample(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + name.size() + 2));
}

template <class T>
void Fail(const T& what) {
  std::cerr << "scale_sim: " << what << "\n";
  std::exit(1);
}
// The callers, in a process of their own (`scale_sim --clients ...`), so that the RSS measured
// is the control plane's and the fake swarm's, not the clients' buffers: the paced reads,
// then the watch fan-out. Prints the JSON fields of both.
void RunClients(int port, int bare_port, const std::string& token, int task_count, int services,
                int watcher_count, double rate, double seconds) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                           grpc::InsecureChannelCredentials(), args);
  auto context = [&](grpc::ClientContext& ctx) {
    ctx.AddMetadata("authorization", "Bearer " + token);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  };
  // Reads, paced: caller t of 8 is due at start + (t + 8k) / rate.
  struct Read {
    const char* name;
    std::function<grpc::Status(grpc::ClientContext*)> call;
  };
  auto nodes_stub = pb::Nodes::NewStub(channel);
  auto services_stub = pb::Services::NewStub(channel);
  auto session_stub = pb::Session::NewStub(channel);
  auto bare_stub = pb::Session::NewStub(grpc::CreateCustomChannel(
      absl::StrCat("127.0.0.1:", bare_port), grpc::InsecureChannelCredentials(), args));
  // The size of the node list, for the anchor that moves as many bytes.
  std::string list_bytes;
  {
    grpc::ClientContext ctx;
    context(ctx);
    pb::ListNodesRequest req;
    req.set_page_size(1000);
    pb::ListNodesResponse out;
    if (auto s = nodes_stub->ListNodes(&ctx, req, &out); !s.ok()) Fail(s.error_message());
    list_bytes = absl::StrCat(out.ByteSizeLong());
    std::cout << ", \"node_list_bytes\": " << list_bytes;
    // The bare server's channel connected before its calls are timed, as the control
    // plane's is by this call.
    grpc::ClientContext bare_ctx;
    pb::Version version;
    if (auto s = bare_stub->GetVersion(&bare_ctx, pb::GetVersionRequest(), &version); !s.ok())
      Fail(s.error_message());
  }
  // The server's own CPU while no call comes: the resyncs, the event streams' threads.
  {
    const double before = CpuMs(getppid());
    std::this_thread::sleep_for(std::chrono::seconds(5));
    std::cout << absl::StrFormat(", \"idle_cpu_ms_per_s\": %.1f", (CpuMs(getppid()) - before) / 5);
  }
  std::vector<Read> reads = {
      {"gRPC alone",
       [&](grpc::ClientContext* ctx) {
         pb::GetVersionRequest req;
         pb::Version out;
         return bare_stub->GetVersion(ctx, req, &out);
       }},
      {"gRPC alone, node list bytes",
       [&](grpc::ClientContext* ctx) {
         ctx->AddMetadata("bytes", list_bytes);
         pb::GetVersionRequest req;
         pb::Version out;
         return bare_stub->GetVersion(ctx, req, &out);
       }},
      // The floor: a call that reads nothing of the cluster (the token's check and gRPC's
      // own cost on this machine, under the same pacing).
      {"GetVersion",
       [&](grpc::ClientContext* ctx) {
         pb::GetVersionRequest req;
         pb::Version out;
         return session_stub->GetVersion(ctx, req, &out);
       }},
      {"ListNodes",
       [&](grpc::ClientContext* ctx) {
         pb::ListNodesRequest req;
         req.set_page_size(1000);
         pb::ListNodesResponse out;
         return nodes_stub->ListNodes(ctx, req, &out);
       }},
      {"GetService",
       [&](grpc::ClientContext* ctx) {
         pb::GetServiceRequest req;
         req.set_name("svc0");
         pb::Service out;
         return services_stub->GetService(ctx, req, &out);
       }},
      {"ListTasks", [&](grpc::ClientContext* ctx) {
         pb::ListTasksRequest req;
         req.set_service("svc0");
         req.set_page_size(1000);
         pb::ListTasksResponse out;
         return services_stub->ListTasks(ctx, req, &out);
       }}};
  for (const auto& read : reads) {
    constexpr int kCallers = 8;
    std::vector<std::vector<double>> latencies(kCallers);
    std::atomic<int> errors{0};
    const double server_cpu = CpuMs(getppid()), client_cpu = CpuMs(getpid());
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(seconds));
    const auto period = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(kCallers / rate));
    std::vector<std::thread> callers;
    for (int t = 0; t < kCallers; ++t) {
      callers.emplace_back([&, t] {
        for (auto due = start + period * t / kCallers; due < end; due += period) {
          std::this_thread::sleep_until(due);
          grpc::ClientContext ctx;
          context(ctx);
          if (!read.call(&ctx).ok()) ++errors;
          latencies[t].push_back(std::chrono::duration<double, std::milli>(Clock::now() - due).count());
        }
      });
    }
    for (auto& c : callers) c.join();
    std::vector<double> merged;
    for (auto& l : latencies) merged.insert(merged.end(), l.begin(), l.end());
    const double calls = std::max<size_t>(1, merged.size());
    std::cout << absl::StrFormat(
        ", \"%s\": {\"calls\": %d, \"errors\": %d, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
        "\"server_cpu_us\": %.0f, \"client_cpu_us\": %.0f}",
        read.name, merged.size(), errors.load(), Percentile(merged, 0.5),
        Percentile(merged, 0.99), 1000 * (CpuMs(getppid()) - server_cpu) / calls,
        1000 * (CpuMs(getpid()) - client_cpu) / calls);
  }

  // Watch fan-out: WATCHERS streams synced, then one scale; when its event reached each.
  std::atomic<int> synced{0};
  std::mutex mu;
  std::vector<Clock::time_point> arrived;
  std::vector<std::unique_ptr<grpc::ClientContext>> watch_contexts;
  std::vector<std::thread> watchers;
  const uint32_t new_replicas = task_count / services + 1;
  for (int w = 0; w < watcher_count; ++w) {
    watch_contexts.push_back(std::make_unique<grpc::ClientContext>());
    watch_contexts.back()->AddMetadata("authorization", "Bearer " + token);
    watchers.emplace_back([&, ctx = watch_contexts.back().get()] {
      auto stream = pb::ClusterWatch::NewStub(channel)->Watch(ctx, pb::WatchRequest());
      pb::WatchEvent e;
      while (stream->Read(&e)) {
        if (e.type() == pb::WatchEvent::SYNCED) ++synced;
        if (e.kind() == "service" && e.name() == "svc0" && e.service().desired() == new_replicas) {
          std::lock_guard lock(mu);
          arrived.push_back(Clock::now());
          break;
        }
      }
      ctx->TryCancel();
      stream->Finish();
    });
  }
  for (const auto until = Clock::now() + std::chrono::seconds(120);
       synced.load() < watcher_count && Clock::now() < until;)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto changed = Clock::now();
  {
    grpc::ClientContext ctx;
    context(ctx);
    pb::UpdateServiceRequest req;
    req.set_name("svc0");
    req.set_replicas(new_replicas);
    pb::Service out;
    if (auto s = services_stub->UpdateService(&ctx, req, &out); !s.ok())
      Fail(absl::StrCat("scale: ", s.error_message()));
  }
  for (const auto until = Clock::now() + std::chrono::seconds(30);
       Clock::now() < until;) {
    {
      std::lock_guard lock(mu);
      if (static_cast<int>(arrived.size()) == watcher_count) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (auto& c : watch_contexts) c->TryCancel();
  for (auto& w : watchers) w.join();
  double first_ms = 0, last_ms = 0;
  if (!arrived.empty()) {
    std::sort(arrived.begin(), arrived.end());
    first_ms = std::chrono::duration<double, std::milli>(arrived.front() - changed).count();
    last_ms = std::chrono::duration<double, std::milli>(arrived.back() - changed).count();
  }
  std::cout << absl::StrFormat(
      ", \"watchers\": %d, \"watch_synced\": %d, \"watch_reached\": %d, "
      "\"watch_first_ms\": %.1f, \"watch_last_ms\": %.1f",
      watcher_count, synced.load(), arrived.size(), first_ms, last_ms);
}

}  // namespace

int main(int argc, char** argv) {
  // As musketeerd: Debian's Abseil records every lock in a debug lock graph (gRPC takes
  // several per call); the callers need it no more than the server.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (argc == 10 && std::string(argv[1]) == "--clients") {
    RunClients(std::stoi(argv[2]), std::stoi(argv[3]), argv[4], std::stoi(argv[5]),
               std::stoi(argv[6]), std::stoi(argv[7]), std::stod(argv[8]), std::stod(argv[9]));
    return 0;
  }
  if (argc != 6) {
    std::cerr << "usage: scale_sim NODES TASKS WATCHERS RATE SECONDS\n";
    return 2;
  }
  // WATCHERS and SECONDS are the clients' (RunClients).
  const int node_count = std::stoi(argv[1]), task_count = std::stoi(argv[2]);
  const double rate = std::stod(argv[4]);
  const std::string dir = absl::StrCat(std::filesystem::temp_directory_path().string(),
                                       "/mk-scale-sim-", getpid());
  std::filesystem::create_directories(dir);
  auto store = state::StateStore::Open(dir + "/state.db");
  if (!store.ok()) Fail(store.status());
  const long rss_start = RssKb();

  // The swarm: the first node inits it, the others join; the services.
  auto swarm = std::make_shared<engine::FakeSwarm>();
  SimDriver driver(node_count);
  const auto& all = driver.nodes();
  engine::FakeDockerEngine manager(swarm, all[0].name, all[0].ip);
  if (auto s = manager.SwarmInit({}); !s.ok()) Fail(s.status());
  const std::string token = manager.SwarmInspect()->join_tokens.worker;
  for (size_t i = 1; i < all.size(); ++i) {
    engine::SwarmJoinRequest join;
    join.join_token = token;
    if (auto s = engine::FakeDockerEngine(swarm, all[i].name, all[i].ip).SwarmJoin(join); !s.ok())
      Fail(s);
  }
  // Services of at most 500 replicas, so that the scale below stays within the API's 1000.
  const int services = std::max(1, (task_count + 499) / 500);
  for (int k = 0; k < services; ++k) {
    engine::ServiceSpec spec;
    spec.name = absl::StrCat("svc", k);
    spec.task_template.container_spec.image = "judge_server:1.0";
    spec.mode.replicated.emplace().replicas = task_count / services;
    if (auto s = manager.CreateService(spec); !s.ok()) Fail(s.status());
  }
  const long rss_fake = RssKb();  // the fake swarm's own share, not musketeer's

  telemetry::Metrics metrics;
  cluster::ClusterOptions options;
  options.live_view = true;
  options.view.resync = absl::Seconds(1);
  options.metrics = &metrics;
  cluster::Cluster cluster(
      {{"local", &driver}},
      [swarm](const nodes::Node& n) {
        return std::make_unique<engine::FakeDockerEngine>(swarm, n.name, n.ip);
      },
      **store, [](const std::string&, uint16_t) { return absl::StatusOr<std::string>("{}"); },
      options);
  auto admin = (*store)->CreateToken("bench", state::Role::kAdmin);
  if (!admin.ok()) Fail(admin.status());

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 64);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> calls;
  calls.push_back(server::NewCallMetrics(metrics));
  builder.experimental().SetInterceptorCreators(std::move(calls));
  auto api = server::NewApiServices(cluster, **store);
  for (auto& s : server::NewWatchServices(cluster, **store, &metrics)) api.push_back(std::move(s));
  for (auto& s : api) builder.RegisterService(s.get());
  auto grpc_server = builder.BuildAndStart();
  if (!grpc_server) Fail("cannot listen");
  BareSession bare;
  grpc::ServerBuilder bare_builder;
  int bare_port = 0;
  bare_builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &bare_port);
  bare_builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 64);
  bare_builder.RegisterService(&bare);
  auto bare_server = bare_builder.BuildAndStart();
  if (!bare_server) Fail("cannot listen");
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                           grpc::InsecureChannelCredentials(), args);
  auto context = [&](grpc::ClientContext& ctx) {
    ctx.AddMetadata("authorization", "Bearer " + *admin);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  };
  // Until the view has every node and task.
  for (const auto until = Clock::now() + std::chrono::seconds(60);;) {
    grpc::ClientContext ctx;
    context(ctx);
    pb::ListNodesRequest req;
    req.set_page_size(1000);
    pb::ListNodesResponse out;
    auto s = pb::Nodes::NewStub(channel)->ListNodes(&ctx, req, &out);
    if (s.ok() && out.nodes_size() == std::min(node_count, 1000)) break;
    if (Clock::now() > until) Fail(absl::StrCat("the view did not list the nodes: ", s.error_message()));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::seconds(3));  // a few resyncs
  const long rss_ready = RssKb();

  // The callers, in a child process (RunClients); its output is part of this one's.
  const std::string clients =
      RunChild({"--clients", absl::StrCat(port), absl::StrCat(bare_port), *admin, argv[2],
                absl::StrCat(services), argv[3], argv[4], argv[5]});
  if (clients.empty()) Fail("the clients failed");
  const std::string text = metrics.Render();
  const double resyncs = Sample(text, "musketeer_live_view_resync_seconds_count");
  std::cout << "{\"nodes\": " << node_count << ", \"tasks\": " << task_count
            << ", \"services\": " << services << ", \"rate\": " << rate << clients
            << absl::StrFormat(
                   ", \"resyncs\": %.0f, \"resync_mean_ms\": %.2f, \"rss_start_mb\": %.1f, "
                   "\"rss_fake_swarm_mb\": %.1f, \"rss_ready_mb\": %.1f, \"rss_end_mb\": %.1f, "
                   "\"rss_peak_mb\": %.1f}\n",
                   resyncs,
                   resyncs > 0 ? 1000 * Sample(text, "musketeer_live_view_resync_seconds_sum") / resyncs
                               : 0,
                   rss_start / 1024.0, rss_fake / 1024.0, rss_ready / 1024.0, RssKb() / 1024.0,
                   PeakRssKb() / 1024.0);
  grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  bare_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  std::filesystem::remove_all(dir);
  return 0;
}
