#include "controlplane/server/api.h"

#include <grpcpp/health_check_service_interface.h>

#include <mutex>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controlplane/server/auth.h"
#include "controlplane/server/errors.h"
#include "controlplane/server/lists.h"
#include "controlplane/telemetry/log.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace musketeer::server {
namespace {
namespace pb = ::musketeer::v1;
using state::Role;

grpc::Status ToGrpc(const absl::Status& original) {
  if (original.ok()) return grpc::Status::OK;
  const absl::Status s = ForClient(original);  // errors.h: no engine addresses, capped
  if (s != original)
    telemetry::LogWarning(absl::StrCat("error answered as ", s.ToString(), "; in full: ",
                                       original.ToString()));
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

absl::Time Deadline(const grpc::ServerContext& ctx) {
  auto d = ctx.deadline();
  if (d == std::chrono::system_clock::time_point::max() ||
      d > std::chrono::system_clock::now() + std::chrono::hours(1)) {
    return absl::Now() + absl::Minutes(10);  // no deadline given: long operations still end
  }
  return absl::FromChrono(d);
}

// What every method does around its body: authorize, run, audit mutations.
class Guard {
 public:
  Guard(cluster::Cluster& cluster, state::StateStore& store) : cluster_(cluster), store_(store) {}

  template <class F>
  grpc::Status Read(grpc::ServerContext* ctx, F&& body) {
    auto who = Authorize(*ctx, store_, Role::kViewer);
    if (!who.ok()) return ToGrpc(who.status());
    return ToGrpc(body());
  }
  // A read answered with the reply's wire bytes (`body`: from the Request; a list from its
  // items' shared bytes, cluster.h SharedList). On the sync threads as every other method:
  // a callback method beside them (gRPC's raw callback API) stalled each sync call once a
  // second for ~90 ms here.
  template <class Request, class F>
  grpc::Status ReadBytes(grpc::ServerContext* ctx,
                         grpc::ServerUnaryStreamer<Request, grpc::ByteBuffer>* stream, F&& body) {
    Request req;
    if (!stream->Read(&req))
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("the request is not a ", Request::descriptor()->full_name()));
    grpc::ByteBuffer reply;
    grpc::Status s = Read(ctx, [&]() -> absl::Status {
      absl::StatusOr<std::string> bytes = body(req);
      if (!bytes.ok()) return bytes.status();
      // The slice takes the bytes as they are: no copy of a reply that may be 300 KB.
      auto* owned = new std::string(std::move(*bytes));
      grpc::Slice slice(owned->data(), owned->size(),
                        [](void* p) { delete static_cast<std::string*>(p); }, owned);
      reply = grpc::ByteBuffer(&slice, 1);
      return absl::OkStatus();
    });
    if (s.ok() && !stream->Write(reply))
      return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
    return s;
  }
  template <class F>
  grpc::Status Mutate(grpc::ServerContext* ctx, Role least, const char* method,
                      const std::string& target, F&& body) {
    auto who = Authorize(*ctx, store_, least);
    if (!who.ok()) {
      store_.Audit("(denied)", method, cluster::Cut(target), who.status());
      return ToGrpc(who.status());
    }
    absl::Status s = body();
    store_.Audit(*who, method, cluster::Cut(target), s);
    return ToGrpc(s);
  }

  cluster::Cluster& cluster_;
  state::StateStore& store_;
};

// An empty name is a malformed request, not an object that does not exist.
absl::Status Required(const std::string& value, const char* what) {
  if (!value.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("name: required (the ", what, "'s name)"));
}

template <class T, class Out>
absl::Status Assign(absl::StatusOr<T> r, Out* out) {
  if (!r.ok()) return r.status();
  *out = std::move(*r);
  return absl::OkStatus();
}

// A list answer: every element moved into the reply's repeated field.
template <class T>
absl::Status AssignAll(absl::StatusOr<std::vector<T>> r,
                       google::protobuf::RepeatedPtrField<T>* field) {
  if (!r.ok()) return r.status();
  for (auto& x : *r) *field->Add() = std::move(x);
  return absl::OkStatus();
}

// A generated service (`Base`, of the API `Api`) some of whose reads answer with their reply's
// wire bytes (Guard::ReadBytes), through gRPC's "streamed unary" handler: one read and one
// write on the sync threads, the same on the wire as a unary call.
template <class Api, class Base>
class WithByteAnswers : public Base {
 protected:
  template <class Request, class F>
  void AnswerWithBytes(const char* method, F handler) {
    const int index = google::protobuf::DescriptorPool::generated_pool()
                          ->FindServiceByName(Api::service_full_name())
                          ->FindMethodByName(method)
                          ->index();
    this->MarkMethodStreamed(
        index, new grpc::internal::StreamedUnaryHandler<Request, grpc::ByteBuffer>(handler));
  }
};

class NodesImpl final : public WithByteAnswers<pb::Nodes, pb::Nodes::Service>, Guard {
 public:
  NodesImpl(cluster::Cluster& cluster, state::StateStore& store) : Guard(cluster, store) {
    AnswerWithBytes<pb::ListNodesRequest>("ListNodes", [this](auto* ctx, auto* stream) {
      return ReadBytes(ctx, stream, [this](const auto& req) { return ListNodesBytes(req); });
    });
  }
  grpc::Status CreateNode(grpc::ServerContext* ctx, const pb::CreateNodeRequest* req,
                          pb::Node* out) override {
    return Mutate(ctx, Role::kAdmin, "CreateNode", req->name(),
                  [&] { return Assign(cluster_.CreateNode(*req), out); });
  }
  grpc::Status CreateNodeStream(grpc::ServerContext* ctx, const pb::CreateNodeRequest* req,
                                grpc::ServerWriter<pb::NodeProgress>* w) override {
    return Mutate(ctx, Role::kAdmin, "CreateNode", req->name(), [&]() -> absl::Status {
      std::mutex mu;  // a driver may report from more than one thread
      auto node = cluster_.CreateNode(*req, [&](const std::string& step, const std::string& m) {
        pb::NodeProgress p;
        p.set_step(step);
        p.set_message(m);
        std::lock_guard lock(mu);
        w->Write(p);
      });
      if (!node.ok()) return node.status();
      pb::NodeProgress last;
      last.set_step("done");
      last.set_message(absl::StrCat("created ", node->name(), " (", node->address(), ", ",
                                    node->engine_url(), ")"));
      *last.mutable_node() = std::move(*node);
      std::lock_guard lock(mu);
      w->Write(last);
      return absl::OkStatus();
    });
  }
  grpc::Status GetNode(grpc::ServerContext* ctx, const pb::GetNodeRequest* req,
                       pb::Node* out) override {
    return Read(ctx, [&] { return Assign(cluster_.GetNode(req->name()), out); });
  }
  absl::StatusOr<std::string> ListNodesBytes(const pb::ListNodesRequest& req) {
    auto nodes = cluster_.ListNodes();
    if (!nodes.ok()) return nodes.status();
    auto page = PageNodes(req, (*nodes)->items);
    if (!page.ok()) return page.status();
    return SerializePage(*page, (*nodes)->wire, pb::ListNodesResponse::kNodesFieldNumber,
                         pb::ListNodesResponse::kNextPageTokenFieldNumber);
  }
  grpc::Status DeleteNode(grpc::ServerContext* ctx, const pb::DeleteNodeRequest* req,
                          pb::Empty*) override {
    return Mutate(ctx, Role::kAdmin, "DeleteNode", req->name(), [&] {
      return cluster_.DeleteNode(req->name(), req->force(), req->purge_engine());
    });
  }
  grpc::Status StartNode(grpc::ServerContext* ctx, const pb::NodeActionRequest* req,
                         pb::Node* out) override {
    return Action(ctx, "StartNode", "start", *req, out);
  }
  grpc::Status StopNode(grpc::ServerContext* ctx, const pb::NodeActionRequest* req,
                        pb::Node* out) override {
    return Action(ctx, "StopNode", "stop", *req, out);
  }
  grpc::Status KillNode(grpc::ServerContext* ctx, const pb::NodeActionRequest* req,
                        pb::Node* out) override {
    return Action(ctx, "KillNode", "kill", *req, out);
  }
  grpc::Status RegenerateNodeCerts(grpc::ServerContext* ctx, const pb::NodeActionRequest* req,
                                   pb::Node* out) override {
    return Action(ctx, "RegenerateNodeCerts", "regenerate-certs", *req, out);
  }
  grpc::Status UpdateNode(grpc::ServerContext* ctx, const pb::UpdateNodeRequest* req,
                          pb::Node* out) override {
    // Draining and activating a node moves workloads, an operator's job (issue 14); roles
    // and labels change the cluster's shape: admin.
    const bool availability_only =
        req->role().empty() && req->add_labels().empty() && req->remove_labels().empty();
    return Mutate(ctx, availability_only ? Role::kOperator : Role::kAdmin, "UpdateNode",
                  req->name(), [&] { return Assign(cluster_.UpdateNode(*req), out); });
  }
  grpc::Status GetNodeEnv(grpc::ServerContext* ctx, const pb::GetNodeRequest* req,
                          pb::NodeEnv* out) override {
    // The env points at the control plane's client key: as powerful as admin.
    return Mutate(ctx, Role::kAdmin, "GetNodeEnv", req->name(),
                  [&] { return Assign(cluster_.NodeEnv(req->name()), out); });
  }
  grpc::Status PreflightNode(grpc::ServerContext* ctx, const pb::GetNodeRequest* req,
                             pb::NodePreflight* out) override {
    return Read(ctx, [&] { return Assign(cluster_.Preflight(req->name()), out); });
  }

