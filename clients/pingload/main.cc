// pingload: a bounded HTTP/1.1 load generator for /ping across several targets.
// Keep-alive connections spread evenly over the targets, each connection one request at a
// time (closed loop) or paced to an overall --rate. Latencies go into a log-linear
// histogram (1 us to 100 s, <1% error); the answering "hostname" of each /ping reply is
// tallied per target, so one can see how requests spread over replicas.
//
//   pingload [-c CONNECTIONS] [-d SECONDS | -n REQUESTS] [--rate RPS] [--path /ping]
//            [--json] [--svg FILE] HOST:PORT...
#include <sys/resource.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "clients/pingload/histogram.h"

namespace {
using musketeer::Histogram;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Options {
  int connections = 16;
  double duration_s = 10;
  int64_t requests = 0;  // > 0: stop after this many instead of a duration
  double rate = 0;       // requests per second overall; 0 = as fast as possible
  std::string path = "/ping";
  bool json = false;
  std::string svg;
  std::vector<std::pair<std::string, uint16_t>> targets;
};

struct TargetStats {
  std::string name;
  int64_t ok = 0;
  std::map<std::string, int64_t> errors;
  std::map<std::string, int64_t> hostnames;
};

std::string HostnameOf(std::string_view body) {
  auto k = body.find("\"hostname\"");
  if (k == std::string_view::npos) return "";
  auto q1 = body.find('"', body.find(':', k) + 1);
  auto q2 = q1 == std::string_view::npos ? q1 : body.find('"', q1 + 1);
  return q2 == std::string_view::npos ? "" : std::string(body.substr(q1 + 1, q2 - q1 - 1));
}

// One keep-alive connection issuing requests one after another.
class Worker : public std::enable_shared_from_this<Worker> {
 public:
  Worker(asio::io_context& io, const Options& o, TargetStats& stats, tcp::endpoint ep,
         Histogram& hist, std::atomic<int64_t>& budget, int& active, Clock::time_point end,
         double interval_s, std::vector<std::pair<double, double>>* timeline,
         Clock::time_point start)
      : io_(io),
        socket_(io),
        timer_(io),
        o_(o),
        stats_(stats),
        ep_(ep),
        hist_(hist),
        budget_(budget),
        active_(active),
        end_(end),
        interval_(interval_s),
        timeline_(timeline),
        start_(start) {
    req_ = {http::verb::get, o.path, 11};
    req_.set(http::field::host, ep.address().to_string() + ":" + std::to_string(ep.port()));
    req_.set(http::field::user_agent, "pingload");
    req_.keep_alive(true);
    next_ = Clock::now();
  }
  void Start() { Connect(); }

 private:
  // True once this worker should stop; the last worker to stop ends the run.
  bool Done() {
    const bool done = o_.requests > 0 ? budget_.fetch_sub(1) <= 0 : Clock::now() >= end_;
    if (done && !finished_) {
      finished_ = true;
      if (--active_ == 0) io_.stop();
    }
    return done;
  }
  void Connect() {
    socket_ = tcp::socket(socket_.get_executor());
    socket_.async_connect(ep_, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->Fail("connect: " + ec.message(), true);
      self->socket_.set_option(tcp::no_delay(true));
      self->Next();
    });
  }
  void Next() {
    if (Done()) return;
    if (interval_ > 0) {
      next_ +=
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval_));
      timer_.expires_at(next_);
      timer_.async_wait([self = shared_from_this()](beast::error_code) { self->Send(); });
    } else {
      Send();
    }
  }
  void Send() {
    sent_at_ = Clock::now();
    res_ = {};
    http::async_write(socket_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Fail("write: " + ec.message(), true);
      http::async_read(
          self->socket_, self->buffer_, self->res_, [self](beast::error_code ec2, size_t) {
            if (ec2) return self->Fail("read: " + ec2.message(), true);
            const auto now = Clock::now();
            const double us =
                std::chrono::duration<double, std::micro>(now - self->sent_at_).count();
            self->hist_.Record(us);
            if (self->timeline_)
              self->timeline_->emplace_back(
                  std::chrono::duration<double>(now - self->start_).count(), us);
            if (self->res_.result_int() / 100 != 2) {
              ++self->stats_.errors[absl::StrCat("http ", self->res_.result_int())];
            } else {
              ++self->stats_.ok;
              std::string host = HostnameOf(self->res_.body());
              ++self->stats_.hostnames[host.empty() ? "(none)" : host];
            }
            if (!self->res_.keep_alive()) return self->Connect();
            self->Next();
          });
    });
  }
  void Fail(const std::string& what, bool reconnect) {
    ++stats_.errors[what.substr(0, what.find(':')) + ": " + what.substr(what.find(':') + 2)];
    beast::error_code ignored;
    socket_.close(ignored);
    if (reconnect && !Done()) {
      // Back off a little so a dead target does not spin.
      timer_.expires_after(std::chrono::milliseconds(50));
      timer_.async_wait([self = shared_from_this()](beast::error_code) { self->Connect(); });
    }
  }

  asio::io_context& io_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  const Options& o_;
  TargetStats& stats_;
  tcp::endpoint ep_;
  Histogram& hist_;
  std::atomic<int64_t>& budget_;
  int& active_;  // workers still running (one thread: no atomics needed)
  bool finished_ = false;
  Clock::time_point end_, next_, sent_at_;
  double interval_;
  std::vector<std::pair<double, double>>* timeline_;
  Clock::time_point start_;
  http::request<http::empty_body> req_;
  http::response<http::string_body> res_;
  beast::flat_buffer buffer_;
};

