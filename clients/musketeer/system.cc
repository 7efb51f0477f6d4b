// musketeer version: the client's and the server's versions, as `docker version` shows them.
#include <iostream>

#include "clients/musketeer/commands.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace musketeer::cli {
namespace {
namespace pb = ::musketeer::v1;

int Version(const Args& a, const Connection& c) {
  if (!a.positional().empty()) return UsageError("version takes no arguments");
  pb::Version server;
  const grpc::Status s = Unary(c, 30, &pb::Session::Stub::GetVersion, {}, &server);
  if (Json(a)) {
    std::cout << "{\"client\": {\"version\": \"" << MUSKETEER_VERSION << "\"}";
    if (s.ok()) std::cout << ", \"server\": {\"version\": \"" << server.version()
                          << "\", \"api\": \"" << server.api() << "\"}";
    std::cout << "}\n";
  } else {
    std::cout << "Client:\n Version:  " << MUSKETEER_VERSION << "\n";
    if (s.ok())
      std::cout << "\nServer: musketeerd\n Version:  " << server.version()
                << "\n API:      " << server.api() << "\n";
  }
  return s.ok() ? kOk : Report(s);  // the client's part is shown either way, as docker's
}

}  // namespace

std::vector<Command> SystemCommands() {
  return {{"system", "version", "", "Show the client's and the server's versions", {}, Version}};
}

}  // namespace musketeer::cli
