// Pieces of the musketeer CLI that are not about one verb: argument parsing, the
// connection settings (flags, environment, config file), tables and progress bars.
#ifndef CLIENTS_MUSKETEER_CLI_H_
#define CLIENTS_MUSKETEER_CLI_H_

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace musketeer::cli {

// Exit codes scripts can rely on.
constexpr int kOk = 0;
constexpr int kFailed = 1;       // the operation failed (message on stderr)
constexpr int kUsage = 2;        // bad command line
constexpr int kUnreachable = 3;  // musketeerd could not be reached or refused the credentials

// Parsed arguments of one command: --flag value, --flag=value, -f value, booleans, positionals.
class Args {
 public:
  // `booleans` are flags that take no value. Without `interspersed`, everything after
  // the first positional is positional (`service create IMAGE CMD --its-own-flag`).
  Args(const std::vector<std::string>& argv, const std::vector<std::string>& booleans,
       bool interspersed = true);
  bool Has(const std::string& flag) const { return values_.count(flag) > 0; }
  std::string Get(const std::string& flag, const std::string& fallback = "") const;
  std::vector<std::string> All(const std::string& flag) const;
  const std::vector<std::string>& positional() const { return positional_; }
  const std::string& error() const { return error_; }

 private:
  std::multimap<std::string, std::string> values_;
  std::vector<std::string> positional_;
  std::string error_;
};

struct Connection {
  std::string endpoint, token, ca;
};
// Flags (--endpoint, --token, --ca) over environment (MUSKETEER_ENDPOINT, MUSKETEER_TOKEN,
// MUSKETEER_CA) over the config file (~/.config/musketeer/config.json or MUSKETEER_CONFIG).
Connection ResolveConnection(const Args& args);
std::shared_ptr<grpc::Channel> Dial(const Connection& c);
// A context carrying the bearer token, with an optional deadline.
std::unique_ptr<grpc::ClientContext> Context(const Connection& c, int deadline_seconds = 0);
// Prints "Error: ..." and returns the exit code for `s`.
int Report(const grpc::Status& s);

// A table like docker's: columns padded to their widest cell, two spaces apart.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);
// "[=====>     ]" of `width` characters for done/total.
std::string Bar(unsigned done, unsigned total, int width);

}  // namespace musketeer::cli

#endif  // CLIENTS_MUSKETEER_CLI_H_
