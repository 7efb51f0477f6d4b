// What every verb of the musketeer CLI shares, as the docker CLI keeps it in one place:
// the command table entry, flag parsing (Args and the value parsers), the connection
// settings (flags, environment, config file), the call-and-print helpers, and the output
// (tables, JSON, progress bars). The verbs themselves live one file per object group
// (node.cc, swarm.cc, ...; see commands.h).
#ifndef CLIENTS_MUSKETEER_CLI_H_
#define CLIENTS_MUSKETEER_CLI_H_

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace musketeer::cli {

// Exit codes scripts can rely on.
constexpr int kOk = 0;
constexpr int kFailed = 1;       // the operation failed (message on stderr)
constexpr int kUsage = 2;        // bad command line
constexpr int kUnreachable = 3;  // musketeerd could not be reached or refused the credentials
// Not an exit code: a verb returns it after UsageError printed what was wrong; the
// dispatcher then prints the verb's usage line and exits with kUsage.
constexpr int kUsageShown = -2;

// Seconds allowed for builds, deploys and waits.
constexpr int kLongDeadline = 900;

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
  // Every flag given (once each, in name order).
  std::vector<std::string> flags() const;

 private:
  std::multimap<std::string, std::string> values_;
  std::vector<std::string> positional_;
  std::string error_;
};

struct Connection {
  std::string endpoint, token, ca;
};

// One verb of one object group (`musketeer GROUP VERB`): its usage line and help, the
// flags that take no value, and what it runs. `run` returns an exit code (or kUsageShown).
struct Command {
  std::string group, verb, usage, help;
  std::vector<std::string> booleans;
  std::function<int(const Args&, const Connection&)> run;
  bool interspersed = true;  // see Args
};

// ---------------------------------------------------------------- flags

// Prints "Error: <problem>" and returns kUsageShown.
int UsageError(const std::string& problem);
// "K=V" -> {"K", "V"}; "K" -> {"K", ""}.
std::pair<std::string, std::string> SplitKeyValue(const std::string& kv);
// A duration as docker's flags take it ("500ms", "2s", "1.5m", "1m30s", "1h"), or a bare
// number of seconds. False when malformed.
bool ParseDurationMs(const std::string& s, uint32_t* ms);
// A size: "512M", "1.5g", "4096" (bytes), with k/m/g in powers of 1024. False when malformed.
bool ParseBytes(const std::string& s, int64_t* out);
// -d/--detach and -f/--force, spelled either way.
bool Detach(const Args& a);
bool Force(const Args& a);
// The first flag of `a` that the command does not take, or "": a command takes the flags its
// usage line names (e.g. "[--name NAME] [-a|--all]"), its booleans, and the global ones
// (--endpoint, --token, --ca, --format). docker refuses an unknown flag too; ignoring one
// would run something other than what was asked (a typo'd --replica, an unsupported --mount).
std::string UnknownFlag(const Args& a, const std::string& usage,
                        const std::vector<std::string>& booleans);
// The flags a command takes: those its usage line names and its booleans (bash completion
// offers the same set UnknownFlag accepts).
std::set<std::string> FlagsOf(const std::string& usage, const std::vector<std::string>& booleans);
// The flags every command takes; each takes a value.
inline constexpr const char* kGlobalFlags[] = {"--endpoint", "--token", "--ca", "--format"};

// ---------------------------------------------------------------- connection

// Flags (--endpoint, --token, --ca) over environment (MUSKETEER_ENDPOINT, MUSKETEER_TOKEN,
// MUSKETEER_CA) over the config file (~/.config/musketeer/config.json or MUSKETEER_CONFIG).
Connection ResolveConnection(const Args& args);
std::shared_ptr<grpc::Channel> Dial(const Connection& c);
// A context carrying the bearer token, with an optional deadline.
std::unique_ptr<grpc::ClientContext> Context(const Connection& c, int deadline_seconds = 0);
// Prints "Error: ..." and returns the exit code for `s`.
// Prints the error and returns its exit code: kUnreachable only when musketeerd could not
// be reached or refused the credentials; an UNAVAILABLE that musketeerd itself answered (an
// engine of the cluster did not) is kFailed.
int Report(const grpc::Status& s);
// `s`, marked as answered by musketeerd when the call's trailers say so (every answer of
// musketeerd carries `musketeer-answered`; a transport failure has no trailers).
grpc::Status Answered(const grpc::ClientContext& ctx, grpc::Status s);

// ---------------------------------------------------------------- output

// Whether --format json was asked for (else tables and plain lines).
bool Json(const Args& a);
// A reply as indented JSON with the API's field names.
void PrintJson(const google::protobuf::Message& m);
// A table like docker's: columns padded to their widest cell, three spaces apart.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);
// "[=====>     ]" of `width` characters for done/total.
std::string Bar(unsigned done, unsigned total, int width);

// ---------------------------------------------------------------- calls

// One unary call to musketeerd: a fresh stub, the token, a deadline of `seconds`.
template <class Stub, class Request, class Reply>
grpc::Status Unary(const Connection& c, int seconds,
                   grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Reply*),
                   const Request& req, Reply* out) {
  Stub stub(Dial(c));
  auto ctx = Context(c, seconds);
  return Answered(*ctx, (stub.*method)(ctx.get(), req, out));
}

// A unary call whose reply is shown: as JSON with --format json, else by `print`.
template <class Stub, class Request, class Reply, class Print>
int Show(const Args& a, const Connection& c, int seconds,
         grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Reply*),
         const Request& req, Print print) {
  Reply out;
  if (grpc::Status s = Unary(c, seconds, method, req, &out); !s.ok()) return Report(s);
  if (Json(a)) return PrintJson(out), kOk;
  print(out);
  return kOk;
}

// The same call once per positional argument (rm, start, ...); the last failure's exit code.
template <class Stub, class Request, class Reply, class Fill, class Done>
int ForEachName(const Args& a, const Connection& c, int seconds,
                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Reply*),
                Fill fill, Done done) {
  if (a.positional().empty()) return kUsage;
  int rc = kOk;
  for (const auto& name : a.positional()) {
    Request req;
    fill(name, req);
    Reply out;
    if (grpc::Status s = Unary(c, seconds, method, req, &out); !s.ok())
      rc = Report(s);
    else
      done(name, out);
  }
  return rc;
}

}  // namespace musketeer::cli

#endif  // CLIENTS_MUSKETEER_CLI_H_
