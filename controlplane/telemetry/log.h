// musketeerd's log: one line per event on stderr, with a level. Under systemd (stderr is
// the journal: JOURNAL_STREAM is set) each line starts with its syslog priority ("<4>"),
// which the journal stores as the line's priority, so `journalctl -p warning` filters it.
// Thread-safe: one write(2) per line.
#ifndef CONTROLPLANE_TELEMETRY_LOG_H_
#define CONTROLPLANE_TELEMETRY_LOG_H_

#include <string>

#include "absl/strings/string_view.h"

namespace musketeer::telemetry {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// "debug", "info", "warning" (or "warn"), "error". False for anything else.
bool ParseLogLevel(absl::string_view name, LogLevel* level);
// Lines below `level` are dropped (default: info).
void SetLogLevel(LogLevel level);
void Log(LogLevel level, absl::string_view message);

inline void LogDebug(absl::string_view m) { Log(LogLevel::kDebug, m); }
inline void LogInfo(absl::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(absl::string_view m) { Log(LogLevel::kWarning, m); }
inline void LogError(absl::string_view m) { Log(LogLevel::kError, m); }

}  // namespace musketeer::telemetry

#endif  // CONTROLPLANE_TELEMETRY_LOG_H_
