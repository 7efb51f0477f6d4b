// What a client sees of an error: the status the control plane produced, with what belongs
// only in musketeerd's log taken out. Engine messages name the engine's address and the
// HTTP request made ("POST /services/create on tcp://10.213.0.3:2376: ... (HTTP 500)");
// clients get the engine's reason without them. Engine refusals that are the caller's
// mistake but come as HTTP 500 (a missing network, a port in use, an overlapping subnet)
// get the code that says so. Messages are capped at 1 KiB (gRPC carries them in metadata).
#ifndef CONTROLPLANE_SERVER_ERRORS_H_
#define CONTROLPLANE_SERVER_ERRORS_H_

#include "absl/status/status.h"

namespace musketeer::server {

// The status to send. Pure; the caller logs the original when they differ.
absl::Status ForClient(const absl::Status& s);

}  // namespace musketeer::server

#endif  // CONTROLPLANE_SERVER_ERRORS_H_
