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

namespace json = boost::json;

// An answer as a typed object; fields it lacks stay at their defaults.
template <class T>
absl::StatusOr<T> As(absl::StatusOr<json::value> v, const char* what) {
  if (!v.ok()) return v.status();
  if (!v->is_object()) {
    return absl::InternalError(
        absl::StrCat("the engine answered ", what, " with something other than an object"));
  }
  return json::value_to<T>(*v);
}

// A list answer as typed objects.
template <class T>
absl::StatusOr<std::vector<T>> ListOf(absl::StatusOr<json::value> v, const char* what) {
  if (!v.ok()) return v.status();
  if (!v->is_array()) {
    return absl::InternalError(
        absl::StrCat("the engine answered ", what, " with something other than a list"));
  }
  std::vector<T> out;
  out.reserve(v->as_array().size());
  for (const auto& e : v->as_array()) out.push_back(json::value_to<T>(e));
  return out;
}

// The ID a create answered, or INTERNAL when it named none.
absl::StatusOr<std::string> CreatedId(absl::StatusOr<json::value> v, const char* what) {
  if (!v.ok()) return v.status();
  auto created = json::value_to<CreateResponse>(*v);
  if (created.id.empty()) {
    return absl::InternalError(absl::StrCat("the engine created ", what,
                                            " but answered without its ID: ", json::serialize(*v)));
  }
  return created.id;
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
    auto message = json::value_to<JsonMessage>(v);
    if (!message.error.empty())
      return absl::FailedPreconditionError(absl::StrCat(what, ": ", message.error));
    if (sink) (*sink)(message);
  }
}

class HttpDockerEngine : public DockerEngine {
 public:
  HttpDockerEngine(Endpoint endpoint, CallObserver observer)
      : client_(std::move(endpoint), std::chrono::seconds(30), std::move(observer)) {}
  std::string address() const override { return client_.endpoint().ToString(); }

  // Short: a ping asks whether the engine is there at all (the quorum count asks every
  // manager), and an engine that is there answers /_ping in milliseconds.
  absl::Status Ping() override { return client_.Ping(std::chrono::seconds(2)); }
  absl::StatusOr<SystemInfo> Info() override { return As<SystemInfo>(client_.Info(), "/info"); }
  absl::StatusOr<SystemVersion> Version() override {
    return As<SystemVersion>(client_.Version(), "/version");
  }

  absl::StatusOr<std::string> SwarmInit(const SwarmInitRequest& request) override {
    json::value body = json::value_from(request);
    auto r = client_.Call("POST", "/swarm/init", &body);
    if (!r.ok()) return r.status();
    return r->is_string() ? std::string(r->as_string()) : json::serialize(*r);
  }
  absl::Status SwarmJoin(const SwarmJoinRequest& request) override {
    json::value body = json::value_from(request);
    return client_.Call("POST", "/swarm/join", &body, std::chrono::seconds(60)).status();
  }
  absl::Status SwarmLeave(bool force) override {
    return client_.Call("POST", force ? "/swarm/leave?force=1" : "/swarm/leave").status();
  }
  absl::StatusOr<Swarm> SwarmInspect() override {
    return As<Swarm>(client_.SwarmInspect(), "/swarm");
  }
  absl::Status SwarmUpdate(uint64_t version, const SwarmSpec& spec, bool rotate_worker,
                           bool rotate_manager) override {
    json::value body = json::value_from(spec);
    return client_
        .Call("POST",
              absl::StrCat("/swarm/update?version=", version,
                           "&rotateWorkerToken=", rotate_worker ? "true" : "false",
                           "&rotateManagerToken=", rotate_manager ? "true" : "false"),
              &body)
        .status();
  }

  absl::StatusOr<std::vector<Node>> ListNodes() override {
    return ListOf<Node>(client_.Call("GET", "/nodes"), "/nodes");
  }
  absl::StatusOr<Node> InspectNode(const std::string& id) override {
    return As<Node>(client_.Call("GET", "/nodes/" + Escape(id)), "/nodes/{id}");
  }
  absl::Status UpdateNode(const std::string& id, uint64_t version, const NodeSpec& spec) override {
    json::value body = json::value_from(spec);
    return client_
        .Call("POST", absl::StrCat("/nodes/", Escape(id), "/update?version=", version), &body)
        .status();
  }
  absl::Status RemoveNode(const std::string& id, bool force) override {
    return client_.Call("DELETE", absl::StrCat("/nodes/", Escape(id), force ? "?force=1" : ""))
        .status();
  }

  absl::StatusOr<std::string> CreateNetwork(const NetworkCreateRequest& request) override {
    json::value body = json::value_from(request);
    return CreatedId(client_.Call("POST", "/networks/create", &body), "a network");
  }
  absl::StatusOr<std::vector<Network>> ListNetworks() override {
    return ListOf<Network>(client_.ListNetworks(), "/networks");
  }
  absl::Status RemoveNetwork(const std::string& id) override {
    return client_.Call("DELETE", "/networks/" + Escape(id)).status();
  }