 private:
  grpc::Status Action(grpc::ServerContext* ctx, const char* method, const char* action,
                      const pb::NodeActionRequest& req, pb::Node* out) {
    return Mutate(ctx, Role::kAdmin, method, req.name(),
                  [&] { return Assign(cluster_.NodeAction(req.name(), action), out); });
  }
};

class SwarmImpl final : public pb::SwarmApi::Service, Guard {
 public:
  using Guard::Guard;
  grpc::Status InitSwarm(grpc::ServerContext* ctx, const pb::InitSwarmRequest* req,
                         pb::Swarm* out) override {
    return Mutate(ctx, Role::kAdmin, "InitSwarm", req->node(),
                  [&] { return Assign(cluster_.InitSwarm(*req), out); });
  }
  grpc::Status JoinSwarm(grpc::ServerContext* ctx, const pb::JoinSwarmRequest* req,
                         pb::Node* out) override {
    return Mutate(ctx, Role::kAdmin, "JoinSwarm", req->node(),
                  [&] { return Assign(cluster_.JoinSwarm(*req), out); });
  }
  grpc::Status LeaveSwarm(grpc::ServerContext* ctx, const pb::LeaveSwarmRequest* req,
                          pb::Empty*) override {
    return Mutate(ctx, Role::kAdmin, "LeaveSwarm", req->node(),
                  [&] { return cluster_.LeaveSwarm(req->node(), req->force()); });
  }
  grpc::Status GetSwarm(grpc::ServerContext* ctx, const pb::GetSwarmRequest* req,
                        pb::Swarm* out) override {
    if (req->show_tokens()) {
      return Mutate(ctx, Role::kAdmin, "GetSwarm(tokens)", "",
                    [&] { return Assign(cluster_.GetSwarm(true), out); });
    }
    return Read(ctx, [&] { return Assign(cluster_.GetSwarm(false), out); });
  }
  grpc::Status RotateJoinTokens(grpc::ServerContext* ctx, const pb::RotateJoinTokensRequest* req,
                                pb::Swarm* out) override {
    return Mutate(ctx, Role::kAdmin, "RotateJoinTokens", "", [&] {
      return Assign(cluster_.RotateJoinTokens(req->worker(), req->manager()), out);
    });
  }
  grpc::Status UpdateSwarm(grpc::ServerContext* ctx, const pb::UpdateSwarmRequest* req,
                           pb::Swarm* out) override {
    return Mutate(ctx, Role::kAdmin, "UpdateSwarm", absl::StrCat("managers=", req->managers()),
                  [&] { return Assign(cluster_.UpdateSwarm(*req, Deadline(*ctx)), out); });
  }
  grpc::Status RecoverSwarm(grpc::ServerContext* ctx, const pb::RecoverSwarmRequest* req,
                            pb::Swarm* out) override {
    return Mutate(ctx, Role::kAdmin, "RecoverSwarm", req->node(),
                  [&] { return Assign(cluster_.RecoverSwarm(req->node()), out); });
  }
};

class NetworksImpl final : public pb::Networks::Service, Guard {
 public:
  using Guard::Guard;
  grpc::Status CreateNetwork(grpc::ServerContext* ctx, const pb::CreateNetworkRequest* req,
                             pb::Network* out) override {
    return Mutate(ctx, Role::kOperator, "CreateNetwork", req->name(),
                  [&] { return Assign(cluster_.CreateNetwork(*req), out); });
  }
  grpc::Status ListNetworks(grpc::ServerContext* ctx, const pb::ListNetworksRequest*,
                            pb::ListNetworksResponse* out) override {
    return Read(ctx, [&] { return AssignAll(cluster_.ListNetworks(), out->mutable_networks()); });
  }
  grpc::Status DeleteNetwork(grpc::ServerContext* ctx, const pb::DeleteNetworkRequest* req,
                             pb::Empty*) override {
    return Mutate(ctx, Role::kOperator, "DeleteNetwork", req->name(), [&] {
      if (auto s = Required(req->name(), "network"); !s.ok()) return s;
      return cluster_.DeleteNetwork(req->name());
    });
  }
  grpc::Status GetNetwork(grpc::ServerContext* ctx, const pb::GetNetworkRequest* req,
                          pb::Network* out) override {
    return Read(ctx, [&] { return Assign(cluster_.GetNetwork(req->name()), out); });
  }
};

class ImagesImpl final : public pb::Images::Service, Guard {
 public:
  using Guard::Guard;
  grpc::Status BuildImage(grpc::ServerContext* ctx, const pb::BuildImageRequest* req,
                          grpc::ServerWriter<pb::ImageProgress>* w) override {
    return Mutate(ctx, Role::kOperator, "BuildImage", req->tag(),
                  [&] { return cluster_.BuildImage(*req, Writer(w)); });
  }
  grpc::Status ImportImage(grpc::ServerContext* ctx, const pb::ImportImageRequest* req,
                           grpc::ServerWriter<pb::ImageProgress>* w) override {
    return Mutate(ctx, Role::kOperator, "ImportImage", req->tag(),
                  [&] { return cluster_.ImportImage(*req, Writer(w)); });
  }
  grpc::Status DistributeImage(grpc::ServerContext* ctx, const pb::DistributeImageRequest* req,
                               grpc::ServerWriter<pb::ImageProgress>* w) override {
    return Mutate(ctx, Role::kOperator, "DistributeImage", req->image(),
                  [&] { return cluster_.DistributeImage(*req, Writer(w)); });
  }
  grpc::Status ListImages(grpc::ServerContext* ctx, const pb::ListImagesRequest* req,
                          pb::ListImagesResponse* out) override {
    return Read(ctx,
                [&] { return AssignAll(cluster_.ListImages(req->node()), out->mutable_images()); });
  }
  grpc::Status DeleteImage(grpc::ServerContext* ctx, const pb::DeleteImageRequest* req,
                           pb::DeleteImageResponse* out) override {
    return Mutate(ctx, Role::kOperator, "DeleteImage", req->image().substr(0, 200),
                  [&] { return Assign(cluster_.DeleteImage(*req), out); });
  }
  grpc::Status PruneImages(grpc::ServerContext* ctx, const pb::PruneImagesRequest* req,
                           pb::PruneImagesResponse* out) override {
    return Mutate(ctx, Role::kOperator, "PruneImages", req->all() ? "all" : "dangling",
                  [&] { return Assign(cluster_.PruneImages(*req), out); });
  }

