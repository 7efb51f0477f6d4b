#include "clients/musketeer/cli.h"

#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"

namespace musketeer::cli {

Args::Args(const std::vector<std::string>& argv, const std::vector<std::string>& booleans,
           bool interspersed) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    const bool after_positional = !interspersed && !positional_.empty();
    if (a == "--" || after_positional) {
      positional_.insert(positional_.end(),
                         argv.begin() + i + (a == "--" && !after_positional ? 1 : 0), argv.end());
      break;
    }
    if (a.size() > 1 && a[0] == '-') {
      std::string flag = a, value;
      auto eq = a.find('=');
      if (eq != std::string::npos) {
        flag = a.substr(0, eq);
        value = a.substr(eq + 1);
      } else if (std::find(booleans.begin(), booleans.end(), a) != booleans.end()) {
        value = "true";
      } else if (i + 1 < argv.size()) {
        value = argv[++i];
      } else {
        error_ = "flag " + a + " needs a value";
        return;
      }
      values_.emplace(flag, value);
      continue;
    }
    positional_.push_back(a);
  }
}

std::string Args::Get(const std::string& flag, const std::string& fallback) const {
  auto it = values_.find(flag);
  return it == values_.end() ? fallback : it->second;
}

std::vector<std::string> Args::All(const std::string& flag) const {
  std::vector<std::string> out;
  for (auto [it, end] = values_.equal_range(flag); it != end; ++it) out.push_back(it->second);
  return out;
}

std::vector<std::string> Args::flags() const {
  std::vector<std::string> out;
  for (const auto& [flag, value] : values_)
    if (out.empty() || out.back() != flag) out.push_back(flag);
  return out;
}

// ---------------------------------------------------------------- flags

std::set<std::string> FlagsOf(const std::string& usage, const std::vector<std::string>& booleans) {
  std::set<std::string> known(booleans.begin(), booleans.end());
  static const std::regex kFlag("(?:^|[\\s\\[|])(--?[a-zA-Z][-a-zA-Z]*)");
  for (std::sregex_iterator it(usage.begin(), usage.end(), kFlag), end; it != end; ++it)
    known.insert((*it)[1]);
  return known;
}

std::string UnknownFlag(const Args& a, const std::string& usage,
                        const std::vector<std::string>& booleans) {
  std::set<std::string> known = FlagsOf(usage, booleans);
  for (const char* global : kGlobalFlags) known.insert(global);
  for (const auto& flag : a.flags())
    if (!known.count(flag)) return flag;
  return "";
}

int UsageError(const std::string& problem) {
  std::cerr << "Error: " << problem << "\n";
  return kUsageShown;
}

std::pair<std::string, std::string> SplitKeyValue(const std::string& kv) {
  auto eq = kv.find('=');
  return {kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1)};
}

bool ParseDurationMs(const std::string& s, uint32_t* ms) {
  // docker's flags take Go durations ("1m30s", "1h", "250ms"); a bare number is seconds.
  double total = 0;
  size_t i = 0;
  do {
    const size_t start = i;
    while (i < s.size() && (isdigit(s[i]) || s[i] == '.')) ++i;
    double v = 0;
    if (i == start || !absl::SimpleAtod(s.substr(start, i - start), &v)) return false;
    const size_t unit_start = i;
    while (i < s.size() && !isdigit(s[i]) && s[i] != '.') ++i;
    const std::string unit = s.substr(unit_start, i - unit_start);
    if (unit.empty() && (start > 0 || i < s.size())) return false;  // "1m30": 30 what?
    const double f = unit.empty() || unit == "s"         ? 1000
                     : unit == "ms"                      ? 1
                     : unit == "us" || unit == "\u00b5s" ? 1e-3
                     : unit == "ns"                      ? 1e-6
                     : unit == "m"                       ? 60000
                     : unit == "h"                       ? 3600000
                                                         : -1;
    if (f < 0) return false;
    total += v * f;
  } while (i < s.size());
  if (total > 4294967295.0) return false;
  *ms = static_cast<uint32_t>(total);
  return true;
}

