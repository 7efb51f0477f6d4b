// judge_server: the online-judge HTTP server (see judge_server/judge_service.h).
#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "judge_server/files.h"
#include "judge_server/healthcheck.h"
#include "judge_server/watchdog.h"
#include "judge_server/heartbeat.h"
#include "judge_server/http_server.h"

namespace {

constexpr const char* kUsage =
    R"(judge_server: compiles and runs submissions in a sandbox and answers verdicts

Usage: judge_server [flags]
  --port N           listen port (env JUDGE_PORT, default 8090; 0 picks one)
  --address A        listen address (env JUDGE_ADDRESS, default 0.0.0.0)
  --token T          shared secret; POST /judge, /compile_spj and /ping must send
                     X-Judge-Server-Token: sha256 hex of it (env JUDGE_TOKEN, or
                     TOKEN as QingdaoU names it; required; prefer the env, since
                     flags are visible to other processes)
  --token-file F     read the token from file F instead (env JUDGE_TOKEN_FILE or
                     TOKEN_FILE), e.g. a Swarm secret: /run/secrets/judge_token;
                     trailing whitespace is dropped; not together with a token
  --slots N          concurrent judgings (env JUDGE_SLOTS, default: CPU count)
  --queue N          judgings waiting for a slot before 503 (env JUDGE_QUEUE, default 16)
  --work-dir D       where runs get private directories (env JUDGE_WORK_DIR,
                     default /tmp/judge_server)
  --test-case-dir D  root of test_case_id directories (env JUDGE_TEST_CASE_DIR,
                     default /var/lib/judge_server/test_cases)
  --threads N        HTTP threads (env JUDGE_THREADS, default: CPU count)
  --uid-base N       first of the uids the slots run as, one per slot (env
                     JUDGE_UID_BASE; default: a random range above 300000, so that
                     servers sharing a kernel never share uids)
  --sandbox M        auto | namespaces | restricted (env JUDGE_SANDBOX, default auto:
                     namespaces where the server holds CAP_SYS_ADMIN, else restricted;
                     see docs/judge.md, Sandbox). Restricted mode needs /tmp & co. closed to
                     other users; JUDGE_CLOSE_SHARED_DIRS=1 (set by the image, whose
                     filesystem is the judge's own) lets it close them itself
  --backend-url U    OnlineJudge's heartbeat URL, e.g. http://oj-backend:8000/api/
                     judge_server_heartbeat/ (env BACKEND_URL, as QingdaoU; unset:
                     no heartbeat; env DISABLE_HEARTBEAT=1 turns it off)
  --service-url U    the URL OnlineJudge should judge on, sent in each heartbeat
                     (env SERVICE_URL, as QingdaoU); {ip} is this container's
                     address toward the backend, {hostname} its hostname, {port}
                     the listen port, so every replica of a service reports its
                     own (default http://{ip}:{port})
  --heartbeat-interval S  seconds between heartbeats (env JUDGE_HEARTBEAT_INTERVAL,
                     default 3; OnlineJudge drops a server silent for 6 s)
  --max-connections N  open connections; at it a new one takes the place of the
                     connection idle the longest, or gets 503 and is closed when none
                     is idle (env JUDGE_MAX_CONNECTIONS; default: RLIMIT_NOFILE minus
                     headroom for the slots and threads, at most 4096)
  --max-reply-output N bytes of program output one /judge reply may carry with
                     "output": true, counted JSON-escaped (env JUDGE_MAX_REPLY_OUTPUT,
                     default 16777216); past it outputs are cut and marked
                     "output_truncated"
  --max-body-memory N  bytes all request bodies being received may hold together
                     (env JUDGE_MAX_BODY_MEMORY, default 134217728, at least the 8 MB
                     body limit); past it 503
  --header-timeout S seconds from a request's first byte to the end of its header
                     (env JUDGE_HEADER_TIMEOUT, default 10); then 408
  --body-timeout S   seconds to receive a request body (env JUDGE_BODY_TIMEOUT,
                     default 30); then 408
  --watchdog S       exit (status 70) when an I/O thread has run no handler for S
                     seconds, so that an orchestrator restarts a hung server (env
                     JUDGE_WATCHDOG, default 30; 0 = off). The image's liveness check
  --healthcheck      do not serve: GET /healthz on this server's port (--port or
                     JUDGE_PORT) on loopback; exit 0 if it answers 200 within 8 s,
                     else 1 (for a Docker healthcheck, e.g. --health-cmd)
  --help             this text

Routes: GET /ping, GET /healthz, GET /metrics, GET /languages, POST /judge,
POST /compile_spj, POST /ping.
Must run as root: every submission runs as a fresh unprivileged uid.
)";

struct Flags {
  std::string port = "8090", address = "0.0.0.0", token, token_file, slots, queue = "16",
              work_dir = "/tmp/judge_server", test_case_dir = "/var/lib/judge_server/test_cases",
              threads, uid_base = "0", sandbox = "auto", backend_url,
              service_url = "http://{ip}:{port}", heartbeat_interval = "3", max_connections = "0",
              max_reply_output = "16777216", header_timeout = "10", body_timeout = "30",
              max_body_memory = "134217728", watchdog = "30";
  bool healthcheck = false;
};

bool ParseInt(const std::string& text, const char* name, int min, int max, int* out) {
  if (!absl::SimpleAtoi(text, out) || *out < min || *out > max) {
    std::cerr << "judge_server: " << name << " must be an integer from " << min << " to " << max
              << ", got '" << text << "'\n";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  f.slots = f.threads = std::to_string(cpus);
  struct Option {
    const char* flag;
    const char* env;
    std::string* value;
  };
  // TOKEN (QingdaoU's name) comes before JUDGE_TOKEN, which wins when both are set.
  Option options[] = {{"--port", "JUDGE_PORT", &f.port},
                      {"--address", "JUDGE_ADDRESS", &f.address},
                      {"--token", "TOKEN", &f.token},
                      {"--token", "JUDGE_TOKEN", &f.token},
                      {"--token-file", "TOKEN_FILE", &f.token_file},
                      {"--token-file", "JUDGE_TOKEN_FILE", &f.token_file},
                      {"--backend-url", "BACKEND_URL", &f.backend_url},
                      {"--service-url", "SERVICE_URL", &f.service_url},
                      {"--heartbeat-interval", "JUDGE_HEARTBEAT_INTERVAL", &f.heartbeat_interval},
                      {"--slots", "JUDGE_SLOTS", &f.slots},
                      {"--queue", "JUDGE_QUEUE", &f.queue},
                      {"--work-dir", "JUDGE_WORK_DIR", &f.work_dir},
                      {"--test-case-dir", "JUDGE_TEST_CASE_DIR", &f.test_case_dir},
                      {"--threads", "JUDGE_THREADS", &f.threads},
                      {"--uid-base", "JUDGE_UID_BASE", &f.uid_base},
                      {"--sandbox", "JUDGE_SANDBOX", &f.sandbox},
                      {"--max-connections", "JUDGE_MAX_CONNECTIONS", &f.max_connections},
                      {"--max-reply-output", "JUDGE_MAX_REPLY_OUTPUT", &f.max_reply_output},
                      {"--max-body-memory", "JUDGE_MAX_BODY_MEMORY", &f.max_body_memory},
                      {"--header-timeout", "JUDGE_HEADER_TIMEOUT", &f.header_timeout},
                      {"--body-timeout", "JUDGE_BODY_TIMEOUT", &f.body_timeout},
                      {"--watchdog", "JUDGE_WATCHDOG", &f.watchdog}};
  for (const Option& o : options) {
    if (const char* v = getenv(o.env); v != nullptr && *v != '\0') *o.value = v;
  }
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--healthcheck") {
      f.healthcheck = true;
      continue;
    }
    bool known = false;
    for (const Option& o : options) {
      std::string flag = o.flag;
      if (arg == flag && i + 1 < argc) {
        *o.value = argv[++i];
        // Hide the secret from /proc/<pid>/cmdline.
        if (flag == "--token") memset(argv[i], 'x', strlen(argv[i]));
        known = true;
      } else if (arg.rfind(flag + "=", 0) == 0) {
        *o.value = arg.substr(flag.size() + 1);
        if (flag == "--token") memset(argv[i] + flag.size() + 1, 'x', o.value->size());
        known = true;
      }
      if (known) break;
    }
    if (!known) {
      std::cerr << "judge_server: unknown flag '" << arg << "'; see --help\n";
      return 2;
    }
  }
  unsetenv("JUDGE_TOKEN");  // never inherited by anything the server starts
  unsetenv("TOKEN");
  if (const char* v = getenv("DISABLE_HEARTBEAT"); v != nullptr && *v != '\0') {
    f.backend_url.clear();  // as QingdaoU: set to anything, no heartbeat
  }
  double heartbeat_seconds = 0;
  if (!absl::SimpleAtod(f.heartbeat_interval, &heartbeat_seconds) || heartbeat_seconds < 0.05 ||
      heartbeat_seconds > 3600) {
    std::cerr << "judge_server: --heartbeat-interval must be seconds from 0.05 to 3600, got '"
              << f.heartbeat_interval << "'\n";
    return 2;
  }

