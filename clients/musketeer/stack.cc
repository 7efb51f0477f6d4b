// musketeer stack ...: deploy a compose file (version 3) as a stack, list and remove stacks.
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "clients/musketeer/commands.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace musketeer::cli {
namespace {
namespace pb = ::musketeer::v1;

std::optional<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The files a compose file names (secrets and configs `file`, services' `env_file`), read
// relative to `dir` as docker does: musketeerd never reads its own disk for a stack.
int AddNamedFiles(const std::string& yaml, const std::filesystem::path& dir,
                  pb::DeployStackRequest* req) {
  std::vector<std::string> paths;
  try {
    const YAML::Node root = YAML::Load(yaml);
    for (const char* section : {"secrets", "configs"}) {
      if (!root.IsMap() || !root[section] || !root[section].IsMap()) continue;
      for (const auto& it : root[section])
        if (it.second.IsMap() && it.second["file"] && it.second["file"].IsScalar())
          paths.push_back(it.second["file"].Scalar());
    }
    if (root.IsMap() && root["services"] && root["services"].IsMap()) {
      for (const auto& it : root["services"]) {
        const YAML::Node env = it.second.IsMap() ? it.second["env_file"] : YAML::Node();
        if (env && env.IsScalar()) paths.push_back(env.Scalar());
        if (env && env.IsSequence())
          for (const auto& e : env)
            if (e.IsScalar()) paths.push_back(e.Scalar());
      }
    }
  } catch (const YAML::Exception&) {
    return 0;  // musketeerd says what is wrong with the file
  }
  for (const auto& p : paths) {
    if (req->files().count(p)) continue;
    auto data = ReadFile(std::filesystem::path(p).is_absolute() ? std::filesystem::path(p) : dir / p);
    if (!data) return UsageError("cannot read " + p + " (named by the compose file)");
    (*req->mutable_files())[p] = *data;
  }
  return 0;
}

int StackDeploy(const Args& a, const Connection& c) {
  std::vector<std::string> files = a.All("-c");
  for (const auto& f : a.All("--compose-file")) files.push_back(f);
  if (a.positional().size() != 1 || files.empty())
    return UsageError("give -c FILE (once or more) and a stack name");
  pb::DeployStackRequest req;
  req.set_name(a.positional()[0]);
  // As docker's: relative paths are the first file's directory's, variables the caller's.
  const std::filesystem::path dir =
      std::filesystem::absolute(std::filesystem::path(files[0])).parent_path();
  req.set_working_dir(dir.string());
  for (size_t i = 0; i < files.size(); ++i) {
    auto text = ReadFile(files[i]);
    if (!text) return UsageError("cannot read " + files[i]);
    if (i == 0)
      req.set_compose_yaml(*text);
    else
      req.add_more_compose_yaml(*text);
    if (int rc = AddNamedFiles(*text, dir, &req); rc != 0) return rc;
  }
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const size_t eq = kv.find('=');
    if (eq != std::string::npos) (*req.mutable_environment())[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  req.set_prune(a.Has("--prune"));
  req.set_wait(!Detach(a));
  return Show(a, c, kLongDeadline, &pb::Stacks::Stub::DeployStack, req, [&](const pb::Stack& out) {
    for (const auto& w : out.warnings()) std::cerr << "Warning: " << w << "\n";
    for (const auto& n : out.networks()) std::cout << "Network " << n << "\n";
    for (const auto& n : out.secrets()) std::cout << "Secret " << n << "\n";
    for (const auto& n : out.configs()) std::cout << "Config " << n << "\n";
    for (const auto& n : out.services())
      std::cout << "Service " << n << (req.wait() ? " converged" : "") << "\n";
  });
}

int StackLs(const Args& a, const Connection& c) {
  return Show(a, c, 60, &pb::Stacks::Stub::ListStacks, {}, [](const pb::ListStacksResponse& out) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& st : out.stacks())
      rows.push_back({st.name(), std::to_string(st.services_size())});
    PrintTable({"NAME", "SERVICES"}, rows);
  });
}

int StackRm(const Args& a, const Connection& c) {
  if (a.positional().empty()) return UsageError("give one or more stack names");
  int rc = kOk;
  for (const auto& name : a.positional()) {  // several, as docker's
    pb::DeleteStackRequest req;
    req.set_name(name);
    const int r = Show(a, c, 120, &pb::Stacks::Stub::DeleteStack, req,
                       [&](const pb::Empty&) { std::cout << "Removed stack " << name << "\n"; });
    if (r != kOk) rc = r;
  }
  return rc;
}

}  // namespace

std::vector<Command> StackCommands() {
  return {
      {"stack",
       "deploy",
       "-c|--compose-file FILE... [--prune] [-d] NAME",
       "Deploy compose files (version 3; several -c are merged) as a stack",
       {"--prune", "-d", "--detach"},
       StackDeploy},
      {"stack", "ls", "", "List stacks", {}, StackLs},
      {"stack", "rm", "NAME...", "Remove stacks", {}, StackRm},
  };
}

}  // namespace musketeer::cli
