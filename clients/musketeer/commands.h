// The command table of each object group of the musketeer CLI. Like the docker CLI's one
// package per object (cli/command/service/create.go, scale.go, ...), each group's verbs and
// their table live in one file: node.cc, swarm.cc, network.cc, image.cc, service.cc,
// stack.cc, token.cc, audit.cc, secret.cc (and configs), volume.cc. main.cc joins the tables and dispatches.
#ifndef CLIENTS_MUSKETEER_COMMANDS_H_
#define CLIENTS_MUSKETEER_COMMANDS_H_

#include <string>
#include <vector>

#include "clients/musketeer/cli.h"

namespace musketeer::cli {

std::vector<Command> NodeCommands();
std::vector<Command> SwarmCommands();
std::vector<Command> NetworkCommands();
std::vector<Command> ImageCommands();
std::vector<Command> ServiceCommands();
std::vector<Command> StackCommands();
std::vector<Command> TokenCommands();
std::vector<Command> AuditCommands();
std::vector<Command> SecretCommands();
std::vector<Command> ConfigCommands();  // secret.cc
std::vector<Command> VolumeCommands();
std::vector<Command> SystemCommands();  // system.cc: version

// completion.cc: the bash completion script for these commands.
std::string BashCompletion(const std::vector<Command>& commands);

}  // namespace musketeer::cli

#endif  // CLIENTS_MUSKETEER_COMMANDS_H_