bool ParseBytes(const std::string& s, int64_t* out) {
  double v = 0;
  size_t i = 0;
  while (i < s.size() && (isdigit(s[i]) || s[i] == '.')) ++i;
  if (i == 0 || !absl::SimpleAtod(s.substr(0, i), &v)) return false;
  const std::string u = s.substr(i);
  const double f = u.empty() || u == "b"  ? 1
                   : u == "k" || u == "K" ? 1024
                   : u == "m" || u == "M" ? 1048576
                   : u == "g" || u == "G" ? 1073741824
                                          : -1;
  if (f < 0) return false;
  *out = static_cast<int64_t>(v * f);
  return true;
}

bool Detach(const Args& a) { return a.Has("--detach") || a.Has("-d"); }
bool Force(const Args& a) { return a.Has("--force") || a.Has("-f"); }

// ---------------------------------------------------------------- connection

namespace {
std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
std::string Trim(std::string s) {
  while (!s.empty() && isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}
}  // namespace

Connection ResolveConnection(const Args& args) {
  Connection c{"127.0.0.1:7443", "", "/var/lib/musketeer/pki/ca/ca.pem"};
  const char* home = getenv("HOME");
  std::string config = getenv("MUSKETEER_CONFIG")
                           ? getenv("MUSKETEER_CONFIG")
                           : std::string(home ? home : "/root") + "/.config/musketeer/config.json";
  boost::system::error_code ec;
  auto v = boost::json::parse(ReadAll(config), ec);
  if (!ec && v.is_object()) {
    const auto& o = v.as_object();
    auto str = [&](const char* k) {
      return o.contains(k) && o.at(k).is_string() ? std::string(o.at(k).as_string()) : "";
    };
    if (!str("endpoint").empty()) c.endpoint = str("endpoint");
    if (!str("ca").empty()) c.ca = str("ca");
    if (!str("token_file").empty()) c.token = Trim(ReadAll(str("token_file")));
    if (!str("token").empty()) c.token = str("token");
  }
  if (const char* e = getenv("MUSKETEER_ENDPOINT")) c.endpoint = e;
  if (const char* e = getenv("MUSKETEER_CA")) c.ca = e;
  if (const char* e = getenv("MUSKETEER_TOKEN")) c.token = e;
  c.endpoint = args.Get("--endpoint", c.endpoint);
  c.ca = args.Get("--ca", c.ca);
  c.token = args.Get("--token", c.token);
  return c;
}

std::shared_ptr<grpc::Channel> Dial(const Connection& c) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadAll(c.ca);
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(c.endpoint, grpc::SslCredentials(ssl), channel_args);
}

std::unique_ptr<grpc::ClientContext> Context(const Connection& c, int deadline_seconds) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!c.token.empty()) ctx->AddMetadata("authorization", "Bearer " + c.token);
  if (deadline_seconds > 0)
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(deadline_seconds));
  return ctx;
}

namespace {
constexpr char kAnsweredMark[] = "musketeer-answered";
}  // namespace

grpc::Status Answered(const grpc::ClientContext& ctx, grpc::Status s) {
  if (s.ok() || ctx.GetServerTrailingMetadata().count(kAnsweredMark) == 0) return s;
  return grpc::Status(s.error_code(), s.error_message(), kAnsweredMark);
}

int Report(const grpc::Status& s) {
  if (s.ok()) return kOk;
  std::cerr << "Error: " << s.error_message() << "\n";
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      if (s.error_details() == kAnsweredMark) return kFailed;  // a node, not musketeerd
      std::cerr << "(is musketeerd running? start it with `scripts/demo` or `musketeerd &`; "
                   "endpoint and CA come from --endpoint/--ca, MUSKETEER_ENDPOINT/MUSKETEER_CA or "
                   "~/.config/musketeer/config.json)\n";
      return kUnreachable;
    case grpc::StatusCode::UNAUTHENTICATED:
      return kUnreachable;
    default:
      return kFailed;
  }
}

// ---------------------------------------------------------------- output

bool Json(const Args& a) { return a.Get("--format") == "json"; }

void PrintJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  std::cout << out;
}

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(width[i] - cells[i].size() + 3, ' ');
    }
    std::cout << out << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

std::string Bar(unsigned done, unsigned total, int width) {
  int filled = total == 0 ? width : static_cast<int>(static_cast<double>(done) / total * width);
  filled = std::min(filled, width);
  std::string bar = "[" + std::string(filled, '=');
  if (filled < width) bar += ">" + std::string(width - filled - 1, ' ');
  return bar + "]";
}

}  // namespace musketeer::cli