  absl::StatusOr<std::string> CreateSecret(const SecretSpec& spec) override {
    json::value body = json::value_from(spec);
    return CreatedId(client_.Call("POST", "/secrets/create", &body), "a secret");
  }
  absl::StatusOr<std::vector<Secret>> ListSecrets() override {
    return ListOf<Secret>(client_.Call("GET", "/secrets"), "/secrets");
  }
  absl::Status RemoveSecret(const std::string& id) override {
    return client_.Call("DELETE", "/secrets/" + Escape(id)).status();
  }

  absl::StatusOr<std::string> CreateConfig(const ConfigSpec& spec) override {
    json::value body = json::value_from(spec);
    return CreatedId(client_.Call("POST", "/configs/create", &body), "a config");
  }
  absl::StatusOr<std::vector<Config>> ListConfigs() override {
    return ListOf<Config>(client_.Call("GET", "/configs"), "/configs");
  }
  absl::StatusOr<Config> InspectConfig(const std::string& id) override {
    return As<Config>(client_.Call("GET", "/configs/" + Escape(id)), "/configs/{id}");
  }
  absl::Status RemoveConfig(const std::string& id) override {
    return client_.Call("DELETE", "/configs/" + Escape(id)).status();
  }

  absl::StatusOr<std::string> CreateService(const ServiceSpec& spec) override {
    json::value body = json::value_from(spec);
    return CreatedId(client_.Call("POST", "/services/create", &body), "a service");
  }
  absl::StatusOr<Service> InspectService(const std::string& id) override {
    return As<Service>(client_.Call("GET", "/services/" + Escape(id)), "/services/{id}");
  }
  absl::Status UpdateService(const std::string& id, uint64_t version, const ServiceSpec& spec,
                             bool rollback) override {
    json::value body = json::value_from(spec);
    return client_
        .Call("POST",
              absl::StrCat("/services/", Escape(id), "/update?version=", version,
                           rollback ? "&rollback=previous" : ""),
              &body)
        .status();
  }
  absl::Status RemoveService(const std::string& id) override {
    return client_.Call("DELETE", "/services/" + Escape(id)).status();
  }
  absl::StatusOr<std::vector<Service>> ListServices() override {
    return ListOf<Service>(client_.Call("GET", "/services?status=true"), "/services");
  }
  absl::StatusOr<std::vector<Task>> ListTasks(const std::string& service_id) override {
    if (service_id.empty()) return ListOf<Task>(client_.Call("GET", "/tasks"), "/tasks");
    json::object filters{{"service", json::array{json::value(service_id)}}};
    return ListOf<Task>(client_.Call("GET", "/tasks?filters=" + Escape(json::serialize(filters))),
                        "/tasks");
  }
  absl::Status ServiceLogs(const std::string& id, bool follow, int tail, const LogSink& sink,
                           const std::function<bool()>& cancelled) override {
    auto stream = client_.OpenStream(
        "GET",
        absl::StrCat("/services/", Escape(id),
                     "/logs?stdout=1&stderr=1&timestamps=1&details=1&follow=", follow ? 1 : 0,
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
  absl::Status PullImage(const std::string& image) override {
    // fromImage takes the whole reference; a tag or digest in it is honoured.
    auto stream = client_.OpenStream("POST", "/images/create?fromImage=" + Escape(image), nullptr,
                                     "", std::chrono::minutes(5));
    if (!stream.ok()) return stream.status();
    return DrainJsonLines(**stream, nullptr, absl::StrCat("pulling ", image, " on ", address()));
  }
  absl::StatusOr<ImageInspect> InspectImage(const std::string& name) override {
    return As<ImageInspect>(client_.Call("GET", absl::StrCat("/images/", Escape(name), "/json")),
                            "/images/{name}/json");
  }
  absl::StatusOr<std::vector<ImageSummary>> ListImages() override {
    return ListOf<ImageSummary>(client_.ListImages(), "/images/json");
  }
  absl::Status RemoveImage(const std::string& name, bool force) override {
    return client_.Call("DELETE", absl::StrCat("/images/", Escape(name), force ? "?force=1" : ""))
        .status();
  }
  absl::StatusOr<std::vector<ContainerSummary>> ListContainers() override {
    return ListOf<ContainerSummary>(client_.ListContainers(), "/containers/json");
  }
  absl::StatusOr<ContainerInspect> InspectContainer(const std::string& id) override {
    return As<ContainerInspect>(
        client_.Call("GET", absl::StrCat("/containers/", Escape(id), "/json")),
        "/containers/{id}/json");
  }
  absl::StatusOr<std::string> CreateContainer(const ContainerCreateRequest& request) override {
    json::value body = json::value_from(request);
    const std::string path = request.name.empty()
                                 ? std::string("/containers/create")
                                 : absl::StrCat("/containers/create?name=", Escape(request.name));
    return CreatedId(client_.Call("POST", path, &body), "a container");
  }
  absl::StatusOr<std::string> Exec(const std::string& id,
                                   const std::vector<std::string>& cmd) override {
    json::value create = {{"AttachStdout", true}, {"AttachStderr", true},
                          {"Cmd", json::value_from(cmd)}};
    auto exec = CreatedId(
        client_.Call("POST", absl::StrCat("/containers/", Escape(id), "/exec"), &create), "an exec");
    if (!exec.ok()) return exec.status();
    const std::string start = R"({"Detach":false,"Tty":false})";
    bool sent = false;
    BodySource body = [&](char* buf, size_t cap) -> absl::StatusOr<size_t> {
      if (sent || cap < start.size()) return 0;
      sent = true;
      std::copy(start.begin(), start.end(), buf);
      return start.size();
    };
    // The engine answers with the command's output, framed as logs are, until it exits.
    auto stream = client_.OpenStream("POST", absl::StrCat("/exec/", *exec, "/start"), &body,
                                     "application/json", std::chrono::seconds(10));
    if (!stream.ok()) return stream.status();
    std::string out;
    LogDemuxer demux([&](int, std::string_view data) { out.append(data); });
    char buf[16 * 1024];
    for (;;) {
      auto n = (*stream)->Read(buf, sizeof buf);
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      demux.Feed(std::string_view(buf, *n));
      if (out.size() > (8 << 20))
        return absl::ResourceExhaustedError("exec in " + id + ": more than 8 MiB of output");
    }
    return out;
  }
  absl::Status StartContainer(const std::string& id) override {
    // 304 (already running) is a success as well.
    return client_.Call("POST", absl::StrCat("/containers/", Escape(id), "/start")).status();
  }
  absl::Status PutArchive(const std::string& id, const std::string& path,
                          const BodySource& archive) override {
    auto stream = client_.OpenStream(
        "PUT", absl::StrCat("/containers/", Escape(id), "/archive?path=", Escape(path)), &archive,
        "application/x-tar", std::chrono::minutes(5));
    if (!stream.ok()) return stream.status();
    return DrainJsonLines(**stream, nullptr, "putting files into a container on " + address());
  }
  absl::Status RemoveContainer(const std::string& id, bool force) override {
    return client_
        .Call("DELETE", absl::StrCat("/containers/", Escape(id), force ? "?force=1" : ""))
        .status();
  }

  absl::StatusOr<Volume> CreateVolume(const VolumeCreateRequest& request) override {
    json::value body = json::value_from(request);
    return As<Volume>(client_.Call("POST", "/volumes/create", &body), "/volumes/create");
  }
  absl::StatusOr<std::vector<Volume>> ListVolumes() override {
    auto v = client_.Call("GET", "/volumes");
    if (!v.ok()) return v.status();
    const json::value* list = v->is_object() ? v->as_object().if_contains("Volumes") : nullptr;
    if (list == nullptr || list->is_null()) return std::vector<Volume>{};
    return ListOf<Volume>(*list, "/volumes");
  }
  absl::Status RemoveVolume(const std::string& name, bool force) override {
    return client_.Call("DELETE", absl::StrCat("/volumes/", Escape(name), force ? "?force=1" : ""))
        .status();
  }

  absl::Status Events(int64_t since, int64_t until, const EventFilters& filters,
                      const EventSink& sink, const std::function<bool()>& cancelled) override {
    std::string path = absl::StrCat("/events?since=", since);
    if (until > 0) absl::StrAppend(&path, "&until=", until);
    if (!filters.empty()) {
      json::object f;
      for (const auto& [key, values] : filters) {
        json::array a;
        for (const auto& v : values) a.emplace_back(v);
        f[key] = std::move(a);
      }
      absl::StrAppend(&path, "&filters=", Escape(json::serialize(f)));
    }
    auto stream = client_.OpenStream("GET", path, nullptr, "",
                                     until > 0 ? std::chrono::seconds(30) : std::chrono::hours(24));
    if (!stream.ok()) return stream.status();
    if (cancelled) (*stream)->set_cancelled(cancelled);
    for (;;) {
      auto line = (*stream)->ReadLine();
      if (!line.ok()) return line.status();
      if (!line->has_value()) return absl::OkStatus();
      boost::system::error_code ec;
      json::value v = json::parse(**line, ec);
      if (ec || !v.is_object()) continue;
      if (!sink(json::value_to<Event>(v))) return absl::OkStatus();
    }
  }

 private:
  EngineClient client_;
};

}  // namespace

std::unique_ptr<DockerEngine> NewHttpDockerEngine(Endpoint endpoint, CallObserver observer) {
  return std::make_unique<HttpDockerEngine>(std::move(endpoint), std::move(observer));
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
