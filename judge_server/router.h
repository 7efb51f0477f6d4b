// Maps a request line to a route: a pure function, unit-tested on its own.
#ifndef JUDGE_SERVER_ROUTER_H_
#define JUDGE_SERVER_ROUTER_H_

#include <string_view>

namespace judge {

enum class Route {
  kPing,        // GET or POST /ping (QingdaoU clients POST)
  kHealthz,     // GET /healthz
  kMetrics,     // GET /metrics
  kLanguages,   // GET /languages
  kJudge,       // POST /judge
  kCompileSpj,  // POST /compile_spj (QingdaoU's special-judge compile)
  kNotFound,
  kMethodNotAllowed,
};

// `target` may carry a query string, which is ignored.
Route ResolveRoute(std::string_view method, std::string_view target);

// The label metrics use: the path for known routes, "other" for the rest (so that
// scanning for random paths cannot grow the metric set).
std::string_view RouteLabel(Route route);

// For 405 replies: the methods the path allows.
std::string_view AllowedMethods(std::string_view target);

// Whether the request must carry the token, as in QingdaoU: every POST it defines (/judge,
// /compile_spj, /ping). GET /ping stays open as the load-balancing probe.
bool NeedsToken(Route route, std::string_view method);

}  // namespace judge

#endif  // JUDGE_SERVER_ROUTER_H_
