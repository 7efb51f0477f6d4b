#include "controlplane/engine/docker_engine.h"

#include "absl/strings/str_cat.h"

namespace musketeer::engine {
namespace {

std::string Escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += absl::StrCat("%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

absl::StatusOr<json::array> AsArray(absl::StatusOr<json::value> v) {
  if (!v.ok()) return v.status();
  if (!v->is_array())
    return absl::InternalError("the engine answered with something other than a list");
  return std::move(v->as_array());
}

// Reads a JSON-lines answer (build, load, import) and fails on the first
// {"error": ...} line, which the daemon sends with a 200 status.
absl::Status DrainJsonLines(ResponseStream& stream, const LineSink* sink, const std::string& what) {
  for (;;) {
    auto line = stream.ReadLine();
    if (!line.ok()) return line.status();
    if (!line->has_value()) return absl::OkStatus();
    if ((*line)->empty()) continue;
    boost::system::error_code ec;
    json::value v = json::parse(**line, ec);
    if (ec) continue;
    if (v.is_object()) {
      if (const json::value* err = v.as_object().if_contains("error"); err && err->is_string()) {
        return absl::FailedPreconditionError(
            absl::StrCat(what, ": ", std::string(err->as_string())));
      }
    }
    if (sink) (*sink)(v);
  }
}

class HttpDockerEngine : public DockerEngine {
 public:
  explicit HttpDockerEngine(Endpoint endpoint) : client_(std::move(endpoint)) {}
  std::string address() const override { return client_.endpoint().ToString(); }

  absl::Status Ping() override { return client_.Ping(); }
  absl::StatusOr<json::value> Info() override { return client_.Info(); }
  absl::StatusOr<json::value> Version() override { return client_.Version(); }

  absl::StatusOr<std::string> SwarmInit(const json::object& request) override {
    json::value body = request;
    auto r = client_.Call("POST", "/swarm/init", &body);
    if (!r.ok()) return r.status();
    return r->is_string() ? std::string(r->as_string()) : json::serialize(*r);
  }
  absl::Status SwarmJoin(const json::object& request) override {
    json::value body = request;
    return client_.Call("POST", "/swarm/join", &body, std::chrono::seconds(60)).status();
  }
  absl::Status SwarmLeave(bool force) override {
    return client_.Call("POST", force ? "/swarm/leave?force=1" : "/swarm/leave").status();
  }
  absl::StatusOr<json::value> SwarmInspect() override { return client_.SwarmInspect(); }
  absl::Status SwarmUpdate(uint64_t version, const json::value& spec, bool rotate_worker,
                           bool rotate_manager) override {
    return client_
        .Call("POST",
              absl::StrCat("/swarm/update?version=", version,
                           "&rotateWorkerToken=", rotate_worker ? "true" : "false",
                           "&rotateManagerToken=", rotate_manager ? "true" : "false"),
              &spec)
        .status();
  }

  absl::StatusOr<json::array> ListNodes() override {
    return AsArray(client_.Call("GET", "/nodes"));
  }
  absl::StatusOr<json::value> InspectNode(const std::string& id) override {
    return client_.Call("GET", "/nodes/" + Escape(id));
  }
  absl::Status UpdateNode(const std::string& id, uint64_t version,
                          const json::value& spec) override {
    return client_
        .Call("POST", absl::StrCat("/nodes/", Escape(id), "/update?version=", version), &spec)
        .status();
  }
  absl::Status RemoveNode(const std::string& id, bool force) override {
    return client_.Call("DELETE", absl::StrCat("/nodes/", Escape(id), force ? "?force=1" : ""))
        .status();
  }

  absl::StatusOr<std::string> CreateNetwork(const json::object& request) override {
    json::value body = request;
    auto r = client_.Call("POST", "/networks/create", &body);
    if (!r.ok()) return r.status();
    return json::value_to<std::string>(r->at("Id"));
  }
  absl::StatusOr<json::array> ListNetworks() override { return AsArray(client_.ListNetworks()); }
  absl::Status RemoveNetwork(const std::string& id) override {
    return client_.Call("DELETE", "/networks/" + Escape(id)).status();
  }

  absl::StatusOr<std::string> CreateService(const json::value& spec) override {
    auto r = client_.Call("POST", "/services/create", &spec);
    if (!r.ok()) return r.status();
    return json::value_to<std::string>(r->at("ID"));
  }
  absl::StatusOr<json::value> InspectService(const std::string& id) override {
    return client_.Call("GET", "/services/" + Escape(id));
  }
  absl::Status UpdateService(const std::string& id, uint64_t version, const json::value& spec,
                             bool rollback) override {
    return client_
        .Call("POST",
              absl::StrCat("/services/", Escape(id), "/update?version=", version,
                           rollback ? "&rollback=previous" : ""),
              &spec)
        .status();
  }
  absl::Status RemoveService(const std::string& id) override {
    return client_.Call("DELETE", "/services/" + Escape(id)).status();
  }
  absl::StatusOr<json::array> ListServices() override {
    return AsArray(client_.Call("GET", "/services?status=true"));
  }
  absl::StatusOr<json::array> ListTasks(const std::string& service_id) override {
    if (service_id.empty()) return AsArray(client_.Call("GET", "/tasks"));
    json::object filters{{"service", json::array{json::value(service_id)}}};
    return AsArray(client_.Call("GET", "/tasks?filters=" + Escape(json::serialize(filters))));
  }
  absl::Status ServiceLogs(const std::string& id, bool follow, int tail, const LogSink& sink,
                           const std::function<bool()>& cancelled) override {
    auto stream = client_.OpenStream(
        "GET",
        absl::StrCat("/services/", Escape(id),
                     "/logs?stdout=1&stderr=1&timestamps=0&follow=", follow ? 1 : 0,
                     "&tail=", tail < 0 ? std::string("all") : std::to_string(tail)),
        nullptr, "", follow ? std::chrono::hours(24) : std::chrono::seconds(30));
    if (!stream.ok()) return stream.status();
    if (cancelled) (*stream)->set_cancelled(cancelled);
    bool go_on = true;
    LogDemuxer demux([&](int s, std::string_view data) { go_on = go_on && sink(s, data); });
    char buf[16 * 1024];
    while (go_on) {
      auto n = (*stream)->Read(buf, sizeof buf);
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      demux.Feed(std::string_view(buf, *n));
    }
    return absl::OkStatus();
  }

  absl::Status BuildImage(const std::string& tag, const BodySource& context,
                          const LineSink& sink) override {
    const std::string path = absl::StrCat("/build?t=", Escape(tag), "&rm=1&forcerm=1");
    auto stream =
        client_.OpenStream("POST", path, &context, "application/x-tar", std::chrono::minutes(10));
    if (!stream.ok()) return stream.status();
    return DrainJsonLines(**stream, &sink, absl::StrCat("building ", tag, " on ", address()));
  }
  absl::Status ImportImage(const std::string& repo, const std::string& tag,
                           const BodySource& rootfs) override {
    const std::string path =
        absl::StrCat("/images/create?fromSrc=-&repo=", Escape(repo), "&tag=", Escape(tag));
    auto stream =
        client_.OpenStream("POST", path, &rootfs, "application/x-tar", std::chrono::minutes(5));
    if (!stream.ok()) return stream.status();
    return DrainJsonLines(**stream, nullptr,
                          absl::StrCat("importing ", repo, ":", tag, " on ", address()));
  }
  absl::StatusOr<std::unique_ptr<ResponseStream>> SaveImage(const std::string& name) override {
    return client_.OpenStream("GET", absl::StrCat("/images/", Escape(name), "/get"), nullptr, "",
                              std::chrono::minutes(2));
  }
  absl::Status LoadImage(const BodySource& tarball) override {
    auto stream = client_.OpenStream("POST", "/images/load?quiet=1", &tarball, "application/x-tar",
                                     std::chrono::minutes(5));
    if (!stream.ok()) return stream.status();
    return DrainJsonLines(**stream, nullptr, "loading an image on " + address());
  }
  absl::StatusOr<json::value> InspectImage(const std::string& name) override {
    return client_.Call("GET", absl::StrCat("/images/", Escape(name), "/json"));
  }
  absl::StatusOr<json::array> ListImages() override { return AsArray(client_.ListImages()); }
  absl::Status RemoveImage(const std::string& name, bool force) override {
    return client_.Call("DELETE", absl::StrCat("/images/", Escape(name), force ? "?force=1" : ""))
        .status();
  }
  absl::StatusOr<json::array> ListContainers() override {
    return AsArray(client_.ListContainers());
  }
  absl::StatusOr<json::value> InspectContainer(const std::string& id) override {
    return client_.Call("GET", absl::StrCat("/containers/", Escape(id), "/json"));
  }

  absl::Status Events(int64_t since, int64_t until, const json::object& filters,
                      const EventSink& sink) override {
    std::string path = absl::StrCat("/events?since=", since);
    if (until > 0) absl::StrAppend(&path, "&until=", until);
    if (!filters.empty()) absl::StrAppend(&path, "&filters=", Escape(json::serialize(filters)));
    auto stream = client_.OpenStream("GET", path, nullptr, "",
                                     until > 0 ? std::chrono::seconds(30) : std::chrono::hours(24));
    if (!stream.ok()) return stream.status();
    for (;;) {
      auto line = (*stream)->ReadLine();
      if (!line.ok()) return line.status();
      if (!line->has_value()) return absl::OkStatus();
      boost::system::error_code ec;
      json::value v = json::parse(**line, ec);
      if (ec || !v.is_object()) continue;
      if (!sink(v.as_object())) return absl::OkStatus();
    }
  }

 private:
  EngineClient client_;
};

}  // namespace

std::unique_ptr<DockerEngine> NewHttpDockerEngine(Endpoint endpoint) {
  return std::make_unique<HttpDockerEngine>(std::move(endpoint));
}

absl::Status CopyImage(DockerEngine& from, DockerEngine& to, const std::string& image) {
  auto source = from.SaveImage(image);
  if (!source.ok()) return source.status();
  ResponseStream& stream = **source;
  BodySource pipe = [&](char* buf, size_t cap) { return stream.Read(buf, cap); };
  if (absl::Status s = to.LoadImage(pipe); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("copying ", image, " from ", from.address(), " to ",
                                               to.address(), ": ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace musketeer::engine