int UsageError(const std::string& what) {
  std::cerr << "pingload: " << what << "\n"
            << "usage: pingload [-c CONNECTIONS] [-d SECONDS | -n REQUESTS] [--rate RPS] [--path "
               "/ping] [--json] [--svg FILE] HOST:PORT...\n";
  return 2;
}

std::string Bar(double fraction, int width) {
  int n = static_cast<int>(std::lround(fraction * width));
  std::string s;
  for (int i = 0; i < n; ++i) s += "\u2588";
  return s + std::string(width - n, ' ');
}

void WriteSvg(const std::string& path, const std::vector<std::pair<double, double>>& points,
              const std::vector<TargetStats>& targets) {
  std::ofstream out(path);
  const int w = 800, h = 300;
  double tmax = 0, lmax = 1;
  for (const auto& [t, l] : points) tmax = std::max(tmax, t), lmax = std::max(lmax, l);
  out << "<svg xmlns='http://www.w3.org/2000/svg' width='" << w << "' height='" << h + 40 + 22 * 16
      << "' font-family='monospace' font-size='12'>\n";
  out << "<text x='10' y='15'>latency (us, log scale) over time (s): max "
      << static_cast<int64_t>(lmax) << " us</text>\n";
  const size_t step = std::max<size_t>(1, points.size() / 5000);
  for (size_t i = 0; i < points.size(); i += step) {
    const double x = 10 + (w - 20) * points[i].first / std::max(tmax, 1e-9);
    const double y =
        25 + h - h * std::log10(std::max(points[i].second, 1.0)) / std::log10(std::max(lmax, 10.0));
    out << "<circle cx='" << x << "' cy='" << y << "' r='1' fill='steelblue'/>\n";
  }
  int y = h + 50;
  for (const auto& t : targets) {
    int64_t total = 0;
    for (const auto& [_, n] : t.hostnames) total += n;
    out << "<text x='10' y='" << y << "'>" << t.name << "</text>\n";
    y += 16;
    for (const auto& [host, n] : t.hostnames) {
      const double bw = total ? 500.0 * n / total : 0;
      out << "<rect x='160' y='" << y - 11 << "' width='" << bw
          << "' height='12' fill='seagreen'/><text x='20' y='" << y << "'>" << host
          << "</text><text x='" << 165 + bw << "' y='" << y << "'>" << n << "</text>\n";
      y += 16;
    }
  }
  out << "</svg>\n";
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "-c" || a == "--connections") {
      if (!absl::SimpleAtoi(value(), &o.connections) || o.connections < 1 || o.connections > 10000)
        return UsageError("-c takes 1..10000");
    } else if (a == "-d" || a == "--duration") {
      std::string v = value();
      if (!v.empty() && v.back() == 's') v.pop_back();
      if (!absl::SimpleAtod(v, &o.duration_s) || o.duration_s <= 0 || o.duration_s > 3600)
        return UsageError("-d takes seconds, at most 3600");
    } else if (a == "-n" || a == "--requests") {
      if (!absl::SimpleAtoi(value(), &o.requests) || o.requests < 1)
        return UsageError("-n takes a positive count");
    } else if (a == "--rate") {
      if (!absl::SimpleAtod(value(), &o.rate) || o.rate <= 0)
        return UsageError("--rate takes requests per second");
    } else if (a == "--path") {
      o.path = value();
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--svg") {
      o.svg = value();
    } else if (a == "-h" || a == "--help") {
      UsageError("load-tests /ping on every target and shows which replicas answered");
      return 0;
    } else {
      auto colon = a.rfind(':');
      int port = 0;
      if (colon == std::string::npos || !absl::SimpleAtoi(a.substr(colon + 1), &port) || port < 1 ||
          port > 65535) {
        return UsageError("'" + a + "' is not HOST:PORT");
      }
      std::string host = a.substr(0, colon);
      if (host.rfind("http://", 0) == 0) host = host.substr(7);
      o.targets.emplace_back(host, static_cast<uint16_t>(port));
    }
  }
  if (o.targets.empty()) return UsageError("give at least one target, e.g. 10.213.0.2:8090");
  if (o.connections < static_cast<int>(o.targets.size())) o.connections = o.targets.size();
  // In count mode the duration is a safety bound.
  const double bound_s = o.requests > 0 ? 600 : o.duration_s;

  asio::io_context io(1);
  std::vector<TargetStats> stats(o.targets.size());
  std::vector<tcp::endpoint> endpoints;
  tcp::resolver resolver(io);
  for (size_t i = 0; i < o.targets.size(); ++i) {
    beast::error_code ec;
    auto results = resolver.resolve(o.targets[i].first, std::to_string(o.targets[i].second), ec);
    if (ec || results.empty()) return UsageError("cannot resolve " + o.targets[i].first);
    endpoints.push_back(*results.begin());
    stats[i].name = absl::StrCat(o.targets[i].first, ":", o.targets[i].second);
  }
  Histogram hist;
  std::atomic<int64_t> budget{o.requests};
  std::vector<std::pair<double, double>> timeline;
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(bound_s));
  const double interval = o.rate > 0 ? o.connections / o.rate : 0;
  int active = o.connections;
  for (int c = 0; c < o.connections; ++c) {
    const size_t t = c % o.targets.size();
    std::make_shared<Worker>(io, o, stats[t], endpoints[t], hist, budget, active, end, interval,
                             o.svg.empty() ? nullptr : &timeline, start)
        ->Start();
  }
  asio::steady_timer stop(io);
  stop.expires_at(end + std::chrono::seconds(2));  // in-flight requests get 2 s to finish
  stop.async_wait([&](beast::error_code) { io.stop(); });
  io.run();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double cpu_s =
      ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;

  int64_t ok = 0, errors = 0;
  std::map<std::string, int64_t> all_errors;
  for (const auto& t : stats) {
    ok += t.ok;
    for (const auto& [k, n] : t.errors) errors += n, all_errors[k] += n;
  }
  const double measured_s = o.requests > 0 ? elapsed : std::min(elapsed, o.duration_s);
  if (o.json) {
    json::object out{{"requests", ok + errors},
                     {"ok", ok},
                     {"errors", errors},
                     {"seconds", measured_s},
                     {"rps", ok / measured_s},
                     {"connections", o.connections},
                     {"latency_us", json::object{{"p50", hist.Percentile(50)},
                                                 {"p90", hist.Percentile(90)},
                                                 {"p99", hist.Percentile(99)},
                                                 {"p999", hist.Percentile(99.9)},
                                                 {"max", hist.Max()},
                                                 {"mean", hist.Mean()}}},
                     {"cpu_seconds", cpu_s},
                     {"max_rss_kb", ru.ru_maxrss}};
    json::object errs;
    for (const auto& [k, n] : all_errors) errs[k] = n;
    out["errors_by_kind"] = errs;
    json::array targets;
    for (const auto& t : stats) {
      json::object hosts;
      for (const auto& [h, n] : t.hostnames) hosts[h] = n;
      targets.emplace_back(json::object{{"target", t.name}, {"ok", t.ok}, {"hostnames", hosts}});
    }
    out["targets"] = targets;
    std::cout << json::serialize(out) << "\n";
  } else {
    std::cout << std::fixed << std::setprecision(1);
    std::cout << "requests   " << ok + errors << " in " << measured_s << " s over " << o.connections
              << " connections (" << errors << " errors)\n";
    std::cout << "rate       " << ok / measured_s << " req/s\n";
    std::cout << "latency    p50 " << hist.Percentile(50) / 1000 << " ms   p90 "
              << hist.Percentile(90) / 1000 << " ms   p99 " << hist.Percentile(99) / 1000
              << " ms   p99.9 " << hist.Percentile(99.9) / 1000 << " ms   max " << hist.Max() / 1000
              << " ms\n";
    for (const auto& [k, n] : all_errors) std::cout << "error      " << n << " x " << k << "\n";
    std::cout << "client     " << cpu_s << " s CPU, " << ru.ru_maxrss / 1024 << " MB max RSS\n\n";
    for (const auto& t : stats) {
      int64_t total = 0;
      for (const auto& [_, n] : t.hostnames) total += n;
      std::cout << t.name << "  (" << t.hostnames.size() << " replicas answered)\n";
      for (const auto& [h, n] : t.hostnames) {
        std::cout << "  " << std::left << std::setw(16) << h << std::right << " "
                  << Bar(total ? double(n) / total : 0, 40) << " " << std::setw(8) << n << "  "
                  << std::setprecision(1) << (total ? 100.0 * n / total : 0) << "%\n";
      }
    }
  }
  if (!o.svg.empty()) WriteSvg(o.svg, timeline, stats);
  return ok > 0 ? 0 : 1;
}