 private:
  static cluster::ImageSink Writer(grpc::ServerWriter<pb::ImageProgress>* w) {
    return [w](const pb::ImageProgress& p) { w->Write(p); };
  }
};

class ServicesImpl final : public WithByteAnswers<pb::Services, pb::Services::Service>, Guard {
 public:
  ServicesImpl(cluster::Cluster& cluster, state::StateStore& store) : Guard(cluster, store) {
    AnswerWithBytes<pb::ListTasksRequest>("ListTasks", [this](auto* ctx, auto* stream) {
      return ReadBytes(ctx, stream, [this](const auto& req) { return ListTasksBytes(req); });
    });
  }
  grpc::Status CreateService(grpc::ServerContext* ctx, const pb::CreateServiceRequest* req,
                             pb::Service* out) override {
    return Mutate(ctx, Role::kOperator, "CreateService", req->spec().name(),
                  [&] { return Assign(cluster_.CreateService(*req, Deadline(*ctx)), out); });
  }
  grpc::Status GetService(grpc::ServerContext* ctx, const pb::GetServiceRequest* req,
                          pb::Service* out) override {
    return Read(ctx, [&]() -> absl::Status {
      if (auto s = Required(req->name(), "service"); !s.ok()) return s;
      return Assign(cluster_.GetService(req->name()), out);
    });
  }
  grpc::Status ListServices(grpc::ServerContext* ctx, const pb::ListServicesRequest* req,
                            pb::ListServicesResponse* out) override {
    return Read(ctx, [&]() -> absl::Status {
      auto services = cluster_.ListServices(req->stack());
      if (!services.ok()) return services.status();
      return PageServices(*req, *services, out);
    });
  }
  grpc::Status UpdateService(grpc::ServerContext* ctx, const pb::UpdateServiceRequest* req,
                             pb::Service* out) override {
    return Mutate(ctx, Role::kOperator, "UpdateService", req->name(), [&]() -> absl::Status {
      if (auto s = Required(req->name(), "service"); !s.ok()) return s;
      return Assign(cluster_.UpdateService(*req, Deadline(*ctx)), out);
    });
  }
  grpc::Status RollbackService(grpc::ServerContext* ctx, const pb::RollbackServiceRequest* req,
                               pb::Service* out) override {
    return Mutate(ctx, Role::kOperator, "RollbackService", req->name(), [&]() -> absl::Status {
      if (auto s = Required(req->name(), "service"); !s.ok()) return s;
      return Assign(
          cluster_.RollbackService(req->name(), req->wait(), Deadline(*ctx), req->request_id()), out);
    });
  }
  grpc::Status SetAutoscale(grpc::ServerContext* ctx, const pb::SetAutoscaleRequest* req,
                            pb::Service* out) override {
    return Mutate(ctx, Role::kOperator, "SetAutoscale", req->name(), [&]() -> absl::Status {
      if (auto s = Required(req->name(), "service"); !s.ok()) return s;
      return Assign(cluster_.SetAutoscale(*req), out);
    });
  }
  grpc::Status DeleteService(grpc::ServerContext* ctx, const pb::DeleteServiceRequest* req,
                             pb::Empty*) override {
    return Mutate(ctx, Role::kOperator, "DeleteService", req->name(), [&] {
      if (auto s = Required(req->name(), "service"); !s.ok()) return s;
      return cluster_.DeleteService(req->name());
    });
  }
  absl::StatusOr<std::string> ListTasksBytes(const pb::ListTasksRequest& req) {
    auto tasks = cluster_.ListTasks(req.service());
    if (!tasks.ok()) return tasks.status();
    auto page = PageTasks(req, (*tasks)->items);
    if (!page.ok()) return page.status();
    return SerializePage(*page, (*tasks)->wire, pb::ListTasksResponse::kTasksFieldNumber,
                         pb::ListTasksResponse::kNextPageTokenFieldNumber);
  }
  grpc::Status WatchService(grpc::ServerContext* ctx, const pb::WatchServiceRequest* req,
                            grpc::ServerWriter<pb::ServiceProgress>* w) override {
    return Read(ctx, [&]() -> absl::Status {
      if (auto s = Required(req->name(), "service"); !s.ok()) return s;
      auto last = cluster_.WatchService(
          req->name(), Deadline(*ctx),
          [&](const pb::ServiceProgress& p) { return !ctx->IsCancelled() && w->Write(p); });
      return last.status();
    });
  }
  grpc::Status ServiceLogs(grpc::ServerContext* ctx, const pb::ServiceLogsRequest* req,
                           grpc::ServerWriter<pb::LogChunk>* w) override {
    return Read(ctx, [&] {
      if (auto s = Required(req->name(), "service"); !s.ok()) return s;
      if (req->has_tail() && req->tail() < 0)
        return absl::InvalidArgumentError(
            absl::StrCat("tail: ", req->tail(),
                         " is negative; give N >= 0 lines, or leave it "
                         "unset for all of them"));
      return cluster_.ServiceLogs(
          req->name(), req->follow(), req->has_tail() ? req->tail() : -1,
          [&](const pb::LogChunk& chunk) { return !ctx->IsCancelled() && w->Write(chunk); },
          [ctx] { return ctx->IsCancelled(); });  // a quiet follow ends when the client leaves
    });
  }
};

class StacksImpl final : public pb::Stacks::Service, Guard {
 public:
  using Guard::Guard;
  grpc::Status DeployStack(grpc::ServerContext* ctx, const pb::DeployStackRequest* req,
                           pb::Stack* out) override {
    return Mutate(ctx, Role::kOperator, "DeployStack", req->name(),
                  [&] { return Assign(cluster_.DeployStack(*req, Deadline(*ctx)), out); });
  }
  grpc::Status ListStacks(grpc::ServerContext* ctx, const pb::ListStacksRequest*,
                          pb::ListStacksResponse* out) override {
    return Read(ctx, [&] { return AssignAll(cluster_.ListStacks(), out->mutable_stacks()); });
  }
  grpc::Status DeleteStack(grpc::ServerContext* ctx, const pb::DeleteStackRequest* req,
                           pb::Empty*) override {
    return Mutate(ctx, Role::kOperator, "DeleteStack", req->name(), [&] {
      if (auto s = Required(req->name(), "stack"); !s.ok()) return s;
      return cluster_.DeleteStack(req->name());
    });
  }
};

// When a new token expires: InfiniteFuture() when the request names no expiry.
absl::StatusOr<absl::Time> TokenExpiry(const pb::CreateTokenRequest& req) {
  if (req.ttl_seconds() > 0 && !req.expires_at().empty())
    return absl::InvalidArgumentError("give ttl_seconds or expires_at, not both");
  if (req.ttl_seconds() > 0) {
    if (req.ttl_seconds() > 100ull * 365 * 86400)
      return absl::InvalidArgumentError("ttl_seconds: at most 100 years");
    return absl::Now() + absl::Seconds(req.ttl_seconds());
  }
  if (req.expires_at().empty()) return absl::InfiniteFuture();
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, req.expires_at(), &t, &err))
    return absl::InvalidArgumentError(
        absl::StrCat("expires_at: '", req.expires_at().substr(0, 60),
                     "' is not an RFC 3339 time, e.g. 2026-12-31T23:59:59Z"));
  if (t <= absl::Now())
    return absl::InvalidArgumentError("expires_at: in the past; a token must expire later");
  return t;
}