  int port, slots, queue, threads, uid_base, max_connections, max_reply_output, max_body_memory,
      header_timeout, body_timeout, watchdog_seconds;
  if (f.healthcheck) {
    // Needs neither root nor the token. 8 s: under the 10 s the image gives Docker's
    // HEALTHCHECK, so that a slow server is reported with a reason, not killed.
    if (!ParseInt(f.port, "--port", 1, 65535, &port)) return 2;
    std::string host = judge::ProbeAddressFor(f.address);
    absl::Status health =
        judge::ProbeHealthz(host, static_cast<uint16_t>(port), std::chrono::seconds(8));
    if (!health.ok()) {
      std::cout << "unhealthy: " << health.message() << std::endl;
      return 1;
    }
    std::cout << "healthy: GET /healthz on " << host << " port " << port << " answered 200"
              << std::endl;
    return 0;
  }
  if (!ParseInt(f.port, "--port", 0, 65535, &port) ||
      !ParseInt(f.slots, "--slots", 1, 63, &slots) ||
      !ParseInt(f.queue, "--queue", 0, 10000, &queue) ||
      !ParseInt(f.threads, "--threads", 1, 64, &threads) ||
      !ParseInt(f.uid_base, "--uid-base", 0, 2000000000, &uid_base) ||
      !ParseInt(f.max_connections, "--max-connections", 0, 1000000, &max_connections) ||
      !ParseInt(f.max_reply_output, "--max-reply-output", 1024, 1 << 30, &max_reply_output) ||
      !ParseInt(f.max_body_memory, "--max-body-memory", 8 << 20, 1 << 30, &max_body_memory) ||
      !ParseInt(f.header_timeout, "--header-timeout", 1, 3600, &header_timeout) ||
      !ParseInt(f.body_timeout, "--body-timeout", 1, 3600, &body_timeout) ||
      !ParseInt(f.watchdog, "--watchdog", 0, 86400, &watchdog_seconds) ||
      (uid_base > 0 && uid_base < 1000 &&
       (std::cerr << "judge_server: --uid-base must be 0 "
                     "(random) or at least 1000\n",
        true))) {
    return 2;
  }
  if (f.sandbox != "auto" && f.sandbox != "namespaces" && f.sandbox != "restricted") {
    std::cerr << "judge_server: --sandbox must be auto, namespaces or restricted, got '"
              << f.sandbox << "'\n";
    return 2;
  }
  if (!f.backend_url.empty()) {
    if (auto s = judge::CheckHeartbeatUrls(f.backend_url, f.service_url); !s.ok()) {
      std::cerr << "judge_server: " << s.message() << "\n";
      return 2;
    }
  }
  if (!f.token_file.empty()) {
    if (!f.token.empty()) {
      std::cerr << "judge_server: both a token and a token file are set; set one (a file, such "
                   "as a Swarm secret, keeps the token out of the environment)\n";
      return 2;
    }
    auto token = judge::ReadTokenFile(f.token_file);
    if (!token.ok()) {
      std::cerr << "judge_server: " << token.status().message() << "\n";
      return 2;
    }
    f.token = std::move(*token);
  }
  if (f.token.empty()) {
    std::cerr << "judge_server: no token: set JUDGE_TOKEN (or --token), or JUDGE_TOKEN_FILE (or "
                 "--token-file, e.g. a Swarm secret); clients send its sha256 hex in "
                 "X-Judge-Server-Token\n";
    return 2;
  }
  if (geteuid() != 0) {
    std::cerr << "judge_server: must run as root, so that each submission runs as its own "
                 "unprivileged uid (in a container: the default root user is enough)\n";
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);  // a program closing its stdin must not kill the server

