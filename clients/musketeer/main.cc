// musketeer: the command line of the musketeer control plane, with the verbs of docker
// and docker-machine. Every command talks to musketeerd over gRPC (TLS + token).
// This file only joins the groups' command tables (commands.h) and dispatches.
#include <algorithm>
#include <iostream>

#include "absl/strings/str_join.h"
#include "clients/musketeer/commands.h"

namespace {
using namespace musketeer::cli;

std::vector<Command> AllCommands() {
  std::vector<Command> all;
  for (auto group : {NodeCommands, SwarmCommands, NetworkCommands, ImageCommands, ServiceCommands,
                     StackCommands, TokenCommands, AuditCommands, SecretCommands, ConfigCommands, VolumeCommands, SystemCommands}) {
    for (auto& c : group()) all.push_back(std::move(c));
  }
  return all;
}

void Help(const std::vector<Command>& cmds, const std::string& group) {
  std::cout
      << "Usage: musketeer [--endpoint HOST:PORT] [--token TOKEN] [--ca FILE] [--format "
         "table|json] COMMAND\n\n"
         "The musketeer control plane from the command line (docker and docker-machine verbs).\n"
         "Endpoint, token and CA come from flags, "
         "MUSKETEER_ENDPOINT/MUSKETEER_TOKEN/MUSKETEER_CA,\n"
         "or ~/.config/musketeer/config.json (written by scripts/demo).\n\nCommands:\n";
  for (const auto& c : cmds) {
    if (!group.empty() && c.group != group) continue;
    std::cout << "  " << c.group << " " << c.verb
              << std::string(
                     c.group.size() + c.verb.size() < 22 ? 22 - c.group.size() - c.verb.size() : 1,
                     ' ')
              << c.help << "\n";
  }
  std::cout << "  completion bash         The bash completion script\n"
               "\nRun 'musketeer GROUP VERB --help' for a command's flags.\nExit codes: 0 ok, 1 "
               "failed, 2 usage, 3 musketeerd unreachable or credentials refused.\n";
}

void PrintUsage(const Command& c) {
  std::cerr << "Usage: musketeer " << c.group << " " << c.verb << " " << c.usage << "\n";
}

// Runs one verb with the global flags in front of its own arguments.
int Run(const Command& c, std::vector<std::string> rest, const std::vector<std::string>& globals) {
  if (std::find(rest.begin(), rest.end(), "--help") != rest.end() ||
      std::find(rest.begin(), rest.end(), "-h") != rest.end()) {
    std::cout << "Usage: musketeer " << c.group << " " << c.verb << " " << c.usage << "\n\n"
              << c.help << "\n";
    return kOk;
  }
  rest.insert(rest.begin(), globals.begin(), globals.end());
  Args parsed(rest, c.booleans, c.interspersed);
  int rc = kOk;
  if (!parsed.error().empty()) {
    rc = UsageError(parsed.error());
  } else if (const std::string flag = UnknownFlag(parsed, c.usage, c.booleans); !flag.empty()) {
    rc = UsageError("unknown flag: " + flag);
  } else if (parsed.Has("--format") && parsed.Get("--format") != "json" &&
             parsed.Get("--format") != "table") {
    rc = UsageError("--format is table or json");
  } else {
    rc = c.run(parsed, ResolveConnection(parsed));
  }
  if (rc == kUsage) rc = UsageError("wrong arguments");
  if (rc == kUsageShown) {
    PrintUsage(c);
    return kUsage;
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const auto cmds = AllCommands();
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    Help(cmds, "");
    return args.empty() ? kUsage : kOk;
  }
  if (args.size() == 1 && args[0] == "--version") {
    std::cout << "musketeer version " << MUSKETEER_VERSION << "\n";
    return kOk;
  }
  if (!args.empty() && args[0] == "completion") {
    if (args.size() == 2 && args[1] == "bash") {
      std::cout << BashCompletion(cmds);
      return kOk;
    }
    std::cerr << "Usage: musketeer completion bash   (the bash completion script: source <(musketeer completion bash))\n";
    return kUsage;
  }
  // Global flags may come first: musketeer --format json node ls.
  std::vector<std::string> globals;
  while (!args.empty() && args[0].rfind("--", 0) == 0 && args[0] != "--help") {
    globals.push_back(args[0]);
    args.erase(args.begin());
    if (globals.back().find('=') == std::string::npos && !args.empty()) {
      globals.push_back(args[0]);
      args.erase(args.begin());
    }
  }
  if (args.empty()) {
    Help(cmds, "");
    return kUsage;
  }
  std::string group = args[0], verb = args.size() > 1 ? args[1] : "";
  size_t first_argument = 2;
  if (group == "ps") group = "service", verb = "ps", first_argument = 1;  // docker-style shortcuts
  if (group == "version") group = "system", verb = "version", first_argument = 1;
  for (const auto& c : cmds) {
    if (c.group == group && c.verb == verb) {
      return Run(c,
                 std::vector<std::string>(args.begin() + std::min(first_argument, args.size()),
                                          args.end()),
                 globals);
    }
  }
  std::cerr << "Error: unknown command '"
            << absl::StrJoin(args.begin(), args.begin() + std::min<size_t>(2, args.size()), " ")
            << "'\n\n";
  Help(cmds, group);
  return kUsage;
}