class AccessImpl final : public pb::Access::Service, Guard {
 public:
  using Guard::Guard;
  grpc::Status CreateToken(grpc::ServerContext* ctx, const pb::CreateTokenRequest* req,
                           pb::Token* out) override {
    return Mutate(ctx, Role::kAdmin, "CreateToken", req->name(), [&]() -> absl::Status {
      static const std::regex kName("[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}");
      if (!std::regex_match(req->name(), kName))
        return absl::InvalidArgumentError("name: use 1-63 of [a-zA-Z0-9_.-]");
      auto role = state::ParseRole(req->role());
      if (!role.ok()) return role.status();
      auto expires = TokenExpiry(*req);
      if (!expires.ok()) return expires.status();
      auto secret = store_.CreateToken(req->name(), *role, *expires);
      if (!secret.ok()) return secret.status();
      out->set_name(req->name());
      out->set_role(req->role());
      out->set_secret(*secret);
      if (*expires != absl::InfiniteFuture())
        out->set_expires_at(
            absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", *expires, absl::UTCTimeZone()));
      // The times as ListTokens shows them (created_at is the store's).
      for (const auto& t : store_.ListTokens()) {
        if (t.name != req->name()) continue;
        out->set_created_at(t.created_at);
        out->set_expires_at(t.expires_at);
      }
      return absl::OkStatus();
    });
  }
  grpc::Status ListTokens(grpc::ServerContext* ctx, const pb::ListTokensRequest*,
                          pb::ListTokensResponse* out) override {
    return Mutate(ctx, Role::kAdmin, "ListTokens", "", [&] {
      for (const auto& t : store_.ListTokens()) {
        auto* o = out->add_tokens();
        o->set_name(t.name);
        o->set_role(state::RoleName(t.role));
        o->set_created_at(t.created_at);
        o->set_expires_at(t.expires_at);
        o->set_last_used_at(t.last_used_at);
        absl::Time expires;
        std::string err;
        o->set_expired(!t.expires_at.empty() &&
                       absl::ParseTime(absl::RFC3339_full, t.expires_at, &expires, &err) &&
                       absl::Now() >= expires);
      }
      return absl::OkStatus();
    });
  }
  grpc::Status DeleteToken(grpc::ServerContext* ctx, const pb::DeleteTokenRequest* req,
                           pb::Empty*) override {
    return Mutate(ctx, Role::kAdmin, "DeleteToken", req->name(), [&] {
      if (auto s = Required(req->name(), "token"); !s.ok()) return s;
      return store_.DeleteToken(req->name());
    });
  }
  grpc::Status ListAudit(grpc::ServerContext* ctx, const pb::ListAuditRequest* req,
                         pb::ListAuditResponse* out) override {
    return Read(ctx, [&] { return PageAudit(*req, store_, out); });
  }
};

// ---------------------------------------------------------------- issue 12: operations, secrets

class OperationsImpl final : public pb::Operations::Service, Guard {
 public:
  using Guard::Guard;
  grpc::Status GetOperation(grpc::ServerContext* ctx, const pb::GetOperationRequest* req,
                            pb::Operation* out) override {
    return Read(ctx, [&]() -> absl::Status {
      if (req->request_id().empty()) return absl::InvalidArgumentError("request_id: required");
      auto op = store_.FindOperation(req->request_id());
      if (!op) {
        return absl::NotFoundError(absl::StrCat("request_id: no call was made with '",
                                                cluster::Cut(req->request_id()), "'"));
      }
      out->set_request_id(op->request_id);
      out->set_kind(op->kind);
      out->set_target(op->target);
      out->set_state(op->state);
      if (op->state == "failed") {  // as the call answered it
        const absl::Status shown = ForClient(op->status());
        out->set_error_code(static_cast<int>(shown.code()));
        out->set_error_message(std::string(shown.message()));
      }
      out->set_started_at(op->started_at);
      out->set_finished_at(op->finished_at);
      return absl::OkStatus();
    });
  }
};

class SecretsImpl final : public pb::Secrets::Service, Guard {
 public:
  using Guard::Guard;
  grpc::Status CreateSecret(grpc::ServerContext* ctx, const pb::CreateSecretRequest* req,
                            pb::Secret* out) override {
    return Mutate(ctx, Role::kOperator, "CreateSecret", req->name(),
                  [&] { return Assign(cluster_.CreateSecret(*req), out); });
  }
  grpc::Status ListSecrets(grpc::ServerContext* ctx, const pb::ListSecretsRequest*,
                           pb::ListSecretsResponse* out) override {
    return Read(ctx, [&] { return AssignAll(cluster_.ListSecrets(), out->mutable_secrets()); });
  }
  grpc::Status DeleteSecret(grpc::ServerContext* ctx, const pb::DeleteSecretRequest* req,
                            pb::Empty*) override {
    return Mutate(ctx, Role::kOperator, "DeleteSecret", req->name(),
                  [&] { return cluster_.DeleteSecret(req->name()); });
  }
};

class VolumesImpl final : public pb::Volumes::Service, Guard {
 public:
  using Guard::Guard;
  grpc::Status CreateVolume(grpc::ServerContext* ctx, const pb::CreateVolumeRequest* req,
                            pb::ListVolumesResponse* out) override {
    return Mutate(ctx, Role::kOperator, "CreateVolume", req->name(), [&] {
      return AssignAll(cluster_.CreateVolume(*req), out->mutable_volumes());
    });
  }
  grpc::Status ListVolumes(grpc::ServerContext* ctx, const pb::ListVolumesRequest* req,
                           pb::ListVolumesResponse* out) override {
    return Read(ctx, [&] { return AssignAll(cluster_.ListVolumes(*req), out->mutable_volumes()); });
  }
  grpc::Status DeleteVolume(grpc::ServerContext* ctx, const pb::DeleteVolumeRequest* req,
                            pb::Empty*) override {
    return Mutate(ctx, Role::kOperator, "DeleteVolume", req->name(),
                  [&] { return cluster_.DeleteVolume(*req); });
  }
  grpc::Status RefreshVolume(grpc::ServerContext* ctx, const pb::RefreshVolumeRequest* req,
                             pb::ListVolumesResponse* out) override {
    return Mutate(ctx, Role::kOperator, "RefreshVolume", req->name(), [&] {
      return AssignAll(cluster_.RefreshVolume(*req), out->mutable_volumes());
    });
  }
};

class ConfigsImpl final : public pb::Configs::Service, Guard {
 public:
  using Guard::Guard;
  grpc::Status CreateConfig(grpc::ServerContext* ctx, const pb::CreateConfigRequest* req,
                            pb::Config* out) override {
    return Mutate(ctx, Role::kOperator, "CreateConfig", req->name(),
                  [&] { return Assign(cluster_.CreateConfig(*req), out); });
  }
  grpc::Status ListConfigs(grpc::ServerContext* ctx, const pb::ListConfigsRequest*,
                           pb::ListConfigsResponse* out) override {
    return Read(ctx, [&] { return AssignAll(cluster_.ListConfigs(), out->mutable_configs()); });
  }
  grpc::Status GetConfig(grpc::ServerContext* ctx, const pb::GetConfigRequest* req,
                         pb::Config* out) override {
    return Read(ctx, [&] { return Assign(cluster_.GetConfig(req->name()), out); });
  }
  grpc::Status DeleteConfig(grpc::ServerContext* ctx, const pb::DeleteConfigRequest* req,
                            pb::Empty*) override {
    return Mutate(ctx, Role::kOperator, "DeleteConfig", req->name(),
                  [&] { return cluster_.DeleteConfig(req->name()); });
  }
};

}  // namespace

