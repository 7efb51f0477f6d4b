// A small blocking HTTP GET with a deadline, used to probe published ports after a
// deployment (which replicas answer /ping on each node).
#ifndef CONTROLPLANE_CLUSTER_HTTP_PROBE_H_
#define CONTROLPLANE_CLUSTER_HTTP_PROBE_H_

#include <chrono>
#include <string>

#include "absl/status/statusor.h"

namespace musketeer::cluster {

// GET http://host:port/target on a fresh connection; the body of a 2xx answer.
absl::StatusOr<std::string> HttpGet(const std::string& host, uint16_t port,
                                    const std::string& target, std::chrono::milliseconds deadline);

// The "hostname" field of a judge_server /ping answer; empty if there is none.
std::string HostnameOf(const std::string& ping_body);

}  // namespace musketeer::cluster

#endif  // CONTROLPLANE_CLUSTER_HTTP_PROBE_H_
