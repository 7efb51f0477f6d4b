// Authentication and authorization for the gRPC API: every method states the least role it
// needs in one call (Authorize), which reads that call's own `authorization: Bearer <token>`
// metadata and checks the token against the state store.
// Per call on purpose: gRPC's AuthContext belongs to the connection, so an identity an
// AuthMetadataProcessor writes there outlives its call (a later call on the same connection
// without a token would inherit it) and races with concurrent calls.
// Calls without a token reach only what does not call Authorize (health checks, reflection).
// Tokens never appear in logs or errors.
#ifndef CONTROLPLANE_SERVER_AUTH_H_
#define CONTROLPLANE_SERVER_AUTH_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "controlplane/state/state_store.h"

namespace musketeer::server {

// The caller's token name when its role is at least `least`; UNAUTHENTICATED without a
// valid token, PERMISSION_DENIED for a weaker role (the message names the role needed).
absl::StatusOr<std::string> Authorize(const grpc::ServerContext& ctx, state::StateStore& store,
                                      state::Role least);

}  // namespace musketeer::server

#endif  // CONTROLPLANE_SERVER_AUTH_H_
