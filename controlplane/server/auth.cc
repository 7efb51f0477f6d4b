#include "controlplane/server/auth.h"

#include <string_view>

#include "absl/strings/str_cat.h"

namespace musketeer::server {

absl::StatusOr<std::string> Authorize(const grpc::ServerContext& ctx, state::StateStore& store,
                                      state::Role least) {
  const auto& metadata = ctx.client_metadata();
  auto [first, last] = metadata.equal_range("authorization");
  if (first == last) {
    return absl::UnauthenticatedError(
        "this call needs a token: pass `authorization: Bearer <token>` (the CLI reads --token, "
        "MUSKETEER_TOKEN or its config)");
  }
  if (std::next(first) != last)
    return absl::UnauthenticatedError("send one authorization header, not several");
  const std::string_view value(first->second.data(), first->second.size());
  constexpr std::string_view kBearer = "Bearer ";
  if (value.substr(0, kBearer.size()) != kBearer) {
    return absl::UnauthenticatedError("authorization metadata must be 'Bearer <token>'");
  }
  auto token = store.Authenticate(std::string(value.substr(kBearer.size())));
  if (!token.ok()) return token.status();
  if (token->role < least) {
    return absl::PermissionDeniedError(absl::StrCat("this call needs the ", state::RoleName(least),
                                                    " role; token '", token->name, "' has ",
                                                    state::RoleName(token->role)));
  }
  return token->name;
}

}  // namespace musketeer::server
