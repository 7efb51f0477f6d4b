// Authentication and authorization for the gRPC API: a bearer token in the
// `authorization` metadata is checked against the state store once per call by an
// AuthMetadataProcessor, which records the caller's name and role on the call's auth
// context; every method then states the least role it needs in one line (Authorize).
// Calls without a token pass the processor (so health checks and reflection work) and
// are refused by Authorize. Tokens never appear in logs or errors.
#ifndef CONTROLPLANE_SERVER_AUTH_H_
#define CONTROLPLANE_SERVER_AUTH_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/auth_metadata_processor.h>

#include "absl/status/statusor.h"
#include "controlplane/state/state_store.h"

namespace musketeer::server {

class TokenProcessor : public grpc::AuthMetadataProcessor {
 public:
  explicit TokenProcessor(state::StateStore& store) : store_(store) {}
  bool IsBlocking() const override { return true; }  // SQLite lookup
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata, OutputMetadata* response_metadata) override;

 private:
  state::StateStore& store_;
};

// The caller's token name when its role is at least `least`; UNAUTHENTICATED without a
// valid token, PERMISSION_DENIED for a weaker role (the message names the role needed).
absl::StatusOr<std::string> Authorize(const grpc::ServerContext& ctx, state::Role least);

}  // namespace musketeer::server

#endif  // CONTROLPLANE_SERVER_AUTH_H_