  judge::Metrics metrics;
  judge::JudgeOptions judge_options;
  judge_options.slots = slots;
  judge_options.uid_base = static_cast<uid_t>(uid_base);
  judge_options.work_root = f.work_dir;
  judge_options.test_case_root = f.test_case_dir;
  judge_options.max_kept_output = static_cast<size_t>(max_reply_output);
  if (f.sandbox == "namespaces") judge_options.sandbox_mode = judge::SandboxMode::kNamespaces;
  if (f.sandbox == "restricted") judge_options.sandbox_mode = judge::SandboxMode::kRestricted;
  // Only the image sets this: its filesystem is the judge's own.
  const char* close_dirs = getenv("JUDGE_CLOSE_SHARED_DIRS");
  judge_options.close_shared_dirs = close_dirs != nullptr && std::string(close_dirs) == "1";
  auto judge = judge::Judge::Create(judge_options, metrics);
  if (!judge.ok()) {
    std::cerr << "judge_server: " << judge.status().message() << "\n";
    return 1;
  }
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  judge::JudgePool pool(slots, queue, [&](int slot) { return (*judge)->SlotInService(slot); });
  judge::JudgeService service(**judge, pool, metrics, f.token, host,
                              static_cast<size_t>(max_reply_output));

  std::vector<std::unique_ptr<boost::asio::io_context>> contexts;
  std::vector<boost::asio::io_context*> context_ptrs;
  for (int i = 0; i < threads; ++i) {
    contexts.push_back(std::make_unique<boost::asio::io_context>(1));
    context_ptrs.push_back(contexts.back().get());
  }
  boost::asio::io_context& io = *contexts[0];  // also runs signals and the drain timer
  judge::HttpServerOptions http_options;
  http_options.address = f.address;
  http_options.port = static_cast<uint16_t>(port);
  http_options.header_timeout = std::chrono::seconds(header_timeout);
  http_options.body_timeout = std::chrono::seconds(body_timeout);
  http_options.body_memory_limit = max_body_memory;
  const int fd_budget = judge::DefaultMaxConnections(slots, threads);
  http_options.max_connections = max_connections > 0 ? max_connections : fd_budget;
  if (max_connections > fd_budget) {
    std::cerr << "judge_server: warning: --max-connections " << max_connections
              << " leaves too few descriptors under RLIMIT_NOFILE for the judge slots (about "
              << fd_budget << " fit); idle connections are closed, or accepts pause, whenever "
                 "descriptors run out"
              << std::endl;
  }
  judge::HttpServer server(context_ptrs, service, http_options);
  auto bound = server.Start();
  if (!bound.ok()) {
    std::cerr << "judge_server: " << bound.status().message() << "\n";
    return 1;
  }
  std::unique_ptr<judge::Heartbeat> heartbeat;
  if (!f.backend_url.empty()) {
    judge::HeartbeatOptions h;
    h.backend_url = f.backend_url;
    h.service_url = f.service_url;
    h.token = f.token;
    h.hostname = host;
    h.port = *bound;
    h.version = std::string(judge::kJudgeServerVersion);
    h.interval = std::chrono::milliseconds(static_cast<int64_t>(heartbeat_seconds * 1000));
    auto created = judge::Heartbeat::Create(std::move(h));
    if (!created.ok()) {
      std::cerr << "judge_server: " << created.status().message() << "\n";
      return 2;
    }
    heartbeat = *std::move(created);
  }
  f.token.assign(f.token.size(), '\0');
  std::cout << "judge_server " << judge::kJudgeServerVersion << " listening on " << f.address << ":"
            << *bound << " as " << host << " (" << slots << " slots, queue " << queue
            << ", max connections " << http_options.max_connections
            << ", sandbox: " << (*judge)->sandbox().mode_name() << ", watchdog "
            << (watchdog_seconds > 0 ? absl::StrCat(watchdog_seconds, " s") : "off") << ")"
            << std::endl;
  if (heartbeat != nullptr) {
    std::cout << "judge_server: heartbeat to " << f.backend_url << " every " << heartbeat_seconds
              << " s, service_url " << f.service_url << std::endl;
    heartbeat->Start();
  }

