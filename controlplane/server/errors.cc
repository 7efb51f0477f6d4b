#include "controlplane/server/errors.h"

#include <regex>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace musketeer::server {
namespace {

constexpr size_t kMaxMessage = 1024;

// Known engine refusals (HTTP 500 from the daemon) that are the caller's to fix.
absl::StatusCode Reclassify(absl::StatusCode code, const std::string& message) {
  if (code != absl::StatusCode::kInternal && code != absl::StatusCode::kUnknown) return code;
  // Only the engine's own answers: the control plane's internal errors stay internal.
  if (!absl::StrContains(message, "(HTTP 5")) return code;
  struct Rule {
    const char* needle;
    absl::StatusCode code;
  };
  static const Rule kRules[] = {
      {"not found", absl::StatusCode::kNotFound},
      {"No such", absl::StatusCode::kNotFound},
      {"already in use", absl::StatusCode::kFailedPrecondition},
      {"port is already allocated", absl::StatusCode::kFailedPrecondition},
      {"overlaps", absl::StatusCode::kFailedPrecondition},
      {"name conflicts", absl::StatusCode::kAlreadyExists},
      {"already exists", absl::StatusCode::kAlreadyExists},
      {"invalid", absl::StatusCode::kInvalidArgument},
      {"InvalidArgument", absl::StatusCode::kInvalidArgument},
  };
  for (const auto& r : kRules) {
    if (absl::StrContains(message, r.needle)) return r.code;
  }
  return code;
}

}  // namespace

absl::Status ForClient(const absl::Status& s) {
  if (s.ok()) return s;
  std::string message(s.message());
  const absl::StatusCode code = Reclassify(s.code(), message);
  // "POST /services/create on tcp://10.213.0.3:2376: " -> "the engine: "
  static const std::regex kRequest(
      "(?:GET|POST|PUT|DELETE|HEAD) /[^ ]* on (?:tcp|unix|fake)://[^ :]*(?::[0-9]+)?: ");
  message = std::regex_replace(message, kRequest, "the engine: ");
  // Any other engine address ("building x on tcp://...").
  static const std::regex kAddress("(?:tcp|fake)://[^ :;,)'\"/]+(?::[0-9]+)?|unix://[^ :;,)'\"]+");
  message = std::regex_replace(message, kAddress, "the node's engine");
  static const std::regex kHttp(" \\(HTTP [0-9]{3}\\)");
  message = std::regex_replace(message, kHttp, "");
  if (message.size() > kMaxMessage) {
    // Cut in the middle: the front says what failed, the end usually why (a daemon's last
    // log lines, the innermost error).
    const std::string kCut = " [... cut ...] ";
    size_t head = kMaxMessage / 2;
    size_t tail = message.size() - (kMaxMessage - head - kCut.size());
    auto inside = [&](size_t at) {  // not inside a UTF-8 sequence
      return at < message.size() && (static_cast<unsigned char>(message[at]) & 0xC0) == 0x80;
    };
    while (head > 0 && inside(head)) --head;
    while (inside(tail)) ++tail;
    message = absl::StrCat(message.substr(0, head), kCut, message.substr(tail));
  }
  return absl::Status(code, message);
}

}  // namespace musketeer::server