std::vector<std::string> ApiServiceNames() {
  // Every service of the API's file: one added there is answered without a change here.
  const google::protobuf::FileDescriptor* file = pb::Empty::descriptor()->file();
  std::vector<std::string> out;
  for (int i = 0; i < file->service_count(); ++i) out.push_back(file->service(i)->full_name());
  return out;
}

void MarkServing(grpc::Server& server) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(true);
  for (const auto& name : ApiServiceNames()) health->SetServingStatus(name, true);
}

std::vector<std::unique_ptr<grpc::Service>> NewApiServices(cluster::Cluster& cluster,
                                                           state::StateStore& store) {
  std::vector<std::unique_ptr<grpc::Service>> out;
  out.push_back(std::make_unique<NodesImpl>(cluster, store));
  out.push_back(std::make_unique<SwarmImpl>(cluster, store));
  out.push_back(std::make_unique<NetworksImpl>(cluster, store));
  out.push_back(std::make_unique<ImagesImpl>(cluster, store));
  out.push_back(std::make_unique<ServicesImpl>(cluster, store));
  out.push_back(std::make_unique<StacksImpl>(cluster, store));
  out.push_back(std::make_unique<AccessImpl>(cluster, store));
  out.push_back(std::make_unique<OperationsImpl>(cluster, store));
  out.push_back(std::make_unique<SecretsImpl>(cluster, store));
  out.push_back(std::make_unique<ConfigsImpl>(cluster, store));
  out.push_back(std::make_unique<VolumesImpl>(cluster, store));
  return out;
}

}  // namespace musketeer::server
