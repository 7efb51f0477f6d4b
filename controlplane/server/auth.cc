#include "controlplane/server/auth.h"

#include "absl/strings/str_cat.h"

namespace musketeer::server {
namespace {
constexpr char kWho[] = "musketeer-who";
constexpr char kRole[] = "musketeer-role";
}  // namespace

grpc::Status TokenProcessor::Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                                     OutputMetadata* consumed, OutputMetadata*) {
  auto it = auth_metadata.find("authorization");
  if (it == auth_metadata.end()) return grpc::Status::OK;  // anonymous: Authorize refuses it
  std::string value(it->second.data(), it->second.size());
  constexpr std::string_view kBearer = "Bearer ";
  if (value.rfind(kBearer, 0) != 0) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "authorization metadata must be 'Bearer <token>'");
  }
  auto token = store_.Authenticate(value.substr(kBearer.size()));
  if (!token.ok()) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(token.status().message()));
  context->AddProperty(kWho, token->name);
  context->AddProperty(kRole, state::RoleName(token->role));
  consumed->insert(std::make_pair(std::string(it->first.data(), it->first.size()), std::string(it->second.data(), it->second.size())));
  return grpc::Status::OK;
}

absl::StatusOr<std::string> Authorize(const grpc::ServerContext& ctx, state::Role least) {
  auto auth = ctx.auth_context();
  if (auth == nullptr) return absl::UnauthenticatedError("no credentials");
  auto who = auth->FindPropertyValues(kWho);
  auto role = auth->FindPropertyValues(kRole);
  if (who.empty() || role.empty()) {
    return absl::UnauthenticatedError("this call needs a token: pass `authorization: Bearer <token>` (the CLI reads --token, MUSKETEER_TOKEN or its config)");
  }
  auto parsed = state::ParseRole(std::string(role.front().data(), role.front().size()));
  if (!parsed.ok() || *parsed < least) {
    return absl::PermissionDeniedError(absl::StrCat("this call needs the ", state::RoleName(least), " role; token '",
                                                    std::string(who.front().data(), who.front().size()), "' has ",
                                                    std::string(role.front().data(), role.front().size())));
  }
  return std::string(who.front().data(), who.front().size());
}

}  // namespace musketeer::server
