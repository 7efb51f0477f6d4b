// `judge_server --healthcheck`: the probe Docker's HEALTHCHECK runs inside the image, so
// that the check needs no interpreter (a python3 probe under load timed out on every
// replica at once; issue 11).
#ifndef JUDGE_SERVER_HEALTHCHECK_H_
#define JUDGE_SERVER_HEALTHCHECK_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace judge {

// GET /healthz over one plain TCP connection to `host` (a numeric IPv4 or IPv6 address)
// and `port`; the whole exchange must finish within `timeout`. OK only for a 200 reply;
// otherwise the error says what went wrong (refused, timed out, the status line).
absl::Status ProbeHealthz(const std::string& host, uint16_t port,
                          std::chrono::milliseconds timeout);

// The address to probe for a server listening on `listen_address`: loopback for the
// wildcard addresses, the address itself otherwise.
std::string ProbeAddressFor(const std::string& listen_address);

}  // namespace judge

#endif  // JUDGE_SERVER_HEALTHCHECK_H_