  // SIGTERM (docker stop, swarm updates): stop accepting, let running and queued
  // judgings finish and their replies go out, then exit.
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  boost::asio::steady_timer drain_timer(io);
  std::function<void()> wait_drained = [&] {
    if (pool.idle() && server.in_flight() == 0) {
      for (auto& c : contexts) c->stop();
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([&](boost::system::error_code) { wait_drained(); });
  };
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    std::cout << "judge_server: signal " << sig << ", finishing " << pool.running() + pool.queued()
              << " judging(s) before exit" << std::endl;
    server.BeginShutdown();
    pool.Close();
    wait_drained();
  });

  std::unique_ptr<judge::Watchdog> watchdog;
  if (watchdog_seconds > 0) {
    watchdog = std::make_unique<judge::Watchdog>(
        context_ptrs, std::chrono::seconds(watchdog_seconds),
        [](size_t i, judge::Watchdog::Clock::duration silent) {
          std::cerr << "judge_server: I/O thread " << i << " has run nothing for "
                    << std::chrono::duration_cast<std::chrono::seconds>(silent).count()
                    << " s; exiting so that the orchestrator starts a fresh server" << std::endl;
          std::_Exit(70);
        });
  }
  std::vector<std::thread> workers;
  for (int i = 1; i < threads; ++i) {
    workers.emplace_back([&contexts, i] { judge::RunIoContext(*contexts[i]); });
  }
  judge::RunIoContext(io);
  if (watchdog != nullptr) watchdog->Stop();  // the loops end by design now
  for (auto& t : workers) t.join();
  if (heartbeat != nullptr) heartbeat->Stop();
  pool.Drain();
  std::cout << "judge_server: stopped" << std::endl;
  return 0;
}
