#include "judge_server/router.h"

namespace judge {
namespace {

struct Entry {
  std::string_view path;
  std::string_view methods;
  Route route;
};
constexpr Entry kRoutes[] = {
    {"/ping", "GET, POST", Route::kPing}, {"/healthz", "GET", Route::kHealthz},
    {"/metrics", "GET", Route::kMetrics}, {"/languages", "GET", Route::kLanguages},
    {"/judge", "POST", Route::kJudge},    {"/compile_spj", "POST", Route::kCompileSpj},
};

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

bool Allows(std::string_view methods, std::string_view method) {
  if (method == "HEAD") method = "GET";
  size_t pos = 0;
  while (pos < methods.size()) {
    size_t end = methods.find(", ", pos);
    if (end == std::string_view::npos) end = methods.size();
    if (methods.substr(pos, end - pos) == method) return true;
    pos = end + 2;
  }
  return false;
}

}  // namespace

Route ResolveRoute(std::string_view method, std::string_view target) {
  std::string_view path = PathOf(target);
  for (const Entry& e : kRoutes) {
    if (e.path == path) return Allows(e.methods, method) ? e.route : Route::kMethodNotAllowed;
  }
  return Route::kNotFound;
}

std::string_view RouteLabel(Route route) {
  for (const Entry& e : kRoutes) {
    if (e.route == route) return e.path;
  }
  return "other";
}

std::string_view AllowedMethods(std::string_view target) {
  std::string_view path = PathOf(target);
  for (const Entry& e : kRoutes) {
    if (e.path == path) return e.methods;
  }
  return "";
}

bool NeedsToken(Route route, std::string_view method) {
  switch (route) {
    case Route::kJudge:
    case Route::kCompileSpj:
      return true;
    case Route::kPing:
      return method == "POST";
    default:
      return false;
  }
}

}  // namespace judge
