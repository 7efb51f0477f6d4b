#include "controlplane/server/watch_api.h"

#include "controlplane/server/auth.h"
#include "musketeer/v1/musketeer.grpc.pb.h"

namespace musketeer::server {
namespace {
namespace pb = ::musketeer::v1;

grpc::Status ToGrpc(const absl::Status& s) {
  return s.ok() ? grpc::Status::OK
                : grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

class ClusterWatchImpl final : public pb::ClusterWatch::Service {
 public:
  ClusterWatchImpl(cluster::Cluster& cluster, state::StateStore& store)
      : cluster_(cluster), store_(store) {}
  grpc::Status Watch(grpc::ServerContext* ctx, const pb::WatchRequest* req,
                     grpc::ServerWriter<pb::WatchEvent>* w) override {
    auto who = Authorize(*ctx, store_, state::Role::kViewer);
    if (!who.ok()) return ToGrpc(who.status());
    return ToGrpc(cluster_.Watch(
        *req, [&](const pb::WatchEvent& e) { return !ctx->IsCancelled() && w->Write(e); },
        [ctx] { return ctx->IsCancelled(); }));
  }

 private:
  cluster::Cluster& cluster_;
  state::StateStore& store_;
};

class SessionImpl final : public pb::Session::Service {
 public:
  SessionImpl(state::StateStore& store, telemetry::Metrics* metrics)
      : store_(store), metrics_(metrics) {}
  grpc::Status WhoAmI(grpc::ServerContext* ctx, const pb::WhoAmIRequest*,
                      pb::Identity* out) override {
    auto who = Authorize(*ctx, store_, state::Role::kViewer);
    if (!who.ok()) return ToGrpc(who.status());
    for (const auto& t : store_.ListTokens()) {
      if (t.name != *who) continue;
      out->set_name(t.name);
      out->set_role(state::RoleName(t.role));
      return grpc::Status::OK;
    }
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "the token was deleted meanwhile");
  }
  grpc::Status GetVersion(grpc::ServerContext* ctx, const pb::GetVersionRequest*,
                          pb::Version* out) override {
    auto who = Authorize(*ctx, store_, state::Role::kViewer);
    if (!who.ok()) return ToGrpc(who.status());
    out->set_version(MUSKETEER_VERSION);
    out->set_api("musketeer.v1");
    return grpc::Status::OK;
  }
  grpc::Status GetMetrics(grpc::ServerContext* ctx, const pb::GetMetricsRequest*,
                          pb::MetricsText* out) override {
    auto who = Authorize(*ctx, store_, state::Role::kViewer);
    if (!who.ok()) return ToGrpc(who.status());
    if (metrics_ == nullptr)
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "this server keeps no metrics");
    out->set_text(metrics_->Render());
    return grpc::Status::OK;
  }

 private:
  state::StateStore& store_;
  telemetry::Metrics* const metrics_;
};

}  // namespace

std::vector<std::unique_ptr<grpc::Service>> NewWatchServices(cluster::Cluster& cluster,
                                                             state::StateStore& store,
                                                             telemetry::Metrics* metrics) {
  std::vector<std::unique_ptr<grpc::Service>> out;
  out.push_back(std::make_unique<ClusterWatchImpl>(cluster, store));
  out.push_back(std::make_unique<SessionImpl>(store, metrics));
  return out;
}

}  // namespace musketeer::server
