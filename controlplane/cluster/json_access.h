// Null-safe reads of Engine API JSON, shared by the cluster operations.
#ifndef CONTROLPLANE_CLUSTER_JSON_ACCESS_H_
#define CONTROLPLANE_CLUSTER_JSON_ACCESS_H_

#include <boost/json.hpp>
#include <initializer_list>
#include <string>

namespace musketeer::cluster {

// o[key] as a string, or "" when absent or not a string.
inline std::string Str(const boost::json::object& o, const char* key) {
  const boost::json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : "";
}
// o[key] as an object, or null.
inline const boost::json::object* Obj(const boost::json::object& o, const char* key) {
  const boost::json::value* v = o.if_contains(key);
  return v && v->is_object() ? &v->as_object() : nullptr;
}
// v[k1][k2]..., or null when any step is missing.
inline const boost::json::value* Path(const boost::json::value& v,
                                      std::initializer_list<const char*> keys) {
  const boost::json::value* cur = &v;
  for (const char* k : keys) {
    if (!cur->is_object()) return nullptr;
    cur = cur->as_object().if_contains(k);
    if (cur == nullptr) return nullptr;
  }
  return cur;
}
inline std::string PathStr(const boost::json::value& v, std::initializer_list<const char*> keys) {
  const boost::json::value* x = Path(v, keys);
  return x && x->is_string() ? std::string(x->as_string()) : "";
}

}  // namespace musketeer::cluster

#endif  // CONTROLPLANE_CLUSTER_JSON_ACCESS_H_
